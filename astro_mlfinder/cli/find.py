"""``astro-mlfinder find``: one cube or image, or many as a survey."""

import argparse
from pathlib import Path

from ._common import _physical_table, _print_table, _progress, _quiet_options, _require_matplotlib, _say, _wrote_lines

__all__ = []


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
        from ..io.sofia_par import par_output_options, read_par

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
    from ..core.inputs import load_image
    from ..core.registry import check_not_input
    from ..io.atomic import check_writable
    from ..io.products import check_prefix, product_paths

    check_prefix(prefix)
    ndim = load_image(args.input).ndim  # header and memory map only
    paths = product_paths(outdir, prefix, regions=regions, ndim=ndim, deblended=_attributes_flux(args.finder),
                          **{k: v for k, v in switches.items() if k in _PATH_SWITCHES})
    ecsv = outdir / f"{prefix}_cat.ecsv"
    targets = [*paths.values(), ecsv]
    if args.plots:
        from ..visualization.catalog_plots import plot_paths

        targets += plot_paths(outdir, prefix, ndim).values()
    check_not_input(targets, args.input, args.par)
    check_writable(targets, overwrite=overwrite)
    return ecsv


def _attributes_flux(finder):
    """True if the neural model ``finder`` shares pixels between sources (its products add ``_deblended.fits``)."""
    if finder in ("classical", "sofia"):
        return False
    from ..neural.models import get_model

    return bool(get_model(finder).attributes_flux)


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
    if args.reliability:
        if args.finder == "sofia":
            raise ValueError("--reliability neural applies to the classical finder and the neural cube finders, "
                             "not 'sofia' (SoFiA-2's own filter is set in its --par file)")
        kwargs["reliability"] = args.reliability
    return kwargs


def _region_formats(args):
    """``--regions ds9,crtf`` as a tuple of format names (empty for ``--regions ''``)."""
    return tuple(r for r in args.regions.split(",") if r) if args.regions else ()


def _cmd_find(args):
    from ..find import make_finder

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
        from ..visualization import write_plots

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
    from ..distributed import run_survey
    from ..find import make_finder

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


def add_parser(sub):
    """Add the ``find`` command to the sub-parsers ``sub``."""
    from ..find import finder_names
    from ..visualization._common import INSTALL_HINT

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
    p.add_argument("--reliability", choices=["neural"],
                   help="vet candidates with the hi_reliability 3D CNN: classical, instead of SoFiA-2's filter; "
                        "unet3d, its small sources at the tuned low threshold (cubes only)")
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
    return p
