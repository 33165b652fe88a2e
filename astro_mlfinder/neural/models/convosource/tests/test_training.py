"""Training ConvoSource: data and tiles, matching, a short run that lowers the loss, resuming, the CLI."""

import json

import numpy as np
import pytest

from astro_mlfinder.neural.models.convosource.training import (
    TRAINING_SEEDS,
    VALIDATION_SEEDS,
    image_settings,
    make_image,
    make_tiles,
    score_peaks,
    tune_convosource,
)


def test_seed_ranges_are_apart_and_settings_vary():
    assert set(TRAINING_SEEDS).isdisjoint(VALIDATION_SEEDS)
    assert 0 not in TRAINING_SEEDS and 999_999 not in TRAINING_SEEDS and 42 not in VALIDATION_SEEDS
    beams = [image_settings(s)["beam"][0] for s in TRAINING_SEEDS[:30]]
    assert 2.5 <= min(beams) < 3.5 and 5.0 < max(beams) <= 6.0
    assert any(image_settings(s)["primary_beam"] for s in TRAINING_SEEDS[:30])


def test_every_tile_is_kept_with_one_pixel_targets():
    sim = make_image(TRAINING_SEEDS[0], (120, 130))
    x, y = make_tiles(sim, tile=50, target_snr=3.0)
    assert x.shape == (9, 50, 50) and y.shape == (9, 50, 50)  # 3 x 3 tiles, the last ones flush
    assert x.dtype == np.float32 and y.dtype == np.uint8
    # every source with S/N >= 3 is one target pixel (the last tiles overlap, so count on the map)
    assert sim.point_map(min_snr=3.0).sum() == np.sum(sim.truth["snr_int"] >= 3.0)
    assert set(np.unique(y)) <= {0, 1}


def test_score_peaks_counts_every_detection():
    sim = make_image(VALIDATION_SEEDS[0], (128, 128))
    t = sim.truth
    bright = np.asarray(t["snr_int"]) >= 3
    ys, xs = np.asarray(t["y_peak"])[bright], np.asarray(t["x_peak"])[bright]
    perfect = score_peaks(ys, xs, t)
    assert perfect["tp"] == bright.sum() and perfect["fp"] == 0 and perfect["found"] == perfect["n_true"]
    # two spurious detections far from any source, and one source missed
    far = np.array([[0, 0], [127, 127]])
    s = score_peaks(np.r_[ys[1:], far[:, 0]], np.r_[xs[1:], far[:, 1]], t, match_snr=1e9)
    assert s["tp"] == 0 and s["fp"] == len(ys) + 1
    s = score_peaks(np.r_[ys[1:], ys[1]], np.r_[xs[1:], xs[1]], t)
    assert s["found"] == s["n_true"] - 1 and s["fp"] == 1  # a duplicate is a false positive
    assert sum(s["n_bins"]) == s["n_true"]


def test_short_training_lowers_the_loss_and_resumes(tmp_path):
    pytest.importorskip("torch")
    from astro_mlfinder.neural import train

    out = tmp_path / "cs.pt"
    first = train("convosource", epochs=2, train_images=3, val_images=1, image_shape=(150, 150), output=out,
                  batch_size=8, progress=False, seed=1, num_threads=1, tune=False)
    assert [h["epoch"] for h in first] == [1, 2]
    assert (tmp_path / "cs-best.pt").exists()
    more = train("convosource", epochs=4, resume=out, output=out, progress=False, num_threads=1, tune=False)
    assert [h["epoch"] for h in more] == [1, 2, 3, 4]
    assert more[:2] == first
    assert more[-1]["loss"] < 0.85 * more[0]["loss"]
    history = json.loads((tmp_path / "cs_history.json").read_text())
    assert len(history) == 4
    import torch

    ckpt = torch.load(out, weights_only=True)
    assert ckpt["meta"]["training"]["train_seeds"] == [TRAINING_SEEDS[0], TRAINING_SEEDS[2]]
    assert ckpt["meta"]["training"]["hardware"]
    assert 0.05 <= more[-1]["val_threshold"] <= 0.99
    best = tune_convosource(out)
    tuned = torch.load(out, weights_only=True)["meta"]
    assert tuned["inference"]["threshold"] == best["threshold"]
    assert tuned["validation"]["f1"] == pytest.approx(best["f1"])
    assert tuned["validation"]["seeds"] == [VALIDATION_SEEDS[0], VALIDATION_SEEDS[0]]


def test_cli_train_convosource(tmp_path, capsys):
    pytest.importorskip("torch")
    from astro_mlfinder.cli import main

    out = tmp_path / "c.pt"
    assert main(["train", "convosource", "--epochs", "1", "--train-images", "1", "--val-images", "0",
                 "--output", str(out), "--no-progress", "--num-threads", "1"]) == 0
    assert out.exists()
    assert "trained convosource" in capsys.readouterr().out
    assert main(["train", "convosource", "--tune", str(out)]) == 1  # trained without validation images
    assert "tuning needs at least one validation image" in capsys.readouterr().err
    assert main(["train", "convosource", "--epochs", "0", "--output", str(out), "--no-progress"]) == 1
    assert "epochs must be >= 1" in capsys.readouterr().err
    assert main(["train", "unet3d", "--network", "deep", "--first-image", "3", "--no-progress"]) == 1
    assert "--network, --first-image only apply to convosource, not unet3d" in capsys.readouterr().err


def test_faint_targets_are_marked_apart():
    sim = make_image(TRAINING_SEEDS[1], (160, 160))   # 8 sources of S/N 3-5, 15 brighter
    _, y = make_tiles(sim, tile=50, target_snr=3.0, faint_snr=5.0)
    _, plain = make_tiles(sim, tile=50, target_snr=3.0)
    assert np.array_equal(y > 0, plain > 0)
    snr = np.asarray(sim.truth["snr_int"])
    faint = (sim.point_map(min_snr=3.0) > 0) & ~(sim.point_map(min_snr=5.0) > 0)
    assert faint.sum() == np.sum((snr >= 3) & (snr < 5)) == 8
    assert set(np.unique(y)) == {0, 1, 2}


def test_init_keeps_the_network_and_adds_identity_layers(tmp_path):
    torch = pytest.importorskip("torch")
    from astro_mlfinder.neural import train
    from astro_mlfinder.neural.models.convosource.network import CONFIGURATIONS, ConvoSourceNet
    from astro_mlfinder.neural.models.convosource.training import _init_from

    out = tmp_path / "base.pt"
    train("convosource", epochs=1, train_images=1, val_images=0, image_shape=(100, 100), output=out,
          batch_size=8, progress=False, seed=2, num_threads=1, tune=False)
    base = torch.load(out, weights_only=True)
    old = ConvoSourceNet.from_config(base["config"]).eval()
    old.load_state_dict(base["state_dict"])
    deep = ConvoSourceNet.from_config(CONFIGURATIONS["deep"])
    info, norm = _init_from(deep, out, torch)
    assert info["config"] == base["config"] and norm == base["meta"]["normalization"]
    x = torch.randn((2, 1, 40, 40)) * 3
    with torch.no_grad():
        assert torch.allclose(deep.eval()(x), old(x), atol=1e-5)  # the added dilated layer starts as the identity
    with pytest.raises(ValueError, match="keep their channels"):
        _init_from(ConvoSourceNet(filters=(16, 32, 64, 32, 64), kernels=(7, 5, 3, 3, 3)), out, torch)
    with pytest.raises(ValueError, match="does not fit"):
        _init_from(ConvoSourceNet(filters=(8, 32, 64), kernels=(7, 5, 3)), out, torch)
    # a fine-tune of the deep network from those weights, faint sources weighted, records all of it
    hist = train("convosource", epochs=1, train_images=1, val_images=0, image_shape=(100, 100), batch_size=8,
                 output=tmp_path / "deep.pt", progress=False, seed=2, num_threads=1, tune=False,
                 config=CONFIGURATIONS["deep"], init=out, faint_weight=3.0, first_image=5)
    assert np.isfinite(hist[0]["loss"])
    rec = torch.load(tmp_path / "deep.pt", weights_only=True)
    assert rec["config"]["dilations"] == [1, 1, 1, 3]
    t = rec["meta"]["training"]
    assert t["train_seeds"] == [TRAINING_SEEDS[5], TRAINING_SEEDS[5]] and t["faint_weight"] == 3.0
    assert t["init"]["file"] == "base.pt" and "times 3" in t["loss"]
    with pytest.raises(ValueError, match="faint_weight must be >= 1"):
        train("convosource", epochs=1, train_images=1, val_images=0, output=tmp_path / "x.pt", faint_weight=0.5,
              progress=False)


def test_bad_fine_tune_options_are_refused_before_any_data(tmp_path):
    pytest.importorskip("torch")
    from astro_mlfinder.neural import train

    common = dict(epochs=1, train_images=1, val_images=0, output=tmp_path / "x.pt", progress=False)
    with pytest.raises(ValueError, match="first_image must be >= 0, got -3"):
        train("convosource", first_image=-3, **common)
    with pytest.raises(ValueError, match=r"faint_snr \(3.0\) must exceed target_snr \(3.0\)"):
        train("convosource", faint_weight=2.0, faint_snr=3.0, **common)
    with pytest.raises(ValueError, match="faint_weight must be >= 1, got nan"):
        train("convosource", faint_weight=float("nan"), **common)
    with pytest.raises(ValueError, match=r"training images \(first_image \+ train_images\)"):
        train("convosource", first_image=len(TRAINING_SEEDS), **common)
    assert not (tmp_path / "x.pt").exists()
