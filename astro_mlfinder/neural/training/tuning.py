"""Validation and tuning of segmentation models.

* `make_validation_set` -- fixed, seeded validation cubes (half with random
  realism) whose seeds never occur in the training stream or in benchmarks;
* `evaluate_segmentation` -- object precision/recall/F1 (one-to-one IoU
  matching, `astro_mlfinder.evaluate.match_catalogs`) and voxel Dice;
* `validation_probabilities` -- the inference pipeline on every validation cube;
* `tune_threshold` -- the (threshold, min_size) with the best object F1;
* `tune_checkpoint` -- threshold, min_size and test-time augmentation of a
  checkpoint tuned on a larger validation set and recorded in it.
"""

import numpy as np

from ...evaluate import match_catalogs
from .._torch import require_torch
from ..inference import filter_sizes, predict_probability, segment_probability
from ..models import get_model
from ..weights import _to_plain, atomic_save

__all__ = [
    "make_validation_set",
    "evaluate_segmentation",
    "validation_probabilities",
    "tune_threshold",
    "tune_checkpoint",
    "VAL_ENTROPY",
]

#: Entropy mixed into validation seeds (disjoint from the training stream and from integer benchmark seeds).
VAL_ENTROPY = 0x5A11D


def make_validation_set(n_cubes=8, shape=(128, 96, 96), n_sources=6, seed=0, snr_range=(2.0, 60.0)):
    """Fixed, seeded validation cubes: list of ``(data, labels, truth)``.

    Half of the cubes have random realism (artefacts, varying instrument),
    half are clean. The seeds are spawned from ``SeedSequence([seed,
    0x5A11D])`` and are disjoint from the training stream and from integer
    benchmark seeds.
    """
    import warnings

    from ...simulate.hi import random_realism, simulate_hi_cube

    root = np.random.SeedSequence([int(seed), VAL_ENTROPY])
    out = []
    for i, child in enumerate(root.spawn(int(n_cubes))):
        rng = np.random.default_rng(child)
        realism = random_realism(rng, n_sources=n_sources) if i % 2 else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = simulate_hi_cube(shape, n_sources, seed=child, snr_range=snr_range, realism=realism)
        out.append((sim.data, sim.labels, sim.truth))
    return out


def _id_table(n):
    """Catalogue of ids 1..n; positions are not used by overlap matching."""
    from astropy.table import Table

    zeros = np.zeros(n)
    return Table({"id": np.arange(1, n + 1), "x": zeros, "y": zeros, "z": zeros})


def _match_counts(truth_labels, pred_labels, iou_min):
    """(n_true, n_pred, n_matched): one-to-one matching by 3D IoU (`~astro_mlfinder.evaluate.match_catalogs`)."""
    n_true, n_pred = int(truth_labels.max()), int(pred_labels.max())
    if n_true == 0 or n_pred == 0:
        return n_true, n_pred, 0
    res = match_catalogs(
        _id_table(n_pred),
        _id_table(n_true),
        detected_segment=pred_labels,
        truth_segment=truth_labels,
        min_iou=iou_min,
    )
    return n_true, n_pred, int(res.tp)


def _scores(n_true, n_pred, matched):
    precision = matched / n_pred if n_pred else (1.0 if n_true == 0 else 0.0)
    recall = matched / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def evaluate_segmentation(probabilities, val_set, threshold=0.5, min_size=16, iou_min=0.2):
    """Object-level precision/recall/F1 and voxel Dice on a validation set.

    Sources are matched one-to-one by 3D IoU >= ``iou_min``.

    Parameters
    ----------
    probabilities : list of `~numpy.ndarray`
        Probability cube of each validation cube.
    val_set : list
        Output of `make_validation_set`.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``dice`` (voxel level, all cubes).
    """
    predictions = (segment_probability(prob, threshold, min_size)[0] for prob in probabilities)
    return _segmentation_scores(predictions, val_set, iou_min)


def _segmentation_scores(predictions, val_set, iou_min):
    """Object precision/recall/F1 (summed over the cubes) and voxel Dice of label cubes
    (``predictions`` may be a generator: one cube is held at a time)."""
    totals = np.zeros(3, dtype=np.int64)
    inter = size = 0
    for pred, (_, labels, _) in zip(predictions, val_set, strict=True):
        totals += _match_counts(labels, pred, iou_min)
        inter += int(((labels > 0) & (pred > 0)).sum())
        size += int((labels > 0).sum() + (pred > 0).sum())
    out = _scores(*totals)
    out["dice"] = 2 * inter / size if size else 1.0
    return out


def validation_probabilities(model, val_set, normalization, rebin, device):
    """Probability cube of ``model`` on every cube of ``val_set`` (the inference pipeline, default tiles)."""
    return [
        predict_probability(
            model,
            data,
            normalization=normalization,
            tile_shape=(256, 128, 128),
            overlap=(64, 32, 32),
            device=device,
            rebin=rebin,
        )
        for data, _, _ in val_set
    ]


def tune_threshold(probabilities, val_set, thresholds=None, min_sizes=(8, 16, 32, 64, 128), iou_min=0.2):
    """Pick the (threshold, min_size) with the best object F1 on the validation set.

    Ties are broken by the higher recall.

    Returns
    -------
    best : dict
        ``threshold``, ``min_size`` and their ``precision``, ``recall``, ``f1``, ``dice``.
    """
    if thresholds is None:
        thresholds = np.round(np.arange(0.05, 0.9, 0.05), 2)
    best = None
    for thr in thresholds:
        segmented = [segment_probability(p, float(thr), 1)[0] for p in probabilities]
        for ms in min_sizes:
            res = _segmentation_scores((filter_sizes(seg, ms) for seg in segmented), val_set, iou_min)
            key = (res["f1"], res["recall"])
            if best is None or key > (best["f1"], best["recall"]):
                best = dict(res, threshold=float(thr), min_size=int(ms))
    return best


def tune_checkpoint(
    checkpoint,
    *,
    n_cubes=16,
    shape=(256, 96, 96),
    n_sources=8,
    snr_range=(2.0, 60.0),
    thresholds=(0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
    min_sizes=(16, 32, 64, 128, 192, 256, 384, 512, 768),
    try_tta=True,
    tta_gain=0.01,
    device="cpu",
    write=True,
):
    """Tune threshold, minimum size and test-time augmentation of a checkpoint on validation cubes.

    The cubes come from the validation seed stream of the checkpoint's
    training seed (`make_validation_set`), never from benchmark seeds. Test-time
    augmentation is kept only if it raises the F1 by more than ``tta_gain``.

    Parameters
    ----------
    checkpoint : str or path
        Checkpoint written by `train` (updated in place if ``write``).
    n_cubes, shape, n_sources, snr_range
        Validation set (half the cubes with random realism).
    thresholds, min_sizes : sequence
        Grid searched.
    try_tta : bool
        Also evaluate test-time augmentation.

    Returns
    -------
    dict
        The chosen ``threshold``, ``min_size``, ``tta`` and their scores.
    """
    torch = require_torch("tune_checkpoint")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = get_model(ckpt["model"]).network_class().from_config(ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    meta = ckpt["meta"]
    rebin = tuple(meta["rebin"]) if meta.get("rebin") else None
    seed = int(meta.get("training", {}).get("seed", 0))
    val = make_validation_set(n_cubes, shape, n_sources=n_sources, seed=seed, snr_range=snr_range)
    results = {}
    for tta in (False, True) if try_tta else (False,):
        probs = [
            predict_probability(model, data, normalization=meta["normalization"], rebin=rebin, device=device, tta=tta)
            for data, _, _ in val
        ]
        results[tta] = tune_threshold(probs, val, thresholds=thresholds, min_sizes=min_sizes)
    use_tta = bool(try_tta and results[True]["f1"] > results[False]["f1"] + tta_gain)
    best = dict(results[use_tta], tta=use_tta)
    if write:
        meta["inference"] = {
            "threshold": best["threshold"],
            "min_size": best["min_size"],
            "tta": use_tta,
        }
        meta["validation"] = _to_plain(
            {k: best[k] for k in ("precision", "recall", "f1", "dice")}
            | {
                "n_cubes": int(n_cubes),
                "shape": list(shape),
                "n_sources": int(n_sources),
                "snr_range": list(snr_range),
                "iou_min": 0.2,
                "seeds": f"SeedSequence([{seed}, 0x5A11D]).spawn({n_cubes}), every second cube with random realism",
                "tuned": "threshold, min_size and tta maximising object F1",
                "f1_without_tta": results[False]["f1"],
                "f1_with_tta": results[True]["f1"] if try_tta else None,
            }
        )
        ckpt["meta"] = meta
        atomic_save(ckpt, checkpoint)
    return _to_plain(best)
