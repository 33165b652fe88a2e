"""Fine-tuning the DeepFocus ResNets of trained weights on many more simulated cubes.

The ResNets of a `~astro_mlfinder.neural.models.deepfocus.training.train_deepfocus`
run see the few hundred sources of its cube cache many times over; their
regression errors on new cubes are about twice those on the training cubes.
`finetune_resnets` keeps the Blobs Finder and the Deep GRU of a weights
source and fine-tunes chosen ResNets on cut-outs of new training cubes
(``TRAINING_SEEDS`` after the ones the weights were trained on), which are
simulated once and kept only as 64x64 cut-outs (``output/samples-*.npz``,
one file per ``chunk`` cubes, so that an interrupted run resumes):

* the true line window centred on the jittered true position (as stage 1);
* the pipeline's candidates matched to the truth, each summed over the
  window the ResNets see at inference (``regress_level``; as stage 2).

Run it as a module::

    python -m astro_mlfinder.neural.models.deepfocus.finetune deepfocus@0.2.0 out \\
        --first-cube 128 --cubes 400 --steps 1500 --networks resnet_flux --num-threads 1

``--rot180`` rotates half of each batch by 180 degrees (a symmetry of the
dirty beam) and records ``flux_rot180`` with a flux network so trained;
``--batch-seed`` and ``--bootstrap`` make ensemble members that share one
cut-out cache (joined by
`~astro_mlfinder.neural.models.deepfocus.export.ensemble_networks`).

``out`` then holds the six ``<network>.pt`` files (a weights directory;
`~astro_mlfinder.neural.models.deepfocus.export.export_deepfocus` writes them
as registry files).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ....core.progress import progress_bar
from ....io.atomic import write_text
from .dataset import TRAINING_SEEDS, match_sources, resnet_targets, simulate_record, truth_resnet_samples
from .defaults import NETWORK_NAMES

__all__ = ["cube_samples", "load_samples", "finetune_resnets", "main"]

_RESNETS = NETWORK_NAMES[2:]


def cube_samples(networks, record, params, rng, *, size=64, jitter=1.0):
    """ResNet inputs ``(n, size, size)`` and targets ``{network: (n, k)}`` of one `CubeRecord`.

    The true sources (true window, jittered true centre) and the pipeline's
    candidates matched to them (the window `run_pipeline` gives the ResNets).
    """
    from .pipeline import _regress_window, find_candidates, focused_inputs

    x, y = truth_resnet_samples(record, size, rng, jitter=jitter)
    xs, ys = [x], {k: [v] for k, v in y.items()}
    dirty = np.asarray(record.dirty, dtype=np.float32)
    cands, _ = find_candidates(dirty, networks, params)
    matches = match_sources(cands, record.truth)
    good = [c for c, m in zip(cands, matches, strict=True) if m >= 0]
    if good:
        nz = dirty.shape[0]
        wins = [_regress_window(c, params.get("regress_window_fwhm"), nz, params.get("regress_level")) for c in good]
        px, scales = focused_inputs(dirty, [dict(c, window=w) for c, w in zip(good, wins, strict=True)], size)
        xs.append(px)
        for s, m in zip(scales, matches[matches >= 0], strict=True):
            for k, v in resnet_targets(record.truth, int(m), float(s)).items():
                ys.setdefault(k, []).append(np.asarray([v], np.float32))
    x = np.concatenate(xs).astype(np.float32)
    return x, {k: np.concatenate(v).astype(np.float32) for k, v in ys.items()}


def _samples_key(networks, params, seed):
    """What the cached cut-outs depend on besides seeds and shape: the candidate-finding networks' weights,
    the pipeline parameters and the jitter seed."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("blobsfinder", "deepgru"):
        for key, value in sorted(networks[name].state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().numpy().tobytes())
    return {"networks": digest.hexdigest(), "params": json.loads(json.dumps(params, sort_keys=True, default=str)),
            "seed": int(seed)}


def load_samples(networks, seeds, shape, params, output, *, chunk=25, seed=0, progress=True, simulate=None):
    """Cut-outs and targets of every cube of ``seeds``, simulated once and kept in ``output/samples-*.npz``.

    ``output/samples-key.json`` records what the cut-outs were made with (the Blobs Finder's and Deep GRU's
    weights, the pipeline parameters, the seed); a folder whose cut-outs were made otherwise is refused
    rather than silently reused.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    key = _samples_key(networks, params, seed)
    key_path = out / "samples-key.json"
    if key_path.is_file():
        if json.loads(key_path.read_text()) != key:
            raise ValueError(f"{out} holds DeepFocus cut-outs made with other weights, pipeline parameters or "
                             "seed (samples-key.json); give a new output folder, or delete its samples-* files "
                             "to make them again")
    else:
        write_text(key_path, json.dumps(key, indent=1), overwrite=True)
    seeds = list(seeds)
    xs, ys = [], {}
    for start in range(0, len(seeds), int(chunk)):
        part = seeds[start : start + int(chunk)]
        path = out / f"samples-{part[0]}-{part[-1]}-{'x'.join(map(str, shape))}.npz"
        if not path.is_file():
            rng = np.random.default_rng([int(seed), int(part[0])])
            cx, cy = [], {}
            for s in progress_bar(part, desc=f"cubes {part[0]}-{part[-1]}", enabled=progress):
                x, y = cube_samples(networks, simulate_record(s, shape, simulate), params, rng)
                cx.append(x)
                for k, v in y.items():
                    cy.setdefault(k, []).append(v)
            tmp = path.with_suffix(".part.npz")
            np.savez(tmp, x=np.concatenate(cx), **{k: np.concatenate(v) for k, v in cy.items()})
            tmp.replace(path)
        with np.load(path) as f:
            xs.append(f["x"])
            for k in _RESNETS:
                ys.setdefault(k, []).append(f[k])
    return np.concatenate(xs), {k: np.concatenate(v) for k, v in ys.items()}


def finetune_resnets(networks, meta, output, *, first_cube=128, cubes=400, shape=(128, 128, 128), steps=1500,
                     batch_size=32, lr=3e-4, names=("resnet_flux",), params=None, seed=0, progress=True,
                     command=None, simulate=None, batch_seed=None, bootstrap=False, rot180=False):
    """Fine-tune the ResNets ``names`` of ``networks`` on new cubes; write the six networks to ``output``.

    Parameters
    ----------
    networks : dict
        The six networks (eval mode), modified in place.
    meta : dict
        Their metadata (``inference``, ``training``...); the fine-tuning is
        recorded in ``training['finetune']``.
    output : str or path
        Directory of the cut-out cache, a checkpoint per network and the
        final ``<network>.pt`` files.
    first_cube, cubes : int
        Cubes ``TRAINING_SEEDS[first_cube : first_cube + cubes]`` (after
        those the weights were trained on).
    shape : tuple of int
        Cube shape (channels, y, x).
    steps, batch_size, lr : int, int, float
        Adam steps per network (cosine decay to lr/20), cut-outs per step,
        initial learning rate.
    names : sequence of str
        ResNets to fine-tune.
    params : dict, optional
        Pipeline parameters of the candidates (default: the model defaults
        with the recorded inference values, S/N thresholds 0).
    seed : int
        Seed of the jitter of the cut-outs (part of the cache key) and, without
        ``batch_seed``, of the batches.
    batch_seed : int, optional
        Seed of the batches (and of the bootstrap sample) alone: members of an
        ensemble (`ensemble_networks`) share one cut-out cache and differ by
        this.
    bootstrap : bool
        Train on a bootstrap sample (as many cut-outs drawn with replacement)
        of the cached cut-outs, as for a bagged ensemble.
    rot180 : bool
        Rotate half the cut-outs of each batch by 180 degrees. A dirty beam
        is point-symmetric (the Fourier transform of a uv coverage holding
        every baseline and its opposite), so a rotated cut-out is another
        valid sample with the same targets for the flux and FWHM networks
        and the same PA (angles modulo 180); 90-degree rotations and flips
        are not symmetries of the beam. With ``resnet_flux`` among ``names``
        the written weights record ``flux_rot180`` in their inference
        parameters.
    progress : bool
        Show progress bars.
    command : str, optional
        The command line, recorded with the weights.
    simulate : callable, optional
        ``simulate(seed, shape)`` returning a simulation or `CubeRecord`
        (default `astro_mlfinder.simulate.alma`).

    Returns
    -------
    dict
        The fine-tuning record.
    """
    from ..._torch import describe_hardware, require_torch
    from ...weights import atomic_save
    from .defaults import DEFAULTS
    from .training import _fit, _write_networks

    torch = require_torch("fine-tuning deepfocus")
    unknown = [n for n in names if n not in _RESNETS]
    if unknown:
        raise ValueError(f"names must be among {_RESNETS}, got {unknown[0]!r}")
    seeds = TRAINING_SEEDS[int(first_cube) : int(first_cube) + int(cubes)]
    if not len(seeds):
        raise ValueError(f"no training seeds in [{first_cube}, {first_cube + cubes}); choose first_cube and cubes")
    p = dict(DEFAULTS, **(meta.get("inference") or {}))
    p.update(snr_keep=0.0, snr_min=0.0, **(params or {}))
    out = Path(output)
    t0 = time.perf_counter()
    x, y = load_samples(networks, seeds, tuple(shape), p, out, seed=seed, progress=progress, simulate=simulate)
    t_data = time.perf_counter() - t0
    print(f"{len(x)} cut-outs from {len(seeds)} cubes ({t_data:.0f} s)", file=sys.stderr, flush=True)
    x = x[:, None]
    rng = np.random.default_rng(int(seed if batch_seed is None else batch_seed))
    pool = rng.integers(0, len(x), len(x)) if bootstrap else np.arange(len(x))
    l1 = torch.nn.functional.l1_loss
    record = {"seeds": [seeds.start, seeds.stop - 1], "cubes": len(seeds), "shape": list(shape),
              "cutouts": int(len(x)), "steps": int(steps), "batch": int(batch_size), "lr": float(lr),
              "networks": list(names), "loss": "L1", "optimizer": "adam, weight decay 1e-5",
              "lr_schedule": "cosine to lr/20", "data_seconds": round(t_data, 1), "seed": int(seed),
              "batch_seed": int(seed if batch_seed is None else batch_seed), "bootstrap": bool(bootstrap),
              "rot180": bool(rot180),
              "hardware": describe_hardware(torch.device("cpu")), "torch": str(torch.__version__),
              "command": command, "phases": {}}
    for n in names:
        ckpt = out / f"finetune-{n}.pt"
        if ckpt.is_file():
            state = torch.load(ckpt, map_location="cpu", weights_only=False)
            networks[n].load_state_dict(state["state_dict"])
            if state.get("done"):
                record["phases"][n] = state["phase"]
                continue
            start, opt_state = int(state["step"]), state["optimizer"]
        else:
            start, opt_state = 0, None

        def sample(g, target=y[n]):
            idx = pool[g.integers(0, len(pool), int(batch_size))]
            xb = x[idx]
            if rot180:
                flip = g.uniform(size=len(idx)) < 0.5
                xb = np.where(flip[:, None, None, None], xb[..., ::-1, ::-1], xb)
            return np.ascontiguousarray(xb), target[idx]

        def checkpoint(step, opt, name=n, path=ckpt):
            # atomic: a run killed while saving leaves the previous checkpoint, never a truncated one to resume from
            atomic_save({"state_dict": networks[name].state_dict(), "step": step, "optimizer": opt.state_dict()}, path)

        t1 = time.perf_counter()
        loss, _ = _fit(torch, networks[n], sample, int(steps), float(lr), l1, rng, desc=n, progress=progress,
                       device="cpu", start=start, optimizer_state=opt_state, on_checkpoint=checkpoint,
                       checkpoint_every=100)
        phase = {"loss": loss, "steps": int(steps), "seconds": round(time.perf_counter() - t1, 1)}
        record["phases"][n] = phase
        atomic_save({"state_dict": networks[n].state_dict(), "done": True, "phase": phase}, ckpt)
        print(f"{n}: loss {loss:.4f}", file=sys.stderr, flush=True)
    training = dict(meta.get("training") or {})
    training["finetune"] = record
    inference = dict(meta.get("inference") or {})
    if rot180 and "resnet_flux" in names:
        inference["flux_rot180"] = True  # a flux network trained on both views averages them at inference
    _write_networks(networks, {**meta, "training": training, "inference": inference}, out)
    write_text(out / "finetune.json", json.dumps(record, indent=1, default=str), overwrite=True)
    return record


def _load(source):
    """Networks and metadata of a weights directory or a registry source (``deepfocus@0.2.0``)."""
    if Path(source).is_dir():
        from .export import load_networks

        return load_networks(source)
    from ... import NeuralFinder

    nets, info = NeuralFinder("deepfocus", weights=source, progress=False).neural_model.load(False)
    return nets, {**info["meta"], "inference": dict(info.get("inference") or {})}


def main(argv=None):
    """Command line: ``python -m astro_mlfinder.neural.models.deepfocus.finetune SOURCE OUTPUT [options]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="weights: a directory of the six <network>.pt or a registry source")
    parser.add_argument("output", help="directory of the cut-out cache, checkpoints and the new weights")
    parser.add_argument("--first-cube", type=int, default=128)
    parser.add_argument("--cubes", type=int, default=400)
    parser.add_argument("--shape", default="128,128,128")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--networks", default="resnet_flux", help="comma-separated ResNets to fine-tune")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cut-outs' jitter (and of the batches)")
    parser.add_argument("--batch-seed", type=int, default=None,
                        help="seed of the batches and the bootstrap sample alone (ensemble members)")
    parser.add_argument("--bootstrap", action="store_true",
                        help="train on a bootstrap sample of the cut-outs (ensemble members)")
    parser.add_argument("--rot180", action="store_true",
                        help="rotate half the cut-outs of each batch by 180 degrees (a symmetry of the dirty beam)")
    parser.add_argument("--num-threads", type=int, default=None)
    parser.add_argument("--params", default=None, metavar="JSON",
                        help="pipeline parameters of the candidates, a JSON object (e.g. '{\"search_snr\": 0}')")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        params = json.loads(args.params) if args.params else None
    except json.JSONDecodeError as exc:
        parser.error(f"--params must be a JSON object of pipeline parameters: {exc}")
    if params is not None and not isinstance(params, dict):
        parser.error("--params must be a JSON object of pipeline parameters, e.g. '{\"search_snr\": 0}'")
    if args.num_threads:
        import torch

        torch.set_num_threads(int(args.num_threads))
    nets, meta = _load(args.source)
    shape = tuple(int(v) for v in args.shape.split(","))
    command = "python -m astro_mlfinder.neural.models.deepfocus.finetune " + " ".join(
        sys.argv[1:] if argv is None else argv)
    finetune_resnets(nets, meta, args.output, first_cube=args.first_cube, cubes=args.cubes, shape=shape,
                     steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                     names=tuple(args.networks.split(",")), params=params, seed=args.seed,
                     progress=not args.no_progress, command=command, batch_seed=args.batch_seed,
                     bootstrap=args.bootstrap, rot180=args.rot180)
    return 0


if __name__ == "__main__":
    sys.exit(main())
