"""The ``astro-mlfinder`` command line."""

import argparse
import os
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
    if args.plots:
        from .visualization.catalog_plots import plot_paths

        targets += plot_paths(outdir, prefix, ndim).values()
    check_not_input(targets, args.input, args.par)
    check_writable(targets, overwrite=overwrite)
    return ecsv


def _progress(args):
    """Progress bars on unless ``--no-progress`` or ``--quiet``."""
    return not (getattr(args, "no_progress", False) or getattr(args, "quiet", False))


def _say(args, *lines):
    """Print ``lines`` unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        for line in lines:
            print(line)


def _physical_table(cat):
    """The catalogue as printed: sexagesimal positions, km/s, Jy km/s (at most 100 characters wide)."""
    from .visualization.table import format_table, physical_table

    return format_table(physical_table(cat), max_lines=40, max_width=100)


def _require_matplotlib(option):
    from .visualization._common import INSTALL_HINT

    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"{option} needs matplotlib: {INSTALL_HINT}") from None
    matplotlib.use("Agg")  # files only: no window, no display needed


def _wrote_lines(paths):
    """``wrote PATH`` per file; the files of a sub-folder (cubelets) as one ``wrote FOLDER/ (N files)`` line."""
    paths = [Path(path) for path in paths]
    top = {path.parent for path in paths}
    outdir = min(top, key=lambda folder: len(folder.parts)) if top else None
    lines, folders = [], {}
    for path in paths:
        if path.parent == outdir:
            lines.append(f"wrote {path}")
        else:
            if path.parent not in folders:
                lines.append(path.parent)  # placeholder, keeps the order of writing
            folders[path.parent] = folders.get(path.parent, 0) + 1
    return [line if isinstance(line, str) else f"wrote {line}{os.sep} ({folders[line]} files)" for line in lines]


def _finder_kwargs(args, *, progress):
    """The finder's constructor keywords from ``find``'s options (``--par`` only for SoFiA-2 finders)."""
    kwargs = {"par": args.par} if args.par else {}
    if args.finder not in ("classical", "sofia"):
        if args.par:
            raise ValueError(f"--par is a SoFiA-2 parameter file; it applies to the classical and sofia "
                             f"finders, not {args.finder!r}")
        kwargs["device"] = args.device
        kwargs["progress"] = progress
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    return kwargs


def _region_formats(args):
    """``--regions ds9,crtf`` as a tuple of format names (empty for ``--regions ''``)."""
    return tuple(r for r in args.regions.split(",") if r) if args.regions else ()


def _cmd_find(args):
    from .find import make_finder

    inputs = args.input if isinstance(args.input, list) else [args.input]
    if len(inputs) > 1 or any(ch in inputs[0] for ch in "*?["):
        return _cmd_survey(args, inputs)
    args.input = inputs[0]

    kwargs = _finder_kwargs(args, progress=_progress(args))  # a neural finder's progress: the weights download
    outdir, prefix, overwrite, switches = _output_plan(args)
    regions = _region_formats(args)
    if args.plots:
        _require_matplotlib("--plots")
    ecsv = _check_outputs(args, outdir, prefix, overwrite, switches, regions)  # before the search
    finder = make_finder(args.finder, **kwargs)
    cat = finder(args.input, progress=_progress(args), **_tiled_kwargs(args))
    paths = cat.write_products(outdir, prefix, overwrite=overwrite, regions=regions, **switches)
    paths.append(cat.write(ecsv, overwrite=overwrite))
    if args.plots:
        from .visualization import write_plots

        paths += write_plots(cat, outdir, prefix, overwrite=overwrite)
    _say(args, f"{len(cat)} source(s) found by {finder.name}")
    if len(cat):
        _say(args, _physical_table(cat))
    _say(args, *_wrote_lines(paths))
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

    finder = make_finder(args.finder, **_finder_kwargs(args, progress=False))
    tiled = _tiled_kwargs(args)
    client = tiled.pop("client", None)
    regions = _region_formats(args)
    result = run_survey(finder, inputs, args.output_dir or ".", client=client, workers=args.workers,
                        progress=_progress(args), regions=regions, **tiled)
    if not args.quiet:
        _print_table(result.table())
    for row in result.failed:
        print(f"error: {row['input']}: {row['reason']}")
    done = sum(r["status"] != "failed" for r in result.rows)
    _say(args, f"{done} of {len(result.rows)} cube(s) complete")
    return 1 if result.failed else 0


def _print_table(table):
    """Print a table with readable float formats."""
    from .visualization.table import format_table

    print(format_table(table, max_width=160))


def _truth_plot(catalog, truth, path, *, overwrite=False, spatial_tolerance=3.0, spectral_tolerance=5.0,
                image=None, wcs=None, image_label=None):
    """Write the truth comparison (matched, missed, false) of two catalogues to ``path``; returns it."""
    import matplotlib.pyplot as plt

    from .evaluate import match_catalogs
    from .io.atomic import atomic_path
    from .visualization import plot_truth_comparison

    match = match_catalogs(catalog, truth, spatial_tolerance=spatial_tolerance,
                           spectral_tolerance=spectral_tolerance)
    ax = plot_truth_comparison(catalog, truth, match, image=image, wcs=wcs, image_label=image_label)
    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            ax.figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        plt.close(ax.figure)
    return path


def _cmd_demo(args):
    from .classical.finder import ClassicalFinder
    from .datasets import sample_path
    from .evaluate import evaluate_files, read_catalog

    cube = _sample_cube()
    _say(args, f"Searching the bundled sample HI cube {cube}")
    finder = ClassicalFinder(kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=5.0)
    cat = finder(cube, progress=_progress(args))
    outdir = Path(args.output_dir)
    paths = cat.write_products(outdir, "sample_hi_cube", overwrite=True, regions=("ds9", "crtf"))
    ecsv = cat.write(outdir / "sample_hi_cube_cat.ecsv", overwrite=True)
    paths.append(ecsv)
    truth = sample_path("sample_hi_truth.ecsv")
    try:
        _require_matplotlib("plots")
    except ImportError:
        from .visualization._common import INSTALL_HINT

        plots_note = f"no plots written: matplotlib is not installed ({INSTALL_HINT} to get them)"
    else:
        from .visualization import moment0_map, write_plots

        plots_note = None
        paths += write_plots(cat, outdir, "sample_hi_cube", overwrite=True)
        paths.append(_truth_plot(read_catalog(ecsv), read_catalog(truth), outdir / "sample_hi_cube_truth.png",
                                 overwrite=True, image=moment0_map(cat), wcs=cat.image.wcs,
                                 image_label="moment 0"))
    _say(args, f"\n{len(cat)} source(s) found:", _physical_table(cat) if len(cat) else "")
    scores = evaluate_files(ecsv, truth)
    if not args.quiet:
        print("\nAgainst the simulated truth:")
        _print_table(scores[[c for c in scores.colnames if c not in ("mean_iou", "mean_dice", "method")]])
    _say(args, "", *_wrote_lines(paths))
    if plots_note:
        _say(args, plots_note)
    reg = outdir / "sample_hi_cube.reg"
    plots = "" if plots_note else " --plots"
    import importlib.util

    neural = (f"  astro-mlfinder find {cube} --finder unet3d{plots} --output-dir my_unet3d"
              if importlib.util.find_spec("torch") is not None
              else "  pip install torch==2.13.0 && pip install 'astro_mlfinder[neural]'   # then: find --finder unet3d")
    _say(args, "", "Next, try:",
         f"  astro-mlfinder find {cube}{plots} --output-dir my_run",
         neural,
         f"  astro-mlfinder evaluate {ecsv} {truth}" + ("" if plots_note else " --plot my_truth.png"),
         f"  ds9 {cube} -regions {reg}",
         "  astro-mlfinder find --help")
    return 0


def _cmd_simulate(args):
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    from .core.tiling import as_tuple

    if args.kind == "continuum":
        return _simulate_continuum(args, outdir)
    from .simulate.hi import simulate_hi_cube

    if args.n_sources is None:
        args.n_sources = 8
    if args.primary_beam is not None:
        raise ValueError("--primary-beam applies to 'simulate continuum', not to HI cubes")
    shape = as_tuple(args.shape, 3, "--shape", minimum=1) if args.shape else (128, 96, 96)
    sim = simulate_hi_cube(shape=shape, n_sources=args.n_sources, seed=args.seed,
                           realism="realistic" if args.realistic else None)
    cube = outdir / f"sim_hi_{args.seed}.fits"
    sim.write(cube, overwrite=args.overwrite)
    truth = outdir / f"sim_hi_{args.seed}_truth.ecsv"
    sim.truth.write(truth, format="ascii.ecsv", overwrite=args.overwrite)
    _say(args, f"wrote {cube}", f"wrote {truth}")
    return 0


def _simulate_continuum(args, outdir):
    """``simulate continuum``: a 2D SDC1-like image and its truth table, written whole or not at all."""
    from .core.tiling import as_tuple
    from .simulate.continuum import simulate_continuum_image

    if args.realistic:
        raise ValueError("--realistic applies to 'simulate hi'; continuum images take --primary-beam")
    shape = as_tuple(args.shape, 2, "--shape", minimum=8) if args.shape else (512, 512)
    n_sources = 400 if args.n_sources is None else args.n_sources
    sim = simulate_continuum_image(shape=shape, n_sources=n_sources, seed=args.seed,
                                   primary_beam=args.primary_beam)
    image = outdir / f"sim_continuum_{args.seed}.fits"
    truth = outdir / f"sim_continuum_{args.seed}_truth.ecsv"
    sim.write_all(image, truth, overwrite=args.overwrite)
    _say(args, f"wrote {image}", f"wrote {truth}")
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

    if args.tune and str(args.model).lower() == "convosource":
        from .neural._torch import require_torch
        from .neural.models.convosource.training import tune_convosource

        if args.num_threads:
            require_torch("training").set_num_threads(args.num_threads)
        tune_convosource(args.tune, device=args.device)
        args.tune = None
        if not args.export:
            return 0
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
    if args.model.lower() == "convosource":
        return _train_convosource(args)
    if args.batch_size is None:
        args.batch_size = 4
    kwargs = {"steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size, "resume": args.resume,
              "val_cubes": args.val_cubes, "lr": args.lr, "num_threads": args.num_threads}
    if args.base_channels:
        kwargs["base_channels"] = args.base_channels
    if args.crop_shape:
        from .core.tiling import as_tuple

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

    from .neural import train

    if args.batch_size is None:
        args.batch_size = 32
    words = ["astro-mlfinder", "train", "convosource", "--epochs", args.epochs, "--batch-size", args.batch_size,
             "--lr", args.lr, "--train-images", args.train_images, "--val-images", args.val_images,
             "--seed", args.seed, "--output", args.output]
    for flag, value in (("--num-threads", args.num_threads), ("--device", args.device), ("--resume", args.resume)):
        if value is not None:
            words += [flag, value]
    history = train("convosource", epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    train_images=args.train_images, val_images=args.val_images, output=args.output,
                    resume=args.resume, device=args.device, progress=_progress(args), seed=args.seed,
                    num_threads=args.num_threads, command=shlex.join(str(w) for w in words))
    _say(args, f"trained convosource for {args.epochs} epoch(s); weights in {args.output}")
    if history:
        print(f"last epoch: {history[-1]}")
    return 0


def _cmd_evaluate(args):
    from .evaluate import evaluate_files, read_catalog

    if args.plot:
        from .io.atomic import check_writable

        _require_matplotlib("--plot")
        check_writable([args.plot], overwrite=args.overwrite)
    table = evaluate_files(args.catalog, args.truth, spatial_tolerance=args.spatial_tolerance,
                           spectral_tolerance=args.spectral_tolerance)
    _print_table(table)
    if args.plot:
        path = _truth_plot(read_catalog(args.catalog), read_catalog(args.truth), Path(args.plot),
                           overwrite=args.overwrite, spatial_tolerance=args.spatial_tolerance,
                           spectral_tolerance=args.spectral_tolerance)
        print(f"wrote {path}")
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
        for path in weights.fetch_all(args.name, progress=_progress(args)).values():
            _say(args, path)
    else:
        names = [args.name] if args.name else [e["name"] for e in weights.list_weights()]
        for name in names:
            try:
                bad = weights.corrupted_files(name, remove=True)
            except FileNotFoundError:
                if args.name:
                    raise
                _say(args, f"{name}: not cached (fetch with 'astro-mlfinder weights fetch {name}')")
                continue
            if bad:
                files = ", ".join(str(path) for path in bad)
                raise ValueError(f"{name}: the cached file(s) {files} do not match their registered sha256 "
                                 f"and were removed; fetch them again with 'astro-mlfinder weights fetch {name}'")
            _say(args, f"{name}: sha256 OK")
    return 0


def _quiet_options(parser, progress=True):
    """``--quiet`` (and ``--no-progress`` where the command shows progress bars)."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print nothing but errors" + (" (no progress bars either)" if progress else ""))
    if progress:
        parser.add_argument("--no-progress", action="store_true",
                            help="no progress bars (searches, training, weight downloads)")


def build_parser():
    """Build the argparse parser of ``astro-mlfinder``."""
    from .find import finder_names
    from .visualization._common import INSTALL_HINT

    parser = argparse.ArgumentParser(
        prog="astro-mlfinder",
        description="Find sources in HI cubes with classical and neural finders. Start with "
                    "'astro-mlfinder demo'; 'astro-mlfinder COMMAND --help' describes each command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="find, demo, simulate, train, evaluate or weights (COMMAND --help for each)")
    names = finder_names()
    neural = ", ".join(n for n in names if n not in ("classical", "sofia")) or "none installed"

    p = sub.add_parser("find", help="find sources in a FITS cube or image")
    p.add_argument("input", nargs="+",
                   help="FITS cube or image to search, never modified; several files or a quoted glob run as a "
                        "survey (one product set per cube, finished cubes skipped on a re-run)")
    p.add_argument("--finder", default="classical", choices=names,
                   help=f"classical (SoFiA-2's algorithm, default), sofia (an installed SoFiA-2 binary) or a "
                        f"registered neural model ({neural})")
    p.add_argument("--par", help="SoFiA-2 parameter file (classical and sofia finders)")
    p.add_argument("--threshold", type=float, help="detection threshold (classical: in noise units)")
    p.add_argument("--output-dir", help="directory of the products (default: '.', or a .par's output.directory)")
    p.add_argument("--prefix", help="product file prefix, a plain name (default: input file name, or a .par's "
                                    "output.filename)")
    p.add_argument("--regions", default="ds9,crtf", help="comma-separated region formats: ds9,crtf "
                                                         "(default both; '' for none)")
    p.add_argument("--device", default="auto", help="torch device of a neural finder: auto, cpu, cuda, cuda:N "
                                                    "or mps (default auto)")
    p.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=None,
                   help="replace existing products (default: no, or a .par's output.overwrite); "
                        "the input file is never replaced")
    p.add_argument("--plots", action="store_true",
                   help=f"also write PREFIX_overview.png (moment-0 map with the sources), PREFIX_spectra.png and "
                        f"PREFIX_pv.png into the output directory (needs matplotlib: {INSTALL_HINT})")
    p.add_argument("--tiles", help="run tile by tile: tiles along z,y,x (e.g. 2,4,4)")
    p.add_argument("--max-memory", help="run tile by tile within this memory budget (e.g. 4GB, 256MB)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed scheduler to run the tiles or cubes on")
    p.add_argument("--workers", type=int, default=1, help="cubes searched at the same time (several inputs)")
    _quiet_options(p)
    p.set_defaults(func=_cmd_find)

    p = sub.add_parser("demo", help="run the classical finder on the bundled sample cube")
    p.add_argument("--output-dir", default="astro_mlfinder_demo",
                   help="directory of the products and plots (default astro_mlfinder_demo; files are replaced)")
    _quiet_options(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("simulate", help="write a simulated data set with its truth table")
    p.add_argument("kind", choices=("hi", "continuum"),
                   help="what to simulate: hi (an HI cube with galaxies) or continuum (an SKA SDC1-like image)")
    p.add_argument("--seed", type=int, default=0, help="random seed; also names the files (default 0)")
    p.add_argument("--output", default=".", help="directory to write the FITS file and its truth table")
    p.add_argument("--shape", help="hi: z,y,x (default 128,96,96); continuum: y,x (default 512,512)")
    p.add_argument("--n-sources", type=int, help="default 8 (hi), 400 (continuum, most below the noise)")
    p.add_argument("--realistic", action="store_true", help="hi: add RFI, ripples, varying noise and beams")
    p.add_argument("--primary-beam", type=float, metavar="FWHM",
                   help="continuum: primary-beam FWHM in pixels (the image is primary-beam corrected)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    _quiet_options(p, progress=False)
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("train", help="train a neural model (or tune / export a checkpoint)")
    p.add_argument("model", nargs="?", default="unet3d", help="registered model: unet3d (default), convosource")
    p.add_argument("--data", default="sim:hi", help="'sim:hi' or a directory of NAME.fits + NAME_mask.fits pairs")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--output", help="checkpoint to write (rewritten every epoch)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--base-channels", type=int, help="network width (default 16)")
    p.add_argument("--steps-per-epoch", type=int, default=100, help="optimiser steps per epoch (default 100)")
    p.add_argument("--batch-size", type=int, help="crops per step (default 4 for unet3d, 32 for convosource)")
    p.add_argument("--crop-shape", help="z,y,x of the training crops (default 128,64,64)")
    p.add_argument("--lr", type=float, default=2e-3, help="initial Adam learning rate (decays to lr/10)")
    p.add_argument("--num-threads", type=int, help="CPU threads for PyTorch")
    p.add_argument("--val-cubes", type=int, default=8, help="validation cubes (0: no validation, no tuning)")
    p.add_argument("--train-images", type=int, default=100,
                   help="convosource: simulated 256x256 training images (seeds 1000000 on)")
    p.add_argument("--val-images", type=int, default=6,
                   help="convosource: validation images (seeds 2000000 on)")
    p.add_argument("--resume", help="checkpoint to resume from")
    p.add_argument("--seed", type=int, default=0, help="random seed of the data and the initial weights")
    _quiet_options(p)
    p.add_argument("--tune", metavar="CHECKPOINT",
                   help="only tune CHECKPOINT: unet3d threshold/min_size/tta on 16 validation cubes 256x96x96; "
                        "convosource peak threshold on its validation images")
    p.add_argument("--export", nargs=2, metavar=("CHECKPOINT", "WEIGHTS"),
                   help="only write a compact float16 weights file from CHECKPOINT")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a catalogue against a truth table")
    p.add_argument("catalog", help="catalogue file (ECSV, FITS, VOTable, SoFiA-2 text or XML)")
    p.add_argument("truth", help="truth table (e.g. the _truth.ecsv of 'astro-mlfinder simulate')")
    p.add_argument("--spatial-tolerance", type=float, default=3.0,
                   help="largest separation of a match, in pixels (default 3)")
    p.add_argument("--spectral-tolerance", type=float, default=5.0,
                   help="largest channel offset of a match (default 5)")
    p.add_argument("--plot", metavar="PNG", help=f"also write the matched, missed and false sources to this PNG "
                                                 f"file (needs matplotlib: {INSTALL_HINT})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --plot file")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("weights", help="list, fetch or verify trained weights")
    p.add_argument("action", choices=("list", "fetch", "verify"),
                   help="list the registered weights, fetch NAME into the cache, or verify the cached files")
    p.add_argument("name", nargs="?", help="model name (fetch: required; verify: default all)")
    _quiet_options(p)
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
