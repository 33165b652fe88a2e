"""Helpers shared by the commands of ``astro-mlfinder``: output, progress and matplotlib checks."""

import os
from pathlib import Path

__all__ = []


def _progress(args):
    """Progress bars on unless ``--no-progress`` or ``--quiet``."""
    return not (getattr(args, "no_progress", False) or getattr(args, "quiet", False))


def _say(args, *lines):
    """Print ``lines`` unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        for line in lines:
            print(line)


def _quiet_options(parser, progress=True):
    """``--quiet`` (and ``--no-progress`` where the command shows progress bars)."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print nothing but errors" + (" (no progress bars either)" if progress else ""))
    if progress:
        parser.add_argument("--no-progress", action="store_true",
                            help="no progress bars (searches, training, weight downloads)")


def _physical_table(cat):
    """The catalogue as printed: sexagesimal positions, km/s, Jy km/s (at most 100 characters wide)."""
    from ..visualization.table import format_table, physical_table

    return format_table(physical_table(cat), max_lines=40, max_width=100)


def _require_matplotlib(option):
    from ..visualization._common import INSTALL_HINT

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


def _print_table(table):
    """Print a table with readable float formats."""
    from ..visualization.table import format_table

    print(format_table(table, max_width=160))


def _truth_plot(catalog, truth, path, *, overwrite=False, spatial_tolerance=3.0, spectral_tolerance=5.0,
                image=None, wcs=None, image_label=None):
    """Write the truth comparison (matched, missed, false) of two catalogues to ``path``; returns it."""
    import matplotlib.pyplot as plt

    from ..evaluate import match_catalogs
    from ..io.atomic import atomic_path
    from ..visualization import plot_truth_comparison

    match = match_catalogs(catalog, truth, spatial_tolerance=spatial_tolerance,
                           spectral_tolerance=spectral_tolerance)
    ax = plot_truth_comparison(catalog, truth, match, image=image, wcs=wcs, image_label=image_label)
    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            ax.figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        plt.close(ax.figure)
    return path

