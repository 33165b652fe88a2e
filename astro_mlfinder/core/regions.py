"""Region shapes of a SourceCatalog (`regions` objects, ready for DS9 and CRTF).

This module builds shapes and their metadata; writing them to files is
`astro_mlfinder.io.regions`. Following the cross-format rules in the
ecosystem notes, every region carries both ``meta['label']`` (CRTF) and
``meta['text']`` (DS9), a colour, a marker and a symbol, and cube sources
carry ``meta['range']`` with their spectral extent so CRTF files say
``range=[lo, hi]``.
"""

import numpy as np
from astropy import units as u
from regions import (
    EllipsePixelRegion,
    PixCoord,
    PointPixelRegion,
    RectanglePixelRegion,
    RegionMeta,
    Regions,
    RegionVisual,
)

__all__ = ["catalog_to_regions", "REGION_KINDS"]

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


def catalog_to_regions(catalog, kind="ellipse", sky=True):
    """Build a `regions.Regions` with one region per source.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    kind : {'ellipse', 'point', 'box'}
    sky : bool or None
        Convert to sky regions with the catalogue's celestial WCS; None means
        sky regions when the data have a celestial WCS, pixel regions otherwise.

    Returns
    -------
    `regions.Regions`
    """
    if kind not in REGION_KINDS:
        raise ValueError(f"kind must be one of {REGION_KINDS}, got {kind!r}")
    image = catalog.image
    if sky is None:
        sky = image.has_celestial
    if sky and not image.has_celestial:
        raise ValueError("sky regions need a celestial WCS; the data have none (use sky=False)")
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
        shapes.append(region)
    return Regions(shapes)
