"""What the plots and the printed table share: matplotlib on demand, units as written on an axis, and
the spectral axis of a cube in km/s.

Velocities come from the cube's spectral WCS: a velocity axis is shown in
km/s in its own convention (or converted to the one asked for through the
rest frequency); a frequency axis is converted to radio (default) or optical
velocity with the header's rest frequency (``RESTFRQ``/``RESTFREQ``), or with
the HI line's 1420.405752 MHz when the header has none.
"""

import numpy as np
from astropy import units as u

from ..core.columns import spectral_column_name

__all__ = ["HI_REST_FREQUENCY", "INSTALL_HINT", "as_list", "celestial_axes", "channel_velocity_widths", "pyplot",
           "rest_frequency", "source_index", "source_panels", "spectral_axis", "unit_text"]

#: Rest frequency of the HI 21-cm line, the default for frequency cubes without ``RESTFRQ``.
HI_REST_FREQUENCY = 1.420405752e9 * u.Hz
#: How to get the plots (the ``plot`` extra of the package).
INSTALL_HINT = "pip install 'astro_mlfinder[plot]'"

_VELOCITY_TITLES = {"radio": "radio velocity", "optical": "optical velocity", None: "velocity"}
_AXIS_CONVENTIONS = {"v_rad": "radio", "v_opt": "optical"}
_DOPPLER = {"radio": u.doppler_radio, "optical": u.doppler_optical}


def pyplot():
    """`matplotlib.pyplot`, or an `ImportError` saying in one line how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(f"plotting needs matplotlib: {INSTALL_HINT}") from exc
    return plt


def unit_text(unit):
    """``Jy/beam``, ``km/s``, ``Jy/beam km/s``: a unit as radio astronomers write it on an axis."""
    if unit is None or unit == u.dimensionless_unscaled:
        return ""
    unit = u.Unit(unit)
    if unit == u.Jy / u.beam:
        return "Jy/beam"
    if unit == u.Jy / u.beam * u.km / u.s:
        return "Jy/beam km/s"
    if unit == u.Jy * u.km / u.s:
        return "Jy km/s"
    return unit.to_string().replace(" / ", "/")


def rest_frequency(image, default=HI_REST_FREQUENCY):
    """Rest frequency of ``image``'s spectral axis (WCS ``RESTFRQ`` or the header's), else ``default``."""
    if image.wcs is not None and np.isfinite(image.wcs.wcs.restfrq) and image.wcs.wcs.restfrq > 0:
        return image.wcs.wcs.restfrq * u.Hz
    if image.header is not None:
        value = image.header.get("RESTFRQ", image.header.get("RESTFREQ"))
        if value:
            return float(value) * u.Hz
    return u.Quantity(default, u.Hz)


def spectral_axis(image, channels, velocity=None, rest=None):
    """Spectral coordinates of (fractional) channels as shown: km/s where the axis allows it.

    Parameters
    ----------
    image : `~astro_mlfinder.core.inputs.ImageData`
        A cube with a spectral WCS.
    channels : array_like
        0-based channel numbers of the searched array.
    velocity : {None, 'radio', 'optical'}
        Velocity convention. None keeps a velocity axis' own convention and
        converts frequencies to radio velocities.
    rest : `~astropy.units.Quantity`, optional
        Rest frequency for the conversion (default: `rest_frequency`).

    Returns
    -------
    values : `~astropy.units.Quantity`
        In km/s for velocity and frequency axes, in the axis unit otherwise.
    title : str
        What the values are (``'radio velocity'``, ``'frequency'``...).
    """
    if velocity not in (None, "radio", "optical"):
        raise ValueError(f"velocity must be 'radio' or 'optical', got {velocity!r}")
    world = np.asarray(image.wcs.spectral.pixel_to_world_values(np.asarray(channels, float))) * image.spectral_unit
    kind = spectral_column_name(image)
    if world.unit.physical_type == "speed":
        own = _AXIS_CONVENTIONS.get(kind)
        if velocity is None or own is None or velocity == own:
            return world.to(u.km / u.s), _VELOCITY_TITLES[own if velocity is None else velocity]
        rest = rest if rest is not None else rest_frequency(image)
        freq = world.to(u.Hz, equivalencies=_DOPPLER[own](rest))
        return freq.to(u.km / u.s, equivalencies=_DOPPLER[velocity](rest)), _VELOCITY_TITLES[velocity]
    if world.unit.physical_type == "frequency":
        rest = rest if rest is not None else rest_frequency(image)
        convention = velocity or "radio"
        return world.to(u.km / u.s, equivalencies=_DOPPLER[convention](rest)), _VELOCITY_TITLES[convention]
    return world, {"wave": "wavelength", "z_opt": "redshift"}.get(kind, "spectral coordinate")


def channel_velocity_widths(image, channels, velocity=None, rest=None):
    """|Velocity width| of the channels (km/s, or the axis unit), from the axis at their edges."""
    channels = np.asarray(channels, float)
    lo, _ = spectral_axis(image, channels - 0.5, velocity, rest)
    hi, _ = spectral_axis(image, channels + 0.5, velocity, rest)
    return abs(hi - lo)


def source_index(catalog, source_id):
    """Row of ``source_id`` in a catalogue (a list view), or a `ValueError` listing the ids."""
    ids = [int(i) for i in np.atleast_1d(np.asarray(catalog.id))]
    if int(source_id) not in ids:
        shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
        raise ValueError(f"no source with id {source_id}; ids are {shown or 'none'}")
    return ids.index(int(source_id))


def as_list(catalog):
    """A single-source view as a one-source list view (columns indexable by row)."""
    if catalog.isscalar:
        return catalog._as_list_view(np.atleast_1d(catalog._index))
    return catalog


def celestial_axes(ax, wcs):
    """Name the axes of a WCSAxes after the celestial frame (RA/Dec in sexagesimal, or Galactic)."""
    from astropy.wcs.utils import wcs_to_celestial_frame

    frame = wcs_to_celestial_frame(wcs)
    lon, lat = ax.coords[0], ax.coords[1]
    if frame.name == "galactic":
        lon.set_axislabel("Galactic longitude")
        lat.set_axislabel("Galactic latitude")
        return
    title = {"icrs": "ICRS", "fk5": "FK5", "fk4": "FK4"}.get(frame.name, frame.name)
    equinox = getattr(frame, "equinox", None)
    if equinox is not None:
        title = f"{title} {equinox.value if hasattr(equinox, 'value') else equinox}"
    lon.set_axislabel(f"Right Ascension ({title})")
    lat.set_axislabel(f"Declination ({title})")
    lon.set_format_unit(u.hourangle)
    lat.set_format_unit(u.deg)


def source_panels(catalog, ids, *, max_sources, ncols, panel_size):
    """A figure with one panel per source, on a grid of ``ncols`` columns.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    ids : sequence of int or None
        Sources to show (default: the first ``max_sources``).
    max_sources, ncols : int
    panel_size : tuple of float
        Width and height of one panel in inches.

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    panels : list of (`matplotlib.axes.Axes`, int)
        Each source's panel and id; the grid's spare panels are hidden.
    """
    plt = pyplot()
    ids = [int(i) for i in (np.atleast_1d(catalog.id)[:max_sources] if ids is None else ids)]
    if not ids:
        raise ValueError("the catalogue has no sources to plot")
    ncols = max(1, min(int(ncols), len(ids)))
    nrows = -(-len(ids) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False,
                             layout="constrained")
    for ax in list(axes.flat)[len(ids):]:
        ax.set_visible(False)
    return fig, list(zip(axes.flat, ids, strict=False))
