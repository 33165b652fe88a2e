"""Training PAIS: samples and exact targets, augmentation, matching, a tiny run with resume and tuning, the CLI."""

import json

import numpy as np
import pytest

from astro_mlfinder.neural.models.pais.training import _augment, _stack, make_cutout, make_sample, score_catalog


@pytest.fixture(scope="module")
def sim():
    from astro_mlfinder.simulate.blends import BLEND_SEEDS

    # the first training cut-out with a blend of at least three sources
    for i in range(50):
        s = make_cutout(BLEND_SEEDS["training"] + i)
        if len(s.truth) >= 3:
            return s
    raise AssertionError("no blend of three sources in the first 50 training seeds")


def test_sample_targets_are_the_pcr_of_the_true_sources(sim):
    s = make_sample(sim)
    assert s["x"].shape == (64, 64) and s["claim_vectors"].shape == (3, 2, 64, 64)
    np.testing.assert_allclose(s["claim_maps"].sum(axis=0), 1.0, atol=1e-5)
    ty, tx = np.asarray(sim.truth["y"], float), np.asarray(sim.truth["x"], float)
    iy, ix = np.round(ty).astype(int), np.round(tx).astype(int)
    assert np.all(s["center_of_mass"][iy, ix] > 0.85)
    # the claim weight covers the sources' bright pixels and not the empty corners of the cut-out
    assert np.all(s["claim_weight"][iy, ix] == 1) and s["claim_weight"].mean() < 0.9


@pytest.mark.parametrize("seed", range(6))
def test_augmentation_keeps_vectors_pointing_at_the_heatmap_peaks(sim, seed):
    b = _augment(_stack([make_sample(sim)]), np.random.default_rng(seed))
    heat, vec = b["center_of_mass"][0], b["claim_vectors"][0]
    yy, xx = np.mgrid[0:64, 0:64]
    ey = np.clip(np.round(yy + vec[0, 0]).astype(int), 0, 63)
    ex = np.clip(np.round(xx + vec[0, 1]).astype(int), 0, 63)
    assert heat[ey, ex].min() > 0.85
    # the nearest claim has the smallest length
    lengths = np.hypot(vec[:, 0], vec[:, 1])
    assert np.all(lengths[0] <= lengths[1] + 1e-4)


def test_score_catalog_matches_once_and_counts_bright_sources(sim):
    t = sim.truth
    pos = np.column_stack([np.asarray(t["y"], float), np.asarray(t["x"], float)])
    s = score_catalog(pos + 0.5, t, radius=3.0, min_snr=0.0)
    assert s["tp"] == len(t) and s["fp"] == 0 and s["found"] == s["n_true"] == len(t)
    s = score_catalog(np.vstack([pos[:1], pos[:1], [[0.0, 0.0]]]), t, radius=3.0, min_snr=0.0)
    assert s["tp"] == 1 and s["fp"] == 2 and list(s["match"]) == [0, -1, -1]
    bright = np.asarray(t["snr"], float) >= 5
    assert score_catalog(pos, t, min_snr=5.0)["n_true"] == int(bright.sum())
    assert score_catalog(pos, t)["n_true"] == len(t)  # default: every source, within its r_half_psf


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    pytest.importorskip("torch")
    from astro_mlfinder.cli import main

    out = tmp_path_factory.mktemp("pais") / "p.pt"
    assert main(["train", "pais", "--epochs", "1", "--train-images", "16", "--val-images", "2", "--batch-size", "8",
                 "--output", str(out), "--no-progress", "--num-threads", "1"]) == 0
    return out


def test_tiny_training_resumes_and_tunes(checkpoint, tmp_path):
    import shutil

    import torch

    from astro_mlfinder.neural import train
    from astro_mlfinder.neural.models.pais.training import tune_pais

    out = tmp_path / "p.pt"
    shutil.copy(checkpoint, out)
    first = torch.load(out, weights_only=True)
    assert first["meta"]["training"]["command"].startswith("astro-mlfinder train pais --epochs 1")
    assert first["meta"]["training"]["hardware"] and first["meta"]["inference"]["threshold"] > 0
    more = train("pais", epochs=3, resume=out, output=out, progress=False, num_threads=1, tune=False)
    assert [h["epoch"] for h in more] == [1, 2, 3]
    assert more[0]["loss"] == first["history"][0]["loss"] and more[0]["val_f1"] == first["history"][0]["val_f1"]
    assert more[-1]["loss"] < more[0]["loss"]
    assert len(json.loads((tmp_path / "p_history.json").read_text())) == 3
    best = tune_pais(out, val_images=1)
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["inference"]["threshold"] == best["threshold"] and meta["validation"]["n_images"] == 1
    assert set(meta["inference"]) >= {"threshold", "nms_radius", "tta", "footprint_snr", "dilate", "background"}


def test_cli_errors(checkpoint, tmp_path, capsys):
    from astro_mlfinder.cli import main

    assert main(["train", "pais", "--epochs", "0", "--output", str(tmp_path / "x.pt"), "--no-progress"]) == 1
    assert "epochs must be >= 1" in capsys.readouterr().err
    assert main(["train", "pais", "--tune", str(checkpoint), "--val-images", "0"]) == 1
    assert "tuning needs at least one validation cut-out" in capsys.readouterr().err
    assert main(["train", "pais", "--resume", str(tmp_path / "none.pt"), "--output", str(tmp_path / "y.pt"),
                 "--no-progress"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_warm_start_from_weights(checkpoint, tmp_path):
    import torch

    from astro_mlfinder.neural.models.pais.training import train_pais

    start = torch.load(checkpoint, weights_only=True)
    out = tmp_path / "w.pt"
    hist = train_pais(epochs=1, train_images=8, val_images=0, batch_size=8, lr=1e-9, output=out, progress=False,
                      num_threads=1, tune=False, init=checkpoint)
    assert [h["epoch"] for h in hist] == [1]  # a fresh schedule, not the checkpoint's
    got = torch.load(out, weights_only=True)
    assert got["meta"]["training"]["init"]["file"] == checkpoint.name
    assert got["config"] == start["config"]
    key = next(k for k, v in start["state_dict"].items() if v.is_floating_point() and "weight" in k)
    torch.testing.assert_close(got["state_dict"][key], start["state_dict"][key], atol=1e-6, rtol=0)  # lr ~ 0
    with pytest.raises(ValueError, match="not both"):
        train_pais(epochs=1, output=tmp_path / "x.pt", resume=checkpoint, init=checkpoint, progress=False)
