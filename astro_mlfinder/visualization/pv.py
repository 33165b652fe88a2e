"""Position-velocity slices through a cube's sources.

The slice runs through the source's centroid along its kinematic position
angle (``kin_pa``; the ellipse's ``ell_pa`` when the kinematic one is
undefined), over the source's channels and as many again on both sides; the
cube is sampled by linear interpolation, one channel at a time, and the
source mask along the same line is drawn as a contour.
"""

import numpy as np
from astropy import units as u

from ._common import as_list, pyplot, source_index, source_panels, spectral_axis, unit_text

__all__ = ["plot_pv", "plot_pv_slices", "pv_slice"]


def _position_angle(catalog, i, angle):
    if angle is not None:
        return float(u.Quantity(angle, u.deg).value)
    if catalog.ndim == 3:
        kin = float(catalog.kin_pa[i].value)
        if np.isfinite(kin) and kin >= 0:
            return kin
    ell = float(catalog.ell_pa[i].value)
    return ell if np.isfinite(ell) else 0.0


def pv_slice(catalog, source_id, *, angle=None, half_length=None, velocity=None):
    """Sample the cube along a line through a source: a position-velocity diagram.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        A catalogue of a cube.
    source_id : int
    angle : float or `~astropy.units.Quantity`, optional
        Position angle of the slice in degrees, SoFiA's convention (0 along
        +y, growing towards -x; east of north for a standard RA/Dec image).
        Default: the source's ``kin_pa``, or its ``ell_pa``.
    half_length : float, optional
        Half-length of the slice in pixels (default: twice the ellipse's
        major axis, at least 5 pixels).
    velocity : {None, 'radio', 'optical'}

    Returns
    -------
    pv : `~numpy.ndarray`
        (channel, offset) samples in the data unit, NaN outside the cube.
    offsets : `~astropy.units.Quantity`
        Offset of each sample from the centroid (arcsec with a celestial
        WCS, pixels otherwise).
    spectral : `~astropy.units.Quantity` or `~numpy.ndarray`
        Spectral coordinate of each row (km/s where possible, channels
        otherwise).
    mask : `~numpy.ndarray` of bool
        The source mask along the slice.
    meta : dict
        ``angle`` (deg), ``title`` (what ``spectral`` is), ``unit`` (data).
    """
    from scipy import ndimage

    if catalog.ndim != 3:
        raise ValueError("position-velocity slices need a cube; this catalogue is from a 2D image")
    catalog = as_list(catalog)
    i = source_index(catalog, source_id)
    image = catalog.image
    ox, oy, oz = catalog.pixel_offset or (0, 0, 0)
    xc, yc = float(catalog.x[i].value) - ox, float(catalog.y[i].value) - oy
    z0, z1 = int(catalog.z_min[i].value) - oz, int(catalog.z_max[i].value) - oz
    pa = _position_angle(catalog, i, angle)
    if half_length is None:
        major = float(np.nan_to_num(catalog.ell_maj[i].value, nan=0.0))
        half_length = max(2.0 * major, 5.0)
    s = np.arange(-np.ceil(half_length), np.ceil(half_length) + 0.5)
    theta = np.deg2rad(pa)
    xs, ys = xc - s * np.sin(theta), yc + s * np.cos(theta)
    nz, ny, nx = image.shape
    pad = max(z1 - z0 + 1, 5)
    lo, hi = max(z0 - pad, 0), min(z1 + pad, nz - 1)
    # read only the box around the line, one channel block
    bx0, bx1 = max(int(np.floor(xs.min())) - 1, 0), min(int(np.ceil(xs.max())) + 1, nx - 1)
    by0, by1 = max(int(np.floor(ys.min())) - 1, 0), min(int(np.ceil(ys.max())) + 1, ny - 1)
    box = image.read((slice(lo, hi + 1), slice(by0, by1 + 1), slice(bx0, bx1 + 1))).astype(np.float64)
    labels = catalog.segment[lo : hi + 1, by0 : by1 + 1, bx0 : bx1 + 1] == int(source_id)
    coords = np.array([ys - by0, xs - bx0])
    outside = (xs < -0.5) | (xs > nx - 0.5) | (ys < -0.5) | (ys > ny - 0.5)
    pv = np.empty((box.shape[0], s.size))
    mask = np.empty((box.shape[0], s.size), dtype=bool)
    for k in range(box.shape[0]):
        pv[k] = ndimage.map_coordinates(box[k], coords, order=1, mode="nearest")
        mask[k] = ndimage.map_coordinates(labels[k].astype(np.uint8), coords, order=0, mode="nearest") > 0
    pv[:, outside] = np.nan
    mask[:, outside] = False
    channels = np.arange(lo, hi + 1)
    if image.has_spectral:
        spectral, title = spectral_axis(image, channels, velocity)
    else:
        spectral, title = channels, "channel"
    # |CDELT| of the latitude axis, as SoFiA-2 and ImageData.beam_area take it
    scale = abs(image.wcs.celestial.pixel_scale_matrix[1, 1]) if image.has_celestial else None
    offsets = s * scale * 3600 * u.arcsec if scale else s * u.pix
    return pv, offsets, spectral, mask, {"angle": pa, "title": title, "unit": image.unit}


def plot_pv(catalog, source_id, ax=None, *, angle=None, half_length=None, velocity=None, cmap="viridis"):
    """Plot the position-velocity slice through one source (see `pv_slice`), velocity upwards.

    Returns
    -------
    ax : `matplotlib.axes.Axes`
    """
    plt = pyplot()
    pv, offsets, spectral, mask, meta = pv_slice(catalog, source_id, angle=angle, half_length=half_length,
                                                 velocity=velocity)
    v = u.Quantity(spectral).value
    if v.size > 1 and v[0] > v[-1]:  # show the spectral coordinate increasing upwards
        pv, mask, v = pv[::-1], mask[::-1], v[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    s = offsets.value
    ds = (s[1] - s[0]) / 2 if s.size > 1 else 0.5
    dv = (v[1] - v[0]) / 2 if v.size > 1 else 0.5
    finite = pv[np.isfinite(pv)]
    vmin, vmax = np.percentile(finite, [1, 99.7]) if finite.size else (0.0, 1.0)
    im = ax.imshow(pv, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1,
                   extent=(s[0] - ds, s[-1] + ds, v[0] - dv, v[-1] + dv), interpolation="nearest")
    if mask.any() and mask.shape[0] > 1 and mask.shape[1] > 1:
        ax.contour(s, v, mask.astype(float), levels=[0.5], colors="white", linewidths=1.0)
    data_unit = unit_text(meta["unit"])
    plt.colorbar(im, ax=ax, label=f"pixel value [{data_unit}]" if data_unit else "pixel value")
    offset_unit = unit_text(offsets.unit) if offsets.unit != u.pix else "pix"
    ax.set_xlabel(f"offset along PA {meta['angle']:.0f} deg [{offset_unit}]")
    vunit = unit_text(getattr(spectral, "unit", None))
    ax.set_ylabel(f"{meta['title']} [{vunit}]" if vunit else meta["title"])
    ax.set_title(f"source {source_id}: position-velocity slice")
    return ax


def plot_pv_slices(catalog, ids=None, *, max_sources=12, ncols=3, velocity=None):
    """Position-velocity slices of several sources on a grid of panels.

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    catalog = as_list(catalog)
    fig, panels = source_panels(catalog, ids, max_sources=max_sources, ncols=ncols, panel_size=(4.6, 3.8))
    for ax, source_id in panels:
        plot_pv(catalog, source_id, ax, velocity=velocity)
        ax.set_title(f"source {source_id}")
    return fig
