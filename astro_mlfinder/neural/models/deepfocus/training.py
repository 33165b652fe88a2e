"""Training DeepFocus: six networks in two stages, checkpoints, resume, threshold tuning, export.

The recipe (`train_deepfocus`, ``astro-mlfinder train deepfocus``):

* **data** -- simulated ALMA cubes (`~astro_mlfinder.neural.models.deepfocus.dataset`),
  ``TRAINING_SEEDS[:train_cubes]``; validation ``VALIDATION_SEEDS[:val_cubes]``;
  the cubes are simulated once and cached in ``output/cache/`` (dirty cubes
  in float16, clean models in float32);
* **stage 1** (on the truth) -- the Blobs Finder on integrated dirty ->
  clean images (L1 + DSSIM, random flips and 90-degree rotations), the Deep
  GRU on dirty -> clean spectra summed over the true boxes, jittered copies
  of them and empty boxes (mean squared error by default: the paper's L1
  collapses to flat outputs in a CPU-sized run), the four
  ResNets on line images over the true windows centred on the (jittered)
  true positions (L1); Adam, weight decay 1e-5, cosine decay;
* **stage 2** (on the first stage's predictions, as the paper) -- the
  pipeline's candidates on the training cubes, matched to the truth: the
  Deep GRU fine-tuned on spectra of the predicted boxes, the ResNets on
  line images of the predicted centres and windows (mixed with the
  stage-1 samples);
* **tuning** -- ``detection_threshold``, ``snr_keep`` and ``snr_min``
  maximising F1 on the validation cubes (`tune_deepfocus`);
* **checkpoints** -- ``output/checkpoint.pt`` after every phase (and every
  ``checkpoint_every`` steps inside one), ``resume=True`` continues from
  it; at the end ``output/<network>.pt`` for each network (a weights
  directory for ``NeuralFinder('deepfocus', weights=output)``;
  `~astro_mlfinder.neural.models.deepfocus.export.export_deepfocus` writes
  them as registry files).
"""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from ....core.progress import progress_bar
from .dataset import (
    TRAINING_SEEDS,
    VALIDATION_SEEDS,
    CubeRecord,
    blobs_pair,
    gru_pairs,
    match_sources,
    resnet_targets,
    score_matches,
    simulate_record,
    spectrum_pair,
    truth_resnet_samples,
)
from .defaults import CPU_CONFIGS, NETWORK_NAMES, PAPER_CONFIGS
from .export import load_networks

__all__ = ["train_deepfocus", "tune_deepfocus", "evaluate_deepfocus", "load_records", "PHASES", "TUNING_GRID",
           "TUNING_REFINE", "retune_deepfocus"]

#: Training phases in order (a checkpoint after each).
PHASES = ("blobsfinder", "deepgru", "resnets", "stage2_deepgru", "stage2_resnets", "tune")
#: Values tried when tuning.
TUNING_GRID = {
    "detection_threshold": (0.05, 0.08, 0.1, 0.15, 0.2, 0.3),
    "snr_keep": (4.0, 5.0, 6.0, 7.0, 8.0, 10.0),
    "snr_min": (3.0, 4.0, 5.0),
}
#: Spectral keywords tuned after `TUNING_GRID`, one at a time.
TUNING_REFINE = {
    "merge_valley": (0.5, 0.7, 0.85),
    "window_fwhm": (0.75, 1.0, 1.5),
    "peak_height": (0.05, 0.1, 0.2),
    "max_lines": (3, 5),
}
_RESNETS = NETWORK_NAMES[2:]


def load_records(seeds, shape, cache=None, simulate=None, progress=True, desc="cubes"):
    """Simulate (or read from ``cache``) the `CubeRecord` of every seed."""
    out = []
    for s in progress_bar(list(seeds), desc=desc, enabled=progress):
        path = None if cache is None else Path(cache) / f"cube-{int(s)}-{'x'.join(map(str, shape))}.npz"
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as f:
                truth = {k[6:]: f[k] for k in f.files if k.startswith("truth_")}
                out.append(CubeRecord(f["dirty"], f["clean"], truth, float(f["beam"])))
            continue
        rec = simulate_record(s, shape, simulate)
        # the dirty cube in float16 (noise ~1e-3 Jy/beam), the clean model in float32: its voxels of faint,
        # extended sources (~1e-9 Jy/pixel) are below float16's smallest number
        rec = CubeRecord(rec.dirty.astype(np.float16), rec.clean.astype(np.float32), rec.truth, rec.beam)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part.npz")
            np.savez(tmp, dirty=rec.dirty, clean=rec.clean, beam=rec.beam,
                     **{f"truth_{k}": v for k, v in rec.truth.items()})
            tmp.replace(path)
        out.append(rec)
    return out


def _lr(step, total, lr0):
    return lr0 / 20 + 0.5 * (lr0 - lr0 / 20) * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0)))


def _fit(torch, net, sample, steps, lr, loss_fn, rng, *, desc, progress, device, start=0, optimizer_state=None,
         on_checkpoint=None, checkpoint_every=0):
    """Generic loop: ``sample(rng) -> (x, y)`` numpy batches; returns (mean loss of the last 50 steps, optimizer)."""
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-5)
    if optimizer_state is not None:
        opt.load_state_dict(optimizer_state)
    losses = []
    bar = progress_bar(range(start, steps), desc=desc, enabled=progress)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, lr)
        x, y = sample(rng)
        loss = loss_fn(net(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_checkpoint is not None and checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            on_checkpoint(step + 1, opt)
    bar.close()
    net.eval()
    return (float(np.mean(losses[-50:])) if losses else math.nan), opt


def _augment(x, y, rng):
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(-2, -1)), np.rot90(y, k, axes=(-2, -1))
    if rng.uniform() < 0.5:
        x, y = x[..., ::-1], y[..., ::-1]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def _stage2_samples(networks, records, params, device, progress):
    """Candidates of the stage-1 pipeline on the training cubes: GRU pairs and matched ResNet samples."""
    from .pipeline import find_candidates, focused_inputs

    gx, gy, rx, ry = [], [], [], {}
    for rec in progress_bar(records, desc="stage-2 candidates", enabled=progress):
        dirty = np.asarray(rec.dirty, dtype=np.float32)
        cands, _ = find_candidates(dirty, networks, params, device=device)
        seen = set()
        for c in cands:
            if c["blob_box"] not in seen:
                seen.add(c["blob_box"])
                a, b = spectrum_pair(rec, c["blob_box"])
                gx.append(a)
                gy.append(b)
        matches = match_sources(cands, rec.truth)
        good = [c for c, m in zip(cands, matches, strict=True) if m >= 0]
        x, scales = focused_inputs(dirty, good, int(params.get("focus_size", 64)))
        for xi, s, m in zip(x, scales, matches[matches >= 0], strict=True):
            rx.append(xi)
            for k, v in resnet_targets(rec.truth, int(m), float(s)).items():
                ry.setdefault(k, []).append(v)
    gru = (np.asarray(gx, np.float32), np.asarray(gy, np.float32))
    res = (np.asarray(rx, np.float32).reshape(-1, 64, 64) if rx else np.zeros((0, 64, 64), np.float32),
           {k: np.asarray(v, np.float32) for k, v in ry.items()})
    return gru, res


def train_deepfocus(model_name="deepfocus", *, output="deepfocus", train_cubes=120, val_cubes=12,
                    cube_shape=(128, 128, 128), val_shape=None, size="cpu", blobs_steps=1200, blobs_batch=8,
                    gru_steps=600, resnet_steps=600, stage2_steps=300, batch_size=64, lr=1e-3, gamma=0.5,
                    gru_loss="mse", gru_lr=1e-2, resume=False, device="auto", progress=True, seed=0,
                    num_threads=None, command=None, simulate=None, tune=True, checkpoint_every=200):
    """Train the six DeepFocus networks (see the module docstring for the recipe).

    Parameters
    ----------
    model_name : str
        ``'deepfocus'``.
    output : str or path
        Directory of the checkpoint, the cube cache and the final
        ``<network>.pt`` files.
    train_cubes, val_cubes : int
        Training cubes (``TRAINING_SEEDS[:n]``) and validation cubes
        (``VALIDATION_SEEDS[:n]``).
    cube_shape, val_shape : tuple of int
        (channels, y, x) of the simulated training and validation cubes
        (validation default: ``cube_shape``).
    size : {'cpu', 'paper'}
        Network widths: the small CPU variant or the published sizes.
    blobs_steps, gru_steps, resnet_steps, stage2_steps : int
        Optimisation steps of the Blobs Finder, the Deep GRU and each ResNet
        in stage 1, and of each stage-2 network.
    blobs_batch, batch_size : int
        Images per Blobs Finder step; spectra or cut-outs per other step.
    lr : float
        Initial Adam learning rate (cosine decay to lr/20 in every phase).
    gamma : float
        Power applied to the normalised clean image (the Blobs Finder target).
    gru_loss : {'mse', 'l1'}
        Loss of the Deep GRU. The paper's L1 drives a GRU trained for a few
        hundred steps to the flat median of the sparse targets (no lines);
        the mean squared error learns the lines in as many steps.
    gru_lr : float
        Learning rate of the Deep GRU (stage 2: a third of it).
    resume : bool
        Continue from ``output/checkpoint.pt``.
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda'``...
    progress : bool
        Show progress bars.
    seed : int
        Seed of the initialisation, the batches and the augmentation.
    num_threads : int, optional
        CPU threads for PyTorch.
    command : str, optional
        The command line, recorded with the weights.
    simulate : callable, optional
        ``simulate(seed, shape)`` returning a simulation or `CubeRecord`
        (default `astro_mlfinder.simulate.alma`).
    tune : bool
        Tune the pipeline thresholds on the validation cubes at the end.
    checkpoint_every : int
        Also checkpoint every this many steps inside a phase.

    Returns
    -------
    dict
        The training record (per phase: final loss, seconds) and, when
        tuned, the validation scores.
    """
    from ..._torch import describe_hardware, require_torch, resolve_device
    from ...weights import _to_plain, atomic_save
    from .model import DeepFocusModel
    from .networks import dssim

    torch = require_torch("training deepfocus")
    if model_name != DeepFocusModel.name:
        raise ValueError(f"train_deepfocus trains model 'deepfocus', not {model_name!r}")
    for name, value, low in (("train_cubes", train_cubes, 1), ("val_cubes", val_cubes, 0),
                             ("blobs_steps", blobs_steps, 1), ("gru_steps", gru_steps, 1),
                             ("resnet_steps", resnet_steps, 1), ("stage2_steps", stage2_steps, 0),
                             ("blobs_batch", blobs_batch, 1), ("batch_size", batch_size, 1)):
        if int(value) < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if gru_loss not in ("mse", "l1"):
        raise ValueError(f"gru_loss must be 'mse' or 'l1', got {gru_loss!r}")
    if size not in ("cpu", "paper"):
        raise ValueError(f"size must be 'cpu' or 'paper', got {size!r}")
    if len(tuple(cube_shape)) != 3 or min(cube_shape) < 16:
        raise ValueError(f"cube_shape must be (channels, y, x) with every axis >= 16, got {cube_shape}")
    if num_threads:
        torch.set_num_threads(int(num_threads))
    dev = resolve_device(device)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    cls = DeepFocusModel
    configs = PAPER_CONFIGS if size == "paper" else CPU_CONFIGS
    val_shape = tuple(val_shape or cube_shape)

    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"resume=True but {ckpt_path} does not exist; train without resume first")
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        rec = state["meta"]["training"]
        train_cubes, val_cubes = rec["train_cubes"], rec["val_cubes"]
        cube_shape, val_shape = tuple(rec["cube_shape"]), tuple(rec["val_shape"])
        configs, gamma = state["configs"], rec["gamma"]
        if command:
            rec["resumed_with"] = [*rec.get("resumed_with", []), command]
    else:
        state = None
    torch.manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    nets = {n: cls.network_class(n).from_config(configs[n]) for n in NETWORK_NAMES}
    for net in nets.values():
        net.to(dev).eval()  # trained phase by phase (train mode inside _fit only)
    if state is not None:
        for n, sd in state["networks"].items():
            nets[n].load_state_dict(sd)
        rng.bit_generator.state = state["rng_state"]
        torch.set_rng_state(state["torch_rng_state"])
        meta, done, partial = state["meta"], list(state["done"]), state.get("partial")
    else:
        done, partial = [], None
        meta = {
            "inference": {},
            "training": {
                "data": "astro_mlfinder.simulate.alma cubes (astro_mlfinder.neural.models.deepfocus.dataset)",
                "train_seeds": [TRAINING_SEEDS.start, TRAINING_SEEDS.start + int(train_cubes) - 1],
                "val_seeds": [VALIDATION_SEEDS.start, VALIDATION_SEEDS.start + max(int(val_cubes), 1) - 1],
                "held_out_note": f"benchmarks must use seeds outside {TRAINING_SEEDS} and {VALIDATION_SEEDS}",
                "train_cubes": int(train_cubes), "val_cubes": int(val_cubes), "cube_shape": list(cube_shape),
                "val_shape": list(val_shape), "size": size, "gamma": float(gamma), "lr": float(lr),
                "gru_loss": gru_loss, "gru_lr": float(gru_lr),
                "steps": {"blobsfinder": int(blobs_steps), "deepgru": int(gru_steps), "resnet": int(resnet_steps),
                          "stage2": int(stage2_steps)},
                "batch": {"blobsfinder": int(blobs_batch), "other": int(batch_size)},
                "seed": int(seed),
                "loss": f"blobsfinder L1 + DSSIM (window 3); deepgru {gru_loss}; resnets L1",
                "optimizer": "adam, weight decay 1e-5", "lr_schedule": "cosine to lr/20 per phase",
                "augmentation": "blobsfinder: random flips and 90-degree rotations; resnets: centre jitter 1 px",
                "device": str(dev), "hardware": describe_hardware(dev), "command": command,
                "torch": str(torch.__version__), "phases": {},
            },
        }
    phases = meta["training"]["phases"]

    def save(done_list, partial_state=None):
        atomic_save({"networks": {n: {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
                                  for n, net in nets.items()},
                     "configs": _to_plain(configs), "meta": _to_plain(meta), "done": list(done_list),
                     "partial": partial_state, "rng_state": _to_plain(rng.bit_generator.state),
                     "torch_rng_state": torch.get_rng_state()}, ckpt_path)

    t_data = time.perf_counter()
    train = load_records(TRAINING_SEEDS[: int(train_cubes)], tuple(cube_shape), out / "cache", simulate, progress,
                         "training cubes")
    print(f"{len(train)} training cubes, {sum(r.n for r in train)} sources ({time.perf_counter() - t_data:.0f} s)",
          file=sys.stderr, flush=True)

    def run_phase(name, net_name, sample, steps, loss_fn, lr_phase):
        start, opt_state = 0, None
        if partial and partial.get("phase") == name:
            start, opt_state = int(partial["step"]), partial["optimizer"]
        t0 = time.perf_counter()

        def checkpoint(step, opt):
            save(done, {"phase": name, "step": step, "optimizer": opt.state_dict()})

        loss, _ = _fit(torch, nets[net_name], sample, int(steps), lr_phase, loss_fn, rng, desc=name,
                       progress=progress, device=dev, start=start, optimizer_state=opt_state,
                       on_checkpoint=checkpoint, checkpoint_every=int(checkpoint_every))
        phases[name] = {"loss": loss, "steps": int(steps), "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{name}: loss {loss:.4f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    def finish(name):
        nonlocal partial
        done.append(name)
        partial = None
        save(done)

    l1 = torch.nn.functional.l1_loss
    gru_loss = {"l1": l1, "mse": torch.nn.functional.mse_loss}[meta["training"].get("gru_loss", "l1")]
    gru_lr = float(meta["training"].get("gru_lr", lr))
    if "blobsfinder" not in done:
        inputs = configs["blobsfinder"].get("inputs", ["sum"])
        pairs = [blobs_pair(r, gamma, inputs) for r in train]
        bx, by = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])[:, None]

        def sample_blobs(g):
            idx = g.integers(0, len(bx), int(blobs_batch))
            return _augment(bx[idx], by[idx], g)

        run_phase("blobsfinder", "blobsfinder", sample_blobs, blobs_steps, lambda p, t: l1(p, t) + dssim(p, t), lr)
        finish("blobsfinder")

    pairs = [gru_pairs(r, rng) for r in train]
    gru_x, gru_y = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    def sampler(x, y, flip=False):
        def sample(g):
            idx = g.integers(0, len(x), int(batch_size))
            xb, yb = x[idx], y[idx]
            if flip and g.uniform() < 0.5:  # a spectrum read backwards is a spectrum
                xb, yb = np.ascontiguousarray(xb[:, ::-1]), np.ascontiguousarray(yb[:, ::-1])
            return xb, yb
        return sample

    if "deepgru" not in done:
        run_phase("deepgru", "deepgru", sampler(gru_x, gru_y, flip=True), gru_steps, gru_loss, gru_lr)
        finish("deepgru")

    res_x, res_y = [], {}
    for r in train:
        x, y = truth_resnet_samples(r, 64, rng, jitter=1.0)
        res_x.append(x)
        for k, v in y.items():
            res_y.setdefault(k, []).append(v)
    res_x = np.concatenate(res_x)[:, None]
    res_y = {k: np.concatenate(v) for k, v in res_y.items()}
    if "resnets" not in done:
        for n in _RESNETS:
            if f"resnet:{n}" in done:
                continue
            run_phase(f"resnet:{n}", n, sampler(res_x, res_y[n]), resnet_steps, l1, lr)
            done.append(f"resnet:{n}")
            save(done)
        finish("resnets")

    params = dict(cls.defaults)
    params.update(snr_keep=0.0, snr_min=0.0)
    if stage2_steps and ("stage2_deepgru" not in done or "stage2_resnets" not in done):
        (g2x, g2y), (r2x, r2y) = _stage2_samples(nets, train, params, dev, progress)
        phases["stage2_samples"] = {"spectra": int(len(g2x)), "cutouts": int(len(r2x))}
        if "stage2_deepgru" not in done:
            mx = np.concatenate([g2x, gru_x]) if len(g2x) else gru_x
            my = np.concatenate([g2y, gru_y]) if len(g2y) else gru_y
            run_phase("stage2_deepgru", "deepgru", sampler(mx, my, flip=True), stage2_steps, gru_loss, gru_lr / 3)
            finish("stage2_deepgru")
        if "stage2_resnets" not in done:
            mx = np.concatenate([r2x[:, None], res_x]) if len(r2x) else res_x
            for n in _RESNETS:
                if f"stage2:{n}" in done:
                    continue
                my = np.concatenate([r2y[n], res_y[n]]) if len(r2x) else res_y[n]
                run_phase(f"stage2:{n}", n, sampler(mx, my), stage2_steps, l1, lr / 3)
                done.append(f"stage2:{n}")
                save(done)
            finish("stage2_resnets")

    result = {"phases": phases}
    if tune and val_cubes and "tune" not in done:
        val = load_records(VALIDATION_SEEDS[: int(val_cubes)], val_shape, out / "cache", simulate, progress,
                           "validation cubes")
        best = tune_deepfocus(nets, val, device=dev, progress=progress)
        meta["inference"] = {k: best[k] for k in (*TUNING_GRID, *TUNING_REFINE)}
        meta["validation"] = _to_plain({**best, "n_cubes": len(val), "shape": list(val_shape),
                                        "seeds": [VALIDATION_SEEDS.start, VALIDATION_SEEDS.start + len(val) - 1],
                                        "tuned": "grid of detection_threshold, snr_keep, snr_min, then one "
                                                 "coordinate pass over merge_valley, window_fwhm, peak_height, "
                                                 "max_lines, maximising F1"})
        finish("tune")
    result["validation"] = meta.get("validation")
    _write_networks(nets, meta, out)
    with open(out / "training.json", "w", encoding="utf-8") as fh:
        json.dump(_to_plain(meta["training"]), fh, indent=1)
    return result


def _write_networks(nets, meta, out, dtype=None):
    """``out/<network>.pt`` for every network; the metadata goes with each (the first is what the model reads)."""
    from ...weights import save_weights

    paths = {}
    for n, net in nets.items():
        paths[n] = save_weights(Path(out) / f"{n}.pt", "deepfocus", net, meta={**meta, "network": n}, dtype=dtype)
    return paths


def evaluate_deepfocus(networks, records, params=None, *, device="cpu", progress=False, candidates=None):
    """Precision, recall, F1 of the pipeline on ``records`` (`match_sources` criteria).

    ``candidates`` (per record, from
    `~astro_mlfinder.neural.models.deepfocus.pipeline.find_candidates` with
    the same detection parameters) skips the network passes.
    """
    from .model import DeepFocusModel
    from .pipeline import find_candidates, select_sources

    p = dict(DeepFocusModel.defaults, **(params or {}))
    results = []
    for i, rec in enumerate(progress_bar(records, desc="evaluate", enabled=progress)):
        if candidates is None:
            cands, _ = find_candidates(np.asarray(rec.dirty, np.float32), networks, p, device=device)
        else:
            cands = candidates[i]
        found = select_sources(cands, p)
        results.append((match_sources(found, rec.truth), rec.n))
    return score_matches(results)


def tune_deepfocus(networks, records, *, grid=None, refine=None, device="cpu", progress=False):
    """Tune the pipeline thresholds on ``records``, maximising F1 (ties: the higher precision).

    First a grid over ``detection_threshold``, ``snr_keep``, ``snr_min``
    (`TUNING_GRID`), then one coordinate pass over the spectral keywords
    (`TUNING_REFINE`: ``merge_valley``, ``window_fwhm``, ``peak_height``,
    ``max_lines``), each tried with the best values found so far.

    Returns
    -------
    dict
        The best parameters (the keys of both grids) with their
        ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``, ``n_true``.
    """
    from .model import DeepFocusModel
    from .pipeline import find_candidates

    grid = dict(TUNING_GRID, **(grid or {}))
    refine = dict(TUNING_REFINE, **(refine or {}))
    base = dict(DeepFocusModel.defaults)
    best = None

    def candidates(p):
        return [find_candidates(np.asarray(r.dirty, np.float32), networks, p, device=device)[0] for r in records]

    def better(res):
        return best is None or (res["f1"], res["precision"]) > (best["f1"], best["precision"])

    for thr in progress_bar(grid["detection_threshold"], desc="tune", enabled=progress):
        p = dict(base, detection_threshold=float(thr))
        cands = candidates(p)
        for keep in grid["snr_keep"]:
            for smin in grid["snr_min"]:
                if smin > keep:
                    continue
                q = dict(p, snr_keep=float(keep), snr_min=float(smin))
                res = evaluate_deepfocus(networks, records, q, candidates=cands)
                if better(res):
                    best = dict(res, **{k: q[k] for k in grid})
    chosen = {k: best[k] for k in grid}
    for key, values in refine.items():
        chosen.setdefault(key, base[key])
        for value in values:
            q = dict(base, **chosen)
            q[key] = value
            res = evaluate_deepfocus(networks, records, q, candidates=candidates(q))
            if better(res):
                chosen[key] = value
                best = dict(res, **chosen)
    best = dict(best, **chosen)
    print("tuned: " + ", ".join(f"{k} {chosen[k]}" for k in chosen)
          + f": P {best['precision']:.3f} R {best['recall']:.3f} F1 {best['f1']:.3f}", file=sys.stderr, flush=True)
    return best


def retune_deepfocus(directory, *, val_cubes=None, val_shape=None, grid=None, device="auto", progress=False,
                     simulate=None):
    """Tune the pipeline thresholds of a trained weights directory on the validation cubes; record them in its files.

    Parameters
    ----------
    directory : str or path
        A `train_deepfocus` output (``<network>.pt`` for the six networks;
        every file is rewritten with the new ``meta['inference']`` and
        ``meta['validation']``).
    val_cubes : int, optional
        Validation cubes (``VALIDATION_SEEDS[:n]``; default as recorded).
    val_shape : tuple of int, optional
        Their shape (default as recorded).
    grid : dict, optional
        Values to try (default `TUNING_GRID`).

    Returns
    -------
    dict
        The best parameters and their precision, recall and F1.
    """
    from ..._torch import require_torch, resolve_device
    from ...weights import _to_plain, save_weights

    require_torch("tuning deepfocus")
    dev = resolve_device(device)
    nets, meta = load_networks(directory, dev)
    rec = meta.get("training") or {}
    n = int(val_cubes if val_cubes is not None else rec.get("val_cubes", 8))
    if n < 1:
        raise ValueError(f"tuning needs at least one validation cube, got val_cubes={n}")
    shape = tuple(val_shape or rec.get("val_shape") or (128, 256, 256))
    val = load_records(VALIDATION_SEEDS[:n], shape, Path(directory) / "cache", simulate, progress, "validation cubes")
    best = tune_deepfocus(nets, val, grid=grid, device=dev, progress=progress)
    meta = dict(meta)
    meta["inference"] = {k: best[k] for k in (*TUNING_GRID, *TUNING_REFINE)}
    meta["validation"] = _to_plain({**best, "n_cubes": n, "shape": list(shape),
                                    "seeds": [VALIDATION_SEEDS.start, VALIDATION_SEEDS.start + n - 1],
                                    "matching": "centre inside the true box (+-0.5 px), line windows overlapping, "
                                                "one-to-one (benchmarks/detection_alma.py)",
                                    "tuned": "grid of detection_threshold, snr_keep, snr_min, then one coordinate "
                                             "pass over merge_valley, window_fwhm, peak_height, max_lines, "
                                             "maximising F1"})
    for name, net in nets.items():
        save_weights(Path(directory) / f"{name}.pt", "deepfocus", net.cpu(), meta={**meta, "network": name})
    return best
