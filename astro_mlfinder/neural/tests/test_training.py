import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural import training as T  # noqa: E402
from astro_mlfinder.neural.training import data as D  # noqa: E402
from astro_mlfinder.neural.training import loop as L  # noqa: E402
from astro_mlfinder.neural.training import tuning as V  # noqa: E402

TINY = dict(
    steps_per_epoch=2,
    batch_size=1,
    crop_shape=(64, 32, 32),
    base_channels=2,
    val_cubes=1,
    val_shape=(64, 32, 32),
    progress=False,
    seed=3,
    num_threads=1,
)


def test_two_step_training_writes_checkpoint_and_resumes(tmp_path):
    out = tmp_path / "ck.pt"
    history = T.train("unet3d", epochs=1, output=out, tune=False, **TINY)
    assert [h["epoch"] for h in history] == [1]
    assert np.isfinite(history[0]["loss"]) and 0 <= history[0]["val_f1"] <= 1
    ckpt = torch.load(out, map_location="cpu", weights_only=True)  # plain tensors and containers only
    assert ckpt["model"] == "unet3d" and ckpt["epoch"] == 0 and ckpt["config"]["base_channels"] == 2
    assert ckpt["meta"]["normalization"]["per_channel"] is True and ckpt["meta"]["rebin"] == [6, 4]
    assert (tmp_path / "ck-best.pt").exists()
    hardware = ckpt["meta"]["training"]["hardware"]  # what trained the weights travels with them
    assert hardware["device"] == "cpu" and hardware["accelerator"] is None and hardware["torch"] == torch.__version__
    assert json.loads((tmp_path / "ck_history.json").read_text())[0]["epoch"] == 1
    # resume: continues at epoch 2 with the saved optimiser and random state, then tunes
    history = T.train("unet3d", epochs=2, output=out, resume=out, tune=True, **TINY)
    assert [h["epoch"] for h in history] == [1, 2]
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and len(ckpt["optimizer"]["state"]) > 0
    assert 0.05 <= ckpt["meta"]["inference"]["threshold"] < 0.9
    assert ckpt["meta"]["validation"]["n_cubes"] == 1
    # tuning on a (tiny) validation set records threshold, min_size and tta
    best = T.tune_checkpoint(out, n_cubes=1, shape=(64, 32, 32), n_sources=2, thresholds=(0.3, 0.5), min_sizes=(8,))
    assert best["threshold"] in (0.3, 0.5) and best["min_size"] == 8 and best["tta"] in (True, False)
    meta = torch.load(out, map_location="cpu", weights_only=True)["meta"]
    assert meta["inference"]["tta"] == best["tta"] and meta["validation"]["n_cubes"] == 1
    # the command-line export
    from astro_mlfinder.cli import main

    assert main(["train", "unet3d", "--export", str(out), str(tmp_path / "cli.pt")]) == 0
    assert (tmp_path / "cli.pt").exists()
    # the compact export loads as weights
    small = T.export_weights(out, tmp_path / "w.pt")
    from astro_mlfinder.neural.weights import load_weights

    loaded = load_weights(small)
    assert loaded["meta"]["storage_dtype"] == "float16" and loaded["meta"]["epoch"] == 1
    assert small.stat().st_size < out.stat().st_size
    # a registry entry of the export records the hardware from the file's metadata
    from astro_mlfinder.neural.weights import registry_entry

    entry = registry_entry(small, name="mine", model="unet3d", version="1")
    assert entry["hardware"]["device"] == "cpu" and entry["files"][0]["name"] == "unet3d"


def test_resume_refuses_other_model(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"model": "other", "config": {}, "state_dict": {}}, bad)
    with pytest.raises(ValueError, match="not 'unet3d'"):
        T.train("unet3d", epochs=1, output=tmp_path / "x.pt", resume=bad, **TINY)


def test_learning_rate_schedule():
    assert L._lr_at(0, 10, 1e-3) == pytest.approx(1e-3)
    assert L._lr_at(10, 10, 1e-3) == pytest.approx(1e-4)
    assert 1e-4 < L._lr_at(5, 10, 1e-3) < 1e-3


def test_simulated_stream_is_seeded_and_balanced():
    a = T.SimulatedHIData((32, 32, 32), seed=5, positive_fraction=0.5)
    b = T.SimulatedHIData((32, 32, 32), seed=5, positive_fraction=0.5)
    samples = [a.sample() for _ in range(8)]
    data, labels = samples[0]
    assert data.shape == labels.shape == (32, 32, 32) and data.dtype == np.float32 and labels.dtype == bool
    np.testing.assert_array_equal(b.sample()[0], data)
    n_pos = sum(lab.any() for _, lab in samples)
    assert 0 < n_pos < 8
    x, y = D.prepare_batch(samples[:2], (6, 4), None, 16)
    assert x.shape == y.shape == (2, 1, 16, 32, 32)
    assert x.min() >= 0 and x.max() <= 1 and set(np.unique(y)) <= {0.0, 1.0}


def test_fits_pair_directory(tmp_path):
    from astropy.io import fits

    rng = np.random.default_rng(0)
    for k in range(2):
        cube = rng.normal(size=(40, 24, 24)).astype(np.float32)
        mask = np.zeros(cube.shape, np.int16)
        mask[10:20, 5:9, 5:9] = 1
        fits.writeto(tmp_path / f"c{k}.fits", cube)
        fits.writeto(tmp_path / f"c{k}_mask.fits", mask)
    data = T.FitsPairData(tmp_path, crop_shape=(32, 16, 16), seed=0, positive_fraction=1.0)
    assert len(data.pairs) == 2
    for _ in range(4):
        d, lab = data.sample()
        assert d.shape == lab.shape == (32, 16, 16) and lab.any()
    (tmp_path / "c1.fits").unlink()
    with pytest.raises(ValueError, match="no matching cube"):
        T.FitsPairData(tmp_path)
    with pytest.raises(ValueError, match="not found"):
        T.FitsPairData(tmp_path / "nope")


def test_object_matching_counts():
    truth = np.zeros((10, 10, 10), np.int32)
    truth[1:4, 1:4, 1:4] = 1
    truth[6:9, 6:9, 6:9] = 2
    pred = np.zeros_like(truth)
    pred[1:4, 1:4, 1:3] = 1  # IoU 2/3 with source 1
    pred[0, 9, 9] = 2  # false positive
    assert V._match_counts(truth, pred, 0.2) == (2, 2, 1)
    assert V._scores(2, 2, 1) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_train_command_line_reaches_every_training_option(tmp_path, monkeypatch, capsys):
    from astro_mlfinder.cli import main
    from astro_mlfinder.neural import train

    calls = []
    monkeypatch.setattr(L, "train", lambda model, **kw: calls.append((model, kw)) or [{"epoch": 1}])
    assert train("unet3d", epochs=3) == [{"epoch": 1}]  # neural.train dispatches to the model's recipe
    assert calls.pop() == ("unet3d", {"epochs": 3})
    argv = ["train", "--data", str(tmp_path), "--epochs", "2", "--steps-per-epoch", "5", "--batch-size", "2"]
    argv += ["--crop-shape", "64x32x32", "--base-channels", "4", "--lr", "1e-3", "--num-threads", "1"]
    argv += ["--val-cubes", "0", "--seed", "7", "--device", "cpu", "--no-progress", "--output", str(tmp_path / "w.pt")]
    assert main(argv) == 0
    model, kw = calls.pop()
    assert model == "unet3d"  # the default model
    assert kw["crop_shape"] == (64, 32, 32) and kw["lr"] == 1e-3 and kw["num_threads"] == 1
    assert kw["base_channels"] == 4 and kw["val_cubes"] == 0 and kw["seed"] == 7 and kw["progress"] is False
    assert kw["steps_per_epoch"] == 5 and kw["batch_size"] == 2 and kw["epochs"] == 2 and kw["device"] == "cpu"
    assert kw["command"].startswith("astro-mlfinder train unet3d --data ") and "--lr 0.001" in kw["command"]
    capsys.readouterr()
    assert main(["train", "unet3d"]) == 1  # no --output
    assert "--output" in capsys.readouterr().err
    assert main(["train", "nope", "--output", "x.pt"]) == 1
    assert re.search(r"known models: .*convosource.*unet3d", capsys.readouterr().err)
