"""``astro-mlfinder train hi_reliability``: the candidate scorer of ``ClassicalFinder(reliability='neural')``.

The command line builds the candidate finders (`~astro_mlfinder.ClassicalFinder` at the
``--thresholds``, linker minimum size 3, no reliability filter), which the neural floor cannot
import itself, and runs `astro_mlfinder.neural.models.hi_reliability.training.train_reliability`.
"""

import shlex

from ._common import _progress, _say

__all__ = []

#: The model name of the command line.
NAME = "hi_reliability"


def _thresholds(text):
    values = [float(v) for v in str(text).split(",") if v.strip()]
    if not values or any(not v > 0 for v in values):
        raise ValueError(f"--thresholds must be positive numbers separated by commas, got {text!r}")
    return values


def train_hi_reliability(args):
    """Train (or, with ``--export CHECKPOINT WEIGHTS``, export) the ``hi_reliability`` scorer."""
    from ..neural.models.hi_reliability.training import export_weights, train_reliability

    if args.export:
        print(export_weights(*args.export))
        return 0
    if args.tune:
        raise ValueError("train hi_reliability tunes its score threshold on the validation candidates after every "
                         "epoch; --tune is for unet3d and convosource")
    if not args.output:
        raise ValueError("train hi_reliability needs --output FILE (the checkpoint to write), or --export")
    from ..classical.finder import ClassicalFinder

    thresholds = _thresholds(args.thresholds)
    finders = [ClassicalFinder(threshold=t, min_size_xy=3, min_size_z=3) for t in thresholds]
    batch_size = args.batch_size or 64
    if args.train_cubes is None:
        args.train_cubes = 160
    words = ["astro-mlfinder", "train", NAME, "--thresholds", args.thresholds, "--train-cubes", args.train_cubes,
             "--val-cubes", args.val_cubes, "--epochs", args.epochs, "--batch-size", batch_size, "--lr", args.lr,
             "--seed", args.seed, "--output", args.output]
    for flag, value in (("--num-threads", args.num_threads), ("--device", args.device), ("--resume", args.resume)):
        if value is not None:
            words += [flag, value]
    history = train_reliability(finders, args.output, train_cubes=args.train_cubes, val_cubes=args.val_cubes,
                                epochs=args.epochs, batch_size=batch_size, lr=args.lr, seed=args.seed,
                                resume=args.resume, device="cpu" if args.device == "auto" else args.device,
                                num_threads=args.num_threads, progress=_progress(args),
                                command=shlex.join(str(w) for w in words))
    _say(args, f"trained {NAME} for {args.epochs} epoch(s); checkpoint in {args.output}")
    if history:
        _say(args, f"last epoch: {history[-1]}")
    return 0
