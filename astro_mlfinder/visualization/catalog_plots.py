"""One call for every picture of a catalogue, and the PNG files ``astro-mlfinder find --plots`` writes.

`plot_catalog` (also ``SourceCatalog.plot``, which core reaches through the
plotters registered here, since core may not import this package) dispatches
on ``kind``; `write_plots` writes ``PREFIX_overview.png`` (moment-0 map or
image with the sources), and for cubes ``PREFIX_spectra.png`` and
``PREFIX_pv.png`` (the first sources' spectra and position-velocity slices),
each whole or not at all.
"""

from pathlib import Path

from ..core.catalog import register_plotter
from ..io.atomic import atomic_path, check_writable
from ._common import pyplot
from .images import plot_moment_map
from .pv import plot_pv, plot_pv_slices
from .spectra import plot_spectra, plot_spectrum

__all__ = ["PLOT_KINDS", "plot_catalog", "plot_paths", "write_plots"]

#: What `plot_catalog` draws, by ``kind``.
PLOT_KINDS = ("overview", "spectra", "pv")


def plot_catalog(catalog, kind="overview", source_id=None, **kwargs):
    """Draw a catalogue: its overview map, its spectra or position-velocity slices.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    kind : {'overview', 'spectra', 'pv'}
        ``'overview'``: `~astro_mlfinder.visualization.plot_moment_map` (the
        moment-0 map of a cube's detections, or a 2D catalogue's image, with
        the source ellipses and ids on WCS axes); ``'spectra'``: spectra in Jy
        against km/s (`~astro_mlfinder.visualization.plot_spectrum` for one
        ``source_id``, `~astro_mlfinder.visualization.plot_spectra` for a grid
        of the first sources); ``'pv'``: position-velocity slices
        (`~astro_mlfinder.visualization.plot_pv` /
        `~astro_mlfinder.visualization.plot_pv_slices`).
    source_id : int, optional
        One source (``'spectra'`` and ``'pv'``); the catalogue's first ones otherwise.
    **kwargs
        Passed to the plotting function (``ax``, ``velocity``, ...).

    Returns
    -------
    `matplotlib.axes.Axes` or `matplotlib.figure.Figure`
        The axes of one panel, the figure of a grid.
    """
    if kind == "overview":
        if source_id is not None:
            catalog = catalog[[int(i) for i in catalog.id].index(int(source_id))]
        return plot_moment_map(catalog, **kwargs)
    if kind in ("spectra", "pv") and catalog.ndim != 3:
        raise ValueError(f"kind={kind!r} needs a cube's catalogue; a 2D catalogue has kind='overview'")
    if kind == "spectra":
        return plot_spectra(catalog, **kwargs) if source_id is None else plot_spectrum(catalog, source_id, **kwargs)
    if kind == "pv":
        return plot_pv_slices(catalog, **kwargs) if source_id is None else plot_pv(catalog, source_id, **kwargs)
    raise ValueError(f"unknown plot kind {kind!r}; choose one of {', '.join(PLOT_KINDS)}")


for _kind in PLOT_KINDS:
    register_plotter(_kind, plot_catalog)


def plot_paths(outdir, prefix, ndim=3):
    """``{kind: path}`` of the files `write_plots` may write (to check them before a search)."""
    kinds = PLOT_KINDS if ndim == 3 else ("overview",)
    return {kind: Path(outdir) / f"{prefix}_{kind}.png" for kind in kinds}


def write_plots(catalog, outdir, prefix, *, overwrite=False, max_sources=12, dpi=110):
    """Write the catalogue's pictures as PNG files.

    ``PREFIX_overview.png`` always; for a cube with sources also
    ``PREFIX_spectra.png`` and ``PREFIX_pv.png`` (the first ``max_sources``
    sources). Every path is checked before anything is written, and each
    file is written whole or not at all.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    outdir : str or path-like
    prefix : str
    overwrite : bool
        Replace existing files (default False: a `FileExistsError` first).
    max_sources : int
        Most sources shown in the spectra and slices.
    dpi : int

    Returns
    -------
    paths : list of `~pathlib.Path`
    """
    plt = pyplot()
    paths = plot_paths(outdir, prefix, catalog.ndim)
    check_writable(paths.values(), overwrite=overwrite)
    if catalog.ndim == 3 and len(catalog) == 0:
        paths = {"overview": paths["overview"]}
    written = []
    for kind, path in paths.items():
        result = plot_catalog(catalog, kind) if kind == "overview" else plot_catalog(catalog, kind,
                                                                                   max_sources=max_sources)
        figure = getattr(result, "figure", result)
        try:
            with atomic_path(path, overwrite=overwrite) as tmp:
                figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        finally:
            plt.close(figure)
        written.append(path)
    return written
