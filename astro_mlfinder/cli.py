"""The ``astro-mlfinder`` command line."""

import argparse
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]

_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, TypeError, ImportError, KeyError, OSError)


def _sample_cube():
    from .datasets import sample_path

    return sample_path("sample_hi_cube.fits")


#: write_products switches that decide which files exist (the rest tune their contents)
_PATH_SWITCHES = ("cat_ascii", "cat_xml", "cat_sql", "karma", "mask", "mask_2d", "raw_mask", "moments",
                  "cubelets", "noise", "filtered")


def _output_plan(args):
    """Where ``find`` writes and what: ``(outdir, prefix, overwrite, switches)``.

    A .par's ``output.*`` keys are honoured as SoFiA-2 does (output.directory
    defaults to the input's directory, output.filename to its name without
    ``.fits``, output.overwrite to true, only the catalogues are written
    unless output.write* asks for more); ``--output-dir``, ``--prefix`` and
    ``--overwrite``/``--no-overwrite`` win when given.
    """
    outdir, prefix, overwrite, switches = ".", Path(args.input).name.split(".")[0], False, {}
    if args.par:
        from .io.sofia_par import par_output_options, read_par

        params = read_par(args.par)
        params["input.data"] = str(args.input)  # the command line's input is the one searched
        switches = par_output_options(params)
        outdir = switches.pop("directory") or outdir
        prefix = switches.pop("filename") or prefix
        overwrite = switches.pop("overwrite")
    if args.output_dir is not None:
        outdir = args.output_dir
    if args.prefix is not None:
        prefix = args.prefix
    if args.overwrite is not None:
        overwrite = args.overwrite
    return Path(outdir), prefix, bool(overwrite), switches


def _check_outputs(args, outdir, prefix, overwrite, switches, regions):
    """Refuse, before the search, outputs that are unsafe or already exist; returns the ECSV path."""
    from .core.inputs import load_image
    from .core.registry import check_not_input
    from .io.atomic import check_writable
    from .io.products import check_prefix, product_paths

    check_prefix(prefix)
    ndim = load_image(args.input).ndim  # header and memory map only
    paths = product_paths(outdir, prefix, regions=regions, ndim=ndim,
                          **{k: v for k, v in switches.items() if k in _PATH_SWITCHES})
    ecsv = outdir / f"{prefix}_cat.ecsv"
    targets = [*paths.values(), ecsv]
    check_not_input(targets, args.input, args.par)
    check_writable(targets, overwrite=overwrite)
    return ecsv


def _cmd_find(args):
    from .find import make_finder

    inputs = args.input if isinstance(args.input, list) else [args.input]
    if len(inputs) > 1 or any(ch in inputs[0] for ch in "*?["):
        return _cmd_survey(args, inputs)
    args.input = inputs[0]

    kwargs = {}
    if args.par:
        kwargs["par"] = args.par
    if args.finder not in ("classical", "sofia"):
        if args.par:
            raise ValueError(f"--par is a SoFiA-2 parameter file; it applies to the classical and sofia "
                             f"finders, not {args.finder!r}")
        kwargs["device"] = args.device
        kwargs["progress"] = not args.no_progress  # also the weights download bar
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    outdir, prefix, overwrite, switches = _output_plan(args)
    regions = tuple(r for r in args.regions.split(",") if r) if args.regions else ()
    ecsv = _check_outputs(args, outdir, prefix, overwrite, switches, regions)  # before the search
    finder = make_finder(args.finder, **kwargs)
    cat = finder(args.input, progress=not args.no_progress, **_tiled_kwargs(args))
    paths = cat.write_products(outdir, prefix, overwrite=overwrite, regions=regions, **switches)
    paths.append(cat.write(ecsv, overwrite=overwrite))
    print(f"{len(cat)} source(s) found by {finder.name}")
    if len(cat):
        wanted = ("id", "x", "y", "z", "n_pix", "f_sum", "snr")
        table = cat.to_table(columns=[c for c in wanted if c in cat.column_names])
        _print_table(table)
    for path in paths:
        print(f"wrote {path}")
    return 0


def _tiled_kwargs(args):
    """``tiles``/``max_memory``/``client`` of a tiled run (astro_mlfinder.distributed), when asked for."""
    kwargs = {}
    if args.tiles is not None:
        kwargs["tiles"] = args.tiles
    if args.max_memory is not None:
        kwargs["max_memory"] = args.max_memory
    if args.scheduler is not None:
        kwargs["client"] = args.scheduler
    return kwargs


def _cmd_survey(args, inputs):
    """Many cubes as independent tasks; a summary table; exit status 1 if any cube failed."""
    from .distributed import run_survey
    from .find import make_finder

    kwargs = {"par": args.par} if args.par else {}
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    if args.finder not in ("classical", "sofia"):
        kwargs["device"] = args.device
        kwargs["progress"] = False
    finder = make_finder(args.finder, **kwargs)
    tiled = _tiled_kwargs(args)
    client = tiled.pop("client", None)
    regions = tuple(r for r in args.regions.split(",") if r) if args.regions else ()
    result = run_survey(finder, inputs, args.output_dir or ".", client=client, workers=args.workers,
                        progress=not args.no_progress, regions=regions, **tiled)
    _print_table(result.table())
    for row in result.failed:
        print(f"error: {row['input']}: {row['reason']}")
    done = sum(r["status"] != "failed" for r in result.rows)
    print(f"{done} of {len(result.rows)} cube(s) complete")
    return 1 if result.failed else 0


def _print_table(table):
    """Print a table with readable float formats."""
    for name in table.colnames:
        col = table[name]
        if getattr(col, "dtype", None) is not None and col.dtype.kind == "f":
            col.info.format = ".4g"
    table.pprint(max_lines=40, max_width=160)


def _overview_plot(cat, path):
    """Moment-0 map with the source ellipses, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .visualization import plot_moment_map
    except ImportError:
        return []
    ax = plot_moment_map(cat)
    ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    return [path]


def _cmd_demo(args):
    from .classical.finder import ClassicalFinder

    cube = _sample_cube()
    print(f"Searching the bundled sample HI cube {cube}")
    finder = ClassicalFinder(kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=5.0)
    cat = finder(cube, progress=not args.no_progress)
    outdir = Path(args.output_dir)
    paths = cat.write_products(outdir, "sample_hi_cube", overwrite=True, regions=("ds9", "crtf"))
    ecsv = cat.write(outdir / "sample_hi_cube_cat.ecsv", overwrite=True)
    paths.append(ecsv)
    paths += _overview_plot(cat, outdir / "sample_hi_cube_overview.png")
    table = cat.to_table()
    cols = [c for c in ("id", "x", "y", "z", "n_pix", "f_sum", "snr", "w50", "sky_centroid") if c in table.colnames]
    _print_table(table[cols])
    from .datasets import sample_path
    from .evaluate import evaluate_files

    truth = sample_path("sample_hi_truth.ecsv")
    scores = evaluate_files(ecsv, truth)
    print(f"\n{len(cat)} source(s) found; against the simulated truth:")
    _print_table(scores[[c for c in scores.colnames if c not in ("mean_iou", "mean_dice", "method")]])
    for path in paths:
        print(f"wrote {path}")
    return 0


def _cmd_simulate(args):
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    from .core.tiling import as_tuple
    from .simulate.hi import simulate_hi_cube

    shape = as_tuple(args.shape, 3, "--shape", minimum=1) if args.shape else (128, 96, 96)
    sim = simulate_hi_cube(shape=shape, n_sources=args.n_sources, seed=args.seed,
                           realism="realistic" if args.realistic else None)
    cube = outdir / f"sim_hi_{args.seed}.fits"
    sim.write(cube, overwrite=args.overwrite)
    truth = outdir / f"sim_hi_{args.seed}_truth.ecsv"
    sim.truth.write(truth, format="ascii.ecsv", overwrite=args.overwrite)
    print(f"wrote {cube}\nwrote {truth}")
    return 0


def _train_command(args):
    """The ``astro-mlfinder train`` command line of a training run (recorded with the weights)."""
    import shlex

    words = ["astro-mlfinder", "train", args.model, "--data", args.data, "--epochs", args.epochs,
             "--steps-per-epoch", args.steps_per_epoch, "--batch-size", args.batch_size]
    for flag, value in (("--crop-shape", args.crop_shape), ("--base-channels", args.base_channels),
                        ("--lr", args.lr), ("--seed", args.seed), ("--num-threads", args.num_threads),
                        ("--val-cubes", args.val_cubes), ("--device", args.device), ("--resume", args.resume),
                        ("--output", args.output)):
        if value is not None:
            words += [flag, value]
    return shlex.join(str(w) for w in words)


def _cmd_train(args):
    from .neural import get_model, train

    if args.tune or args.export:
        from .neural.training import export_weights, tune_checkpoint

        if args.num_threads:
            from .neural._torch import require_torch

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
    kwargs = {"steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size, "resume": args.resume,
              "val_cubes": args.val_cubes, "lr": args.lr, "num_threads": args.num_threads}
    if args.base_channels:
        kwargs["base_channels"] = args.base_channels
    if args.crop_shape:
        from .core.tiling import as_tuple

        kwargs["crop_shape"] = as_tuple(args.crop_shape, 3, "--crop-shape", minimum=1)
    history = train(args.model, data=args.data, epochs=args.epochs, output=args.output, device=args.device,
                    progress=not args.no_progress, seed=args.seed, command=_train_command(args), **kwargs)
    print(f"trained {args.model} for {args.epochs} epoch(s); weights in {args.output}")
    if history:
        last = history[-1] if isinstance(history, list) else history
        print(f"last epoch: {last}")
    return 0


def _cmd_evaluate(args):
    from .evaluate import evaluate_files

    table = evaluate_files(args.catalog, args.truth, spatial_tolerance=args.spatial_tolerance,
                           spectral_tolerance=args.spectral_tolerance)
    table.pprint(max_width=160)
    return 0


def _cmd_weights(args):
    from .neural import weights

    if args.action == "list":
        for entry in weights.list_weights():
            files = entry["files"]
            digest = files[0]["sha256"][:16] if len(files) == 1 else f"{len(files)} files"
            print(f"{entry['name']:<12} {entry.get('version', ''):<8} {entry['size']:>10d} B  {digest}"
                  f"{'  cached' if entry['cached'] else ''}")
    elif args.action == "fetch":
        if not args.name:
            raise ValueError("weights fetch needs a model name, e.g. 'astro-mlfinder weights fetch unet3d'")
        for path in weights.fetch_all(args.name, progress=not args.no_progress).values():
            print(path)
    else:
        names = [args.name] if args.name else [e["name"] for e in weights.list_weights()]
        for name in names:
            try:
                bad = weights.corrupted_files(name, remove=True)
            except FileNotFoundError:
                if args.name:
                    raise
                print(f"{name}: not cached (fetch with 'astro-mlfinder weights fetch {name}')")
                continue
            if bad:
                files = ", ".join(str(path) for path in bad)
                raise ValueError(f"{name}: the cached file(s) {files} do not match their registered sha256 "
                                 f"and were removed; fetch them again with 'astro-mlfinder weights fetch {name}'")
            print(f"{name}: sha256 OK")
    return 0


def build_parser():
    """Build the argparse parser of ``astro-mlfinder``."""
    parser = argparse.ArgumentParser(prog="astro-mlfinder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("find", help="find sources in a FITS cube or image")
    p.add_argument("input", nargs="+", help="FITS cube(s); several files or a glob run as a survey")
    from .find import finder_names

    p.add_argument("--finder", default="classical", choices=finder_names())
    p.add_argument("--par", help="SoFiA-2 parameter file (classical and sofia finders)")
    p.add_argument("--threshold", type=float, help="detection threshold (classical: in noise units)")
    p.add_argument("--output-dir", help="directory of the products (default: '.', or a .par's output.directory)")
    p.add_argument("--prefix", help="product file prefix, a plain name (default: input file name, or a .par's "
                                    "output.filename)")
    p.add_argument("--regions", default="ds9,crtf", help="comma-separated region formats: ds9,crtf")
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=None,
                   help="replace existing products (default: no, or a .par's output.overwrite); "
                        "the input file is never replaced")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--tiles", help="run tile by tile: tiles along z,y,x (e.g. 2,4,4)")
    p.add_argument("--max-memory", help="run tile by tile within this memory budget (e.g. 4GB, 256MB)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed scheduler to run the tiles or cubes on")
    p.add_argument("--workers", type=int, default=1, help="cubes searched at the same time (several inputs)")
    p.set_defaults(func=_cmd_find)

    p = sub.add_parser("demo", help="run the classical finder on the bundled sample cube")
    p.add_argument("--output-dir", default="astro_mlfinder_demo")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("simulate", help="write a simulated data set with its truth table")
    p.add_argument("kind", choices=("hi",))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=".")
    p.add_argument("--shape", help="z,y,x (default 128,96,96)")
    p.add_argument("--n-sources", type=int, default=8)
    p.add_argument("--realistic", action="store_true", help="add RFI, ripples, varying noise and beams")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("train", help="train a neural model (or tune / export a checkpoint)")
    p.add_argument("model", nargs="?", default="unet3d", help="registered model (default unet3d)")
    p.add_argument("--data", default="sim:hi", help="'sim:hi' or a directory of NAME.fits + NAME_mask.fits pairs")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--output", help="checkpoint to write (rewritten every epoch)")
    p.add_argument("--device", default="auto")
    p.add_argument("--base-channels", type=int, help="network width (default 16)")
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--crop-shape", help="z,y,x of the training crops (default 128,64,64)")
    p.add_argument("--lr", type=float, default=2e-3, help="initial Adam learning rate (decays to lr/10)")
    p.add_argument("--num-threads", type=int, help="CPU threads for PyTorch")
    p.add_argument("--val-cubes", type=int, default=8, help="validation cubes (0: no validation, no tuning)")
    p.add_argument("--resume", help="checkpoint to resume from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--tune", metavar="CHECKPOINT",
                   help="only tune threshold/min_size/tta of CHECKPOINT on 16 validation cubes 256x96x96")
    p.add_argument("--export", nargs=2, metavar=("CHECKPOINT", "WEIGHTS"),
                   help="only write a compact float16 weights file from CHECKPOINT")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a catalogue against a truth table")
    p.add_argument("catalog")
    p.add_argument("truth")
    p.add_argument("--spatial-tolerance", type=float, default=3.0)
    p.add_argument("--spectral-tolerance", type=float, default=5.0)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("weights", help="list, fetch or verify trained weights")
    p.add_argument("action", choices=("list", "fetch", "verify"))
    p.add_argument("name", nargs="?")
    p.add_argument("--no-progress", action="store_true", help="no download progress bar")
    p.set_defaults(func=_cmd_weights)
    debug_help = "show the full traceback of an error instead of a one-line message"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    for subparser in sub.choices.values():  # also after the command: astro-mlfinder find x.fits --debug
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _USER_ERRORS as exc:
        if getattr(args, "debug", False):
            raise
        message = str(exc).replace("pass overwrite=True", "use --overwrite")
        print(f"astro-mlfinder: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        print("astro-mlfinder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
