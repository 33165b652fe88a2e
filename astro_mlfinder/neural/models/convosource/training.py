"""Training ConvoSource on simulated continuum images: data, weighted loss, loop, checkpoints, validation.

The recipe (`train_convosource`, ``astro-mlfinder train convosource``):

* **data** -- SKA SDC1-like images from `astro_mlfinder.simulate.continuum`,
  one per seed of `TRAINING_SEEDS` (validation: `VALIDATION_SEEDS`; the two
  ranges never meet, and benchmarks must use seeds outside both), with the
  restoring beam (2.5-6 pixels, axis ratio 0.6-1), the source density, the
  slope of the counts and a primary beam (for 30 % of the images) drawn per
  image (`image_settings`);
* **tiles** -- every image is cut into 50x50 tiles on a grid that covers it
  whole (the last tile of a row ends flush with the image) and *every* tile
  is used, empty ones included (the original dropped empty tiles when
  scoring, which hid their false positives);
* **target** -- ConvoSource's solution map: one pixel per source whose
  integrated S/N is at least ``target_snr``, at the brightest pixel of the
  source's noiseless model (`~astro_mlfinder.simulate.continuum.ContinuumSimulation.point_map`);
* **loss** -- binary cross-entropy with a positive-class weight, the square
  root of the negative/positive pixel ratio of the training tiles (the
  targets are ~1 pixel in 5000);
* **optimisation** -- Adam, cosine decay to lr/20, random flips and
  90-degree rotations per batch;
* **validation** -- after every epoch the full inference pipeline
  (probabilities, peaks, nothing skipped) runs on the validation images and
  detections are matched to the truth (`score_peaks`); the checkpoint with
  the best F1 is kept, and at the end the peak threshold is tuned on it.
"""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from ....core.progress import progress_bar
from ....core.tiling import tile_origins
from .preprocess import DEFAULT_NORMALIZATION, normalize_image

__all__ = ["TRAINING_SEEDS", "VALIDATION_SEEDS", "THRESHOLDS", "image_settings", "make_image", "make_tiles",
           "score_peaks", "evaluate_images", "train_convosource", "tune_convosource"]

#: Seeds of the training images (image ``i`` uses ``TRAINING_SEEDS[i]``).
TRAINING_SEEDS = range(1_000_000, 1_100_000)
#: Seeds of the validation images used for model selection and threshold tuning.
VALIDATION_SEEDS = range(2_000_000, 2_001_000)
#: S/N bins of the per-bin recall recorded with the weights.
SNR_BINS = (3.0, 5.0, 10.0, 30.0, np.inf)


def image_settings(seed):
    """The simulation keywords of training/validation image ``seed`` (drawn from the seed).

    Returns
    -------
    dict
        Keywords of `~astro_mlfinder.simulate.continuum.simulate_continuum_image`
        except ``shape`` and ``seed``.
    """
    rng = np.random.default_rng([int(seed), 0xC0117])
    bmaj = rng.uniform(2.5, 6.0)
    bmin = bmaj * rng.uniform(0.6, 1.0)
    settings = {
        "beam": (bmaj, bmin, rng.uniform(0.0, 180.0)),
        "slope": rng.uniform(1.6, 2.0),
        "density": rng.uniform(1.0, 3.0) * 400 / 512**2 * (3.0 / bmaj) ** 2,  # sources per pixel
        "primary_beam": None,
    }
    if rng.uniform() < 0.3:
        settings["primary_beam"] = rng.uniform(1.5, 3.0)  # in units of the image side
    return settings


def make_image(seed, shape=(256, 256)):
    """The simulated image of ``seed`` (`image_settings`): a `~astro_mlfinder.simulate.ContinuumSimulation`."""
    from ....simulate.continuum import simulate_continuum_image

    s = image_settings(seed)
    n = int(round(s["density"] * shape[0] * shape[1]))
    pb = None if s["primary_beam"] is None else s["primary_beam"] * max(shape)
    return simulate_continuum_image(shape=shape, n_sources=n, seed=int(seed), beam=s["beam"], slope=s["slope"],
                                    primary_beam=pb, pb_corrected=True)


def make_tiles(sim, tile=50, target_snr=3.0, normalization=None, faint_snr=None):
    """Every ``tile`` x ``tile`` tile of a simulated image: network inputs and one-pixel targets.

    Parameters
    ----------
    faint_snr : float, optional
        Mark the targets of sources with integrated S/N below this with 2
        instead of 1 (the faint ones that the loss may weigh more).

    Returns
    -------
    x, y : `~numpy.ndarray`
        float32 ``(n, tile, tile)`` inputs and uint8 targets (0 background,
        1 source, 2 faint source).
    """
    x, _ = normalize_image(sim.data, normalization)
    target = (sim.point_map(min_snr=target_snr) > 0).astype(np.uint8)
    if faint_snr is not None:
        target[(target > 0) & ~(sim.point_map(min_snr=faint_snr) > 0)] = 2
    ny, nx = x.shape
    xs, ys = [], []
    for oy in tile_origins(ny, tile, tile):
        for ox in tile_origins(nx, tile, tile):
            xs.append(x[oy : oy + tile, ox : ox + tile])
            ys.append(target[oy : oy + tile, ox : ox + tile])
    return np.stack(xs).astype(np.float32), np.stack(ys)


def score_peaks(ys, xs, truth, *, radius=3.0, min_snr=3.0, match_snr=2.0):
    """Match detections to the truth of one image.

    A detection is a true positive when it lies within ``radius`` pixels of
    the peak pixel or of the centroid of an unmatched true source with
    integrated S/N >= ``match_snr`` (one detection per source, greedy by
    distance); the others are false positives (every pixel of the image is
    scored). Recall counts the true sources with S/N >= ``min_snr``.

    Returns
    -------
    dict
        ``tp`` (detections matched), ``fp``, ``n_true`` (sources >= min_snr),
        ``found`` (of those, matched) and ``found_bins`` / ``n_bins`` per
        `SNR_BINS` bin.
    """
    snr = np.asarray(truth["snr_int"], dtype=float)
    cand = np.flatnonzero(snr >= match_snr)
    det = np.column_stack([np.asarray(ys, float), np.asarray(xs, float)]) if len(ys) else np.zeros((0, 2))
    matched_truth = np.zeros(len(snr), dtype=bool)
    tp = 0
    if det.size and cand.size:
        pos_peak = np.column_stack([np.asarray(truth["y_peak"], float), np.asarray(truth["x_peak"], float)])[cand]
        pos_cen = np.column_stack([np.asarray(truth["y"], float), np.asarray(truth["x"], float)])[cand]
        d = np.minimum(np.hypot(*(det[:, None, :] - pos_peak[None]).transpose(2, 0, 1)),
                       np.hypot(*(det[:, None, :] - pos_cen[None]).transpose(2, 0, 1)))
        pairs = np.argwhere(d <= radius)
        order = np.argsort(d[pairs[:, 0], pairs[:, 1]])
        used = np.zeros(len(det), dtype=bool)
        for i, j in pairs[order]:
            if not used[i] and not matched_truth[cand[j]]:
                used[i] = True
                matched_truth[cand[j]] = True
                tp += 1
    want = snr >= min_snr
    edges = np.asarray(SNR_BINS)
    bins = np.digitize(snr, edges) - 1
    n_bins = [int(np.sum(want & (bins == b))) for b in range(len(edges) - 1)]
    found_bins = [int(np.sum(want & matched_truth & (bins == b))) for b in range(len(edges) - 1)]
    return {"tp": tp, "fp": int(len(det) - tp), "n_true": int(want.sum()), "found": int((want & matched_truth).sum()),
            "n_bins": n_bins, "found_bins": found_bins}


def _totals(scores):
    tp = sum(s["tp"] for s in scores)
    fp = sum(s["fp"] for s in scores)
    n_true = sum(s["n_true"] for s in scores)
    found = sum(s["found"] for s in scores)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = found / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n_bins = np.sum([s["n_bins"] for s in scores], axis=0)
    found_bins = np.sum([s["found_bins"] for s in scores], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rb = np.where(n_bins > 0, found_bins / np.maximum(n_bins, 1), np.nan)
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "n_true": n_true,
            "recall_bins": [None if not np.isfinite(v) else float(v) for v in rb], "n_bins": n_bins.tolist()}


def evaluate_images(network, sims, thresholds=(0.5,), *, normalization=None, nms_radius=3.0, device="cpu",
                    radius=3.0, min_snr=3.0):
    """Precision, recall, F1 of the peaks of ``network`` on simulated images, for each threshold.

    Every pixel of every image is searched and scored.

    Returns
    -------
    list of dict
        One per threshold: ``threshold``, ``precision``, ``recall``, ``f1``,
        ``tp``, ``fp``, ``n_true``, ``recall_bins`` (per `SNR_BINS` bin).
    """
    from .inference import probability_map
    from .peaks import find_peaks

    probs = [probability_map(network, s.data, normalization=normalization, device=device)[0] for s in sims]
    out = []
    for t in thresholds:
        scores = []
        for sim, prob in zip(sims, probs, strict=True):
            ys, xs, _ = find_peaks(prob, float(t), nms_radius, mask=~np.isfinite(sim.data))
            scores.append(score_peaks(ys, xs, sim.truth, radius=radius, min_snr=min_snr))
        out.append({"threshold": float(t), **_totals(scores)})
    return out


def _augment(x, y, rng):
    """The same random flip / 90-degree rotation of a batch of inputs and targets."""
    k = int(rng.integers(4))
    if k:
        x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(1, 2))
    if rng.uniform() < 0.5:
        x, y = x[:, :, ::-1], y[:, :, ::-1]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def _lr_at(progress, lr0):
    return lr0 / 20 + 0.5 * (lr0 - lr0 / 20) * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def train_convosource(model_name="convosource", *, epochs=30, batch_size=32, lr=2e-3, train_images=100,
                      val_images=6, image_shape=(256, 256), tile=50, target_snr=3.0, output="convosource.pt",
                      resume=None, device="auto", progress=True, seed=0, num_threads=None, command=None,
                      normalization=None, tune=True, config=None, init=None, faint_weight=1.0, faint_snr=5.0,
                      first_image=0):
    """Train ConvoSource on simulated continuum images (see the module docstring for the recipe).

    Parameters
    ----------
    model_name : str
        ``'convosource'``.
    epochs : int
        Passes over every training tile (total, also when resuming).
    batch_size : int
        Tiles per step.
    lr : float
        Initial Adam learning rate (cosine decay to lr/20).
    train_images, val_images : int
        Number of training images (seeds ``TRAINING_SEEDS[:n]``) and
        validation images (``VALIDATION_SEEDS[:n]``).
    image_shape : tuple of int
        Shape of the simulated images.
    tile : int
        Side of the training tiles (50 in ConvoSource).
    target_snr : float
        Sources with integrated S/N >= this are targets.
    output : str or path
        Checkpoint rewritten every epoch (the best one also to ``<stem>-best.pt``).
    resume : str or path, optional
        Checkpoint to continue from.
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda'``...
    progress : bool
        Show progress bars.
    seed : int
        Seed of the initialisation, the shuffling and the augmentation.
    num_threads : int, optional
        CPU threads for PyTorch.
    command : str, optional
        The command line, recorded with the weights.
    normalization : dict, optional
        Input normalisation (default `DEFAULT_NORMALIZATION`).
    tune : bool
        Tune the peak threshold on the validation images at the end.
    config : dict, optional
        Network configuration (`ConvoSourceNet` keywords; default the
        paper's 16/32/64 filters, 7/5/3 kernels).
    init : str or path, optional
        Start from these weights (registry name, ``'name@version'`` or a
        file) and their normalisation: layers of the same shape are copied;
        convolutions that ``config`` adds after them, with as many input
        as output channels, start as the identity (and the head is copied),
        so training starts from the initial network's output.
    faint_weight : float
        Extra weight of the targets of faint sources (integrated S/N from
        ``target_snr`` to ``faint_snr``) in the loss; 1: none.
    faint_snr : float
        Upper S/N of the faint sources weighted by ``faint_weight``.
    first_image : int
        Index of the first training seed (``TRAINING_SEEDS[first_image:]``):
        a fine-tune may use images the initial weights never saw.

    Returns
    -------
    history : list of dict
        Per epoch: ``epoch``, ``loss``, ``lr``, ``val_precision``,
        ``val_recall``, ``val_f1``, ``seconds``.
    """
    from ..._torch import describe_hardware, require_torch, resolve_device
    from ...training.loop import _checkpoint_payload, _load_checkpoint, _resume_state
    from ...weights import _to_plain, atomic_save
    from .. import get_model

    torch = require_torch("training convosource")
    model_class = get_model(model_name)
    network_class = model_class.network_class()
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("train_images", train_images, 1),
                             ("val_images", val_images, 0), ("tile", tile, 14), ("first_image", first_image, 0)):
        if int(value) < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if resume is not None and init is not None:
        raise ValueError("pass either resume (continue a run) or init (start from weights), not both")
    if not float(faint_weight) >= 1:
        raise ValueError(f"faint_weight must be >= 1, got {faint_weight}")
    if float(faint_weight) != 1 and not float(faint_snr) > float(target_snr):
        raise ValueError(f"faint_snr ({faint_snr}) must exceed target_snr ({target_snr}) for faint_weight to weigh "
                         "any source")
    if first_image + train_images > len(TRAINING_SEEDS) or val_images > len(VALIDATION_SEEDS):
        raise ValueError(f"at most {len(TRAINING_SEEDS)} training images (first_image + train_images) and "
                         f"{len(VALIDATION_SEEDS)} validation images")
    if num_threads:
        torch.set_num_threads(int(num_threads))
    dev = resolve_device(device)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    best_path = output.with_name(output.stem + "-best" + output.suffix)
    normalization = dict(DEFAULT_NORMALIZATION, **(normalization or {}))
    torch.manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))

    if resume is not None:
        ckpt = _load_checkpoint(resume, model_class.name)
        net = network_class.from_config(ckpt["config"])
        net.load_state_dict(ckpt["state_dict"])
        meta = dict(ckpt["meta"])
        rec = meta["training"]
        normalization = meta["normalization"]
        train_images, val_images = rec["train_images"], rec["val_images"]
        image_shape, tile, target_snr = tuple(rec["image_shape"]), rec["tile"], rec["target_snr"]
        lr, batch_size = rec["lr"], rec["batch_size"]
        faint_weight, faint_snr = rec.get("faint_weight", 1.0), rec.get("faint_snr", 5.0)
        first_image = rec.get("first_image", 0)
        if command:
            rec["resumed_with"] = [*rec.get("resumed_with", []), command]
    else:
        ckpt = None
        net = network_class.from_config(config or {})
        init_info = None
        if init is not None:
            init_info, init_norm = _init_from(net, init, torch)
            normalization = dict(init_norm or normalization)
    net.to(dev)

    t_data = time.perf_counter()
    xs, ys = [], []
    seeds = TRAINING_SEEDS[first_image : first_image + train_images]
    bar = progress_bar(seeds, desc="training images", enabled=progress)
    for s in bar:
        x, y = make_tiles(make_image(s, image_shape), tile, target_snr, normalization,
                          faint_snr=faint_snr if faint_weight != 1 else None)
        xs.append(x)
        ys.append(y)
    bar.close()
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    n_pos = int((y_all > 0).sum())
    pos_weight = float(np.sqrt((y_all.size - n_pos) / max(n_pos, 1)))
    val_sims = [make_image(s, image_shape) for s in VALIDATION_SEEDS[:val_images]]
    t_data = time.perf_counter() - t_data
    print(f"{len(x_all)} tiles ({int((y_all.reshape(len(y_all), -1).sum(1) == 0).sum())} empty), {n_pos} target "
          f"pixels, pos_weight {pos_weight:.1f}; {len(val_sims)} validation images ({t_data:.0f} s)",
          file=sys.stderr, flush=True)

    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    # per-pixel weights: 1 (background), pos_weight (source), pos_weight * faint_weight (faint source)
    class_weight = torch.tensor([1.0, pos_weight, pos_weight * float(faint_weight)], device=dev)

    def loss_fn(logits, target):
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, (target > 0).float(), reduction="none")
        return (bce * class_weight[target]).mean()

    history, start_epoch, best_f1 = [], 0, -1.0
    if ckpt is not None:
        history, start_epoch, best_f1 = _resume_state(ckpt, optimizer, rng)
    else:
        meta = {
            "normalization": normalization,
            "inference": {"threshold": 0.5},
            "training": {
                "data": "simulate.continuum images, every tile (astro_mlfinder.neural.models.convosource.training)",
                "train_seeds": [seeds.start, seeds.start + int(train_images) - 1],
                "first_image": int(first_image),
                "faint_weight": float(faint_weight),
                "faint_snr": float(faint_snr),
                "init": init_info,
                "val_seeds": [VALIDATION_SEEDS.start, VALIDATION_SEEDS.start + int(val_images) - 1],
                "held_out_note": f"benchmarks must use seeds outside {TRAINING_SEEDS} and {VALIDATION_SEEDS}",
                "train_images": int(train_images),
                "val_images": int(val_images),
                "image_shape": list(image_shape),
                "tile": int(tile),
                "n_tiles": int(len(x_all)),
                "target_snr": float(target_snr),
                "pos_weight": pos_weight,
                "epochs": int(epochs),
                "batch_size": int(batch_size),
                "lr": float(lr),
                "seed": int(seed),
                "loss": ("BCE with pos_weight = sqrt(negative/positive pixels)" if faint_weight == 1 else
                         f"BCE with pos_weight = sqrt(negative/positive pixels), times {float(faint_weight):g} for "
                         f"sources of S/N {float(target_snr):g}-{float(faint_snr):g}"),
                "optimizer": "adam",
                "lr_schedule": "cosine to lr/20",
                "augmentation": "random flips and 90-degree rotations",
                "device": str(dev),
                "hardware": describe_hardware(dev),
                "command": command,
                "torch": str(torch.__version__),
            },
        }
    meta["training"]["epochs"] = int(epochs)

    steps = int(math.ceil(len(x_all) / batch_size))
    for epoch in range(start_epoch, int(epochs)):
        net.train()
        t0 = time.perf_counter()
        order = rng.permutation(len(x_all))
        losses = []
        bar = progress_bar(range(steps), desc=f"epoch {epoch + 1}/{epochs}", enabled=progress)
        for step in bar:
            cur_lr = _lr_at((epoch + step / steps) / epochs, lr)
            for group in optimizer.param_groups:
                group["lr"] = cur_lr
            idx = order[step * batch_size : (step + 1) * batch_size]
            xb, yb = _augment(x_all[idx], y_all[idx], rng)
            xb = torch.from_numpy(xb[:, None]).to(dev)
            yb = torch.from_numpy(yb[:, None].astype(np.int64)).to(dev)
            loss = loss_fn(net(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        bar.close()
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "lr": float(cur_lr)}
        if val_sims:
            res = _best_threshold(net, val_sims, normalization, dev)
            entry.update({"val_precision": res["precision"], "val_recall": res["recall"], "val_f1": res["f1"],
                          "val_threshold": res["threshold"]})
        else:
            entry.update({"val_precision": math.nan, "val_recall": math.nan, "val_f1": math.nan})
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        history.append(entry)
        score = entry["val_f1"] if val_sims else -entry["loss"]
        is_best = score > best_f1
        best_f1 = max(best_f1, score)
        payload = _checkpoint_payload(model_class.name, net, optimizer, epoch, history, rng, meta, best_f1)
        atomic_save(payload, output)
        if is_best:
            atomic_save(payload, best_path)
        print(f"epoch {epoch + 1}/{epochs} loss {entry['loss']:.4f} val P {entry['val_precision']:.3f} "
              f"R {entry['val_recall']:.3f} F1 {entry['val_f1']:.3f} ({entry['seconds']:.0f} s)"
              f"{' *' if is_best else ''}", file=sys.stderr, flush=True)
        with open(output.with_name(output.stem + "_history.json"), "w", encoding="utf-8") as fh:
            json.dump(_to_plain(history), fh, indent=1)

    if tune and val_sims and history:
        final = best_path if best_path.exists() else output
        tune_convosource(final, device=dev, progress=progress)
        if final != output:
            tune_convosource(output, device=dev, progress=progress)
    return history


def _init_from(net, init, torch):
    """Copy the weights ``init`` into ``net`` (see `train_convosource`); return their record and normalisation."""
    from ...weights import load_weights

    text = str(init)
    name, _, version = text.partition("@") if "@" in text and not Path(text).exists() else (text, "", "")
    payload = load_weights(name, version or None)
    if payload["model"] not in (None, "convosource"):
        raise ValueError(f"init weights {payload['path']} are for model {payload['model']!r}, not 'convosource'")
    src = {k: v.float() for k, v in payload["state_dict"].items()}
    own = net.state_dict()
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    n_init = len(payload["config"]["filters"])
    with torch.no_grad():
        for key, value in src.items():
            if key not in own or own[key].shape != value.shape:
                raise ValueError(f"init weights {payload['path']}: {key} {tuple(value.shape)} does not fit the "
                                 f"network ({tuple(own[key].shape) if key in own else 'absent'}); pass a config "
                                 "that keeps their layers")
            own[key].copy_(value)
        for conv in convs[n_init:]:
            if conv.in_channels != conv.out_channels:
                raise ValueError("layers added after the init weights' must keep their channels "
                                 f"({conv.in_channels} in, {conv.out_channels} out)")
            torch.nn.init.dirac_(conv.weight)
            torch.nn.init.zeros_(conv.bias)
    net.load_state_dict(own)
    info = {"source": text, "file": Path(payload["path"]).name, "sha256": payload["sha256"],
            "config": payload["config"]}
    return info, payload["meta"].get("normalization")


#: Thresholds tried when tuning.
THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.05, 0.991, 0.01), 2))


def _best_threshold(net, sims, normalization, device):
    results = evaluate_images(net, sims, THRESHOLDS, normalization=normalization, device=device)
    return max(results, key=lambda r: (r["f1"], r["threshold"]))


def tune_convosource(checkpoint, *, val_images=None, device="auto", progress=False):
    """Tune the peak threshold of a ConvoSource checkpoint on the validation images; record it in the file.

    Parameters
    ----------
    checkpoint : str or path
        Checkpoint written by `train_convosource` (rewritten atomically with
        ``meta['inference']['threshold']`` and ``meta['validation']``).
    val_images : int, optional
        Number of validation images (default: as recorded in the checkpoint).
    device : str
        ``'auto'``, ``'cpu'``...
    progress : bool
        Unused (kept for a uniform signature).

    Returns
    -------
    dict
        The best threshold with its precision, recall, F1 and per-bin recall.
    """
    from ..._torch import require_torch, resolve_device
    from ...training.loop import _load_checkpoint
    from ...weights import _to_plain, atomic_save
    from .. import get_model

    require_torch("tuning convosource")
    payload = _load_checkpoint(checkpoint, "convosource", what="tune")
    rec = payload["meta"]["training"]
    n = int(rec["val_images"] if val_images is None else val_images)
    if n < 1:
        raise ValueError(f"tuning needs at least one validation image, got val_images={n}")
    sims = [make_image(s, tuple(rec["image_shape"])) for s in VALIDATION_SEEDS[:n]]
    net = get_model("convosource").network_class().from_config(payload["config"])
    net.load_state_dict(payload["state_dict"])
    dev = resolve_device(device)
    best = _best_threshold(net, sims, payload["meta"]["normalization"], dev)
    payload["meta"]["inference"] = {"threshold": best["threshold"]}
    payload["meta"]["validation"] = _to_plain({**best, "n_images": n, "shape": rec["image_shape"],
                                               "seeds": [VALIDATION_SEEDS.start, VALIDATION_SEEDS.start + n - 1],
                                               "match_radius_pix": 3.0, "min_snr": 3.0, "match_snr": 2.0,
                                               "snr_bins": [*SNR_BINS[:-1], "inf"], "tuned": "threshold max F1"})
    atomic_save(payload, checkpoint)
    print(f"tuned {checkpoint} on {n} validation images: threshold {best['threshold']} P {best['precision']:.3f} "
          f"R {best['recall']:.3f} F1 {best['f1']:.3f}", file=sys.stderr, flush=True)
    return best
