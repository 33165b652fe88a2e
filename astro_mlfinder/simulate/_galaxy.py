# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private helper: the model of one rotating HI disk, built on its own bounding
box.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

from astro_mlfinder.simulate._noise import fwhm_to_sigma

__all__ = ['DiskParameters', 'disk_extent', 'disk_model']


@dataclass
class DiskParameters:
    """
    Parameters of one thin rotating HI disk.

    Positions are 0-based pixel coordinates of the dynamical centre;
    ``z0`` is the channel of the systemic velocity.

    Attributes
    ----------
    x0, y0, z0 : float
        Dynamical centre (pixels) and systemic channel.
    r_hi : float
        HI radius in pixels (where the surface density is tapered off).
    incl : float
        Inclination in degrees (0 = face-on).
    pa : float
        Kinematic position angle of the receding half of the major axis in
        degrees, measured from north (+y) through east (-x for RA---SIN with
        negative CDELT1).
    v_rot : float
        Flat rotation velocity in km/s.
    r_turn : float
        Turn-over radius of the rotation curve
        ``v(r) = v_rot * (1 - exp(-r / r_turn))`` in pixels.
    sigma_v : float
        Velocity dispersion in km/s.
    profile : str
        ``'exponential'`` (``exp(-r / h)``) or ``'flat'`` (uniform, with an
        optional central depression), both tapered at ``r_hi``.
    scale_length : float
        Exponential scale length in pixels (``profile='exponential'``).
    hole : float
        Relative depth (0-1) of the central depression (``profile='flat'``).
    dv_chan : float
        Channel width in km/s at the systemic frequency.
    """

    x0: float
    y0: float
    z0: float
    r_hi: float
    incl: float
    pa: float
    v_rot: float
    r_turn: float
    sigma_v: float
    profile: str
    scale_length: float
    hole: float
    dv_chan: float


def disk_extent(p, beam_fwhm):
    """
    Half sizes of the region that holds the significant part of the
    beam-convolved model of a disk (used to keep sources apart; the model
    box of `disk_model` is slightly larger, to hold the far tails).

    Parameters
    ----------
    p : `DiskParameters`
        The disk.
    beam_fwhm : float
        Beam FWHM in pixels.

    Returns
    -------
    hz, hy, hx : float
        Half extents in channels and pixels about the centre.
    """
    sigma_b = fwhm_to_sigma(beam_fwhm)
    taper = 0.05 * p.r_hi + 0.3
    r_max = p.r_hi + 3.0 * taper
    hxy = r_max + 3.0 * sigma_b + 0.5
    v_max = p.v_rot * np.sin(np.radians(p.incl)) + 3.5 * p.sigma_v
    hz = v_max / p.dv_chan + 1.0
    return hz, hxy, hxy


def _surface_density(r, p):
    taper_width = 0.05 * p.r_hi + 0.3
    arg = np.clip((r - p.r_hi) / taper_width, -50, 50)
    taper = 1.0 / (1.0 + np.exp(arg))
    if p.profile == 'exponential':
        return np.exp(-r / p.scale_length) * taper
    if p.profile == 'flat':
        depression = 1.0 - p.hole * np.exp(-0.5 * (r / (0.3 * p.r_hi))**2)
        return depression * taper
    raise ValueError(f"unknown surface-density profile {p.profile!r}; use "
                     "'exponential' or 'flat'")


def disk_model(p, beam_fwhm, *, supersample=3):
    """
    Beam-convolved model of a thin rotating disk on its bounding box.

    The sky plane is sampled on ``supersample**2`` sub-pixels per pixel.
    Each sub-pixel is deprojected onto the disk plane, giving its radius
    and azimuth, hence its surface density (divided by ``cos(incl)``, the
    projected area factor) and line-of-sight velocity.  Its spectrum is a
    Gaussian of dispersion ``sigma_v`` integrated over each channel.  The
    sub-pixels are summed into pixels and the result is convolved with the
    circular Gaussian beam along the two spatial axes.  The model is
    normalised to a total of 1.

    Parameters
    ----------
    p : `DiskParameters`
        The disk.
    beam_fwhm : float
        Beam FWHM in pixels.
    supersample : int, optional
        Sub-pixels per pixel along each spatial axis.

    Returns
    -------
    origin : tuple of int
        ``(z, y, x)`` cube index of the box's first voxel (may be negative
        or beyond the cube: the caller clips).
    model : `~numpy.ndarray`
        The float64 model on the box, summing to 1.
    """
    sigma_b = fwhm_to_sigma(beam_fwhm)
    v_max = p.v_rot * np.sin(np.radians(p.incl)) + 4.0 * p.sigma_v
    hz = v_max / p.dv_chan + 2.0
    taper = 0.05 * p.r_hi + 0.3
    r_max = p.r_hi + 5.0 * taper

    # Integer box: disk part (unconvolved) plus beam margin.
    z_lo = int(np.floor(p.z0 - hz))
    z_hi = int(np.ceil(p.z0 + hz)) + 1
    pad = int(np.ceil(4.0 * sigma_b)) + 1
    y_lo = int(np.floor(p.y0 - r_max)) - 1
    y_hi = int(np.ceil(p.y0 + r_max)) + 2
    x_lo = int(np.floor(p.x0 - r_max)) - 1
    x_hi = int(np.ceil(p.x0 + r_max)) + 2
    ny, nx, nz = y_hi - y_lo, x_hi - x_lo, z_hi - z_lo

    ss = int(supersample)
    sub = (np.arange(ss) + 0.5) / ss - 0.5
    ys = (np.arange(y_lo, y_hi)[:, None] + sub[None, :]).ravel() - p.y0
    xs = (np.arange(x_lo, x_hi)[:, None] + sub[None, :]).ravel() - p.x0
    yy, xx = np.meshgrid(ys, xs, indexing='ij')

    pa = np.radians(p.pa)
    incl = np.radians(p.incl)
    cos_i = max(np.cos(incl), 1e-3)
    # Unit vectors of the receding major axis and of the minor axis.
    x_maj = -xx * np.sin(pa) + yy * np.cos(pa)
    y_min = xx * np.cos(pa) + yy * np.sin(pa)
    xd = x_maj
    yd = y_min / cos_i
    r = np.hypot(xd, yd)

    weight = _surface_density(r, p) / cos_i
    weight[r > r_max] = 0.0
    use = weight > 1e-6 * weight.max()
    r_use = r[use]
    v_circ = p.v_rot * (1.0 - np.exp(-r_use / max(p.r_turn, 1e-3)))
    cos_theta = np.divide(xd[use], r_use, out=np.zeros_like(r_use),
                          where=r_use > 0)
    v_los = v_circ * np.sin(incl) * cos_theta
    # Frequency increases with channel: receding gas sits at lower channels.
    mu = p.z0 - v_los / p.dv_chan - z_lo
    sig = max(p.sigma_v / p.dv_chan, 0.05)
    edges = np.arange(nz + 1, dtype=np.float64) - 0.5
    cdf = special.ndtr((edges[None, :] - mu[:, None]) / sig)
    spectra = np.diff(cdf, axis=1) * weight[use][:, None]

    flat = np.zeros((ny * ss * nx * ss, nz), dtype=np.float64)
    flat[np.flatnonzero(use)] = spectra
    cube = flat.reshape(ny, ss, nx, ss, nz).sum(axis=(1, 3))
    cube = np.moveaxis(cube, -1, 0)

    cube = np.pad(cube, ((0, 0), (pad, pad), (pad, pad)))
    if sigma_b > 0:
        cube = ndimage.gaussian_filter(cube, (0, sigma_b, sigma_b),
                                       mode='constant', truncate=4.0)
    total = cube.sum()
    if total > 0:
        cube /= total
    return (z_lo, y_lo - pad, x_lo - pad), cube
