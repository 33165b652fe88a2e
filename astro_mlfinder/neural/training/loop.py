"""Training segmentation networks (``unet3d``) on simulated or labelled HI cubes.

`train` runs the full recipe:

* **data** -- ``'sim:hi'`` draws every training crop afresh from
  `astro_mlfinder.simulate.hi.simulate_hi_cube` (instrument and artefacts
  varied per crop with `~astro_mlfinder.simulate.hi.random_realism`, the
  integrated SNR log-uniform over ``snr_range``, i.e. weighted towards faint
  sources); a directory uses its FITS cube + mask pairs
  (``NAME.fits`` + ``NAME_mask.fits``, optionally gzipped);
* **balancing** -- a fraction ``1 - positive_fraction`` of the crops holds no
  source (simulated: no galaxy but all the artefacts; directory: a random
  window), the others contain at least one source;
* **augmentation** -- HISF cut-mix (noiseless sources of another simulation
  inserted into the crop at 0.25-1x intensity, their masks cut where they
  fall below 0.5 rms, see `~astro_mlfinder.simulate.cutmix`), extra white
  noise, random flips along the three axes and a y/x transpose;
* **preprocessing** -- spectral rebin (6/4), per-channel robust
  normalisation (the recipe is stored with the weights), rebinned labels
  re-binarised at 0.5, as HISF;
* **optimisation** -- Adam, polynomial learning-rate decay
  ``lr(e) = (1 - e/E)^0.8 (lr0 - lr0/10) + lr0/10`` (HISF's schedule),
  loss Dice + 0.5 BCE (`~astro_mlfinder.neural.losses.dice_bce_loss`);
* **validation** -- after every epoch the whole inference pipeline runs on a
  fixed, seeded validation set that never overlaps the training stream;
  object-level precision/recall/F1 (truth and detections matched by 3D IoU)
  and voxel Dice are recorded, the best model is kept;
* **checkpoints** -- written every epoch to ``output`` (model, optimiser,
  history, random state; readable with ``torch.load(weights_only=True)``), the
  best one to ``<output stem>-best.pt``; `train` resumes from ``resume``; at
  the end the detection threshold and minimum size are tuned on the
  validation set and recorded in the checkpoint, and a loss curve
  ``<output stem>_loss.png`` plus ``<output stem>_history.json`` are written.

Run from the shell with ``python -m astro_mlfinder.neural.training unet3d
--data sim:hi --epochs 10 --output unet3d.pt`` (see ``--help``).
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from ..core.stats import MAD_TO_STD
from ..evaluate import match_catalogs
from ..io.atomic import atomic_path
from ._torch import require_torch, resolve_device
from .inference import (
    DEFAULT_NORMALIZATION,
    filter_sizes,
    normalize_cube,
    predict_probability,
    segment_probability,
)
from .models import get_model_spec
from .weights import WEIGHTS_FORMAT, _to_plain

__all__ = [
    "train",
    "SimulatedHIData",
    "FitsPairData",
    "make_validation_set",
    "evaluate_segmentation",
    "tune_threshold",
    "tune_checkpoint",
    "export_weights",
    "main",
]

_TRAIN_ENTROPY = 0x7EA1
_VAL_ENTROPY = 0x5A11D


# --------------------------------------------------------------------------- data
def _flip_and_transpose(data, labels, rng):
    for axis in range(3):
        if rng.random() < 0.5:
            data = np.flip(data, axis)
            labels = np.flip(labels, axis)
    if data.shape[1] == data.shape[2] and rng.random() < 0.5:
        data = np.swapaxes(data, 1, 2)
        labels = np.swapaxes(labels, 1, 2)
    return np.ascontiguousarray(data), np.ascontiguousarray(labels)


class SimulatedHIData:
    """Endless stream of simulated HI training crops.

    Parameters
    ----------
    crop_shape : tuple of int
        Native (z, y, x) size of each crop.
    seed : int
        Seed of the stream (training seeds are spawned from
        ``SeedSequence([seed, 0x7EA1])`` and never equal the integer seeds
        used for validation and benchmarks).
    snr_range : tuple of float
        Integrated-SNR range, drawn log-uniformly.
    max_sources : int
        Largest number of galaxies in a positive crop.
    positive_fraction : float
        Fraction of crops with at least one galaxy.
    realism_prob : float
        Probability of random instrument/artefact realism for a crop.
    cutmix_prob : float
        Probability of inserting the sources of a second simulation.
    noise_prob : float
        Probability of adding white noise of 0-50 % of the rms.
    """

    def __init__(
        self,
        crop_shape=(128, 64, 64),
        seed=0,
        *,
        snr_range=(2.0, 60.0),
        max_sources=3,
        positive_fraction=0.75,
        realism_prob=0.7,
        cutmix_prob=0.4,
        noise_prob=0.3,
    ):
        from ..simulate.hi import random_realism, simulate_hi_cube

        self._simulate = simulate_hi_cube
        self._random_realism = random_realism
        self.crop_shape = tuple(int(v) for v in crop_shape)
        self.snr_range = tuple(float(v) for v in snr_range)
        self.max_sources = int(max_sources)
        self.positive_fraction = float(positive_fraction)
        self.realism_prob = float(realism_prob)
        self.cutmix_prob = float(cutmix_prob)
        self.noise_prob = float(noise_prob)
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), _TRAIN_ENTROPY]))

    def describe(self):
        """Plain description recorded with the weights."""
        return {
            "source": "sim:hi",
            "crop_shape": list(self.crop_shape),
            "snr_range": list(self.snr_range),
            "max_sources": self.max_sources,
            "positive_fraction": self.positive_fraction,
            "realism_prob": self.realism_prob,
            "cutmix_prob": self.cutmix_prob,
            "noise_prob": self.noise_prob,
        }

    def _sim(self, n_sources, rng):
        realism = self._random_realism(rng, n_sources=n_sources) if rng.random() < self.realism_prob else None
        seed = int(rng.integers(2**63))
        return self._simulate(
            self.crop_shape,
            n_sources,
            seed=np.random.SeedSequence([seed, _TRAIN_ENTROPY]),
            snr_range=self.snr_range,
            realism=realism,
        )

    def sample(self):
        """Return one ``(data, labels)`` crop (float32 cube, bool mask), native resolution."""
        import warnings

        from ..simulate.augment import cutmix

        rng = self.rng
        positive = rng.random() < self.positive_fraction
        n = int(rng.integers(1, self.max_sources + 1)) if positive else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = self._sim(n, rng)
            data, labels = sim.data, sim.labels
            if positive and rng.random() < self.cutmix_prob:
                donor = self._sim(int(rng.integers(1, self.max_sources + 1)), rng)
                if donor.labels.any():
                    rms = float(np.median(sim.noise_rms))
                    # scale the donor so its SNR matches the background's noise level, then dim it
                    factor = rms / float(np.median(donor.noise_rms))
                    data, labels = cutmix(
                        data,
                        donor.model * factor,
                        donor.labels,
                        scale=(0.25, 1.0),
                        background_labels=labels,
                        label_threshold=0.5 * rms,
                        rng=rng,
                    )
        data = np.asarray(data, dtype=np.float32)
        if rng.random() < self.noise_prob:
            rms = float(np.median(sim.noise_rms))
            data = data + rng.normal(0.0, rng.uniform(0.0, 0.5) * rms, data.shape).astype(np.float32)
        return _flip_and_transpose(data, labels > 0, rng)


def _read_fits_array(path):
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        hdu = next(h for h in hdul if h.is_image and h.data is not None)
        return np.squeeze(np.asarray(hdu.data))


class FitsPairData:
    """Training crops from a directory of FITS cube + mask pairs.

    Every ``NAME_mask.fits`` (or ``.fits.gz``; non-zero = source) is paired
    with ``NAME.fits`` (or ``.fits.gz``) in the same directory. Crops are
    drawn around a random labelled voxel (``positive_fraction``) or
    anywhere; white noise and flips are added as for simulated data.
    """

    def __init__(self, directory, crop_shape=(128, 64, 64), seed=0, *, positive_fraction=0.75, noise_prob=0.3):
        directory = Path(directory)
        if not directory.is_dir():
            raise ValueError(f"training data directory not found: {directory}")
        self.pairs = []
        for mask_path in sorted(directory.glob("*_mask.fits*")):
            stem = mask_path.name.split("_mask.fits")[0]
            cube_path = next(
                (p for p in (directory / f"{stem}.fits", directory / f"{stem}.fits.gz") if p.exists()),
                None,
            )
            if cube_path is None:
                raise ValueError(f"mask {mask_path.name} has no matching cube {stem}.fits in {directory}")
            cube = _read_fits_array(cube_path).astype(np.float32)
            mask = _read_fits_array(mask_path) > 0
            if cube.ndim != 3 or cube.shape != mask.shape:
                raise ValueError(
                    f"{cube_path.name} {cube.shape} and {mask_path.name} {mask.shape} must be "
                    "3D cubes of the same shape"
                )
            self.pairs.append((cube, mask, np.argwhere(mask)))
        if not self.pairs:
            raise ValueError(f"no FITS cube + mask pairs (NAME.fits + NAME_mask.fits) in {directory}")
        self.directory = directory
        self.crop_shape = tuple(int(v) for v in crop_shape)
        self.positive_fraction = float(positive_fraction)
        self.noise_prob = float(noise_prob)
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), _TRAIN_ENTROPY]))

    def describe(self):
        return {
            "source": str(self.directory),
            "n_cubes": len(self.pairs),
            "crop_shape": list(self.crop_shape),
            "positive_fraction": self.positive_fraction,
            "noise_prob": self.noise_prob,
        }

    def sample(self):
        rng = self.rng
        cube, mask, where = self.pairs[int(rng.integers(len(self.pairs)))]
        crop = [min(c, n) for c, n in zip(self.crop_shape, cube.shape, strict=True)]
        if len(where) and rng.random() < self.positive_fraction:
            centre = where[int(rng.integers(len(where)))]
            lo = [
                int(np.clip(c - rng.integers(0, w), 0, n - w)) for c, w, n in zip(centre, crop, cube.shape, strict=True)
            ]
        else:
            lo = [int(rng.integers(0, n - w + 1)) for w, n in zip(crop, cube.shape, strict=True)]
        sl = tuple(slice(a, a + w) for a, w in zip(lo, crop, strict=True))
        data, labels = cube[sl].copy(), mask[sl].copy()
        data[~np.isfinite(data)] = 0.0
        if rng.random() < self.noise_prob:
            rms = MAD_TO_STD * float(np.median(np.abs(data - np.median(data))))
            data += rng.normal(0.0, rng.uniform(0.0, 0.5) * rms, data.shape).astype(np.float32)
        return _flip_and_transpose(data, labels, rng)


def _make_data(data, crop_shape, seed, **kwargs):
    if isinstance(data, str) and data.lower().startswith("sim:"):
        kind = data.split(":", 1)[1].lower()
        if kind != "hi":
            raise ValueError(f"unknown simulated training data {data!r}; supported: 'sim:hi'")
        return SimulatedHIData(crop_shape, seed, **kwargs)
    if hasattr(data, "sample"):
        return data
    return FitsPairData(data, crop_shape, seed)


def _prepare_batch(samples, rebin, normalization, divisor):
    """Rebin, normalise and pad native crops; return network inputs and targets (numpy)."""
    torch = require_torch("training")
    from .models.unet3d import spectral_rebin

    xs, ys = [], []
    for data, labels in samples:
        if rebin:
            with torch.no_grad():
                d = spectral_rebin(torch.from_numpy(data)[None, None], *rebin)[0, 0].numpy()
                lab = (
                    spectral_rebin(
                        torch.from_numpy(labels.astype(np.float32))[None, None],
                        *rebin,
                        nan_aware=False,
                    )[0, 0].numpy()
                    > 0.5
                )
        else:
            d, lab = data, labels
        x = normalize_cube(d, normalization)
        pad = [(0, (-n) % divisor) for n in x.shape]
        if any(p for _, p in pad):
            x = np.pad(x, pad, mode="symmetric")
            lab = np.pad(lab, pad, mode="symmetric")
        xs.append(x)
        ys.append(lab.astype(np.float32))
    return np.stack(xs)[:, None], np.stack(ys)[:, None]


# --------------------------------------------------------------------------- validation
def make_validation_set(n_cubes=8, shape=(128, 96, 96), n_sources=6, seed=0, snr_range=(2.0, 60.0)):
    """Fixed, seeded validation cubes: list of ``(data, labels, truth)``.

    Half of the cubes have random realism (artefacts, varying instrument),
    half are clean. The seeds are spawned from ``SeedSequence([seed,
    0x5A11D])`` and are disjoint from the training stream and from integer
    benchmark seeds.
    """
    import warnings

    from ..simulate.hi import random_realism, simulate_hi_cube

    root = np.random.SeedSequence([int(seed), _VAL_ENTROPY])
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


def _validation_probabilities(model, val_set, normalization, rebin, device):
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


# --------------------------------------------------------------------------- checkpoints
def _lr_at(epoch_float, epochs, lr0):
    frac = min(max(epoch_float / max(epochs, 1), 0.0), 1.0)
    lr_min = lr0 / 10
    return (1 - frac) ** 0.8 * (lr0 - lr_min) + lr_min


def _checkpoint_payload(model_name, model, optimizer, epoch, history, rng, meta, best_f1):
    torch = require_torch("training")
    return {
        "format": WEIGHTS_FORMAT,
        "format_version": 1,
        "model": model_name,
        "config": _to_plain(model.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": _to_plain(meta),
        "optimizer": optimizer.state_dict(),
        "epoch": int(epoch),
        "history": _to_plain(history),
        "best_f1": float(best_f1),
        "rng_state": _to_plain(rng.bit_generator.state),
        "torch_rng_state": torch.get_rng_state(),
    }


def _atomic_save(payload, path):
    torch = require_torch("training")
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(payload, tmp)


def _plot_history(history, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not history:
        return None
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [h["loss"] for h in history], "o-", label="training loss (Dice + 0.5 BCE)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["val_f1"] for h in history], "s--", color="C1", label="validation object F1")
    ax2.set_ylabel("validation F1")
    ax2.set_ylim(0, 1)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def export_weights(checkpoint, output, dtype="float16"):
    """Strip a training checkpoint to a compact weights file (model + metadata).

    Parameters
    ----------
    checkpoint : str or path
        Checkpoint written by `train`.
    output : str or path
        Weights file to write.
    dtype : str or None
        Storage dtype of floating-point tensors (``'float16'`` halves the
        size; they are cast back to float32 on load), or None to keep float32.

    Returns
    -------
    `~pathlib.Path`
    """
    torch = require_torch("export_weights")
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    cast = getattr(torch, dtype) if dtype else None
    state = {
        k: (v.to(cast) if cast is not None and v.is_floating_point() else v).clone()
        for k, v in payload["state_dict"].items()
    }
    meta = dict(payload.get("meta", {}))
    meta["epoch"] = payload.get("epoch")
    meta["storage_dtype"] = dtype or "float32"
    out = {
        "format": WEIGHTS_FORMAT,
        "format_version": 1,
        "model": payload["model"],
        "config": payload["config"],
        "state_dict": state,
        "meta": meta,
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, output)
    return output


# --------------------------------------------------------------------------- training loop
def train(
    model_name="unet3d",
    *,
    data="sim:hi",
    epochs=10,
    steps_per_epoch=100,
    batch_size=4,
    crop_shape=(128, 64, 64),
    base_channels=16,
    lr=2e-3,
    output="unet3d.pt",
    resume=None,
    device="auto",
    progress=True,
    seed=0,
    num_threads=None,
    val_cubes=8,
    val_shape=(128, 96, 96),
    snr_range=(2.0, 60.0),
    rebin=(6, 4),
    normalization=None,
    tune=True,
    command=None,
):
    """Train a segmentation model and write checkpoints.

    Parameters
    ----------
    model_name : str
        Registered model (``'unet3d'``).
    data : str or path
        ``'sim:hi'`` (simulated on the fly) or a directory of
        ``NAME.fits`` + ``NAME_mask.fits`` pairs.
    epochs : int
        Total number of epochs (also when resuming).
    steps_per_epoch : int
        Optimiser steps per epoch.
    batch_size : int
        Crops per step.
    crop_shape : tuple of int
        Native (z, y, x) crop size (z is rebinned by 4; every rebinned size
        should be a multiple of 16, otherwise crops are mirror-padded).
    base_channels : int
        Network width (16 for the bundled CPU model, 32 in HISF).
    lr : float
        Initial Adam learning rate (decays to ``lr/10``).
    output : str or path
        Checkpoint file, rewritten after every epoch.
    resume : str or path, optional
        Checkpoint to continue from (model, optimiser, history, random state).
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda'``...
    progress : bool
        Show a progress bar.
    seed : int
        Seed of the network initialisation, the data stream and the validation set.
    num_threads : int, optional
        CPU threads for PyTorch (``torch.set_num_threads``).
    val_cubes : int
        Number of validation cubes (0 disables validation and tuning).
    val_shape : tuple of int
        Shape of the validation cubes.
    snr_range : tuple of float
        Integrated-SNR range of simulated training and validation sources.
    rebin : tuple of int or None
        Spectral rebin (kernel, stride); (6, 4) as HISF.
    normalization : dict, optional
        Input normalisation (default `~astro_mlfinder.neural.inference.DEFAULT_NORMALIZATION`).
    tune : bool
        Tune threshold and minimum size on the validation set at the end.
    command : str, optional
        The command line used, recorded with the weights.

    Returns
    -------
    history : list of dict
        One entry per epoch: ``epoch``, ``loss``, ``lr``, ``val_precision``,
        ``val_recall``, ``val_f1``, ``val_dice``, ``seconds``.
    """
    torch = require_torch("train")
    from tqdm.auto import tqdm

    from .losses import dice_bce_loss

    spec = get_model_spec(model_name)
    if num_threads:
        torch.set_num_threads(int(num_threads))
    dev = resolve_device(device)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    normalization = dict(DEFAULT_NORMALIZATION, **(normalization or {}))
    rebin = tuple(int(v) for v in rebin) if rebin else None
    crop_shape = tuple(int(v) for v in crop_shape)
    torch.manual_seed(int(seed))

    if resume is not None:
        ckpt = torch.load(resume, map_location="cpu", weights_only=True)
        if ckpt.get("model") != spec.name:
            raise ValueError(f"checkpoint {resume} is for model {ckpt.get('model')!r}, not {spec.name!r}")
        model = spec.load_class().from_config(ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
        meta = dict(ckpt["meta"])
        normalization = meta.get("normalization", normalization)
        rebin = tuple(meta["rebin"]) if meta.get("rebin") else None
        crop_shape = tuple(meta.get("training", {}).get("data", {}).get("crop_shape", crop_shape))
    else:
        ckpt = None
        model = spec.load_class()(base_channels=int(base_channels))
    model.to(dev)
    source = (
        _make_data(data, crop_shape, seed, snr_range=snr_range)
        if str(data).startswith("sim:")
        else _make_data(data, crop_shape, seed)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, start_epoch, best_f1 = [], 0, -1.0
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        history = list(ckpt.get("history", []))
        start_epoch = int(ckpt["epoch"]) + 1
        best_f1 = float(ckpt.get("best_f1", -1.0))
        source.rng.bit_generator.state = ckpt["rng_state"]
        torch.set_rng_state(ckpt["torch_rng_state"])
        lr = float(meta.get("training", {}).get("lr", lr))
    else:
        meta = {
            "normalization": normalization,
            "rebin": list(rebin) if rebin else None,
            "inference": {"threshold": 0.5, "min_size": 16},
            "training": {
                "data": source.describe(),
                "epochs": int(epochs),
                "steps_per_epoch": int(steps_per_epoch),
                "batch_size": int(batch_size),
                "lr": float(lr),
                "seed": int(seed),
                "loss": "dice + 0.5 bce",
                "optimizer": "adam",
                "lr_schedule": "poly 0.8 to lr/10",
                "device": str(dev),
                "command": command,
                "val_cubes": int(val_cubes),
                "val_shape": list(val_shape),
                "torch": torch.__version__,
            },
        }

    val_set = make_validation_set(val_cubes, val_shape, seed=seed, snr_range=snr_range) if val_cubes else []
    divisor = int(getattr(model, "divisor", 16))
    best_path = output.with_name(output.stem + "-best" + output.suffix)
    for epoch in range(start_epoch, int(epochs)):
        model.train()
        t0 = time.perf_counter()
        losses = []
        bar = tqdm(
            range(int(steps_per_epoch)),
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
        )
        for step in bar:
            cur_lr = _lr_at(epoch + step / steps_per_epoch, epochs, lr)
            for group in optimizer.param_groups:
                group["lr"] = cur_lr
            x, y = _prepare_batch([source.sample() for _ in range(int(batch_size))], rebin, normalization, divisor)
            x = torch.from_numpy(x).to(dev)
            y = torch.from_numpy(y).to(dev)
            logits = model(x)
            loss = dice_bce_loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{cur_lr:.2e}")
        bar.close()
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "lr": float(cur_lr)}
        if val_set:
            probs = _validation_probabilities(model, val_set, normalization, rebin, dev)
            res = evaluate_segmentation(probs, val_set, meta["inference"]["threshold"], meta["inference"]["min_size"])
            entry.update({f"val_{k}": float(v) for k, v in res.items()})
        else:
            entry.update(
                {
                    "val_precision": math.nan,
                    "val_recall": math.nan,
                    "val_f1": math.nan,
                    "val_dice": math.nan,
                }
            )
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        history.append(entry)
        score = entry["val_f1"] if val_set else -entry["loss"]
        is_best = score > best_f1
        if is_best:
            best_f1 = score
        payload = _checkpoint_payload(spec.name, model, optimizer, epoch, history, source.rng, meta, best_f1)
        _atomic_save(payload, output)
        if is_best:
            _atomic_save(payload, best_path)
        msg = (
            f"epoch {epoch + 1}/{epochs} loss {entry['loss']:.4f} "
            f"val P {entry['val_precision']:.3f} "
            f"R {entry['val_recall']:.3f} F1 {entry['val_f1']:.3f} Dice {entry['val_dice']:.3f} "
            f"({entry['seconds']:.0f} s){' *' if is_best else ''}"
        )
        print(msg, file=sys.stderr, flush=True)
        _plot_history(history, output.with_name(output.stem + "_loss.png"))
        with open(output.with_name(output.stem + "_history.json"), "w", encoding="utf-8") as fh:
            json.dump(_to_plain(history), fh, indent=1)

    if tune and val_set and history:
        final = best_path if best_path.exists() else output
        ckpt = torch.load(final, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["state_dict"])
        probs = _validation_probabilities(model, val_set, normalization, rebin, dev)
        best = tune_threshold(probs, val_set)
        for path in {output, final}:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            payload["meta"]["inference"] = {
                "threshold": best["threshold"],
                "min_size": best["min_size"],
            }
            payload["meta"]["validation"] = _to_plain(
                {k: best[k] for k in ("precision", "recall", "f1", "dice")} | {"n_cubes": len(val_set), "iou_min": 0.2}
            )
            _atomic_save(payload, path)
        print(
            f"tuned on validation: threshold {best['threshold']} min_size {best['min_size']} F1 {best['f1']:.3f}",
            file=sys.stderr,
            flush=True,
        )
    return history


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
    spec = get_model_spec(ckpt["model"])
    model = spec.load_class().from_config(ckpt["config"])
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
        _atomic_save(ckpt, checkpoint)
    return _to_plain(best)


def _parse_triple(text):
    values = tuple(int(v) for v in str(text).replace("x", ",").split(",") if v)
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three integers z,y,x, got {text!r}")
    return values


def main(argv=None):
    """Command-line entry point: ``python -m astro_mlfinder.neural.training MODEL [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m astro_mlfinder.neural.training", description=train.__doc__.split("\n")[0]
    )
    parser.add_argument("model", nargs="?", default="unet3d")
    parser.add_argument("--data", default="sim:hi")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop-shape", type=_parse_triple, default=(128, 64, 64))
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--output", default="unet3d.pt")
    parser.add_argument("--resume", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-threads", type=int, default=None)
    parser.add_argument("--val-cubes", type=int, default=8)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--tune",
        metavar="CHECKPOINT",
        default=None,
        help="only tune threshold/min_size/tta of CHECKPOINT on 16 validation cubes 256x96x96",
    )
    parser.add_argument(
        "--export",
        nargs=2,
        metavar=("CHECKPOINT", "WEIGHTS"),
        default=None,
        help="only write a compact float16 weights file from CHECKPOINT",
    )
    args = parser.parse_args(argv)
    if args.num_threads:
        require_torch("training").set_num_threads(args.num_threads)
    if args.tune:
        print(json.dumps(tune_checkpoint(args.tune, device=args.device), indent=1))
        return 0
    if args.export:
        print(export_weights(*args.export))
        return 0
    command = "python -m astro_mlfinder.neural.training " + " ".join(sys.argv[1:] if argv is None else argv)
    train(
        args.model,
        data=args.data,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        crop_shape=args.crop_shape,
        base_channels=args.base_channels,
        lr=args.lr,
        output=args.output,
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
        seed=args.seed,
        num_threads=args.num_threads,
        val_cubes=args.val_cubes,
        command=command,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
