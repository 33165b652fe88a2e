"""Moment-0 maps with source regions and integrated spectra of sources.

Every axis carries its unit: moment-0 maps of cubes are the detected emission
(the sum over the source masks times the channel width, in the data unit times
km/s for velocity axes or times Hz for frequency axes, as SoFiA-2's
``_mom0.fits``) on WCS axes (RA/Dec or Galactic) when the data have a
celestial WCS; spectra are flux densities in Jy (the sum over the source's
footprint divided by the beam area in pixels, for Jy/beam data with a beam)
against velocity in km/s or frequency in MHz.
"""

import numpy as np
from astropy import units as u

from ..core.catalog import spectral_column_name

__all__ = ["plot_moment_map", "plot_spectrum"]

#: axis titles of the spectral columns (SoFiA-2's names)
_SPECTRAL_TITLES = {"freq": "frequency", "v_rad": "radio velocity", "v_opt": "optical velocity",
                    "v_app": "velocity"}
_CELESTIAL_TITLES = {"icrs": "ICRS", "fk5": "FK5", "fk4": "FK4"}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("plotting needs matplotlib: pip install 'astro_mlfinder[plot]'") from exc
    return plt


def _unit_text(unit):
    """``Jy/beam``, ``km/s``: a unit as radio astronomers write it on an axis."""
    if unit is None or unit == u.dimensionless_unscaled:
        return ""
    if unit == u.Jy / u.beam:
        return "Jy/beam"
    return unit.to_string().replace(" / ", "/")


def _display_spectral_unit(unit):
    """The unit spectral values are shown in: km/s for velocities, MHz for frequencies."""
    if unit.physical_type == "speed":
        return u.km / u.s
    if unit.physical_type == "frequency":
        return u.MHz
    return unit


def _channel_width(image):
    """|channel width| as a Quantity (km/s for velocity axes, Hz for frequency axes), or None."""
    if not image.has_spectral:
        return None
    width = abs(image.spectral_cdelt) * image.spectral_unit
    return width.to(u.km / u.s) if width.unit.physical_type == "speed" else width


def _moment0(catalog):
    """Moment 0 of the detected emission: the data summed over the mask of the catalogue's sources.

    Returns the map (times the channel width when the cube has a spectral
    axis) and the channel width (None without a spectral axis); channel by
    channel, so a lazy cube is read one plane at a time.
    """
    image = catalog.image
    segment = catalog.segment
    ids = np.atleast_1d(np.asarray(catalog.id))
    everything = catalog._index is None
    total = np.zeros(segment.shape[-2:], dtype=np.float64)
    for z in range(segment.shape[0]):
        labels = segment[z]
        inside = labels > 0 if everything else np.isin(labels, ids)
        if inside.any():
            plane = image.read((z,))
            total += np.where(inside & np.isfinite(plane), plane, 0.0)
    width = _channel_width(image)
    if width is not None:
        total *= width.value
    return total, width


def _celestial_axes(ax, wcs):
    """Name the axes of a WCSAxes after the celestial frame (RA/Dec in sexagesimal, or Galactic)."""
    from astropy.wcs.utils import wcs_to_celestial_frame

    frame = wcs_to_celestial_frame(wcs)
    lon, lat = ax.coords[0], ax.coords[1]
    if frame.name == "galactic":
        lon.set_axislabel("Galactic longitude")
        lat.set_axislabel("Galactic latitude")
        return
    title = _CELESTIAL_TITLES.get(frame.name, frame.name)
    equinox = getattr(frame, "equinox", None)
    if equinox is not None:
        title = f"{title} {equinox.value if hasattr(equinox, 'value') else equinox}"
    lon.set_axislabel(f"Right Ascension ({title})")
    lat.set_axislabel(f"Declination ({title})")
    lon.set_format_unit(u.hourangle)
    lat.set_format_unit(u.deg)


def plot_moment_map(catalog, ax=None, *, show_regions=True, cmap="viridis", label=True):
    """Show the moment-0 map of the detected emission (or the image) with each source's ellipse and id.

    For a cube the map is the sum of the data over the masks of the
    catalogue's sources times the channel width (SoFiA-2's moment 0): in
    Jy/beam km/s for a velocity axis, Jy/beam Hz for a frequency axis (the
    data unit times the channel width's unit), and the plain sum over
    channels without a spectral WCS. For an image it is the image itself, in
    the data unit. With a celestial WCS and no ``ax`` given, the axes are
    WCS axes (RA/Dec, or Galactic longitude/latitude); otherwise pixels.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    ax : `matplotlib.axes.Axes`, optional
        Axes to draw on (a `~astropy.visualization.wcsaxes.WCSAxes` gets
        celestial axis labels).
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
    image_data = catalog.image
    if catalog.isscalar:
        catalog = catalog._as_list_view(np.atleast_1d(catalog._index))
    if catalog.ndim == 3:
        image, width = _moment0(catalog)
        width_unit = _unit_text(width.unit) if width is not None else ""
        units = " ".join(t for t in (_unit_text(image_data.unit), width_unit) if t)
        title = "moment 0" if width is not None else "sum over the source channels"
    else:
        image = image_data.read()
        units = _unit_text(image_data.unit)
        title = "pixel value"
    bar_label = f"{title} [{units}]" if units else title
    if ax is None:
        projection = image_data.wcs.celestial if image_data.has_celestial else None
        _, ax = plt.subplots(figsize=(6, 5), subplot_kw={"projection": projection})
    finite = image[np.isfinite(image)]
    if catalog.ndim == 3:
        vmin, vmax = (min(0.0, finite.min()), finite.max()) if finite.size else (0.0, 1.0)
    else:
        vmin, vmax = np.nanpercentile(image, [1, 99.7])
    im = ax.imshow(image, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1)
    plt.colorbar(im, ax=ax, label=bar_label)
    regions = catalog.to_regions(sky=False) if show_regions else []
    if len(regions):
        for region, source_id in zip(regions, np.atleast_1d(catalog.id), strict=True):
            region.visual = {}  # the DS9/CRTF marker keywords are not matplotlib patch properties
            region.plot(ax=ax, edgecolor="white", facecolor="none", lw=1.2)
            if label:
                ax.text(region.center.x, region.center.y, f" {source_id}", color="white", fontsize=8)
    if hasattr(ax, "coords") and image_data.has_celestial:
        _celestial_axes(ax, image_data.wcs.celestial)
    else:
        ax.set_xlabel("x [pix]")
        ax.set_ylabel("y [pix]")
    ax.set_title(f"{len(catalog)} source(s)")
    return ax


def plot_spectrum(catalog, source_id, ax=None):
    """Plot the integrated spectrum of one source.

    In each channel the data are summed over the source's footprint (the
    pixels of its mask in any channel); for Jy/beam data with a beam the sum
    is divided by the beam area in pixels, which makes it a flux density in
    Jy (as SoFIA-image-pipeline's spectra). Other data are shown as the sum
    in their own unit. The spectral axis is velocity in km/s or frequency in
    MHz when the cube has a spectral WCS, channels otherwise; the channel
    range of the mask is shaded.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        A catalogue of a cube.
    source_id : int
    ax : `matplotlib.axes.Axes`, optional

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
    cube = catalog.image.read((slice(None), slice(y0, y1 + 1), slice(x0, x1 + 1)))
    footprint = (catalog.segment[:, y0 : y1 + 1, x0 : x1 + 1] == source_id).any(axis=0)
    spectrum = np.nansum(np.where(footprint, cube, 0.0), axis=(1, 2))
    image = catalog.image
    if image.unit == u.Jy / u.beam and image.beam is not None:
        spectrum = spectrum / image.beam_area
        ylabel = "flux density [Jy]"
    elif _unit_text(image.unit):
        ylabel = f"sum over the source footprint [{_unit_text(image.unit)}]"
    else:
        ylabel = "sum over the source footprint"
    channels = np.arange(cube.shape[0])
    xlabel = "channel"
    if image.has_spectral:
        shown = _display_spectral_unit(image.spectral_unit)
        channels = (image.wcs.spectral.pixel_to_world_values(channels) * image.spectral_unit).to_value(shown)
        title = _SPECTRAL_TITLES.get(spectral_column_name(image), "spectral coordinate")
        xlabel = f"{title} [{_unit_text(shown)}]"
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.step(channels, spectrum, where="mid", color="k", lw=1)
    z0, z1 = int(catalog.z_min[i].value) - oz, int(catalog.z_max[i].value) - oz
    ax.axvspan(channels[z0], channels[z1], color="tab:green", alpha=0.2, label="source mask")
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"source {source_id}")
    ax.legend(loc="upper right", fontsize=8)
    return ax
