"""Training the ``hi_reliability`` candidate scorer: loop, checkpoints and resume, threshold tuning, export.

The recipe (`train_reliability`):

* **data** -- candidates of the caller's candidate finders on the simulated
  cubes of `~astro_mlfinder.neural.models.hi_reliability.data.TRAINING_SEEDS`
  (validation: ``VALIDATION_SEEDS``), labelled by flux containment
  (`~astro_mlfinder.neural.models.hi_reliability.data.label_candidates`); the
  candidates are built once and cached next to the checkpoint
  (``<output>.train.npz``, ``<output>.val.npz``), so a resumed run does not
  simulate again;
* **loss** -- binary cross-entropy with a positive-class weight (the square
  root of the negative/positive ratio of the training candidates);
* **optimisation** -- Adam, cosine decay to lr/20, random flips along z, y
  and x and a random y/x transpose of every cut-out;
* **checkpoints** -- after every epoch ``<output>`` holds the model, the
  optimiser, the epoch and the history (``resume=<output>`` continues from
  it); the epoch with the best validation average precision is kept as
  ``<output>.best.pt``;
* **threshold** -- `tune_threshold`: the score threshold with the highest F1
  on the validation candidates, recorded with the weights.
"""

import json
import math
import time
from pathlib import Path

import numpy as np

from ....core.progress import progress_bar
from ..._torch import describe_hardware, require_torch
from .data import TRAINING_SEEDS, VALIDATION_SEEDS, build_candidates

__all__ = ["train_reliability", "tune_threshold", "average_precision", "predict_scores", "export_weights"]

MODEL_NAME = "hi_reliability"


def tune_threshold(scores, labels, thresholds=None):
    """The score threshold with the highest F1 on labelled candidates.

    Parameters
    ----------
    scores, labels : array_like
        Scores in [0, 1] and 0/1 labels.
    thresholds : array_like, optional
        Candidates (default 0.05, 0.10, ..., 0.95).

    Returns
    -------
    dict
        ``threshold``, ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``.
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels) > 0.5
    thresholds = np.round(np.arange(0.05, 0.951, 0.05), 2) if thresholds is None else np.asarray(thresholds)
    best = None
    for t in thresholds:
        pred = scores >= t
        tp, fp, fn = int(np.sum(pred & labels)), int(np.sum(pred & ~labels)), int(np.sum(~pred & labels))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if best is None or f1 > best["f1"]:
            best = {"threshold": float(t), "precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
    return best


def average_precision(scores, labels):
    """Area under the precision-recall curve (step-wise, as scikit-learn's ``average_precision_score``)."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels) > 0.5
    if not labels.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    return float(np.sum(precision[hits]) / hits.sum())


def predict_scores(model, cutouts, scalars, *, batch_size=128, device="cpu"):
    """Sigmoid scores of a trained network on feature arrays (numpy in, numpy out)."""
    torch = require_torch("hi_reliability scores")
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(cutouts), batch_size):
            c = torch.from_numpy(np.ascontiguousarray(cutouts[i:i + batch_size])).to(device)
            s = torch.from_numpy(np.ascontiguousarray(scalars[i:i + batch_size])).to(device)
            out.append(torch.sigmoid(model(c, s)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _augment(torch, cutouts, generator):
    for axis in (2, 3, 4):
        if torch.rand(1, generator=generator).item() < 0.5:
            cutouts = torch.flip(cutouts, dims=(axis,))
    if torch.rand(1, generator=generator).item() < 0.5:
        cutouts = cutouts.transpose(3, 4)
    return cutouts


def _changed_params(finder):
    """The class name and the parameters of ``finder`` that differ from its class defaults."""
    params = finder.get_params()
    try:
        defaults = type(finder)().get_params()
    except (TypeError, ValueError):  # a finder without defaults for every parameter: record them all
        defaults = {}
    return {"name": type(finder).__name__, **{k: v for k, v in params.items() if defaults.get(k, object()) != v}}


def _candidates(path, seeds, finders, max_negatives, progress, desc):
    path = Path(path)
    if path.is_file():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    data = build_candidates(seeds, finders, max_negatives=max_negatives, progress=progress, desc=desc)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez(tmp, **data)
    tmp.replace(path)
    return data


def train_reliability(finders, output, *, train_cubes=160, val_cubes=40, epochs=12, batch_size=64, lr=2e-3,
                      channels=8, max_negatives=40, seed=0, resume=None, device="cpu", num_threads=None,
                      progress=True, command=None):
    """Train the candidate scorer; write checkpoints to ``output``; return the history.

    Parameters
    ----------
    finders : sequence of `~astro_mlfinder.Finder`
        Candidate finders (e.g. ``ClassicalFinder(threshold=3.0/3.5, min_size_xy=3, min_size_z=3)``);
        each cube uses one of them, drawn from its seed.
    output : str or path
        Checkpoint path (``.pt``); ``<output>.best.pt`` gets the best epoch.
    train_cubes, val_cubes : int
        Training cubes (``TRAINING_SEEDS[:n]``) and validation cubes (``VALIDATION_SEEDS[:n]``).
    epochs : int
        Total number of epochs (a resumed run continues up to it).
    batch_size, lr, channels, max_negatives, seed
        Batch size, Adam learning rate, network width, noise candidates kept per cube, random seed.
    resume : str or path, optional
        A checkpoint of an earlier run to continue from.
    device : str
        Torch device.
    num_threads : int, optional
        ``torch.set_num_threads``.
    progress : bool
        Show progress bars.
    command : str, optional
        The command line recorded with the weights.

    Returns
    -------
    list of dict
        One entry per epoch: loss, validation average precision, tuned threshold and F1, seconds.
    """
    torch = require_torch("train_reliability")
    from ..._torch import resolve_device
    from ...weights import atomic_save
    from .network import ReliabilityCNN

    if not finders:
        raise ValueError("train_reliability needs at least one candidate finder, e.g. "
                         "[ClassicalFinder(threshold=3.5, min_size_xy=3, min_size_z=3)]")
    if not (0 < train_cubes <= len(TRAINING_SEEDS) and 0 < val_cubes <= len(VALIDATION_SEEDS)):
        raise ValueError(f"train_cubes must lie in 1-{len(TRAINING_SEEDS)} and val_cubes in "
                         f"1-{len(VALIDATION_SEEDS)}, got {train_cubes} and {val_cubes}")
    if num_threads:
        torch.set_num_threads(int(num_threads))
    dev = resolve_device(device)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    finder_params = [_changed_params(f) for f in finders]
    train = _candidates(output.with_suffix(".train.npz"), TRAINING_SEEDS[:train_cubes], finders, max_negatives,
                        progress, "training cubes")
    val = _candidates(output.with_suffix(".val.npz"), VALIDATION_SEEDS[:val_cubes], finders, max_negatives,
                      progress, "validation cubes")
    n_pos = float(train["label"].sum())
    pos_weight = math.sqrt(max(len(train["label"]) - n_pos, 1.0) / max(n_pos, 1.0))

    torch.manual_seed(int(seed))
    model = ReliabilityCNN(channels=channels).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    start, history, best_ap = 0, [], -1.0
    if resume is not None:
        ckpt = torch.load(resume, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["meta"]["epoch"])
        history = list(ckpt["meta"]["history"])
        best_ap = max((h["val_ap"] for h in history), default=-1.0)
    steps = max(1, math.ceil(len(train["label"]) / batch_size))
    total_steps, floor = epochs * steps, 1 / 20

    def cosine(step):  # closed form: a resumed run continues the same schedule
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))

    for group in optimizer.param_groups:
        group.setdefault("initial_lr", lr)
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine, last_epoch=start * steps - 1)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=dev))
    cut_t = torch.from_numpy(train["cutouts"])
    sca_t = torch.from_numpy(train["scalars"])
    lab_t = torch.from_numpy(train["label"].astype(np.float32))
    gen = torch.Generator().manual_seed(int(seed) + 1)
    recipe = {
        "train_seeds": [TRAINING_SEEDS.start, TRAINING_SEEDS.start + int(train_cubes) - 1],
        "val_seeds": [VALIDATION_SEEDS.start, VALIDATION_SEEDS.start + int(val_cubes) - 1],
        "held_out_note": f"benchmarks must use seeds outside {TRAINING_SEEDS} and {VALIDATION_SEEDS}",
        "train_candidates": int(len(train["label"])), "train_true": int(n_pos),
        "val_candidates": int(len(val["label"])), "val_true": int(val["label"].sum()),
        "candidate_finders": finder_params, "label": "at least half of the candidate's positive flux inside "
        "one simulated galaxy's truth mask", "max_negatives_per_cube": int(max_negatives),
        "epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr), "seed": int(seed),
        "pos_weight": pos_weight, "loss": "BCE with pos_weight = sqrt(negative/positive candidates)",
        "optimizer": "adam, weight decay 1e-4", "lr_schedule": "cosine to lr/20",
        "augmentation": "random flips along z, y, x and y/x transpose", "hardware": describe_hardware(dev),
        "command": command,
    }
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(lab_t), generator=gen)
        total = 0.0
        for i in progress_bar(range(steps), desc=f"epoch {epoch + 1}/{epochs}", enabled=progress):
            idx = order[i * batch_size:(i + 1) * batch_size]
            c = _augment(torch, cut_t[idx], gen).to(dev)
            logits = model(c, sca_t[idx].to(dev))
            loss = loss_fn(logits, lab_t[idx].to(dev))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        scores = predict_scores(model, val["cutouts"], val["scalars"], device=dev)
        tuned = tune_threshold(scores, val["label"])
        ap = average_precision(scores, val["label"])
        history.append({"epoch": epoch + 1, "loss": total / len(lab_t), "lr": float(sched.get_last_lr()[0]),
                        "val_ap": ap, "val_f1": tuned["f1"], "val_threshold": tuned["threshold"],
                        "seconds": round(time.perf_counter() - t0, 1)})
        if progress:
            print(json.dumps(history[-1]), flush=True)
        meta = {"epoch": epoch + 1, "history": history, "training": recipe, "validation": tuned}
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        payload = {"format": "astro_mlfinder-weights", "format_version": 1, "model": MODEL_NAME,
                   "config": dict(model.config), "state_dict": state, "meta": meta,
                   "optimizer": optimizer.state_dict()}
        if ap > best_ap:
            best_ap = ap
            atomic_save({k: v for k, v in payload.items() if k != "optimizer"},
                        output.with_suffix(".best.pt"))
        atomic_save(payload, output)
    return history


def export_weights(checkpoint, path, threshold=None, threshold_note=None):
    """Write the shipped weights file (float16) of a checkpoint, with the threshold tuned on validation.

    ``threshold`` (default: the one recorded in the checkpoint, tuned for F1
    on its validation candidates) is stored as
    ``meta['inference']['threshold']``; the scorer uses it unless
    ``reliability_neural_threshold`` is given. ``threshold_note`` says how a
    given threshold was chosen (stored beside it).

    Returns
    -------
    `~pathlib.Path`
    """
    torch = require_torch("export_weights")
    from ...weights import load_weights, save_weights
    from .network import ReliabilityCNN

    loaded = load_weights(checkpoint)
    model = ReliabilityCNN(**loaded["config"])
    model.load_state_dict(loaded["state_dict"])
    meta = dict(loaded["meta"])
    meta["inference"] = {"threshold": float(meta["validation"]["threshold"] if threshold is None else threshold)}
    if threshold_note:
        meta["inference"]["note"] = str(threshold_note)
    return save_weights(path, MODEL_NAME, model, meta=meta, dtype=torch.float16)
