"""Tiny training runs of the hi_reliability scorer: checkpoints, resume, threshold tuning, export."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.hi_reliability.data import TRAINING_SEEDS, VALIDATION_SEEDS, cube_candidates
from astro_mlfinder.neural.models.hi_reliability.training import average_precision, tune_threshold


def _finders():
    from astro_mlfinder import ClassicalFinder  # tests may cross the floors: the code does not

    return [ClassicalFinder(threshold=3.5, min_size_xy=3, min_size_z=3)]


def test_tune_threshold_and_average_precision():
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 0])
    best = tune_threshold(scores, labels, thresholds=[0.15, 0.25, 0.5, 0.75])
    assert best["threshold"] == 0.25 and best["tp"] == 3 and best["fp"] == 1
    assert best["f1"] == pytest.approx(6 / 7)
    assert average_precision(scores, labels) == pytest.approx((1 + 1 + 3 / 4) / 3)
    assert average_precision(np.array([0.5]), np.array([1])) == 1.0


def test_cube_candidates_labels_follow_the_truth():
    part = cube_candidates(TRAINING_SEEDS[0], _finders(), max_negatives=5)
    n = len(part["label"])
    assert part["cutouts"].shape[0] == part["scalars"].shape[0] == n
    assert (part["label"] == 0).sum() <= 5
    true = part["label"] > 0
    assert true.any()
    assert np.isfinite(part["snr"][true]).all() and np.isnan(part["snr"][~true]).all()
    # true candidates are brighter than noise candidates (integrated S/N feature)
    assert np.median(part["scalars"][true, 7]) > np.median(part["scalars"][~true, 7])


def test_tiny_training_checkpoints_resumes_and_exports(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from astro_mlfinder.neural.models.hi_reliability import data

    full = data.cube_settings
    monkeypatch.setattr(data, "cube_settings", lambda seed: {**full(seed), "shape": (64, 64, 64), "n_sources": 4})
    from astro_mlfinder.neural.models.hi_reliability.scorer import NeuralReliabilityScorer
    from astro_mlfinder.neural.models.hi_reliability.training import export_weights, train_reliability

    out = tmp_path / "rel.pt"
    first = train_reliability(_finders(), out, train_cubes=2, val_cubes=1, epochs=1, batch_size=16,
                              max_negatives=10, progress=False, num_threads=1)
    assert [h["epoch"] for h in first] == [1]
    assert out.with_suffix(".train.npz").is_file() and out.with_suffix(".best.pt").is_file()
    more = train_reliability(_finders(), out, train_cubes=2, val_cubes=1, epochs=3, batch_size=16,
                             max_negatives=10, progress=False, num_threads=1, resume=out)
    assert [h["epoch"] for h in more] == [1, 2, 3]
    assert more[0] == first[0]
    assert more[-1]["lr"] == pytest.approx(2e-3 / 20)  # the cosine schedule ran to its end across the resume
    ckpt = torch.load(out, weights_only=True)
    meta = ckpt["meta"]
    assert meta["epoch"] == 3 and "optimizer" in ckpt
    assert meta["training"]["train_seeds"] == [TRAINING_SEEDS[0], TRAINING_SEEDS[1]]
    assert meta["training"]["val_seeds"] == [VALIDATION_SEEDS[0], VALIDATION_SEEDS[0]]
    assert meta["training"]["hardware"]["device"] == "cpu"
    assert 0.05 <= meta["validation"]["threshold"] <= 0.95
    shipped = export_weights(out, tmp_path / "hi_reliability-test.pt")
    payload = torch.load(shipped, weights_only=True)
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values() if v.is_floating_point())
    assert payload["meta"]["inference"]["threshold"] == meta["validation"]["threshold"]
    scorer = NeuralReliabilityScorer(weights=str(shipped))
    assert scorer.threshold == meta["validation"]["threshold"]
    assert NeuralReliabilityScorer(weights=str(shipped), threshold=0.3).threshold == 0.3
