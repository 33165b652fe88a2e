"""``astro-mlfinder train deepfocus``: the six DeepFocus networks on simulated ALMA cubes; ``--tune``, ``--export``."""

from ._common import _progress, _say

__all__ = []


def _shape(text, flag):
    from ..core.tiling import as_tuple

    return None if text is None else as_tuple(text, 3, flag, minimum=16)


def train_deepfocus(args):
    """``train deepfocus``: the six networks on simulated ALMA cubes; or ``--tune DIR`` / ``--export DIR WEIGHTS``."""
    import json
    import shlex

    from ..neural.models.deepfocus import export, training

    if args.num_threads:
        from ..neural._torch import require_torch

        require_torch("training").set_num_threads(args.num_threads)
    if args.tune or args.export:
        if args.tune:
            best = training.retune_deepfocus(args.tune, val_cubes=args.val_cubes, val_shape=_shape(
                args.val_shape, "--val-shape"), device=args.device, progress=_progress(args))
            print(json.dumps(best, indent=1))
        if args.export:
            source, destination = args.export
            print(json.dumps(export.export_deepfocus(source, destination), indent=1))
        return 0
    if args.train_cubes is None:
        args.train_cubes = 64
    output = args.output or args.resume
    if not output:
        raise ValueError("train deepfocus needs --output DIR (checkpoint, cube cache and the six networks), "
                         "or --resume DIR, --tune DIR or --export DIR WEIGHTS_DIR")
    words = ["astro-mlfinder", "train", "deepfocus", "--output", output, "--size", args.size,
             "--train-cubes", args.train_cubes, "--val-cubes", args.val_cubes, "--blobs-steps", args.blobs_steps,
             "--blobs-batch", args.blobs_batch, "--gru-steps", args.gru_steps, "--resnet-steps", args.resnet_steps,
             "--stage2-steps", args.stage2_steps,
             "--seed", args.seed]
    for flag, value in (("--cube-shape", args.cube_shape), ("--val-shape", args.val_shape),
                        ("--batch-size", args.batch_size), ("--num-threads", args.num_threads),
                        ("--device", args.device), ("--resume", args.resume)):
        if value is not None:
            words += [flag, value]
    kwargs = {"batch_size": args.batch_size} if args.batch_size else {}
    result = training.train_deepfocus(
        output=output, train_cubes=args.train_cubes, val_cubes=args.val_cubes,
        cube_shape=_shape(args.cube_shape, "--cube-shape") or (128, 128, 128),
        val_shape=_shape(args.val_shape, "--val-shape"), size=args.size, blobs_steps=args.blobs_steps,
        blobs_batch=args.blobs_batch,
        gru_steps=args.gru_steps, resnet_steps=args.resnet_steps, stage2_steps=args.stage2_steps,
        resume=bool(args.resume), device=args.device, progress=_progress(args), seed=args.seed,
        num_threads=args.num_threads, command=shlex.join(str(w) for w in words), **kwargs)
    _say(args, f"trained deepfocus; the six networks are in {output} (NeuralFinder('deepfocus', weights={output!r}))")
    if result.get("validation"):
        v = result["validation"]
        _say(args, f"validation: precision {v['precision']:.3f} recall {v['recall']:.3f} F1 {v['f1']:.3f}")
    return 0
