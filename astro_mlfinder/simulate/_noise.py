# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private helpers for the simulators: Gaussian beam geometry and
beam-correlated noise.
"""

import numpy as np
from scipy import ndimage

__all__ = ['FWHM_TO_SIGMA', 'beam_area_pixels', 'correlated_noise',
           'fwhm_to_sigma']

#: Conversion factor from a Gaussian FWHM to its standard deviation.
FWHM_TO_SIGMA = 1.0 / np.sqrt(8.0 * np.log(2.0))


def fwhm_to_sigma(fwhm):
    """
    Convert a Gaussian FWHM to its standard deviation.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum.

    Returns
    -------
    sigma : float
        Standard deviation.
    """
    return float(fwhm) * FWHM_TO_SIGMA


def beam_area_pixels(bmaj, bmin=None):
    """
    Area of a Gaussian beam in pixels, ``pi * bmaj * bmin / (4 ln 2)``.

    Parameters
    ----------
    bmaj : float
        Beam major-axis FWHM in pixels.
    bmin : float, optional
        Beam minor-axis FWHM in pixels (``bmaj`` if not given).

    Returns
    -------
    area : float
        Beam solid angle in pixels.
    """
    if bmin is None:
        bmin = bmaj
    return float(np.pi * bmaj * bmin / (4.0 * np.log(2.0)))


def correlated_noise(shape, beam_fwhm, rms, rng, *, dtype=np.float32,
                     exact=True):
    """
    Gaussian noise whose spatial autocorrelation is the beam.

    White Gaussian noise is smoothed along the two spatial axes with a
    Gaussian of standard deviation ``sigma_beam / sqrt(2)``, so that the
    autocorrelation function of the result is a Gaussian of standard
    deviation ``sigma_beam``, i.e. the beam itself.  This is the case for
    interferometric images, where the noise autocorrelation is the
    synthesised beam, and it makes the variance of a sum of noise over a
    region much larger than the beam equal to ``rms**2 * n_pix * Omega``
    (``Omega`` = beam area in pixels), which is the denominator of the
    integrated signal-to-noise ratio used by SoFiA-2.  Each channel is then
    rescaled to the requested rms.

    Parameters
    ----------
    shape : tuple of int
        ``(z, y, x)`` (or ``(y, x)``) shape.
    beam_fwhm : float
        Beam FWHM in pixels (0 gives white noise).
    rms : float or array_like
        Requested noise rms, a scalar or one value per channel (length
        ``shape[0]`` for a cube).
    rng : `numpy.random.Generator`
        Random number generator.
    dtype : dtype, optional
        Output dtype.
    exact : bool, optional
        If `True`, each channel is rescaled to have exactly the requested
        rms (sample standard deviation); otherwise the theoretical
        smoothing loss is divided out, which leaves the usual sampling
        scatter of the rms.

    Returns
    -------
    noise : `~numpy.ndarray`
        The noise array.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3):
        raise ValueError(f'noise shape must be 2D or 3D, got {shape}')
    noise = rng.standard_normal(shape, dtype=np.float32)
    sigma = fwhm_to_sigma(beam_fwhm) / np.sqrt(2.0)
    spatial = (0, sigma, sigma) if len(shape) == 3 else (sigma, sigma)
    if sigma > 0:
        noise = ndimage.gaussian_filter(noise, spatial, mode='wrap',
                                        truncate=4.0)
    if exact:
        axes = (-2, -1)
        std = noise.std(axis=axes, keepdims=True, dtype=np.float64)
        mean = noise.mean(axis=axes, keepdims=True, dtype=np.float64)
        std[std == 0] = 1.0
        noise = ((noise - mean) / std).astype(np.float32)
    elif sigma > 0:
        # The variance of white noise after Gaussian smoothing is the sum
        # of the squared kernel weights; measure it on a delta function.
        size = 2 * int(np.ceil(4 * sigma)) + 1
        delta = np.zeros((size, size), dtype=np.float64)
        delta[size // 2, size // 2] = 1.0
        kernel = ndimage.gaussian_filter(delta, sigma, mode='constant',
                                         truncate=4.0)
        noise /= np.float32(np.sqrt((kernel**2).sum()))

    rms = np.asarray(rms, dtype=np.float64)
    if rms.ndim == 1 and len(shape) == 3:
        if rms.size != shape[0]:
            raise ValueError(f'per-channel rms has {rms.size} values but the '
                             f'cube has {shape[0]} channels')
        rms = rms[:, None, None]
    elif rms.ndim != 0:
        raise ValueError('rms must be a scalar or a 1D per-channel array')
    return (noise * rms).astype(dtype, copy=False)
