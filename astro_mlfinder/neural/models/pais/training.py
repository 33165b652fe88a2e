"""Training PAIS on simulated optical blends: data, loop, checkpoints, resume, tuning on validation seeds.

The recipe (`train_pais`, ``astro-mlfinder train pais``):

* **data** -- cut-outs of `astro_mlfinder.simulate.blends.simulate_blends`
  (1-6 overlapping Sersic galaxies, bulge + disc galaxies and stars, Moffat
  PSF, Poisson and read noise, sky subtracted), one per seed of the
  simulator's training seed set (validation: its validation set; benchmarks
  use a third set, never seen here);
* **targets** -- the exact PCR (`~astro_mlfinder.neural.models.pais.pcr.encode_pcr`)
  of every cut-out's per-source noise-free images at the true centres;
  claim terms weighted to the pixels whose noise-free flux exceeds half the
  background noise (`~astro_mlfinder.neural.models.pais.losses.source_weight`);
* **input** -- ``asinh((data - sky) / noise)`` with the sky and noise
  estimated from the cut-out as at inference
  (`~astro_mlfinder.neural.models.pais.inference`);
* **loop** -- Adam, cosine decay to lr/20, a random flip / transpose of each
  batch (claim vectors transformed with it), `~astro_mlfinder.neural.models.pais.losses.pais_loss`;
  after every epoch the whole inference pipeline runs on the validation
  cut-outs, detections are matched to the true centres (`score_catalog`),
  the checkpoint is rewritten and the one with the best F1 kept, resumable;
* **tuning** (`tune_pais`) -- on the validation cut-outs, decoding with the
  profile-fit attribution: the heatmap threshold, NMS radius, heatmap
  sharpening and test-time augmentation maximising F1, then the footprint threshold,
  dilation and sky subtraction minimising the median relative flux error of
  the matched sources; recorded with the weights.
"""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from astropy import units as u

from ....core.progress import progress_bar
from ....io.atomic import write_text
from .inference import normalize, sky_and_noise
from .losses import DEFAULT_WEIGHTS, source_weight
from .pcr import DEFAULT_K, DEFAULT_SIGMA, encode_pcr

__all__ = ["make_cutout", "make_sample", "score_catalog", "evaluate_cutouts", "train_pais", "tune_pais",
           "THRESHOLDS", "SMALL_CONFIG"]

#: The small CPU variant that ships (PAIS itself: filters (8, 16, 32, 32), head_width 32).
SMALL_CONFIG = {"filters": [8, 16, 32, 32], "head_width": 16}
#: Heatmap thresholds tried when tuning.
THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.05, 0.96, 0.05), 2))
_RADII = (1, 2, 3)
_FOOTPRINTS = (0.5, 1.0, 1.5, 2.0, 3.0)
_DILATES = (1, 2, 4, 6, 8)
_SHARPENS = (0.0, 1.0)


def _seed_sets():
    from ....simulate import blends

    return blends.BLEND_SEEDS["training"], blends.BLEND_SEEDS["validation"]


def make_cutout(seed, shape=(64, 64)):
    """The simulated blend cut-out of ``seed`` (`~astro_mlfinder.simulate.blends.simulate_blends`)."""
    from ....simulate.blends import simulate_blends

    return simulate_blends(shape=tuple(shape), seed=int(seed))


def make_sample(sim, *, k=DEFAULT_K, sigma=DEFAULT_SIGMA, floor=0.5):
    """Network input and PCR targets of one simulated cut-out.

    Returns
    -------
    dict
        ``x`` float32 ``(y, x)``, ``center_of_mass`` ``(y, x)``,
        ``claim_vectors`` ``(k, 2, y, x)``, ``claim_maps`` ``(k, y, x)``,
        ``claim_weight`` ``(y, x)``.
    """
    data = np.asarray(sim.data, dtype=np.float64)
    sky, noise = sky_and_noise(data)
    sources = np.asarray(sim.sources, dtype=np.float64)
    out = {"x": normalize(data, sky, noise)}
    if sources.shape[0] == 0:
        ny, nx = data.shape
        out.update(center_of_mass=np.zeros((ny, nx), np.float32),
                   claim_vectors=np.zeros((k, 2, ny, nx), np.float32),
                   claim_maps=np.full((k, ny, nx), 1.0 / k, np.float32), claim_weight=np.zeros((ny, nx), np.float32))
        return out
    centres = np.column_stack([np.asarray(sim.truth["y"], float), np.asarray(sim.truth["x"], float)])
    pcr = encode_pcr(sources, centres, k=k, sigma=sigma)
    out.update(center_of_mass=pcr["center_of_mass"], claim_vectors=pcr["claim_vectors"],
               claim_maps=pcr["claim_maps"], claim_weight=source_weight(sources.sum(axis=0), sim.background_rms, floor))
    return out


def _stack(samples):
    keys = ("x", "center_of_mass", "claim_vectors", "claim_maps", "claim_weight")
    return {key: np.stack([s[key] for s in samples]).astype(np.float32) for key in keys}


def score_catalog(centres, truth, radius=None, min_snr=0.0):
    """Match detected centres to the true ones of a cut-out (greedy by distance, one each).

    A detection within ``radius`` pixels (default: each true source's
    PSF-convolved half-light radius ``r_half_psf``, the tolerance of
    benchmarks/deblending.py) of a true source (of any S/N) is a true
    positive, any other a false positive; recall counts the true sources
    with ``snr >= min_snr`` (the simulator's matched-filter S/N of the source alone).

    Returns
    -------
    dict
        ``tp``, ``fp``, ``n_true`` (sources with S/N >= min_snr), ``found``
        (of those, matched) and ``match``: for each detection the index of its
        true source, or -1.
    """
    det = np.asarray(centres, dtype=float).reshape(-1, 2)
    tru = np.column_stack([np.asarray(truth["y"], float), np.asarray(truth["x"], float)]) if len(truth) else \
        np.zeros((0, 2))
    snr = np.asarray(truth["snr"], float) if len(truth) else np.zeros(0)
    match = np.full(len(det), -1, dtype=int)
    used = np.zeros(len(tru), dtype=bool)
    if len(det) and len(tru):
        d = np.hypot(det[:, None, 0] - tru[None, :, 0], det[:, None, 1] - tru[None, :, 1])
        tol = np.asarray(u.Quantity(truth["r_half_psf"]).value, float) if radius is None else float(radius)
        pairs = np.argwhere(d <= tol)
        for i, j in pairs[np.argsort(d[pairs[:, 0], pairs[:, 1]], kind="stable")]:
            if match[i] < 0 and not used[j]:
                match[i] = j
                used[j] = True
    tp = int((match >= 0).sum())
    want = snr >= float(min_snr)
    return {"tp": tp, "fp": int(len(det) - tp), "n_true": int(want.sum()), "found": int((want & used).sum()),
            "match": match}


def _outputs(net, sims, device, tta=False):
    from .inference import predict_outputs

    outs = []
    for sim in sims:
        data = np.asarray(sim.data, dtype=np.float64)
        sky, noise = sky_and_noise(data)
        heat, vec, logits = predict_outputs(net, normalize(data, sky, noise), tile_shape=data.shape, overlap=0,
                                            device=device, tta=tta)
        outs.append((heat, vec, logits, sky, noise))
    return outs


def evaluate_cutouts(outputs, sims, *, threshold=0.3, radius=2, footprint_snr=2.0, smooth=1.0, dilate=2,
                     background=True, match_radius=None, min_snr=0.0, attribution="profiles", sharpen=0.0):
    """Detection and flux scores of decoded network outputs on simulated cut-outs.

    The keywords are those of `~astro_mlfinder.neural.models.pais.decode.decode_outputs`
    (``radius`` its ``radius``), ``background`` subtracts the estimated sky first;
    ``match_radius`` and ``min_snr`` go to `score_catalog`.

    Returns
    -------
    dict
        ``precision``, ``recall`` (of the sources with S/N >= ``min_snr``),
        ``f1``, ``tp``, ``fp``, ``n_true`` and ``median_flux_error`` (median
        of ``|flux - true flux| / true flux`` over the matched sources with
        S/N >= ``min_snr``, the true flux being that of the source's noise-free
        image inside the cut-out, ``truth['flux_image']``; see `score_catalog`).
    """
    from .decode import decode_outputs

    tp = fp = n_true = found = 0
    errors = []
    for (heat, vec, logits, sky, noise), sim in zip(outputs, sims, strict=True):
        data = np.asarray(sim.data, dtype=np.float64)
        work = data - sky if background else data
        out = decode_outputs(heat, vec, logits, work, noise, threshold=threshold, radius=radius,
                             footprint_snr=footprint_snr, smooth=smooth, dilate=dilate, attribution=attribution,
                             sharpen=sharpen)
        s = score_catalog(out["centres"], sim.truth, match_radius, min_snr)
        tp, fp, n_true, found = tp + s["tp"], fp + s["fp"], n_true + s["n_true"], found + s["found"]
        ok = s["match"] >= 0
        ok[ok] = np.asarray(sim.truth["snr"], float)[s["match"][ok]] >= float(min_snr)
        if ok.any():
            true_flux = np.asarray(u.Quantity(sim.truth["flux_image"]).value, float)[s["match"][ok]]
            errors.extend(np.abs(out["flux"][ok] - true_flux) / true_flux)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = found / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "n_true": n_true,
            "median_flux_error": float(np.median(errors)) if errors else math.nan}


def _best_detection(outputs, sims, radii=_RADII, thresholds=THRESHOLDS, sharpens=(0.0,)):
    best = None
    for a in sharpens:
        for r in radii:
            for t in thresholds:
                res = evaluate_cutouts(outputs, sims, threshold=t, radius=r, sharpen=a)
                key = (res["f1"], -a, -r, t)
                if best is None or key > best[0]:
                    best = (key, {"threshold": t, "nms_radius": r, "sharpen": a, **res})
    return best[1]


def _augment(batch, rng):
    """One random flip / transpose of a batch of numpy arrays, the claim vectors transformed with it."""
    x, com, vec, maps, w = (batch[k] for k in ("x", "center_of_mass", "claim_vectors", "claim_maps",
                                               "claim_weight"))
    if rng.uniform() < 0.5:  # flip y
        x, com, w, maps, vec = x[..., ::-1, :], com[..., ::-1, :], w[..., ::-1, :], maps[..., ::-1, :], \
            vec[..., ::-1, :] * np.array([-1, 1], np.float32)[:, None, None]
    if rng.uniform() < 0.5:  # flip x
        x, com, w, maps, vec = x[..., ::-1], com[..., ::-1], w[..., ::-1], maps[..., ::-1], \
            vec[..., ::-1] * np.array([1, -1], np.float32)[:, None, None]
    if rng.uniform() < 0.5:  # transpose y <-> x
        x, com, w, maps = (np.swapaxes(a, -1, -2) for a in (x, com, w, maps))
        vec = np.swapaxes(vec, -1, -2)[:, :, ::-1]
    return {k: np.ascontiguousarray(v) for k, v in zip(("x", "center_of_mass", "claim_vectors", "claim_maps",
                                                         "claim_weight"), (x, com, vec, maps, w), strict=True)}


def _lr_at(progress, lr0):
    return lr0 / 20 + 0.5 * (lr0 - lr0 / 20) * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def train_pais(model_name="pais", *, epochs=10, batch_size=16, lr=2e-3, train_images=2000, val_images=100,
               image_shape=(64, 64), output="pais.pt", resume=None, device="auto", progress=True, seed=0,
               num_threads=None, command=None, config=None, loss_weights=None, sigma=DEFAULT_SIGMA, tune=True,
               max_minutes=None, init=None):
    """Train PAIS on simulated blends (see the module docstring for the recipe).

    Parameters
    ----------
    model_name : str
        ``'pais'``.
    epochs : int
        Passes over the training cut-outs (total, also when resuming).
    batch_size : int
        Cut-outs per step.
    lr : float
        Initial Adam learning rate (cosine decay to lr/20).
    train_images, val_images : int
        Training cut-outs (the first seeds of the simulator's training set)
        and validation cut-outs (its validation set).
    image_shape : tuple of int
        Cut-out shape (multiples of the network's divisor, 16).
    output : str or path
        Checkpoint rewritten every epoch (the best one also to ``<stem>-best.pt``).
    resume : str or path, optional
        Checkpoint to continue from.
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda'``...
    progress : bool
        Show progress bars.
    seed : int
        Seed of the initialisation, shuffling and augmentation.
    num_threads : int, optional
        CPU threads for PyTorch.
    command : str, optional
        The command line, recorded with the weights.
    config : dict, optional
        `~astro_mlfinder.neural.models.pais.network.PAISNet` keywords
        (default `SMALL_CONFIG`).
    loss_weights : dict, optional
        `~astro_mlfinder.neural.models.pais.losses.pais_loss` weights.
    sigma : float
        Heatmap Gaussian width (pixels).
    tune : bool
        Tune the decoding on the validation cut-outs at the end.
    max_minutes : float, optional
        Stop after the epoch during which this much wall time has passed
        (the checkpoint can be resumed).
    init : str or path, optional
        Warm start: a weights file, checkpoint or registry name (``'pais'``,
        its default version) whose network weights and configuration start
        this run (a fresh optimiser and schedule; ``config`` is ignored).
        Recorded as ``meta['training']['init']``. Not combined with ``resume``.

    Returns
    -------
    history : list of dict
        Per epoch: ``epoch``, ``loss`` and its parts, ``lr``, ``val_precision``,
        ``val_recall``, ``val_f1``, ``seconds``.
    """
    from ..._torch import describe_hardware, require_torch, resolve_device
    from ...training.loop import _checkpoint_payload, _load_checkpoint, _resume_state
    from ...weights import _to_plain, atomic_save
    from .. import get_model
    from .losses import pais_loss

    torch = require_torch("training pais")
    model_class = get_model(model_name)
    network_class = model_class.network_class()
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("train_images", train_images, 1),
                             ("val_images", val_images, 0)):
        if int(value) < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    image_shape = tuple(int(n) for n in image_shape)
    if len(image_shape) != 2 or any(n % 16 or n < 16 for n in image_shape):
        raise ValueError(f"image_shape must be (y, x) multiples of 16 (the network's divisor), got {image_shape}")
    if num_threads:
        torch.set_num_threads(int(num_threads))
    t_start = time.perf_counter()
    dev = resolve_device(device)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    best_path = output.with_name(output.stem + "-best" + output.suffix)
    train_seed, val_seed = _seed_sets()
    torch.manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))

    init_info = None
    if resume is not None and init is not None:
        raise ValueError("pass either resume= (continue a checkpoint) or init= (warm start from weights), not both")
    if resume is not None:
        ckpt = _load_checkpoint(resume, model_class.name)
        net = network_class.from_config(ckpt["config"])
        net.load_state_dict(ckpt["state_dict"])
        meta = dict(ckpt["meta"])
        rec = meta["training"]
        train_images, val_images = rec["train_images"], rec["val_images"]
        image_shape, sigma = tuple(rec["image_shape"]), rec["sigma"]
        lr, batch_size, loss_weights = rec["lr"], rec["batch_size"], rec["loss_weights"]
        if command:
            rec["resumed_with"] = [*rec.get("resumed_with", []), command]
    elif init is not None:
        from ...weights import load_weights

        ckpt = None
        start = load_weights(init)
        if start["model"] not in (None, model_class.name):
            raise ValueError(f"init={init!r} holds weights of model {start['model']!r}, not {model_class.name!r}")
        net = network_class.from_config(start["config"])
        net.load_state_dict(start["state_dict"])
        init_info = {"source": str(init), "file": Path(start["path"]).name, "sha256": start["sha256"]}
    else:
        ckpt = None
        net = network_class(**dict(SMALL_CONFIG, **(config or {})))
    net.to(dev)
    k = net.k
    weights = dict(DEFAULT_WEIGHTS, **(loss_weights or {}))

    t_data = time.perf_counter()
    bar = progress_bar(range(int(train_images)), desc="training cut-outs", enabled=progress)
    data = _stack([make_sample(make_cutout(train_seed + i, image_shape), k=k, sigma=sigma) for i in bar])
    bar.close()
    val_sims = [make_cutout(val_seed + i, image_shape) for i in range(int(val_images))]
    print(f"{train_images} training cut-outs, {len(val_sims)} validation cut-outs "
          f"({time.perf_counter() - t_data:.0f} s)", file=sys.stderr, flush=True)

    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    history, start_epoch, best_f1 = [], 0, -1.0
    if ckpt is not None:
        history, start_epoch, best_f1 = _resume_state(ckpt, optimizer, rng)
    else:
        from .inference import DEFAULT_NORMALIZATION

        meta = {
            "normalization": dict(DEFAULT_NORMALIZATION),
            "inference": {},
            "training": {
                "data": "simulate.blends cut-outs, exact PCR targets (astro_mlfinder.neural.models.pais.training)",
                "train_seeds": [int(train_seed), int(train_seed) + int(train_images) - 1],
                "val_seeds": [int(val_seed), int(val_seed) + int(val_images) - 1],
                "held_out_note": "benchmarks must use the simulator's benchmark seed set (never trained or tuned on)",
                "train_images": int(train_images),
                "val_images": int(val_images),
                "image_shape": list(image_shape),
                "k": int(k),
                "sigma": float(sigma),
                "epochs": int(epochs),
                "batch_size": int(batch_size),
                "lr": float(lr),
                "seed": int(seed),
                "loss": "pais_loss (heatmap MSE, claim-vector MAE, claim-map CE, entropy)",
                "loss_weights": weights,
                "optimizer": "adam",
                "lr_schedule": "cosine to lr/20",
                "augmentation": "random flips and transposes (claim vectors transformed)",
                "device": str(dev),
                "hardware": describe_hardware(dev),
                "command": command,
                "torch": str(torch.__version__),
            },
        }
        if init_info is not None:
            meta["training"]["init"] = init_info
    meta["training"]["epochs"] = int(epochs)

    n = int(train_images)
    steps = int(math.ceil(n / batch_size))
    for epoch in range(start_epoch, int(epochs)):
        net.train()
        t0 = time.perf_counter()
        order = rng.permutation(n)
        sums = {"loss": 0.0, "com": 0.0, "vectors": 0.0, "maps": 0.0, "entropy": 0.0}
        bar = progress_bar(range(steps), desc=f"epoch {epoch + 1}/{epochs}", enabled=progress)
        for step in bar:
            cur_lr = _lr_at((epoch + step / steps) / epochs, lr)
            for group in optimizer.param_groups:
                group["lr"] = cur_lr
            idx = order[step * batch_size : (step + 1) * batch_size]
            b = _augment({key: v[idx] for key, v in data.items()}, rng)
            tb = {key: torch.from_numpy(v).to(dev) for key, v in b.items()}
            loss, parts = pais_loss(net(tb["x"][:, None]), tb, claim_weight=tb["claim_weight"], weights=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sums["loss"] += float(loss.detach())
            for key, v in parts.items():
                sums[key] += v
        bar.close()
        entry = {"epoch": epoch + 1, **{key: v / steps for key, v in sums.items()}, "lr": float(cur_lr)}
        if val_sims:
            # a coarse search after every epoch (the full one in tune_pais)
            res = _best_detection(_outputs(net, val_sims, dev), val_sims, radii=(2,), thresholds=THRESHOLDS[1::2])
            entry.update({"val_precision": res["precision"], "val_recall": res["recall"], "val_f1": res["f1"],
                          "val_threshold": res["threshold"], "val_nms_radius": res["nms_radius"],
                          "val_flux_error": res["median_flux_error"]})
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        history.append(entry)
        score = entry["val_f1"] if val_sims else -entry["loss"]
        is_best = score > best_f1
        best_f1 = max(best_f1, score)
        payload = _checkpoint_payload(model_class.name, net, optimizer, epoch, history, rng, meta, best_f1)
        atomic_save(payload, output)
        if is_best:
            atomic_save(payload, best_path)
        print(f"epoch {epoch + 1}/{epochs} loss {entry['loss']:.4f} (com {entry['com']:.4f} vec {entry['vectors']:.3f} "
              f"map {entry['maps']:.3f}) val P {entry.get('val_precision', math.nan):.3f} "
              f"R {entry.get('val_recall', math.nan):.3f} F1 {entry.get('val_f1', math.nan):.3f} "
              f"dflux {entry.get('val_flux_error', math.nan):.3f} ({entry['seconds']:.0f} s){' *' if is_best else ''}",
              file=sys.stderr, flush=True)
        write_text(output.with_name(output.stem + "_history.json"), json.dumps(_to_plain(history), indent=1),
                   overwrite=True)  # whole or not at all, as the checkpoint beside it
        if max_minutes is not None and time.perf_counter() - t_start > 60.0 * float(max_minutes):
            print(f"stopping after epoch {epoch + 1}: {max_minutes} minutes reached (resume with --resume {output})",
                  file=sys.stderr, flush=True)
            break

    if tune and val_sims and history:
        final = best_path if best_path.exists() else output
        tune_pais(final, device=dev)
        if final != output:
            tune_pais(output, device=dev)
    return history


def tune_pais(checkpoint, *, val_images=None, device="auto"):
    """Tune the decoding of a PAIS checkpoint on the validation cut-outs; record it in the file.

    First the heatmap ``threshold``, ``nms_radius``, ``sharpen`` and
    test-time augmentation (``tta``) maximising F1, then ``footprint_snr``,
    ``dilate`` and ``background`` minimising the median relative flux error of
    the matched sources, all with the profile-fit attribution (recorded as
    ``attribution='profiles'``).

    Parameters
    ----------
    checkpoint : str or path
        Checkpoint written by `train_pais` (rewritten atomically with
        ``meta['inference']`` and ``meta['validation']``).
    val_images : int, optional
        Number of validation cut-outs (default: as recorded in the checkpoint).
    device : str
        ``'auto'``, ``'cpu'``...

    Returns
    -------
    dict
        The tuned parameters with the validation precision, recall, F1 and
        median flux error.
    """
    from ..._torch import require_torch, resolve_device
    from ...training.loop import _load_checkpoint
    from ...weights import _to_plain, atomic_save
    from .. import get_model

    require_torch("tuning pais")
    payload = _load_checkpoint(checkpoint, "pais", what="tune")
    rec = payload["meta"]["training"]
    n = int(rec["val_images"] if val_images is None else val_images)
    if n < 1:
        raise ValueError(f"tuning needs at least one validation cut-out, got val_images={n}")
    _, val_seed = _seed_sets()
    sims = [make_cutout(val_seed + i, tuple(rec["image_shape"])) for i in range(n)]
    net = get_model("pais").network_class().from_config(payload["config"])
    net.load_state_dict(payload["state_dict"])
    dev = resolve_device(device)
    det, outputs = None, None
    for tta in (False, True):  # test-time augmentation only where it raises F1
        outs = _outputs(net, sims, dev, tta=tta)
        res = _best_detection(outs, sims, sharpens=_SHARPENS)
        if det is None or res["f1"] > det["f1"]:
            det, outputs = {**res, "tta": tta}, outs
    best = None
    for fs in _FOOTPRINTS:
        for dil in _DILATES:
            for bg in (True, False):
                res = evaluate_cutouts(outputs, sims, threshold=det["threshold"], radius=det["nms_radius"],
                                       sharpen=det["sharpen"], footprint_snr=fs, dilate=dil, background=bg)
                if best is None or res["median_flux_error"] < best[1]["median_flux_error"]:
                    best = ({"footprint_snr": fs, "dilate": dil, "background": bg}, res)
    params = {"threshold": det["threshold"], "nms_radius": det["nms_radius"], "sharpen": det["sharpen"],
              "tta": det["tta"], "attribution": "profiles", **best[0],
              "tile_shape": list(rec["image_shape"]), "overlap": [n_ // 4 for n_ in rec["image_shape"]]}
    payload["meta"]["inference"] = params
    payload["meta"]["validation"] = _to_plain({**params, **best[1], "n_images": n, "shape": rec["image_shape"],
                                               "seeds": [int(val_seed), int(val_seed) + n - 1],
                                               "match_radius": "r_half_psf of each true source", "min_snr": 0.0,
                                               "true_flux": "flux_image",
                                               "tuned": "threshold, nms_radius, sharpen, tta: max F1; footprint_snr, "
                                                        "dilate, background: min median relative flux error; "
                                                        "attribution 'profiles' throughout"})
    atomic_save(payload, checkpoint)
    print(f"tuned {checkpoint} on {n} validation cut-outs: {params} P {best[1]['precision']:.3f} "
          f"R {best[1]['recall']:.3f} F1 {best[1]['f1']:.3f} median flux error {best[1]['median_flux_error']:.3f}",
          file=sys.stderr, flush=True)
    return {**params, **best[1]}
