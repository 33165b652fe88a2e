"""``astro-mlfinder train``: train a neural model, or tune / export a checkpoint."""

from ._common import _progress, _quiet_options, _say

__all__ = []


def _train_command(args):
    """The ``astro-mlfinder train`` command line of a training run (recorded with the weights)."""
    import shlex

    words = ["astro-mlfinder", "train", args.model, "--data", args.data, "--epochs", args.epochs,
             "--steps-per-epoch", args.steps_per_epoch, "--batch-size", args.batch_size]
    for flag, value in (("--crop-shape", args.crop_shape), ("--base-channels", args.base_channels),
                        ("--lr", args.lr), ("--seed", args.seed), ("--num-threads", args.num_threads),
                        ("--val-cubes", args.val_cubes), ("--device", args.device), ("--resume", args.resume),
                        ("--init", args.init), ("--telescope-prob", args.telescope_prob),
                        ("--mask-threshold", args.mask_threshold), ("--output", args.output)):
        if value is not None:
            words += [flag, value]
    return shlex.join(str(w) for w in words)


def _cmd_train(args):
    from ..neural import get_model, train

    given = [flag for flag, value in (("--network", args.network), ("--faint-weight", args.faint_weight),
                                      ("--first-image", args.first_image)) if value is not None]
    if given and str(args.model).lower() != "convosource":  # else silently ignored
        raise ValueError(f"{', '.join(given)} only apply to convosource, "
                         f"not {args.model}")
    if str(args.model).lower() == "hi_reliability":  # the candidate scorer of ClassicalFinder(reliability='neural')
        from ._hi_reliability import train_hi_reliability

        return train_hi_reliability(args)
    if str(args.model).lower() == "deepfocus":
        from ._deepfocus import train_deepfocus

        return train_deepfocus(args)
    if args.tune and str(args.model).lower() == "convosource":
        from ..neural._torch import require_torch
        from ..neural.models.convosource.training import tune_convosource

        if args.num_threads:
            require_torch("training").set_num_threads(args.num_threads)
        tune_convosource(args.tune, device=args.device)
        args.tune = None
        if not args.export:
            return 0
    if args.tune and str(args.model).lower() == "pais":
        from ._pais import tune_pais

        return tune_pais(args)
    if args.tune or args.export:
        from ..neural.training import export_weights, tune_checkpoint

        if args.num_threads:
            from ..neural._torch import require_torch

            require_torch("training").set_num_threads(args.num_threads)
        if args.tune:
            import json

            print(json.dumps(tune_checkpoint(args.tune, device=args.device), indent=1))
        if args.export:
            print(export_weights(*args.export))
        return 0
    get_model(args.model)  # an unknown model is reported before anything else
    if not args.output:
        raise ValueError("train needs --output FILE (the checkpoint to write), or --tune / --export")
    if args.model.lower() == "convosource":
        return _train_convosource(args)
    if args.model.lower() == "pais":
        from ._pais import train_pais

        return train_pais(args)
    if args.batch_size is None:
        args.batch_size = 4
    kwargs = {"steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size, "resume": args.resume,
              "val_cubes": args.val_cubes, "lr": args.lr, "num_threads": args.num_threads}
    if args.base_channels:
        kwargs["base_channels"] = args.base_channels
    if args.init:
        kwargs["init"] = args.init
    data_options = {key: value for key, value in (("telescope_prob", args.telescope_prob),
                                                  ("mask_threshold", args.mask_threshold)) if value is not None}
    if data_options:
        if not str(args.data).startswith("sim:"):
            raise ValueError("--telescope-prob and --mask-threshold shape simulated data; use them with --data sim:hi")
        kwargs["data_options"] = data_options
    if args.crop_shape:
        from ..core.tiling import as_tuple

        kwargs["crop_shape"] = as_tuple(args.crop_shape, 3, "--crop-shape", minimum=1)
    history = train(args.model, data=args.data, epochs=args.epochs, output=args.output, device=args.device,
                    progress=_progress(args), seed=args.seed, command=_train_command(args), **kwargs)
    _say(args, f"trained {args.model} for {args.epochs} epoch(s); weights in {args.output}")
    if history:
        last = history[-1] if isinstance(history, list) else history
        _say(args, f"last epoch: {last}")
    return 0


def _train_convosource(args):
    """``train convosource``: every tile of simulated continuum images (seeds apart from validation/benchmarks)."""
    import shlex

    from ..neural import train

    if args.batch_size is None:
        args.batch_size = 32
    args.train_images = 100 if args.train_images is None else args.train_images
    args.val_images = 6 if args.val_images is None else args.val_images
    words = ["astro-mlfinder", "train", "convosource", "--epochs", args.epochs, "--batch-size", args.batch_size,
             "--lr", args.lr, "--train-images", args.train_images, "--val-images", args.val_images,
             "--seed", args.seed, "--output", args.output]
    for flag, value in (("--num-threads", args.num_threads), ("--device", args.device), ("--resume", args.resume)):
        if value is not None:
            words += [flag, value]
    for flag, value in (("--init", args.init), ("--network", args.network), ("--faint-weight", args.faint_weight),
                        ("--first-image", args.first_image)):
        if value is not None:
            words += [flag, value]
    extra = {}
    if args.network is not None:
        from ..neural.models.convosource.network import CONFIGURATIONS

        extra["config"] = CONFIGURATIONS[args.network]
    for key in ("init", "faint_weight", "first_image"):
        if getattr(args, key) is not None:
            extra[key] = getattr(args, key)
    history = train("convosource", epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    train_images=args.train_images, val_images=args.val_images, output=args.output,
                    resume=args.resume, device=args.device, progress=_progress(args), seed=args.seed,
                    num_threads=args.num_threads, command=shlex.join(str(w) for w in words), **extra)
    _say(args, f"trained convosource for {args.epochs} epoch(s); weights in {args.output}")
    if history:
        print(f"last epoch: {history[-1]}")
    return 0


def add_parser(sub):
    """Add the ``train`` command to the sub-parsers ``sub``."""
    p = sub.add_parser("train", help="train a neural model (or tune / export a checkpoint)")
    p.add_argument("model", nargs="?", default="unet3d",
                   help="registered model: unet3d (default), convosource, deepfocus, pais; or hi_reliability (the "
                        "candidate scorer of ClassicalFinder(reliability='neural'))")
    p.add_argument("--data", default="sim:hi", help="'sim:hi' or a directory of NAME.fits + NAME_mask.fits pairs")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--output", help="checkpoint to write (rewritten every epoch)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--base-channels", type=int, help="network width (default 16)")
    p.add_argument("--steps-per-epoch", type=int, default=100, help="optimiser steps per epoch (default 100)")
    p.add_argument("--batch-size", type=int,
                   help="crops per step (default 4 for unet3d, 32 for convosource, 16 for pais)")
    p.add_argument("--crop-shape", help="z,y,x of the training crops (default 128,64,64)")
    p.add_argument("--lr", type=float, default=2e-3, help="initial Adam learning rate (decays to lr/10)")
    p.add_argument("--num-threads", type=int, help="CPU threads for PyTorch")
    p.add_argument("--val-cubes", type=int, default=8, help="validation cubes (0: no validation, no tuning)")
    p.add_argument("--train-images", type=int,
                   help="convosource: simulated 256x256 training images (seeds 1000000 on; default 100); "
                        "pais: 64x64 blend cut-outs (simulate.blends training seeds; default 2000)")
    p.add_argument("--val-images", type=int,
                   help="convosource: validation images (seeds 2000000 on; default 6); "
                        "pais: validation cut-outs (simulate.blends validation seeds; default 100)")
    p.add_argument("--max-minutes", type=float,
                   help="pais: stop after the epoch that passes this wall time (resume later with --resume)")
    p.add_argument("--thresholds", default="3.0,3.5",
                   help="hi_reliability: thresholds of the ClassicalFinder candidate finders (default 3.0,3.5)")
    p.add_argument("--resume", help="checkpoint to resume from (deepfocus: the output directory)")
    p.add_argument("--train-cubes", type=int,
                   help="simulated training cubes: hi_reliability HI cubes (default 160), deepfocus ALMA cubes "
                        "(default 64); seeds 3000000 on, validation 4000000 on")
    p.add_argument("--cube-shape", help="deepfocus: channels,y,x of the training cubes (default 128,128,128)")
    p.add_argument("--val-shape", help="deepfocus: channels,y,x of the validation cubes (default: --cube-shape)")
    p.add_argument("--size", choices=("cpu", "paper"), default="cpu",
                   help="deepfocus: network widths, the small CPU variant or the published sizes")
    p.add_argument("--blobs-steps", type=int, default=700, help="deepfocus: Blobs Finder steps")
    p.add_argument("--blobs-batch", type=int, default=6, help="deepfocus: images per Blobs Finder step")
    p.add_argument("--gru-steps", type=int, default=400, help="deepfocus: Deep GRU steps (stage 1)")
    p.add_argument("--resnet-steps", type=int, default=400, help="deepfocus: steps of each ResNet (stage 1)")
    p.add_argument("--stage2-steps", type=int, default=150,
                   help="deepfocus: steps of each network fine-tuned on the first stage's predictions")
    p.add_argument("--init", metavar="WEIGHTS",
                   help="fine-tune: start from these weights (registry name such as 'unet3d', 'name@version', "
                        "or a weights/checkpoint file), keeping their architecture and input recipe")
    p.add_argument("--telescope-prob", type=float,
                   help="sim:hi: fraction of crops simulated as WSRT/ATCA/ASKAP-like telescope cubes with galaxies "
                        "of many morphologies (default 0)")
    p.add_argument("--mask-threshold", type=float,
                   help="sim:hi: training targets where the noiseless model exceeds this many noise rms "
                        "(default 0.5; lower reaches the faint outskirts)")
    p.add_argument("--network", choices=("paper", "deep"),
                   help="convosource: network configuration, the published one (default) or 'deep' (a fourth, "
                        "dilated layer: 19-pixel receptive field)")
    p.add_argument("--faint-weight", type=float,
                   help="convosource: loss weight of the targets of sources of S/N 3-5 relative to the others "
                        "(default 1)")
    p.add_argument("--first-image", type=int,
                   help="convosource: index of the first training seed (default 0; a fine-tune may start past "
                        "the images its initial weights saw)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the data and the initial weights")
    _quiet_options(p)
    p.add_argument("--tune", metavar="CHECKPOINT",
                   help="only tune CHECKPOINT: unet3d threshold/min_size/tta on 16 validation cubes 256x96x96; "
                        "convosource peak threshold on its validation images; deepfocus (a directory) the "
                        "detection threshold and S/N cuts on --val-cubes validation cubes; pais NMS "
                        "threshold/radius and footprint on its validation cut-outs")
    p.add_argument("--export", nargs=2, metavar=("CHECKPOINT", "WEIGHTS"),
                   help="only write a compact float16 weights file from CHECKPOINT (deepfocus: the six files of "
                        "a trained directory into the WEIGHTS directory, printing their registry entry)")
    p.set_defaults(func=_cmd_train)
    return p
