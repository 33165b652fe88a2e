# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private helpers: the "realism" options of the HI simulator (instrument
variations and artefacts) and the artefact generators.
"""

import numpy as np
from scipy import ndimage

from astro_mlfinder.simulate._noise import fwhm_to_sigma

__all__ = ['REALISM_DEFAULTS', 'channel_rms', 'make_artefacts',
           'random_realism', 'resolve_realism']

#: Every realism option and its "off" value.  Options set to `None` leave
#: the corresponding keyword of `simulate_hi_cube` unchanged.
REALISM_DEFAULTS = {
    # instrument (override the keywords of simulate_hi_cube when not None)
    'beam_fwhm': None,          # beam FWHM in pixels
    'channel_width': None,      # channel width in Hz
    'noise': None,              # noise rms in Jy/beam
    # noise that varies from channel to channel
    'noise_variation': 0.0,     # rms of the smooth fractional variation
    'noisy_channels': 0,        # channels whose rms is raised 1.5-3 times
    # radio-frequency interference: narrow in frequency, extended in space
    'rfi': 0,                   # number of RFI events
    'rfi_amplitude': (3.0, 30.0),   # peak range, in units of the noise rms
    'rfi_width': 3.0,           # maximum FWHM in channels
    # baseline ripple: sinusoid along frequency, amplitude/phase vary on sky
    'ripple_amplitude': 0.0,    # in units of the noise rms
    'ripple_period': 32.0,      # in channels
    # continuum-subtraction residuals of point sources (offset + slope)
    'continuum_sources': 0,
    'continuum_amplitude': 3.0,  # rms of offset and slope, in noise rms
    # source placement
    'edge_sources': None,       # number of galaxies cut by the cube edges
    'sightline_sources': 0,     # galaxies behind others at other frequencies
}

_INSTRUMENT_KEYS = ('beam_fwhm', 'channel_width', 'noise', 'edge_sources')


def random_realism(rng=None, *, n_sources=8):
    """
    Draw a random set of realism options for `simulate_hi_cube`.

    Each artefact is switched on with a probability of about one half, so
    that a neural network sees clean and corrupted cubes; the instrument
    (beam size, channel width, noise level) is always drawn.

    Parameters
    ----------
    rng : `numpy.random.Generator`, int or None, optional
        Random number generator or seed.
    n_sources : int, optional
        Number of sources that will be simulated, used to bound the number
        of galaxies cut by the edges or sharing a sightline.

    Returns
    -------
    options : dict
        Realism options; pass them as ``realism=options``.
    """
    rng = np.random.default_rng(rng)
    n_sources = max(int(n_sources), 0)
    opts = dict(REALISM_DEFAULTS)
    opts['beam_fwhm'] = float(rng.uniform(2.0, 5.0))
    opts['channel_width'] = float(np.exp(rng.uniform(np.log(1.5e4),
                                                     np.log(1.0e5))))
    opts['noise'] = float(np.exp(rng.uniform(np.log(3e-4), np.log(3e-3))))
    if rng.random() < 0.5:
        opts['noise_variation'] = float(rng.uniform(0.02, 0.25))
    if rng.random() < 0.3:
        opts['noisy_channels'] = int(rng.integers(1, 6))
    if rng.random() < 0.5:
        opts['rfi'] = int(rng.integers(1, 4))
        lo = float(rng.uniform(2.0, 10.0))
        opts['rfi_amplitude'] = (lo, lo * float(rng.uniform(1.0, 5.0)))
        opts['rfi_width'] = float(rng.uniform(1.0, 4.0))
    if rng.random() < 0.5:
        opts['ripple_amplitude'] = float(rng.uniform(0.1, 1.0))
        opts['ripple_period'] = float(rng.uniform(8.0, 80.0))
    if rng.random() < 0.5:
        opts['continuum_sources'] = int(rng.integers(1, 4))
        opts['continuum_amplitude'] = float(rng.uniform(1.0, 10.0))
    if rng.random() < 0.5 and n_sources > 0:
        opts['edge_sources'] = int(rng.integers(1, max(n_sources // 3, 1) + 1))
    if rng.random() < 0.3 and n_sources > 1:
        opts['sightline_sources'] = int(rng.integers(1, max(n_sources // 4, 1)
                                                     + 1))
    return opts


def resolve_realism(realism, rng):
    """
    Turn the ``realism`` argument into a full option dictionary.

    Parameters
    ----------
    realism : None, 'realistic' or dict
        `None` switches everything off, ``'realistic'`` draws options with
        `random_realism`, a dict sets the named options (others off).
    rng : `numpy.random.Generator`
        Generator used for ``'realistic'``.

    Returns
    -------
    options : dict
        All options of `REALISM_DEFAULTS`.
    """
    if realism is None or realism is False:
        return dict(REALISM_DEFAULTS)
    if isinstance(realism, str):
        if realism != 'realistic':
            raise ValueError(f"realism must be None, 'realistic' or a dict, "
                             f"got {realism!r}")
        return random_realism(rng)
    if not isinstance(realism, dict):
        raise ValueError(f"realism must be None, 'realistic' or a dict, got "
                         f"{type(realism).__name__}")
    unknown = sorted(set(realism) - set(REALISM_DEFAULTS))
    if unknown:
        raise ValueError(f'unknown realism option(s) {unknown}; valid options '
                         f'are {sorted(REALISM_DEFAULTS)}')
    opts = dict(REALISM_DEFAULTS)
    opts.update(realism)
    for key in ('noise_variation', 'ripple_amplitude', 'continuum_amplitude',
                'rfi_width', 'ripple_period'):
        if float(opts[key]) < 0:
            raise ValueError(f'realism option {key!r} must be >= 0, got '
                             f'{opts[key]}')
    for key in ('noisy_channels', 'rfi', 'continuum_sources',
                'sightline_sources'):
        if int(opts[key]) < 0:
            raise ValueError(f'realism option {key!r} must be >= 0, got '
                             f'{opts[key]}')
    amp = np.atleast_1d(np.asarray(opts['rfi_amplitude'], dtype=float))
    if amp.size not in (1, 2) or np.any(amp < 0):
        raise ValueError("realism option 'rfi_amplitude' must be a number or "
                         "a (low, high) pair of non-negative numbers")
    return opts


def channel_rms(nz, noise, opts, rng):
    """
    Per-channel noise rms.

    Parameters
    ----------
    nz : int
        Number of channels.
    noise : float
        Base noise rms.
    opts : dict
        Realism options (``noise_variation``, ``noisy_channels``).
    rng : `numpy.random.Generator`
        Random number generator.

    Returns
    -------
    rms : `~numpy.ndarray`
        float64 array of length ``nz``.
    """
    rms = np.full(nz, float(noise))
    variation = float(opts['noise_variation'])
    if variation > 0:
        # Smooth variation: a few low-order Fourier modes plus a slope,
        # normalised to the requested fractional rms, bounded to stay > 0.
        t = np.linspace(0.0, 1.0, nz)
        field = rng.normal() * (t - 0.5)
        for k in range(1, 4):
            field = field + (rng.normal() / k) * np.sin(
                2 * np.pi * k * t + rng.uniform(0, 2 * np.pi))
        std = field.std()
        if std > 0:
            field = field / std * variation
        rms *= np.exp(np.clip(field, -1.5, 1.5))
    n_bad = min(int(opts['noisy_channels']), nz)
    if n_bad > 0:
        bad = rng.choice(nz, size=n_bad, replace=False)
        rms[bad] *= rng.uniform(1.5, 3.0, size=n_bad)
    return rms


def _smooth_field(shape, scale, rng):
    """Smooth random 2D field with zero mean and unit rms."""
    field = rng.standard_normal(shape)
    field = ndimage.gaussian_filter(field, scale, mode='wrap')
    std = field.std()
    field -= field.mean()
    return field / std if std > 0 else field


def make_artefacts(shape, rms, beam_fwhm, opts, rng):
    """
    Additive artefacts: RFI, baseline ripples and continuum residuals.

    Parameters
    ----------
    shape : tuple of int
        ``(z, y, x)`` cube shape.
    rms : `~numpy.ndarray`
        Per-channel noise rms (amplitudes are given in its median).
    beam_fwhm : float
        Beam FWHM in pixels (shape of the continuum residuals).
    opts : dict
        Realism options.
    rng : `numpy.random.Generator`
        Random number generator.

    Returns
    -------
    artefacts : `~numpy.ndarray` or None
        float32 cube of artefacts, `None` if there are none.
    info : dict
        What was added: ``rfi_channels`` (list of central channels),
        ``continuum_positions`` (list of ``(y, x)``).
    """
    nz, ny, nx = shape
    sigma = float(np.median(rms))
    out = None
    info = {'rfi_channels': [], 'continuum_positions': []}
    z = np.arange(nz, dtype=np.float64)

    def _add(term):
        nonlocal out
        if out is None:
            out = np.zeros(shape, dtype=np.float32)
        out += term.astype(np.float32, copy=False)

    n_rfi = int(opts['rfi'])
    if n_rfi > 0:
        amp_range = np.atleast_1d(np.asarray(opts['rfi_amplitude'], float))
        lo, hi = amp_range[0], amp_range[-1]
        yy, xx = np.mgrid[0:ny, 0:nx] / max(ny, nx)
        for _ in range(n_rfi):
            zc = rng.uniform(0, nz - 1)
            width = rng.uniform(0.5, max(float(opts['rfi_width']), 0.5))
            amp = rng.uniform(lo, hi) * sigma
            # Spatially extended: a gradient plus a smooth random field,
            # positive on average (interference adds power everywhere).
            grad = rng.normal(size=2)
            pattern = (1.0 + 0.5 * (grad[0] * (yy - 0.5) + grad[1] * (xx - 0.5))
                       + 0.3 * _smooth_field((ny, nx), max(ny, nx) / 6, rng))
            pattern = np.clip(pattern, 0.0, None)
            # Interference is also noise-like: modulate with a random sign
            # pattern on the beam scale so that it has excess variance.
            speckle = ndimage.gaussian_filter(
                rng.standard_normal((ny, nx)), fwhm_to_sigma(beam_fwhm),
                mode='wrap')
            speckle /= speckle.std() if speckle.std() > 0 else 1.0
            profile = np.exp(-0.5 * ((z - zc) / (width * 0.4247))**2)
            profile[profile < 1e-3] = 0.0
            spatial = pattern * (1.0 + 0.7 * speckle)
            _add(amp * profile[:, None, None] * spatial[None])
            info['rfi_channels'].append(float(zc))

    ripple_amp = float(opts['ripple_amplitude'])
    if ripple_amp > 0:
        period = max(float(opts['ripple_period']), 2.0)
        amp_map = ripple_amp * sigma * np.clip(
            1.0 + 0.5 * _smooth_field((ny, nx), max(ny, nx) / 4, rng), 0, None)
        phase_map = (rng.uniform(0, 2 * np.pi)
                     + 1.5 * _smooth_field((ny, nx), max(ny, nx) / 3, rng))
        _add(amp_map[None] * np.sin(2 * np.pi * z[:, None, None] / period
                                    + phase_map[None]))

    n_cont = int(opts['continuum_sources'])
    if n_cont > 0:
        cont_amp = float(opts['continuum_amplitude']) * sigma
        sig_b = max(fwhm_to_sigma(beam_fwhm), 0.3)
        yy, xx = np.mgrid[0:ny, 0:nx]
        t = (z - 0.5 * (nz - 1)) / max(nz - 1, 1)
        for _ in range(n_cont):
            yc, xc = rng.uniform(0, ny - 1), rng.uniform(0, nx - 1)
            image = np.exp(-0.5 * ((yy - yc)**2 + (xx - xc)**2) / sig_b**2)
            c0, c1, c2 = rng.normal(0.0, cont_amp, size=3)
            spectrum = c0 + 2.0 * c1 * t + 0.5 * c2 * (t**2 - 1.0 / 12)
            _add(spectrum[:, None, None] * image[None])
            info['continuum_positions'].append((float(yc), float(xc)))
    return out, info
