"""Fine-tuning from registered weights (``train(init=...)``) and ``unet3d``'s mask growth (``dilate``)."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural import NeuralFinder  # noqa: E402
from astro_mlfinder.neural import training as T  # noqa: E402
from astro_mlfinder.neural.models.unet3d.model import DILATE_THRESHOLD, Unet3DModel  # noqa: E402
from astro_mlfinder.neural.weights import load_weights  # noqa: E402
from astro_mlfinder.simulate import simulate_hi_cube  # noqa: E402

TINY = dict(steps_per_epoch=1, batch_size=1, crop_shape=(64, 32, 32), val_cubes=0, progress=False, seed=3,
            num_threads=1, tune=False)


def test_fine_tuning_starts_from_the_bundled_weights(tmp_path):
    bundled = load_weights("unet3d")
    out = tmp_path / "ft.pt"
    T.train("unet3d", init="unet3d", epochs=1, lr=0.0, output=out, base_channels=2,
            data_options=dict(telescope_prob=1.0, mask_threshold=0.25), **TINY)
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    # the architecture, normalisation and rebin of the weights, not base_channels=2
    assert ckpt["config"] == bundled["config"] and ckpt["meta"]["rebin"] == bundled["meta"]["rebin"]
    init = ckpt["meta"]["training"]["init"]
    assert init["source"] == "unet3d" and init["sha256"] == bundled["registry"]["files"][0]["sha256"]
    assert ckpt["meta"]["inference"]["threshold"] == bundled["meta"]["inference"]["threshold"]
    data = ckpt["meta"]["training"]["data"]
    assert data["telescope_prob"] == 1.0 and data["mask_threshold"] == 0.25
    # lr 0: Adam moves no weight, they are the bundled ones (only the batch-norm statistics follow the batch)
    weights = [k for k in bundled["state_dict"] if "running_" not in k and "num_batches" not in k]
    assert len(weights) > 20
    for key in weights:
        assert torch.equal(ckpt["state_dict"][key], bundled["state_dict"][key]), key
    # a weights file works as well, with name@version of the registry
    T.train("unet3d", init=str(bundled["path"]), epochs=1, output=tmp_path / "ft2.pt", **TINY)
    T.train("unet3d", init="unet3d@0.1.0", epochs=1, output=tmp_path / "ft3.pt", **TINY)
    with pytest.raises(ValueError, match="either resume"):
        T.train("unet3d", init="unet3d", resume=out, epochs=1, output=tmp_path / "x.pt", **TINY)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        T.train("unet3d", init=str(tmp_path / "missing.pt"), epochs=1, output=tmp_path / "y.pt", **TINY)


def test_dilate_grows_masks_to_the_outskirts():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = simulate_hi_cube((96, 48, 48), 1, seed=5, snr=[40.0], size_range=(6.0, 7.0), mask_threshold=0.1)
    truth_flux = sim.model.sum()
    plain = NeuralFinder("unet3d", device="cpu", threshold=0.3, dilate=False)(sim.data, progress=False)
    grown = NeuralFinder("unet3d", device="cpu", threshold=0.3, dilate=True)(sim.data, progress=False)
    assert len(plain) == len(grown) == 1
    n_plain, n_grown = (np.asarray(c.segment) > 0 for c in (plain, grown))
    assert n_grown.sum() > n_plain.sum() and np.all(n_grown[n_plain])
    f_plain, f_grown = (sim.model[m].sum() / truth_flux for m in (n_plain, n_grown))
    assert f_grown > f_plain
    assert grown.meta["dilate"] == DILATE_THRESHOLD and plain.meta["dilate"] == 0.0


def test_dilate_keyword_values_and_margin():
    assert Unet3DModel.validate({"dilate": True})["dilate"] == DILATE_THRESHOLD
    assert Unet3DModel.validate({"dilate": False})["dilate"] == 0.0
    assert Unet3DModel.validate({"dilate": 0.02})["dilate"] == 0.02
    with pytest.raises(ValueError, match="dilate must be >= 0"):
        Unet3DModel.validate({"dilate": -1})
    with pytest.raises(ValueError, match="dilate must be True, False"):
        Unet3DModel.validate({"dilate": "lots"})
    plain = Unet3DModel(device="cpu").margin  # off by default, as SoFiA-2's dilation
    assert plain == Unet3DModel(device="cpu", dilate=False).margin
    grown = Unet3DModel(device="cpu", dilate=True).margin
    assert tuple(g - p for g, p in zip(grown, plain, strict=True)) == (5, 10, 10)


def test_train_command_line_fine_tunes(tmp_path, monkeypatch, capsys):
    from astro_mlfinder.cli import main
    from astro_mlfinder.neural.training import loop as L

    calls = []
    monkeypatch.setattr(L, "train", lambda model, **kw: calls.append((model, kw)) or [{"epoch": 1}])
    argv = ["train", "unet3d", "--init", "unet3d@0.1.0", "--telescope-prob", "0.6", "--mask-threshold", "0.25",
            "--epochs", "1", "--no-progress", "--output", str(tmp_path / "w.pt")]
    assert main(argv) == 0
    model, kw = calls.pop()
    assert model == "unet3d" and kw["init"] == "unet3d@0.1.0"
    assert kw["data_options"] == {"telescope_prob": 0.6, "mask_threshold": 0.25}
    assert "--init unet3d@0.1.0 --telescope-prob 0.6 --mask-threshold 0.25" in kw["command"]
    capsys.readouterr()
    assert main(["train", "--data", str(tmp_path), "--mask-threshold", "0.3", "--output", str(tmp_path / "x.pt")]) == 1
    assert "use them with --data sim:hi" in capsys.readouterr().err


def test_faint_sources_do_not_grow_into_the_noise():
    from astro_mlfinder.core.dilation import dilate_mask
    from astro_mlfinder.neural.models.unet3d.model import DILATE_SIGNIFICANCE, _grow

    rng = np.random.default_rng(0)
    zz, yy, xx = np.indices((40, 48, 48))
    blob = np.exp(-0.5 * (((zz - 20) / 3) ** 2 + ((yy - 24) / 3) ** 2 + ((xx - 24) / 3) ** 2))
    noise = rng.standard_normal(blob.shape)
    core = (blob > 0.3).astype(np.int32)
    for amplitude, grows_freely in ((1.0, False), (200.0, True)):
        data = (amplitude * blob + noise).astype(np.float32)
        snr = data[core > 0].sum() / np.sqrt(core.sum())
        plain, _ = dilate_mask(core, data, None, iterations_xy=10, iterations_z=5, threshold=DILATE_THRESHOLD)
        grown = _grow(core, data, DILATE_THRESHOLD)
        assert np.all(grown[core > 0] == 1)
        if grows_freely:  # bright: 2/snr < 1 %, the SoFiA rule alone decides
            assert snr > 100 * DILATE_SIGNIFICANCE
            np.testing.assert_array_equal(grown, plain)
        else:  # faint: each step must add 2/snr of the flux, noise alone rarely does
            assert snr < 20
            assert (grown > 0).sum() < 0.5 * (plain > 0).sum()
