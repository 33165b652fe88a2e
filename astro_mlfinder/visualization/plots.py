"""Moment-0 maps with source regions and integrated spectra of sources."""

import numpy as np

__all__ = ["plot_moment_map", "plot_spectrum"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("plotting needs matplotlib: pip install 'astro_mlfinder[plot]'") from exc
    return plt


def plot_moment_map(catalog, ax=None, *, show_regions=True, cmap="viridis", label=True):
    """Show the moment-0 map of a cube (or the image) with each source's ellipse and id.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    ax : `matplotlib.axes.Axes`, optional
    show_regions : bool
        Overlay the moment ellipses.
    cmap : str
    label : bool
        Write the source ids next to the ellipses.

    Returns
    -------
    ax : `matplotlib.axes.Axes`
    """
    plt = _pyplot()
    data = catalog.image.data
    image = np.nansum(data, axis=0) if data.ndim == 3 else data
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    vmin, vmax = np.nanpercentile(image, [1, 99.7])
    im = ax.imshow(image, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax)
    bar_label = f"sum over channels [{catalog.image.unit}]" if data.ndim == 3 else str(catalog.image.unit)
    plt.colorbar(im, ax=ax, label=bar_label)
    regions = catalog.to_regions(sky=False) if show_regions else []
    if len(regions):
        for region, source_id in zip(regions, np.atleast_1d(catalog.id), strict=True):
            region.visual = {}  # the DS9/CRTF marker keywords are not matplotlib patch properties
            region.plot(ax=ax, edgecolor="white", facecolor="none", lw=1.2)
            if label:
                ax.text(region.center.x, region.center.y, f" {source_id}", color="white", fontsize=8)
    ax.set_xlabel("x [pix]")
    ax.set_ylabel("y [pix]")
    ax.set_title(f"{1 if catalog.isscalar else len(catalog)} source(s)")
    return ax


def plot_spectrum(catalog, source_id, ax=None):
    """Plot the integrated spectrum of one source (sum over its mask in each channel).

    The channel range of the mask is shaded; the spectral axis is in WCS units
    when the cube has a spectral WCS.

    Returns
    -------
    ax : `matplotlib.axes.Axes`
    """
    plt = _pyplot()
    if catalog.ndim != 3:
        raise ValueError("spectra need a cube; this catalogue is from a 2D image")
    if catalog.isscalar:
        catalog = catalog._as_list_view(np.atleast_1d(catalog._index))
    ids = list(np.asarray(catalog.id))
    if source_id not in ids:
        raise ValueError(f"no source with id {source_id}; ids are {ids[:10]}{'...' if len(ids) > 10 else ''}")
    i = ids.index(source_id)
    ox, oy, oz = catalog.pixel_offset or (0, 0, 0)  # parameter.offset shifts the columns, not the arrays
    y0, y1 = int(catalog.y_min[i].value) - oy, int(catalog.y_max[i].value) - oy
    x0, x1 = int(catalog.x_min[i].value) - ox, int(catalog.x_max[i].value) - ox
    cube = catalog.image.data[:, y0 : y1 + 1, x0 : x1 + 1]
    footprint = (catalog.segment[:, y0 : y1 + 1, x0 : x1 + 1] == source_id).any(axis=0)
    spectrum = np.nansum(np.where(footprint, cube, 0.0), axis=(1, 2))
    channels = np.arange(cube.shape[0])
    xlabel = "channel"
    if catalog.image.has_spectral:
        channels = catalog.image.wcs.spectral.pixel_to_world_values(channels)
        xlabel = f"spectral coordinate [{catalog.image.spectral_unit}]"
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.step(channels, spectrum, where="mid", color="k", lw=1)
    z0, z1 = int(catalog.z_min[i].value) - oz, int(catalog.z_max[i].value) - oz
    ax.axvspan(channels[z0], channels[z1], color="tab:green", alpha=0.2, label="source mask")
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"flux in footprint [{catalog.image.unit}]")
    ax.set_title(f"source {source_id}")
    ax.legend(loc="upper right", fontsize=8)
    return ax
