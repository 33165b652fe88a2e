"""Region shapes of a SourceCatalog (`regions` objects, ready for DS9 and CRTF).

This module builds shapes and their metadata; writing them to files is
`astro_mlfinder.io.regions`. Following the cross-format rules in the
ecosystem notes, every region carries both ``meta['label']`` (CRTF) and
``meta['text']`` (DS9), both the source id alone so labels stay short, a
colour, a marker and a symbol. Cube sources also carry their channels:

* ``meta['range']``, the spectral coordinates of their first and last
  channel in the catalogue's physical quantity (frequency in Hz, the unit of
  the catalogue's ``freq`` column; velocity in km/s, CRTF's velocity unit),
  rounded to a hundredth of a channel, so CRTF files say
  ``range=[1402850000Hz, 1404650000Hz]`` (with ``restfreq`` and, for
  velocity axes, ``veltype``) for CASA, spectral-cube and CARTA;
* ``meta['tag']``, ``'slices 58-94'`` (`slice_tag`): DS9 draws a region on
  every slice of a cube and its region format has no spectral range, so the
  channels travel as a DS9 group, in DS9's 1-based slice numbers.

Sky regions can be moved into another celestial frame with
`transform_regions`, which converts the positions *and* rotates the position
angles by the angle between the north directions of the two frames at each
source, so an ellipse keeps its orientation on the sky. Region files name
only a few frames without ambiguity (`FILE_FRAMES`: ICRS, FK5 J2000, FK4
B1950, Galactic); `file_frame` picks the one a file states for data in any
frame.
"""

import numpy as np
from astropy import units as u
from astropy.coordinates import FK4, FK5, ICRS, BaseCoordinateFrame, Galactic, SkyCoord

__all__ = [
    "catalog_to_regions",
    "REGION_KINDS",
    "FILE_FRAMES",
    "file_frame",
    "transform_regions",
    "spectral_range_strings",
    "slice_tag",
]

#: The celestial frames a DS9 or CRTF file names without ambiguity (DS9 ``fk5`` and CRTF ``J2000``
#: mean FK5 at equinox J2000, DS9 ``fk4`` and CRTF ``B1950`` FK4 at equinox B1950).
FILE_FRAMES = ("icrs", "fk5", "fk4", "galactic")
_FRAME_ALIASES = {"j2000": "fk5", "b1950": "fk4"}
_OFFSET = 1.0 * u.arcsec  # step along a region's axis used to carry its angle into another frame


def _file_frame_instance(name):
    return {"icrs": ICRS, "fk5": lambda: FK5(equinox="J2000"), "fk4": lambda: FK4(equinox="B1950"),
            "galactic": Galactic}[name]()


def _as_frame(frame):
    """A frame instance (without data) from a name in `FILE_FRAMES` (or j2000/b1950) or a frame."""
    if isinstance(frame, SkyCoord):
        frame = frame.frame
    if isinstance(frame, BaseCoordinateFrame):
        return frame.replicate_without_data() if frame.has_data else frame
    name = str(frame).lower()
    name = _FRAME_ALIASES.get(name, name)
    if name not in FILE_FRAMES:
        raise ValueError(f"unknown region frame {frame!r}; choose one of {FILE_FRAMES} (or an astropy frame)")
    return _file_frame_instance(name)


def file_frame(frame):
    """The frame a region file states for coordinates in ``frame``.

    ICRS, FK5, FK4 and Galactic data keep their kind of frame, at the equinox
    the file formats imply (J2000 for FK5, B1950 for FK4); anything else
    (ecliptic, supergalactic, other equinoxes are converted) becomes ICRS.

    Parameters
    ----------
    frame : `~astropy.coordinates.BaseCoordinateFrame`, `~astropy.coordinates.SkyCoord` or str
        A frame (or coordinates in it), or a name in `FILE_FRAMES` (``'j2000'``
        and ``'b1950'`` are accepted for ``'fk5'`` and ``'fk4'``).

    Returns
    -------
    `~astropy.coordinates.BaseCoordinateFrame`
        A frame instance without data.
    """
    if isinstance(frame, SkyCoord):
        frame = frame.frame
    if not isinstance(frame, BaseCoordinateFrame):
        return _as_frame(frame)  # a name: one of FILE_FRAMES
    return _file_frame_instance(frame.name if frame.name in FILE_FRAMES else "icrs")


def _transform(coord, frame):
    # frame-level transformation: a SkyCoord would carry its own equinox/obstime into the target
    # frame (FK4 B1950 -> FK5 at equinox B1950), which is how CRTF files came to hold B1950 positions
    return SkyCoord(coord.frame.transform_to(frame))


def _rotate(center, angle, new_center, frame):
    """``angle`` (from the longitude axis) of a region at ``center`` expressed in ``frame``."""
    # regions measure sky angles anticlockwise from the longitude axis: position angle (east of
    # north) = angle - 90 deg; follow a short step along that direction into the new frame
    tip = center.directional_offset_by(angle - 90 * u.deg, _OFFSET)
    pa = new_center.position_angle(_transform(tip, frame))
    return (pa + 90 * u.deg).to(u.deg) % (360 * u.deg)


def _transform_region(region, frame):
    from regions import RegionMeta, RegionVisual  # imported here: regions imports matplotlib

    values = {name: getattr(region, name) for name in region._params}
    center = values.get("center")
    for name, value in values.items():
        if isinstance(value, SkyCoord):
            values[name] = _transform(value, frame)
    if "angle" in values and isinstance(center, SkyCoord):
        values["angle"] = _rotate(center, u.Quantity(values["angle"]), values["center"], frame)
    return type(region)(**values, meta=RegionMeta(dict(region.meta)), visual=RegionVisual(dict(region.visual)))


def transform_regions(regions, frame):
    """Return ``regions`` with their sky coordinates and angles in ``frame``.

    Positions are transformed with astropy (frame to frame, so an FK4
    equinox never leaks into an FK5 result); the angle of an ellipse or a box
    is rotated by the angle between the north directions of the two frames
    at its centre (found by following a 1 arcsec step along the region's axis
    into the new frame), so the shape keeps its orientation on the sky.
    Pixel regions are returned unchanged.

    Parameters
    ----------
    regions : `regions.Regions` or iterable of `regions.Region`
    frame : str, `~astropy.coordinates.BaseCoordinateFrame` or `~astropy.coordinates.SkyCoord`
        ``'icrs'``, ``'fk5'`` (J2000), ``'fk4'`` (B1950), ``'galactic'``
        (see `FILE_FRAMES`), or any astropy frame.

    Returns
    -------
    `regions.Regions`
    """
    from regions import Regions, SkyRegion  # imported here: regions imports matplotlib

    target = _as_frame(frame)
    return Regions([_transform_region(r, target) if isinstance(r, SkyRegion) else r for r in regions])

REGION_KINDS = ("ellipse", "point", "box")
_MIN_AXIS = 0.5  # pix: a single-pixel source still gets a visible ellipse


#: Unit of the CRTF ``range`` of each kind of spectral axis: frequencies in Hz, the unit of the
#: catalogue's ``freq`` column; velocities in km/s, the velocity unit CRTF documents.
_RANGE_UNITS = {"frequency": u.Hz, "speed": u.km / u.s}
_VELTYPES = {"VRAD": "RADIO", "VOPT": "OPTICAL", "FELO": "OPTICAL", "VELO": "OPTICAL"}


def _decimals(step):
    """Decimals that resolve a hundredth of a channel of width ``step`` (0 for wide channels)."""
    step = abs(float(step))
    if not np.isfinite(step) or step == 0:
        return 6
    return max(0, int(np.ceil(-np.log10(step / 100.0))))


def spectral_range_strings(catalog, z_lo, z_hi):
    """CRTF ``range`` of channels ``z_lo`` to ``z_hi`` of the searched array, as two strings.

    The values are the spectral coordinates of the two channels (sorted),
    in Hz for a frequency axis and km/s for a velocity axis (see
    `catalog_to_regions`), written with as many decimals as resolve a
    hundredth of a channel, so no float noise reaches the file
    (``'1402850000Hz'``, not ``'1.4028500000000002GHz'``).

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        A catalogue of a cube with a spectral WCS.
    z_lo, z_hi : float
        Channels, relative to the searched array.

    Returns
    -------
    tuple of str
    """
    spec = catalog.image.wcs.spectral
    native = catalog.image.spectral_unit
    unit = next((unit for kind, unit in _RANGE_UNITS.items() if native.physical_type == kind), native)
    pixels = np.array([z_lo, z_hi, z_lo + 1.0], dtype=float)
    values = (spec.pixel_to_world_values(pixels) * native).to_value(unit)
    places = _decimals(values[2] - values[0])
    text = unit.to_string().replace(" ", "")
    return tuple(f"{v:.{places}f}{text}" for v in sorted(values[:2]))


def slice_tag(z_min, z_max):
    """DS9 tag naming the channels ``z_min`` to ``z_max`` (0-based) of a source.

    DS9 regions are drawn on every slice of a cube: its region format has no
    spectral range (DS9 8.4 keeps an unknown ``range=`` only as a comment and
    drops every property after it). The channels therefore travel as a tag,
    which DS9 shows as a region group (Region > Groups, or ``xpaset -p ds9
    regions group '<tag>' select``), in DS9's own 1-based slice numbers, the
    numbers of its cube dialog.

    Examples
    --------
    >>> slice_tag(57, 93)
    'slices 58-94'
    """
    return f"slices {int(z_min) + 1}-{int(z_max) + 1}"


def _veltype(image):
    """CRTF ``veltype`` of a velocity axis (from its CTYPE), None otherwise."""
    if image.spectral_unit.physical_type != "speed":
        return None
    return _VELTYPES.get(str(image.wcs.spectral.wcs.ctype[0])[:4].upper())


def catalog_to_regions(catalog, kind="ellipse", sky=True, frame=None):
    """Build a `regions.Regions` with one region per source.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    kind : {'ellipse', 'point', 'box'}
    sky : bool or None
        Convert to sky regions with the catalogue's celestial WCS; None means
        sky regions when the data have a celestial WCS, pixel regions otherwise.
    frame : str or `~astropy.coordinates.BaseCoordinateFrame`, optional
        Celestial frame of sky regions (see `transform_regions`); default the
        frame of the data's WCS.

    Returns
    -------
    `regions.Regions`
        Labelled with the source ids (``meta['text']`` and ``meta['label']``);
        cube sources also carry ``meta['tag']`` (`slice_tag`) and, with a
        spectral WCS, ``meta['range']`` (`spectral_range_strings`),
        ``meta['restfreq']`` (the header's RESTFRQ in Hz) and, for a velocity
        axis, ``meta['veltype']``.
    """
    from regions import (  # imported here: regions imports matplotlib
        EllipsePixelRegion,
        PixCoord,
        PointPixelRegion,
        RectanglePixelRegion,
        RegionMeta,
        Regions,
        RegionVisual,
    )

    if kind not in REGION_KINDS:
        raise ValueError(f"kind must be one of {REGION_KINDS}, got {kind!r}")
    image = catalog.image
    if sky is None:
        sky = image.has_celestial
    if sky and not image.has_celestial:
        raise ValueError("sky regions need a celestial WCS; the data have none (use sky=False)")
    if frame is not None and not sky:
        raise ValueError("frame applies to sky regions; pixel regions (sky=False) have no celestial frame")
    target = _as_frame(frame) if frame is not None else None
    if catalog.isscalar:
        catalog = catalog._as_list_view(np.atleast_1d(catalog._index))
    if len(catalog) == 0:
        return Regions([])
    # positions relative to the searched array (parameter.offset shifts the reported columns only)
    ox, oy, oz = catalog.pixel_offset or (0, 0, 0)
    ids = np.asarray(catalog.id)
    x = catalog.x.to_value(u.pix) - ox
    y = catalog.y.to_value(u.pix) - oy
    cube = catalog.ndim == 3
    with_range = cube and image.has_spectral
    if kind == "ellipse":
        major = np.nan_to_num(catalog.ell_maj.to_value(u.pix), nan=_MIN_AXIS)
        minor = np.nan_to_num(catalog.ell_min.to_value(u.pix), nan=_MIN_AXIS)
        pa = np.nan_to_num(catalog.ell_pa.to_value(u.deg))
    if kind == "box" or cube:
        x0, x1 = np.asarray(catalog.x_min.value) - ox, np.asarray(catalog.x_max.value) - ox
        y0, y1 = np.asarray(catalog.y_min.value) - oy, np.asarray(catalog.y_max.value) - oy
    if cube:
        z0, z1 = np.asarray(catalog.z_min.value) - oz, np.asarray(catalog.z_max.value) - oz
    restfreq = veltype = None
    if with_range and image.header is not None:
        rest = image.header.get("RESTFRQ", image.header.get("RESTFREQ"))
        if rest:
            restfreq = f"{float(rest):.10g}Hz"  # as written in the header, no float noise
        veltype = _veltype(image)
    celestial = image.wcs.celestial if sky else None
    shapes = []
    for i, source_id in enumerate(ids):
        center = PixCoord(x[i], y[i])
        if kind == "ellipse":
            # SoFiA's ell_pa is 0 along +y, growing towards -x; regions' angle
            # is measured from +x counter-clockwise to the width (major) axis.
            region = EllipsePixelRegion(
                center,
                width=2 * max(major[i], _MIN_AXIS),
                height=2 * max(minor[i], _MIN_AXIS),
                angle=(pa[i] + 90.0) * u.deg,
            )
        elif kind == "point":
            region = PointPixelRegion(center)
        else:
            region = RectanglePixelRegion(
                PixCoord((x0[i] + x1[i]) / 2, (y0[i] + y1[i]) / 2), width=x1[i] - x0[i] + 1, height=y1[i] - y0[i] + 1
            )
        label = str(source_id)
        meta = {"label": label, "text": label}
        if cube:
            meta["tag"] = [slice_tag(int(z0[i]) + oz, int(z1[i]) + oz)]
            if with_range:
                meta["range"] = list(spectral_range_strings(catalog, z0[i], z1[i]))
                if restfreq:
                    meta["restfreq"] = restfreq
                if veltype:
                    meta["veltype"] = veltype
        region.meta = RegionMeta(meta)
        region.visual = RegionVisual({"color": "green", "marker": "+", "symbol": "+"})
        if celestial is not None:
            region = region.to_sky(celestial)
            region.meta = RegionMeta(meta)
            region.visual = RegionVisual({"color": "green", "marker": "+", "symbol": "+"})
            if target is not None:
                region = _transform_region(region, target)
        shapes.append(region)
    return Regions(shapes)
