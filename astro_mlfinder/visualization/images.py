"""Images with sources: any 2D image on WCS axes with region ellipses, and a cube's moment-0 map.

`plot_image` draws a 2D image (array, Quantity, FITS file or HDU, NDData,
`~astro_mlfinder.core.inputs.ImageData`) on RA/Dec (or Galactic) axes when it
has a celestial WCS, pixels otherwise, with regions and their labels on top;
`plot_moment_map` uses it for a catalogue: the moment 0 of the detected
emission of a cube (the data summed over the source masks times the channel
width, in Jy/beam km/s for Jy/beam data on a velocity or frequency axis), or
the image itself for a 2D catalogue.
"""

import numpy as np
from astropy import units as u

from ._common import as_list, celestial_axes, channel_velocity_widths, pyplot, unit_text

__all__ = ["moment0_map", "plot_image", "plot_moment_map"]


def _as_image(image, wcs, unit):
    """(2D float array, WCS or None, unit) of anything `plot_image` accepts."""
    from ..core.inputs import ImageData, load_image

    if isinstance(image, u.Quantity):
        unit = image.unit if unit is None else unit
        image = image.value
    if isinstance(image, np.ndarray):
        data = np.asarray(image, dtype=float)
    else:
        loaded = image if isinstance(image, ImageData) else load_image(image)
        data = loaded.read()
        wcs = loaded.wcs if wcs is None else wcs
        unit = loaded.unit if unit is None else unit
    if data.ndim != 2:
        raise ValueError(f"plot_image draws 2D images; this one has shape {data.shape} "
                         "(use plot_moment_map for a cube's catalogue)")
    if wcs is not None and wcs.has_celestial:
        wcs = wcs.celestial
    elif wcs is not None:
        wcs = None
    return data, wcs, unit


def _pixel_regions(regions, wcs):
    from regions import PixelRegion, SkyRegion

    shapes = []
    for region in regions:
        if isinstance(region, SkyRegion):
            if wcs is None:
                raise ValueError("sky regions need the image's celestial WCS to be drawn (pass wcs=)")
            region = region.to_pixel(wcs)
        elif not isinstance(region, PixelRegion):
            raise TypeError(f"regions must be regions.PixelRegion or SkyRegion objects, got {type(region).__name__}")
        else:
            region = region.copy()
        region.visual = {}  # DS9/CRTF marker keywords are not matplotlib patch properties
        shapes.append(region)
    return shapes


def plot_image(image, ax=None, *, wcs=None, regions=None, labels=None, unit=None, label=None, title=None,
               cmap="viridis", vmin=None, vmax=None, percentiles=(1.0, 99.7), color="white"):
    """Show a 2D image on WCS axes with region ellipses and their labels.

    Parameters
    ----------
    image : array_like, `~astropy.units.Quantity`, path, HDU, NDData or `~astro_mlfinder.core.inputs.ImageData`
        The image (anything `~astro_mlfinder.core.inputs.load_image` reads,
        or a plain 2D array).
    ax : `matplotlib.axes.Axes`, optional
        Axes to draw on; a new figure (WCS axes when the image has a
        celestial WCS) when omitted.
    wcs : `~astropy.wcs.WCS`, optional
        World coordinates of a plain array (the input's own WCS otherwise).
    regions : `regions.Regions` or sequence of regions, optional
        Pixel or sky regions (sky regions are converted with the WCS),
        e.g. ``catalog.to_regions()``.
    labels : sequence of str, optional
        Text written next to each region (default: each region's
        ``meta['text']``, when it has one).
    unit : `~astropy.units.Unit`, optional
        Unit of the pixel values, for the colour bar (the input's otherwise).
    label : str, optional
        Colour bar label without the unit (default ``'pixel value'``).
    title : str, optional
    cmap : str
    vmin, vmax : float, optional
        Colour scale limits (default: the ``percentiles`` of the finite pixels).
    percentiles : tuple of float
    color : str
        Colour of the regions and labels.

    Returns
    -------
    ax : `matplotlib.axes.Axes`
        The axes; the colour bar is ``ax.images[0].colorbar``.
    """
    plt = pyplot()
    data, wcs, unit = _as_image(image, wcs, unit)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.2), subplot_kw={"projection": wcs}, layout="constrained")
    finite = data[np.isfinite(data)]
    lo, hi = np.percentile(finite, percentiles) if finite.size else (0.0, 1.0)
    vmin = lo if vmin is None else vmin
    vmax = hi if vmax is None else vmax
    im = ax.imshow(data, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1)
    text = unit_text(unit)
    label = label or "pixel value"
    plt.colorbar(im, ax=ax, label=f"{label} [{text}]" if text else label)
    shapes = _pixel_regions(regions, wcs) if regions is not None else []
    if labels is not None and len(labels) != len(shapes):
        raise ValueError(f"{len(labels)} labels for {len(shapes)} regions")
    for k, region in enumerate(shapes):
        region.plot(ax=ax, edgecolor=color, facecolor="none", lw=1.2)
        text = labels[k] if labels is not None else (region.meta.get("text") if region.meta else None)
        if text:
            center = getattr(region, "center", None)
            if center is not None:
                ax.text(center.x, center.y, f" {text}", color=color, fontsize=8)
    if hasattr(ax, "coords") and wcs is not None:
        celestial_axes(ax, wcs)
    else:
        ax.set_xlabel("x [pix]")
        ax.set_ylabel("y [pix]")
    if title is not None:
        ax.set_title(title)
    return ax


def moment0_map(catalog, velocity=None):
    """Moment 0 of a cube catalogue's detected emission: the data summed over the source masks.

    Each channel's data inside the masks of the catalogue's sources are
    multiplied by the channel's width and summed: the width is in km/s on a
    velocity or frequency axis (frequencies converted with the rest
    frequency, see `~astro_mlfinder.visualization.spectra.plot_spectrum`),
    in the axis unit on other spectral axes, and 1 without a spectral WCS.
    The cube is read one channel at a time.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        A catalogue of a cube (all its sources, or a selection).
    velocity : {None, 'radio', 'optical'}
        Velocity convention of the channel widths.

    Returns
    -------
    mom0 : `~astropy.units.Quantity` or `~numpy.ndarray`
        2D map in the data unit times the width's unit (a plain array
        without a spectral WCS and with dimensionless data).
    """
    catalog = as_list(catalog)
    image, segment = catalog.image, catalog.segment
    if segment.ndim != 3:
        raise ValueError("moment0_map needs a cube's catalogue; a 2D catalogue's image is cat.image")
    ids = np.asarray(catalog.id)
    everything = catalog._index is None
    width_unit = u.one
    widths = np.ones(segment.shape[0])
    if image.has_spectral:
        q = channel_velocity_widths(image, np.arange(segment.shape[0]), velocity)
        widths, width_unit = q.value, q.unit
    total = np.zeros(segment.shape[-2:], dtype=np.float64)
    for z in range(segment.shape[0]):
        labels = segment[z]
        inside = labels > 0 if everything else np.isin(labels, ids)
        if inside.any():
            plane = image.read((z,))
            total += np.where(inside & np.isfinite(plane), plane, 0.0) * widths[z]
    unit = image.unit * width_unit
    return total if unit == u.one else total * unit


def plot_moment_map(catalog, ax=None, *, show_regions=True, label=True, cmap="viridis", velocity=None):
    """Show a catalogue's moment-0 map (or 2D image) on WCS axes with each source's ellipse and id.

    For a cube the map is `moment0_map` (Jy/beam km/s for Jy/beam data on
    a velocity or frequency axis); for a 2D catalogue the image itself.
    With a celestial WCS the axes are RA/Dec (or Galactic) when ``ax`` is
    not given; pixels otherwise.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    ax : `matplotlib.axes.Axes`, optional
    show_regions : bool
        Overlay the moment ellipses.
    label : bool
        Write the source ids next to the ellipses.
    cmap : str
    velocity : {None, 'radio', 'optical'}
        Velocity convention of the channel widths (cubes).

    Returns
    -------
    ax : `matplotlib.axes.Axes`
    """
    catalog = as_list(catalog)
    image = catalog.image
    if catalog.ndim == 3:
        mom0 = moment0_map(catalog, velocity)
        data = u.Quantity(mom0)
        title = "moment 0" if image.has_spectral else "sum over the source channels"
        finite = data.value[np.isfinite(data.value)]
        vmin, vmax = (min(0.0, finite.min()), finite.max()) if finite.size else (0.0, 1.0)
    else:
        data = image.read() * image.unit
        title, vmin, vmax = "pixel value", None, None
    regions = catalog.to_regions(sky=False) if show_regions and len(catalog) else None
    ids = [str(i) for i in np.atleast_1d(catalog.id)] if label else ["" for _ in range(len(catalog))]
    wcs = image.wcs if image.has_celestial else None
    return plot_image(data, ax, wcs=wcs, regions=regions, labels=ids if regions is not None else None,
                      label=title, title=f"{len(catalog)} source(s)", cmap=cmap, vmin=vmin, vmax=vmax)
