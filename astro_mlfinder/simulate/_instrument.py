# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private helpers: what a radio telescope does to an HI cube.

* `beam_kernel` / `convolve_beam` -- an elliptical, rotated Gaussian beam;
* `beam_noise` -- noise whose spatial autocorrelation is that beam;
* `hanning` / `boxcar` -- spectral response (Hanning smoothing of WSRT/ATCA
  spectra, the boxcar resampling of single-dish spectra), which also
  correlates the noise of neighbouring channels;
* `pixel_noise_map` -- how the noise varies across the field: uniform,
  primary-beam corrected (grows towards the edges), a mosaic of beams
  (ASKAP footprints), drift-scan stripes (single dish);
* `blank_edges` / `flag_channels` -- NaN regions outside the usable field and
  channels flagged for RFI.
"""

import numpy as np
from scipy import ndimage, signal

from astro_mlfinder.simulate._noise import FWHM_TO_SIGMA

__all__ = ['NOISE_PATTERNS', 'beam_kernel', 'beam_noise', 'blank_edges', 'boxcar',
           'convolve_beam', 'flag_channels', 'hanning', 'pixel_noise_map']

#: Spatial noise patterns of `pixel_noise_map`.
NOISE_PATTERNS = ('uniform', 'primary_beam', 'mosaic', 'stripes')


def beam_kernel(bmaj, bmin, bpa, *, scale=1.0, truncate=4.0):
    """
    Elliptical Gaussian kernel of unit sum.

    Parameters
    ----------
    bmaj, bmin : float
        Major and minor FWHM in pixels.
    bpa : float
        Position angle of the major axis in degrees, from +y (north) towards -x
        (east, for a RA axis with negative CDELT1).
    scale : float, optional
        Factor applied to the standard deviations (``1/sqrt(2)`` gives the kernel
        whose autocorrelation is the beam).
    truncate : float, optional
        Half size of the kernel in standard deviations of the major axis.

    Returns
    -------
    kernel : `~numpy.ndarray`
        float64 2D ``(y, x)`` kernel, odd-sized.
    """
    smaj = max(float(bmaj) * FWHM_TO_SIGMA * scale, 1e-3)
    smin = max(float(bmin) * FWHM_TO_SIGMA * scale, 1e-3)
    half = max(int(np.ceil(truncate * smaj)), 1)
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    pa = np.radians(bpa)
    # coordinate along the major axis: direction (-sin pa, cos pa) in (x, y)
    u = -xx * np.sin(pa) + yy * np.cos(pa)
    v = xx * np.cos(pa) + yy * np.sin(pa)
    kernel = np.exp(-0.5 * ((u / smaj)**2 + (v / smin)**2))
    return kernel / kernel.sum()


def convolve_beam(cube, bmaj, bmin, bpa):
    """Convolve every channel of ``cube`` with the elliptical beam (the sum of the cube is kept)."""
    kernel = beam_kernel(bmaj, bmin, bpa)
    return signal.fftconvolve(cube, kernel[None], mode='same', axes=(1, 2))


def beam_noise(shape, bmaj, bmin, bpa, rng):
    """
    Unit-rms noise whose spatial autocorrelation is the elliptical beam.

    White noise is convolved with the beam kernel scaled by ``1/sqrt(2)``
    (a Gaussian convolved with itself doubles its variance); each channel is
    then rescaled to unit sample rms.

    Returns
    -------
    noise : `~numpy.ndarray`
        float32 ``(z, y, x)``.
    """
    kernel = beam_kernel(bmaj, bmin, bpa, scale=1 / np.sqrt(2.0))
    white = rng.standard_normal(shape, dtype=np.float32)
    half = kernel.shape[0] // 2
    # wrap-pad so that the noise is stationary up to the edges
    padded = np.pad(white, ((0, 0), (half, half), (half, half)), mode='wrap')
    noise = signal.fftconvolve(padded, kernel[None].astype(np.float32), mode='valid', axes=(1, 2))
    noise -= noise.mean(axis=(1, 2), keepdims=True)
    std = noise.std(axis=(1, 2), keepdims=True)
    std[std == 0] = 1.0
    return (noise / std).astype(np.float32)


def hanning(cube, axis=0):
    """Hanning smoothing (weights 1/4, 1/2, 1/4) along ``axis``."""
    return ndimage.convolve1d(cube, np.array([0.25, 0.5, 0.25], dtype=cube.dtype), axis=axis, mode='nearest')


def boxcar(cube, width, axis=0):
    """Boxcar smoothing of ``width`` channels along ``axis`` (1 leaves the cube unchanged)."""
    width = int(width)
    if width <= 1:
        return cube
    return ndimage.uniform_filter1d(cube, width, axis=axis, mode='nearest')


def pixel_noise_map(shape2d, pattern, rng, *, beam_fwhm=3.0):
    """
    Relative noise level of every pixel.

    Parameters
    ----------
    shape2d : tuple of int
        ``(y, x)``.
    pattern : str
        One of `NOISE_PATTERNS`: ``'uniform'`` (1 everywhere);
        ``'primary_beam'``: ``1/PB`` of a Gaussian primary beam 1.5-4 fields
        wide centred near the field (a primary-beam corrected image);
        ``'mosaic'``: ``1/sqrt(sum PB_k**2)`` of a square grid of beams
        (the footprint of a phased-array feed), 10-30 % ripples;
        ``'stripes'``: drift-scan stripes along a random axis, 5-20 % per row.
    rng : `numpy.random.Generator`
        Random number generator.
    beam_fwhm : float, optional
        Synthesised beam (smoothing scale of the stripes).

    Returns
    -------
    factor : `~numpy.ndarray`
        float64 ``(y, x)`` map with median 1.
    pb : `~numpy.ndarray` or None
        The primary-beam response where the pattern has one (used to blank the
        edges), else `None`.
    """
    ny, nx = shape2d
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    pb = None
    if pattern == 'uniform':
        factor = np.ones((ny, nx))
    elif pattern == 'primary_beam':
        size = max(ny, nx)
        fwhm = rng.uniform(1.5, 4.0) * size
        yc, xc = (ny - 1) / 2 + rng.normal(0, 0.2 * ny), (nx - 1) / 2 + rng.normal(0, 0.2 * nx)
        pb = np.exp(-4 * np.log(2) * ((yy - yc)**2 + (xx - xc)**2) / fwhm**2)
        factor = 1.0 / np.maximum(pb, 0.05)
    elif pattern == 'mosaic':
        spacing = rng.uniform(0.4, 0.9) * max(ny, nx)
        fwhm = spacing * rng.uniform(1.0, 1.3)
        y0, x0 = rng.uniform(0, spacing, 2)
        total = np.zeros((ny, nx))
        for yc in np.arange(y0 - spacing, ny + spacing, spacing):
            for xc in np.arange(x0 - spacing, nx + spacing, spacing):
                total += np.exp(-8 * np.log(2) * ((yy - yc)**2 + (xx - xc)**2) / fwhm**2)
        pb = np.sqrt(total / total.max())
        factor = 1.0 / np.maximum(pb, 0.05)
    elif pattern == 'stripes':
        axis = int(rng.integers(0, 2))
        n = (ny, nx)[axis]
        rows = 1.0 + rng.uniform(0.05, 0.2) * ndimage.gaussian_filter1d(
            rng.standard_normal(n), max(beam_fwhm * FWHM_TO_SIGMA, 0.5), mode='wrap') * np.sqrt(beam_fwhm)
        rows = np.clip(rows, 0.5, 2.0)
        factor = np.repeat(rows[:, None], nx, axis=1) if axis == 0 else np.repeat(rows[None, :], ny, axis=0)
    else:
        raise ValueError(f'unknown noise pattern {pattern!r}; choose from {NOISE_PATTERNS}')
    return factor / np.median(factor), pb


def blank_edges(shape2d, rng, *, pb=None, level=None):
    """
    Pixels outside the usable field (True = blank).

    With a primary beam ``pb`` the field ends where it falls below ``level``
    (0.1-0.3 if not given); otherwise one edge of the field is cut by a straight,
    slanted boundary (the edge of a mosaic), 3-20 % of the field deep.
    """
    ny, nx = shape2d
    if pb is not None:
        level = rng.uniform(0.1, 0.3) if level is None else float(level)
        return pb < level
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    side = int(rng.integers(0, 4))
    depth = rng.uniform(0.03, 0.2)
    slope = rng.uniform(-0.3, 0.3)
    if side in (0, 1):
        t = yy / ny if side == 0 else 1 - yy / ny
        return t < depth + slope * (xx / nx - 0.5)
    t = xx / nx if side == 2 else 1 - xx / nx
    return t < depth + slope * (yy / ny - 0.5)


def flag_channels(nz, rng, *, n_blocks=1, max_width=8):
    """
    Channels flagged (NaN) for RFI: ``n_blocks`` runs of 1-``max_width`` channels.

    Returns
    -------
    flagged : `~numpy.ndarray` of bool
        True for flagged channels.
    """
    flagged = np.zeros(nz, dtype=bool)
    for _ in range(int(n_blocks)):
        width = int(rng.integers(1, max(int(max_width), 1) + 1))
        start = int(rng.integers(0, max(nz - width, 1)))
        flagged[start:start + width] = True
    return flagged
