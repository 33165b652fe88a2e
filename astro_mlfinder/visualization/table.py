"""The catalogue as a person reads it: positions in sexagesimal, velocities and widths in km/s,
integrated fluxes in Jy km/s (what ``astro-mlfinder find`` and ``demo`` print).

Nothing here needs matplotlib. The physical values come from the catalogue's
own columns and WCS: the centroid's `~astropy.coordinates.SkyCoord`
(``sky_centroid``), the spectral coordinate of the centroid channel converted
to velocity (as the spectra of `~astro_mlfinder.visualization.plot_spectrum`), the
widths ``w20``/``w50`` in channels times the channel's velocity width, and
``f_sum`` (the sum of the mask in Jy/beam) divided by the beam area in pixels
and multiplied by the channel's velocity width.
"""

import numpy as np
from astropy import units as u

from ._common import as_list, channel_velocity_widths, spectral_axis

__all__ = ["format_table", "physical_table"]

_FORMATS = {"x": ".1f", "y": ".1f", "z": ".1f", "l": ".4f", "b": ".4f", "snr": ".1f", "w20": ".1f", "w50": ".1f",
            "v_rad": ".1f", "v_opt": ".1f", "velocity": ".1f", "f_int": ".4g", "f_peak": ".4g", "ell_maj": ".1f"}


def _sum_in_data_units(catalog):
    """``f_sum`` as the plain sum of the mask in the data unit (undoing ``physical=True``)."""
    f_sum = catalog.f_sum
    image = catalog.image
    if f_sum.unit == image.unit or not image.has_spectral:
        return np.asarray(f_sum.value, float)
    # physical: Jy times the spectral unit = sum / beam_area * |cdelt|
    per_channel = abs(image.spectral_cdelt) * image.spectral_unit
    return np.asarray((f_sum / per_channel).to_value(u.Jy), float) * image.beam_area


def _widths_in_channels(width, image):
    if width.unit == u.pix or not image.has_spectral:
        return np.asarray(width.value, float)
    return np.asarray((width / (abs(image.spectral_cdelt) * image.spectral_unit)).decompose().value, float)


def physical_table(catalog, *, velocity=None):
    """The catalogue in physical units, for printing.

    Columns (where the data allow them; pixel columns otherwise):

    - ``id``; ``ra``/``dec`` in sexagesimal (hh:mm:ss.ss, +dd:mm:ss.s) for
      equatorial frames, ``l``/``b`` in degrees for Galactic ones, else
      ``x``/``y`` in pixels;
    - cubes: ``v_rad`` or ``v_opt`` (``velocity`` for other velocity axes) of
      the centroid channel in km/s, ``w20`` and ``w50`` in km/s (channels
      without a spectral WCS), or the spectral coordinate in its own unit
      for other spectral axes;
    - ``f_int``: integrated flux, Jy km/s for a cube of Jy/beam data with a
      beam, Jy for such an image, otherwise the mask sum in the data unit
      (times km/s for cubes);
    - ``snr``, ``n_pix`` and ``flag``.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    velocity : {None, 'radio', 'optical'}
        Velocity convention (None: the axis' own; radio for frequency axes,
        with the header's rest frequency or HI's).

    Returns
    -------
    table : `~astropy.table.QTable`
        With display formats set (see `format_table`).
    """
    catalog = as_list(catalog)
    image = catalog.image
    from astropy.table import QTable  # on first use: importing the package stays light

    table = QTable()
    table["id"] = np.asarray(catalog.id)
    if len(catalog) == 0:
        return table
    sky = catalog.sky_centroid
    if sky is not None and sky.frame.name == "galactic":
        table["l"], table["b"] = sky.l.to(u.deg), sky.b.to(u.deg)
    elif sky is not None:
        sph = sky.spherical
        table["ra"] = sph.lon.to_string(unit=u.hourangle, sep=":", precision=2, pad=True)
        table["dec"] = sph.lat.to_string(unit=u.deg, sep=":", precision=1, pad=True, alwayssign=True)
    else:
        table["x"], table["y"] = catalog.x, catalog.y
    raw = _sum_in_data_units(catalog)
    beam = image.unit == u.Jy / u.beam and image.beam is not None
    if catalog.ndim == 3:
        oz = (catalog.pixel_offset or (0, 0, 0))[2]
        z = np.asarray(catalog.z.value, float) - oz
        if image.has_spectral:
            spectral, title = spectral_axis(image, z, velocity)
            name = {"radio velocity": "v_rad", "optical velocity": "v_opt"}.get(title, title.replace(" ", "_"))
            if title == "velocity":
                name = "velocity"
            table[name] = spectral
            dv = channel_velocity_widths(image, z, velocity)
        else:
            table["z"] = catalog.z
            dv = np.ones(len(z)) * u.pix
        for width in ("w20", "w50"):
            table[width] = _widths_in_channels(getattr(catalog, width), image) * dv
        table["f_int"] = raw / (image.beam_area if beam else 1.0) * (u.Jy if beam else image.unit) * dv
        if dv.unit == u.pix:
            table["f_int"] = raw * image.unit
    else:
        table["f_int"] = raw / (image.beam_area if beam else 1.0) * (u.Jy if beam else image.unit)
        table["f_peak"] = catalog.f_max
    table["snr"] = np.asarray(catalog.snr.value if hasattr(catalog.snr, "unit") else catalog.snr, float)
    table["n_pix"] = np.asarray(catalog.n_pix.value if hasattr(catalog.n_pix, "unit") else catalog.n_pix, int)
    table["flag"] = np.asarray(catalog.flag.value if hasattr(catalog.flag, "unit") else catalog.flag, int)
    for name in table.colnames:
        if name in _FORMATS:
            table[name].info.format = _FORMATS[name]
    return table


def format_table(table, *, max_lines=40, max_width=100):
    """The lines of ``table`` as printed, at most ``max_width`` characters each.

    Float columns without a display format get ``.4g``; columns that do not
    fit are left out by astropy's formatter (shown as ``...``).

    Returns
    -------
    text : str
    """
    for name in table.colnames:
        col = table[name]
        if getattr(col, "dtype", None) is not None and col.dtype.kind == "f" and col.info.format is None:
            col.info.format = ".4g"
    return "\n".join(table.pformat(max_lines=max_lines, max_width=max_width))
