"""``astro-mlfinder evaluate``: score a catalogue against a truth table."""

from pathlib import Path

from ._common import _print_table, _require_matplotlib, _truth_plot

__all__ = []


def _cmd_evaluate(args):
    from ..evaluate import evaluate_files, read_catalog

    if args.plot:
        from ..io.atomic import check_writable

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


def add_parser(sub):
    """Add the ``evaluate`` command to the sub-parsers ``sub``."""
    from ..visualization._common import INSTALL_HINT

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
    return p
