"""``astro-mlfinder train pais``: PAIS on simulated blend cut-outs, or ``--tune`` its decoding thresholds."""

from ._common import _progress, _say

__all__ = []


def train_pais(args):
    """``train pais``: simulated blend cut-outs (simulate.blends training seeds), exact PCR targets."""
    import shlex

    from ..neural import train

    args.batch_size = 16 if args.batch_size is None else args.batch_size
    args.train_images = 2000 if args.train_images is None else args.train_images
    args.val_images = 100 if args.val_images is None else args.val_images
    words = ["astro-mlfinder", "train", "pais", "--epochs", args.epochs, "--batch-size", args.batch_size,
             "--lr", args.lr, "--train-images", args.train_images, "--val-images", args.val_images,
             "--seed", args.seed, "--output", args.output]
    for flag, value in (("--num-threads", args.num_threads), ("--device", args.device), ("--resume", args.resume),
                        ("--max-minutes", args.max_minutes), ("--init", args.init)):
        if value is not None:
            words += [flag, value]
    extra = {"init": args.init} if args.init is not None else {}  # warm start: 'pais', 'pais@0.2.0' or a file
    history = train("pais", epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    train_images=args.train_images, val_images=args.val_images, output=args.output,
                    resume=args.resume, device=args.device, progress=_progress(args), seed=args.seed,
                    num_threads=args.num_threads, max_minutes=args.max_minutes,
                    command=shlex.join(str(w) for w in words), **extra)
    _say(args, f"trained pais for {len(history)} epoch(s) in this run; weights in {args.output}")
    if history:
        print(f"last epoch: {history[-1]}")
    return 0


def tune_pais(args):
    """``train pais --tune CHECKPOINT``: decoding thresholds tuned on the validation cut-outs."""
    import json

    from ..neural.models.pais.training import tune_pais

    if args.num_threads:
        from ..neural._torch import require_torch

        require_torch("training").set_num_threads(args.num_threads)
    print(json.dumps(tune_pais(args.tune, val_images=args.val_images, device=args.device), indent=1))
    if args.export:
        from ..neural.training import export_weights

        print(export_weights(*args.export))
    return 0
