# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Radio telescopes as the HI simulator sees them: instrument presets and the
FITS conventions of their data products.

Each entry of `TELESCOPES` gives the ranges from which `draw_instrument`
draws one observation -- beam size (pixels) and elongation, channel width,
Hanning smoothing, spectral boxcar, noise pattern across the field, NaN
edges, flagged channels, RFI, baseline ripple and continuum residuals -- and
the conventions of the cubes such a telescope's pipeline writes
(`to_telescope_hdu`): spectral axis type and unit, projection, a degenerate
STOKES axis, the spelling of ``BUNIT`` and the flux unit.

=========  ===========================  ======================================
telescope  data products                 conventions written
=========  ===========================  ======================================
WSRT       WHISP (GIPSY)                 VELO-HEL in m/s, RA---NCP, Jy/beam,
                                         N-S elongated beam, Hanning
ATCA       Miriad                        4D with STOKES, VELO-LSR without CUNIT3,
                                         RA---NCP, JY/BEAM, Hanning half the time
ASKAP      WALLABY (ASKAPsoft)           4D (FREQ, STOKES), Jy/beam, mosaic noise
                                         pattern, NaN outside the footprint
MeerKAT    MHONGOOSE/MIGHTEE (CASA)      FREQ, JY/BEAM, primary-beam corrected
                                         noise, NaN beyond the primary beam
FAST       CRAFTS/FASHI (single dish)    VRAD in km/s, mJy/beam, drift-scan
                                         stripes, strong RFI and standing waves
=========  ===========================  ======================================
"""

import numpy as np
from astropy.io import fits

__all__ = ['TELESCOPES', 'draw_instrument', 'to_telescope_hdu']

_C_MS = 299792458.0

#: Instrument presets: ``(low, high)`` ranges are drawn uniformly (log-uniformly
#: for ``channel_width`` and ``noise``), probabilities switch an effect on.
TELESCOPES = {
    'WSRT': dict(beam_fwhm=(2.5, 4.5), beam_ratio=(1.0, 2.5), beam_pa=(-5.0, 5.0),
                 channel_width=(1.0e4, 4.0e4), hanning=1.0, boxcar=(1, 1),
                 noise=(1e-3, 4e-3), noise_patterns=('uniform', 'primary_beam'),
                 nan_edges=0.2, flagged_channels=0.1, rfi=0.2, ripple=0.2, continuum=0.6,
                 spectral='VELO-HEL', spectral_unit='m/s', projection='NCP', stokes=False,
                 bunit='Jy/beam', flux_scale=1.0),
    'ATCA': dict(beam_fwhm=(2.5, 5.0), beam_ratio=(1.0, 1.8), beam_pa=(-90.0, 90.0),
                 channel_width=(1.5e4, 6.0e4), hanning=0.5, boxcar=(1, 1),
                 noise=(1e-3, 5e-3), noise_patterns=('uniform', 'primary_beam'),
                 nan_edges=0.3, flagged_channels=0.2, rfi=0.4, ripple=0.3, continuum=0.7,
                 spectral='VELO-LSR', spectral_unit=None, projection='NCP', stokes=True,
                 bunit='JY/BEAM', flux_scale=1.0),
    'ASKAP': dict(beam_fwhm=(4.0, 5.5), beam_ratio=(1.0, 1.15), beam_pa=(-90.0, 90.0),
                  channel_width=(1.85e4, 1.86e4), hanning=0.0, boxcar=(1, 1),
                  noise=(1.2e-3, 2.5e-3), noise_patterns=('mosaic',),
                  nan_edges=0.5, flagged_channels=0.5, rfi=0.3, ripple=0.2, continuum=0.5,
                  spectral='FREQ', spectral_unit='Hz', projection='SIN', stokes=True,
                  bunit='Jy/beam', flux_scale=1.0),
    'MeerKAT': dict(beam_fwhm=(3.0, 7.0), beam_ratio=(1.0, 1.3), beam_pa=(-90.0, 90.0),
                    channel_width=(1.3e4, 5.0e4), hanning=0.0, boxcar=(1, 1),
                    noise=(1e-4, 6e-4), noise_patterns=('primary_beam', 'uniform'),
                    nan_edges=0.5, flagged_channels=0.3, rfi=0.5, ripple=0.2, continuum=0.6,
                    spectral='FREQ', spectral_unit='Hz', projection='SIN', stokes=False,
                    bunit='JY/BEAM', flux_scale=1.0),
    'FAST': dict(beam_fwhm=(2.2, 3.5), beam_ratio=(1.0, 1.1), beam_pa=(-90.0, 90.0),
                 channel_width=(7.6e3, 3.0e4), hanning=0.0, boxcar=(1, 3),
                 noise=(5e-4, 2e-3), noise_patterns=('stripes', 'uniform'),
                 nan_edges=0.2, flagged_channels=0.4, rfi=0.8, ripple=0.7, continuum=0.3,
                 spectral='VRAD', spectral_unit='km/s', projection='SIN', stokes=False,
                 bunit='mJy/beam', flux_scale=1.0e3),
}


def _uniform(rng, rng_range, log=False):
    lo, hi = (float(v) for v in rng_range)
    if log:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


def draw_instrument(telescope, rng):
    """
    Draw the instrument of one observation with ``telescope``.

    Parameters
    ----------
    telescope : str or dict
        A key of `TELESCOPES` or a dict with the same keys.
    rng : `numpy.random.Generator`
        Random number generator.

    Returns
    -------
    instrument : dict
        ``telescope``, ``bmaj``, ``bmin`` (pixels), ``bpa`` (deg),
        ``channel_width`` (Hz), ``hanning`` (bool), ``boxcar`` (channels),
        ``noise`` (Jy/beam), ``noise_pattern``, ``nan_edges``,
        ``flagged_blocks`` (number of NaN channel runs) and ``realism`` (the
        options of the artefacts of `~astro_mlfinder.simulate.random_realism`).
    """
    name = telescope if isinstance(telescope, str) else telescope.get('name', 'custom')
    if isinstance(telescope, str):
        if telescope not in TELESCOPES:
            raise ValueError(f'unknown telescope {telescope!r}; choose from {sorted(TELESCOPES)} '
                             'or pass a dict with the keys of one of them')
        preset = TELESCOPES[telescope]
    else:
        missing = sorted(set(TELESCOPES['WSRT']) - set(telescope))
        if missing:
            raise ValueError(f'telescope dict lacks {missing}')
        preset = telescope
    bmaj = _uniform(rng, preset['beam_fwhm'])
    inst = {
        'telescope': name,
        'bmaj': bmaj,
        'bmin': bmaj / _uniform(rng, preset['beam_ratio']),
        'bpa': _uniform(rng, preset['beam_pa']),
        'channel_width': _uniform(rng, preset['channel_width'], log=True),
        'hanning': bool(rng.random() < preset['hanning']),
        'boxcar': int(rng.integers(preset['boxcar'][0], preset['boxcar'][1] + 1)),
        'noise': _uniform(rng, preset['noise'], log=True),
        'noise_pattern': str(rng.choice(preset['noise_patterns'])),
        'nan_edges': bool(rng.random() < preset['nan_edges']),
        'flagged_blocks': int(rng.integers(1, 4)) if rng.random() < preset['flagged_channels'] else 0,
    }
    realism = {'noise_variation': float(rng.uniform(0.02, 0.25)) if rng.random() < 0.5 else 0.0,
               'noisy_channels': int(rng.integers(1, 6)) if rng.random() < 0.3 else 0}
    if rng.random() < preset['rfi']:
        lo = float(rng.uniform(2.0, 10.0))
        realism.update(rfi=int(rng.integers(1, 4)), rfi_amplitude=(lo, lo * float(rng.uniform(1.0, 5.0))),
                       rfi_width=float(rng.uniform(1.0, 4.0)))
    if rng.random() < preset['ripple']:
        realism.update(ripple_amplitude=float(rng.uniform(0.1, 1.0)), ripple_period=float(rng.uniform(8.0, 80.0)))
    if rng.random() < preset['continuum']:
        realism.update(continuum_sources=int(rng.integers(1, 4)), continuum_amplitude=float(rng.uniform(1.0, 10.0)))
    inst['realism'] = realism
    return inst


def _velocity_axis(header, kind, unit, rest):
    """Rewrite a FREQ axis 3 of ``header`` as a velocity axis (linearised at the reference pixel)."""
    f0 = header['CRVAL3'] + (1 - header['CRPIX3']) * header['CDELT3']
    df = header['CDELT3']
    if kind == 'VRAD':
        v0, dv = _C_MS * (1 - f0 / rest), -_C_MS * df / rest
    else:  # optical velocity, as GIPSY's VELO-HEL and Miriad's VELO-LSR
        v0, dv = _C_MS * (rest / f0 - 1), -_C_MS * rest * df / f0**2
    scale = {'m/s': 1.0, 'km/s': 1e-3, None: 1.0}[unit]
    header['CTYPE3'] = kind
    header['CRPIX3'] = 1.0
    header['CRVAL3'] = v0 * scale
    header['CDELT3'] = dv * scale
    if unit is None:
        del header['CUNIT3']
        header.add_history('velocity axis in m/s (no CUNIT3, as Miriad writes it)')
    else:
        header['CUNIT3'] = unit
    return header


def to_telescope_hdu(sim, telescope):
    """
    The data of a simulation as the named telescope's pipeline would write them.

    Parameters
    ----------
    sim : `~astro_mlfinder.simulate.HISimulation`
        A simulation in Jy/beam on a frequency axis (as `simulate_hi_cube` and
        `~astro_mlfinder.simulate.simulate_telescope_cube` return it).
    telescope : str
        A key of `TELESCOPES`.

    Returns
    -------
    hdu : `~astropy.io.fits.PrimaryHDU`
        The data multiplied by the preset's ``flux_scale`` (e.g. 1000 for
        mJy/beam), with the spectral axis type and unit, projection, STOKES axis
        and ``BUNIT`` spelling of the telescope.
    """
    if telescope not in TELESCOPES:
        raise ValueError(f'unknown telescope {telescope!r}; choose from {sorted(TELESCOPES)}')
    preset = TELESCOPES[telescope]
    header = sim.header.copy()
    rest = float(header.get('RESTFRQ', 1.420405752e9))
    if preset['spectral'] != 'FREQ':
        header = _velocity_axis(header, preset['spectral'], preset['spectral_unit'], rest)
    if preset['projection'] != 'SIN':
        header['CTYPE1'] = 'RA---' + preset['projection']
        header['CTYPE2'] = 'DEC--' + preset['projection']
    header['BUNIT'] = preset['bunit']
    header['TELESCOP'] = telescope
    data = (sim.data * np.float32(preset['flux_scale'])).astype(np.float32)
    if preset['stokes']:
        data = data[None]
        header['WCSAXES'] = 4
        header['CTYPE4'] = 'STOKES'
        header['CRPIX4'] = 1.0
        header['CRVAL4'] = 1.0
        header['CDELT4'] = 1.0
    return fits.PrimaryHDU(data=data, header=header)
