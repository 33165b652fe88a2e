"""Region shapes of a SourceCatalog (`regions` objects, ready for DS9 and CRTF).

This module builds shapes and their metadata; writing them to files is
`astro_mlfinder.io.regions`. Following the cross-format rules in the
ecosystem notes, every region carries both ``meta['label']`` (CRTF) and
``meta['text']`` (DS9), a colour, a marker and a symbol, and cube sources
carry ``meta['range']`` with their spectral extent so CRTF files say
``range=[lo, hi]``.

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

__all__ = ["catalog_to_regions", "REGION_KINDS", "FILE_FRAMES", "file_frame", "transform_regions"]

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


def _spectral_range(catalog, z_lo, z_hi):
    """Spectral coordinates of channels z_lo..z_hi as a sorted Quantity pair."""
    spec = catalog.image.wcs.spectral
    unit = catalog.image.spectral_unit
    values = np.sort(spec.pixel_to_world_values(np.array([z_lo, z_hi], dtype=float))) * unit
    if unit.physical_type == "frequency":
        return values.to(u.GHz)
    if unit.physical_type == "speed":
        return values.to(u.km / u.s)
    return values


def _format_range(values):
    return f"{values[0].value:.6g}-{values[1].value:.6g}{values.unit.to_string()}"


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
    restfreq = None
    if with_range and image.header is not None:
        rest = image.header.get("RESTFRQ", image.header.get("RESTFREQ"))
        if rest:
            restfreq = f"{float(rest) / 1e9:.9g}GHz"
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
            if with_range:
                span = _spectral_range(catalog, z0[i], z1[i])
                meta["range"] = [span[0], span[1]]
                if restfreq:
                    meta["restfreq"] = restfreq
                meta["label"] = meta["text"] = f"{label} {_format_range(span)}"
            else:
                meta["label"] = meta["text"] = f"{label} chan {int(z0[i]) + oz}-{int(z1[i]) + oz}"
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
