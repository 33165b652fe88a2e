"""The training loop of segmentation models: `train`, checkpoints, resuming, export.

`train` runs the full recipe:

* **data** -- ``'sim:hi'`` draws every training crop afresh from
  `astro_mlfinder.simulate.hi.simulate_hi_cube` (instrument and artefacts
  varied per crop with `~astro_mlfinder.simulate.hi.random_realism`, the
  integrated SNR log-uniform over ``snr_range``, i.e. weighted towards faint
  sources); a directory uses its FITS cube + mask pairs
  (``NAME.fits`` + ``NAME_mask.fits``, optionally gzipped); see
  `astro_mlfinder.neural.training.data`;
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
  and voxel Dice are recorded, the best model is kept (see
  `astro_mlfinder.neural.training.tuning`);
* **checkpoints** -- written every epoch to ``output`` (model, optimiser,
  history, random state, the hardware used; readable with
  ``torch.load(weights_only=True)``), the best one to ``<output stem>-best.pt``;
  `train` resumes from ``resume``; at the end the detection threshold and
  minimum size are tuned on the validation set and recorded in the
  checkpoint, and a loss curve ``<output stem>_loss.png`` plus
  ``<output stem>_history.json`` are written.

Run from the shell with ``astro-mlfinder train unet3d --data sim:hi --epochs 10
--output unet3d.pt`` (see ``astro-mlfinder train --help``).
"""

import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ...core.progress import progress_bar
from ...core.tiling import as_tuple
from .._torch import describe_hardware, require_torch, resolve_device
from ..inference import DEFAULT_NORMALIZATION
from ..models import get_model
from ..weights import WEIGHTS_FORMAT, _to_plain, atomic_save
from .data import make_data, prepare_batch
from .tuning import evaluate_segmentation, make_validation_set, tune_threshold, validation_probabilities

__all__ = ["train", "export_weights"]


def _load_checkpoint(path, model_name=None, what="resume from"):
    """A training checkpoint written by `train`, or a one-line ValueError naming ``path`` and the fix.

    Read with ``torch.load(weights_only=True)``: a pickle that would run code
    is refused, never executed. An empty, truncated or foreign file, or one
    for another model, is reported in one sentence.
    """
    torch = require_torch("training")
    path = Path(path)
    fix = "pass a .pt checkpoint written by `astro-mlfinder train`"
    if not path.is_file():
        raise FileNotFoundError(f"cannot {what} {path}: no such file; {fix}")
    if path.stat().st_size == 0:
        raise ValueError(f"cannot {what} {path}: the file is empty; {fix}")
    try:
        with warnings.catch_warnings():  # torch's own notes on foreign pickles: the error below says it
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError (refused pickle), EOFError, RuntimeError (not a torch file)...
        reason = "it is not a PyTorch save file, or it is truncated"
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it holds Python objects that a safe load refuses (not loaded, nothing was run)"
        raise ValueError(f"cannot {what} {path}: not a training checkpoint ({reason}); {fix}") from None
    required = ("model", "config", "state_dict", "meta")
    if isinstance(ckpt, dict) and "model" in ckpt and model_name is not None and ckpt["model"] != model_name:
        raise ValueError(f"checkpoint {path} is for model {ckpt['model']!r}, not {model_name!r}")
    if not isinstance(ckpt, dict) or any(key not in ckpt for key in required):
        raise ValueError(f"cannot {what} {path}: not a training checkpoint (it lacks {', '.join(required)}); {fix}")
    return ckpt


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


def _resume_state(ckpt, optimizer, rng):
    """Restore the optimiser and both random generators from ``ckpt``; return ``(history, start_epoch, best_f1)``."""
    torch = require_torch("training")
    optimizer.load_state_dict(ckpt["optimizer"])
    rng.bit_generator.state = ckpt["rng_state"]
    torch.set_rng_state(ckpt["torch_rng_state"])
    return list(ckpt.get("history", [])), int(ckpt["epoch"]) + 1, float(ckpt.get("best_f1", -1.0))


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
        Weights file to write (whole or not at all: a temporary file renamed
        into place).
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
    return atomic_save(out, output)


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
    init=None,
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
    data_options=None,
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
    init : str or path, optional
        Fine-tune: start from these weights -- a registry name (``'unet3d'``),
        ``'name@version'``, or a weights/checkpoint file -- with their
        architecture, normalisation and spectral rebin (``base_channels``,
        ``rebin`` and ``normalization`` are then ignored); the optimiser, the
        schedule and the epochs start afresh. Not with ``resume``.
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
    data_options : dict, optional
        Further keywords of the simulated data stream
        (`~astro_mlfinder.neural.training.data.SimulatedHIData`:
        ``telescope_prob``, ``telescopes``, ``mask_threshold``, ...).

    Returns
    -------
    history : list of dict
        One entry per epoch: ``epoch``, ``loss``, ``lr``, ``val_precision``,
        ``val_recall``, ``val_f1``, ``val_dice``, ``seconds``.
    """
    torch = require_torch("train")
    from ..losses import dice_bce_loss

    model_class = get_model(model_name)
    network_class = model_class.network_class()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    dev = resolve_device(device)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    normalization = dict(DEFAULT_NORMALIZATION, **(normalization or {}))
    rebin = tuple(int(v) for v in rebin) if rebin else None
    crop_shape = as_tuple(crop_shape, 3, "crop_shape", minimum=1)
    torch.manual_seed(int(seed))

    if resume is not None and init is not None:
        raise ValueError("pass either resume (continue a run) or init (fine-tune from weights), not both")
    init_info = None
    if init is not None:
        from ..weights import load_weights

        name, _, version = str(init).partition("@") if "@" in str(init) and not Path(str(init)).exists() else (
            init, "", "")
        payload = load_weights(name, version or None)
        if payload["model"] not in (None, model_class.name):
            raise ValueError(f"init weights {payload['path']} are for model {payload['model']!r}, not "
                             f"{model_class.name!r}")
        init_meta = payload["meta"]
        normalization = dict(init_meta.get("normalization") or normalization)
        rebin = tuple(init_meta["rebin"]) if init_meta.get("rebin") else None
        init_info = {
            "source": str(init),
            "file": Path(payload["path"]).name,
            "sha256": payload["sha256"],
            "inference": dict(init_meta.get("inference") or {}),
        }
    if resume is not None:
        ckpt = _load_checkpoint(resume, model_class.name)
        model = network_class.from_config(ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
        meta = dict(ckpt["meta"])
        normalization = meta.get("normalization", normalization)
        rebin = tuple(meta["rebin"]) if meta.get("rebin") else None
        crop_shape = tuple(meta.get("training", {}).get("data", {}).get("crop_shape", crop_shape))
        meta.setdefault("training", {}).setdefault("hardware", describe_hardware(dev))
    elif init_info is not None:
        ckpt = None
        model = network_class.from_config(payload["config"])
        model.load_state_dict(payload["state_dict"])
    else:
        ckpt = None
        model = network_class(base_channels=int(base_channels))
    model.to(dev)
    source = (
        make_data(data, crop_shape, seed, snr_range=snr_range, **(data_options or {}))
        if str(data).startswith("sim:")
        else make_data(data, crop_shape, seed)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, start_epoch, best_f1 = [], 0, -1.0
    if ckpt is not None:
        history, start_epoch, best_f1 = _resume_state(ckpt, optimizer, source.rng)
        lr = float(meta.get("training", {}).get("lr", lr))
    else:
        meta = {
            "normalization": normalization,
            "rebin": list(rebin) if rebin else None,
            "inference": {
                "threshold": float(init_info["inference"].get("threshold", 0.5)) if init_info else 0.5,
                "min_size": int(init_info["inference"].get("min_size", 16)) if init_info else 16,
            },
            "training": {
                "init": init_info,
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
                "hardware": describe_hardware(dev),
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
        bar = progress_bar(range(int(steps_per_epoch)), desc=f"epoch {epoch + 1}/{epochs}", enabled=progress)
        for step in bar:
            cur_lr = _lr_at(epoch + step / steps_per_epoch, epochs, lr)
            for group in optimizer.param_groups:
                group["lr"] = cur_lr
            x, y = prepare_batch([source.sample() for _ in range(int(batch_size))], rebin, normalization, divisor)
            x = torch.from_numpy(x).to(dev)
            y = torch.from_numpy(y).to(dev)
            logits = model(x)
            loss = dice_bce_loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.set_postfix_str(f"loss={np.mean(losses[-20:]):.4f}, lr={cur_lr:.2e}")
        bar.close()
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "lr": float(cur_lr)}
        if val_set:
            probs = validation_probabilities(model, val_set, normalization, rebin, dev)
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
        payload = _checkpoint_payload(model_class.name, model, optimizer, epoch, history, source.rng, meta, best_f1)
        atomic_save(payload, output)
        if is_best:
            atomic_save(payload, best_path)
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
        probs = validation_probabilities(model, val_set, normalization, rebin, dev)
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
            atomic_save(payload, path)
        print(
            f"tuned on validation: threshold {best['threshold']} min_size {best['min_size']} F1 {best['f1']:.3f}",
            file=sys.stderr,
            flush=True,
        )
    return history
