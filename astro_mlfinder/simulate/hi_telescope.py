# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated HI cubes that look like a given radio telescope's: galaxies of many
morphologies (`astro_mlfinder.simulate._morphology`) observed with an
instrument drawn from `astro_mlfinder.simulate.telescopes.TELESCOPES`
(elliptical beam, channel width, Hanning or boxcar spectral response, noise
pattern across the field, NaN edges and flagged channels, RFI, ripples and
continuum residuals).

`simulate_hi_cube` stays the reference simulator (thin axisymmetric discs,
one instrument); this one is its independent sibling for training data and
for validation sets that differ from training.
"""

import warnings
from types import SimpleNamespace

import numpy as np
from astropy.wcs import WCS

from astro_mlfinder.simulate._hi_sources import _C_KMS, HI_REST_FREQUENCY, _solve_amplitude
from astro_mlfinder.simulate._hi_truth import _renumber, _truth_table
from astro_mlfinder.simulate._instrument import (
    beam_noise,
    blank_edges,
    boxcar,
    convolve_beam,
    flag_channels,
    hanning,
    pixel_noise_map,
)
from astro_mlfinder.simulate._morphology import MORPHOLOGIES, draw_shape, galaxy_particles, grid_particles
from astro_mlfinder.simulate._noise import FWHM_TO_SIGMA, beam_area_pixels
from astro_mlfinder.simulate._realism import REALISM_DEFAULTS, channel_rms, make_artefacts
from astro_mlfinder.simulate.hi import HISimulation, _check_range, make_hi_header
from astro_mlfinder.simulate.telescopes import draw_instrument

from ..core.exceptions import AstroMLFinderWarning

__all__ = ['simulate_telescope_cube']

_DEFAULT_MIX = {'disk': 0.25, 'warped': 0.15, 'lopsided': 0.15, 'dwarf': 0.2, 'edge_on': 0.1,
                'interacting': 0.1, 'large': 0.05}


def _mix(morphologies):
    if morphologies is None:
        morphologies = _DEFAULT_MIX
    if isinstance(morphologies, str):
        morphologies = {morphologies: 1.0}
    if isinstance(morphologies, (list, tuple)):
        morphologies = {m: 1.0 for m in morphologies}
    unknown = sorted(set(morphologies) - set(MORPHOLOGIES) - {'large'})
    if unknown:
        raise ValueError(f'unknown morphology {unknown}; choose from {list(MORPHOLOGIES) + ["large"]}')
    names = list(morphologies)
    p = np.asarray([float(morphologies[n]) for n in names])
    if np.any(p < 0) or p.sum() <= 0:
        raise ValueError('morphology weights must be >= 0 with a positive sum')
    return names, p / p.sum()


def simulate_telescope_cube(shape=(128, 96, 96), n_sources=4, *, telescope='WSRT', seed=0,
                            snr_range=(3.0, 30.0), snr=None, size_range=(2.0, 10.0),
                            morphologies=None, mask_threshold=0.5, freq0=1.40e9, pixel_scale=10.0,
                            center=(150.0, 30.0), n_particles=60000):
    """
    Simulate an HI cube as observed by a given telescope.

    Parameters
    ----------
    shape : tuple of 3 int, optional
        ``(z, y, x)``.
    n_sources : int, optional
        Number of galaxies (an interacting pair counts as one).
    telescope : str or dict, optional
        Key of `~astro_mlfinder.simulate.telescopes.TELESCOPES` (``'WSRT'``,
        ``'ATCA'``, ``'ASKAP'``, ``'MeerKAT'``, ``'FAST'``) or a preset dict.
    seed : int, `numpy.random.SeedSequence` or None, optional
        Random seed.
    snr_range : tuple of float, optional
        Integrated SNR range (log-uniform), in the truth mask, as `simulate_hi_cube`.
    snr : array_like, optional
        Explicit SNR per source.
    size_range : tuple of float, optional
        HI radius range in pixels (log-uniform); ``'large'`` galaxies are 0.6-1.2
        times the larger spatial size of the cube and usually cut by its edges.
    morphologies : dict, list or str, optional
        Weights of the morphologies (`~astro_mlfinder.simulate._morphology.MORPHOLOGIES`
        plus ``'large'``, a disc larger than the cube); default: a mix of all.
    mask_threshold : float, optional
        Truth mask: the source's noiseless model above ``mask_threshold`` times the
        local noise rms (channel rms times the pixel's noise factor).
    freq0, pixel_scale, center : optional
        Frequency of channel 0 (Hz), pixel size (arcsec), field centre (deg).
    n_particles : int, optional
        Gas particles per galaxy disc.

    Returns
    -------
    sim : `~astro_mlfinder.simulate.HISimulation`
        Data in Jy/beam on a frequency axis (see
        `~astro_mlfinder.simulate.telescopes.to_telescope_hdu` for the
        telescope's FITS conventions); ``sim.realism`` holds the instrument
        drawn, ``sim.truth['profile']`` the morphology of each source.  NaN marks
        blank edges and flagged channels.
    """
    shape = tuple(int(n) for n in np.atleast_1d(shape))
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f'shape must be (z, y, x) with every axis >= 8, got {shape}')
    n_sources = int(n_sources)
    if n_sources < 0:
        raise ValueError(f'n_sources must be >= 0, got {n_sources}')
    snr_lo, snr_hi = _check_range('snr_range', snr_range)
    size_lo, size_hi = _check_range('size_range', size_range)
    names, weights = _mix(morphologies)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    inst_rng, src_rng, noise_rng, art_rng = (np.random.default_rng(s) for s in ss.spawn(4))

    inst = draw_instrument(telescope, inst_rng)
    nz, ny, nx = shape
    channel_width = inst['channel_width']
    bmaj, bmin, bpa = inst['bmaj'], inst['bmin'], inst['bpa']
    omega = beam_area_pixels(bmaj, bmin)
    opts = dict(REALISM_DEFAULTS, **inst['realism'])
    rms = channel_rms(nz, inst['noise'], opts, inst_rng)
    pix, pb = pixel_noise_map((ny, nx), inst['noise_pattern'], inst_rng, beam_fwhm=bmaj)

    if snr is not None:
        targets = np.atleast_1d(np.asarray(snr, dtype=float))
        if targets.size != n_sources or np.any(targets <= 0):
            raise ValueError(f'snr must hold {n_sources} positive values')
    else:
        targets = np.exp(src_rng.uniform(np.log(snr_lo), np.log(snr_hi), size=n_sources))

    def spectral(cube):
        if inst['hanning']:
            cube = hanning(cube)
        return boxcar(cube, inst['boxcar'])

    # --- galaxies --------------------------------------------------------------
    records, models = [], []
    labels = np.zeros(shape, dtype=np.int32)
    model = np.zeros(shape, dtype=np.float32)
    occupied = np.zeros(shape, dtype=bool)
    rms_vox = rms[:, None, None] * pix[None]
    for target in targets:
        kind = str(src_rng.choice(names, p=weights))
        if kind == 'large':
            r_hi = src_rng.uniform(0.6, 1.2) * max(ny, nx)
            shape_p = draw_shape('disk', src_rng, r_hi=r_hi)
        else:
            r_hi = float(np.exp(src_rng.uniform(np.log(size_lo), np.log(size_hi))))
            shape_p = draw_shape(kind, src_rng, r_hi=r_hi)
        freq_c = freq0 + 0.5 * nz * channel_width
        dv = _C_KMS * channel_width * HI_REST_FREQUENCY / freq_c**2
        v_ext = shape_p['v_rot'] * np.sin(np.radians(shape_p['incl'])) + 3 * shape_p['sigma_v']
        hz = min(v_ext / dv, 0.45 * nz)
        x, y, v, w = galaxy_particles(shape_p, src_rng, n=n_particles)
        origin0, box = grid_particles(x, y, v, w, centre=(0.0, 0.0, 0.0), dv_chan=dv, sigma_v=shape_p['sigma_v'],
                                      pad=(2 + inst['boxcar'], int(np.ceil(4 * bmaj * FWHM_TO_SIGMA)) + 1))
        box = spectral(convolve_beam(box, bmaj, bmin, bpa))
        box[box < 1e-6 * box.max()] = 0.0  # FFT round-off far from the source
        for _attempt in range(8):
            if kind == 'large':
                centre = (src_rng.uniform(hz, nz - hz), src_rng.uniform(0, ny), src_rng.uniform(0, nx))
            else:
                hxy = min(r_hi + bmaj, 0.45 * min(ny, nx))
                centre = (src_rng.uniform(hz, nz - 1 - hz), src_rng.uniform(hxy, ny - 1 - hxy),
                          src_rng.uniform(hxy, nx - 1 - hxy))
            origin = [o + int(round(c)) for o, c in zip(origin0, centre, strict=True)]
            lo = [max(o, 0) for o in origin]
            hi = [min(o + m, n) for o, m, n in zip(origin, box.shape, shape, strict=True)]
            if any(h <= l for l, h in zip(lo, hi, strict=True)):
                continue
            cube_sl = tuple(slice(l, h) for l, h in zip(lo, hi, strict=True))
            part = box[tuple(slice(l - o, h - o) for l, h, o in zip(lo, hi, origin, strict=True))]
            inside = part.sum() / box.sum()
            # keep sources apart: a galaxy overlapping one already placed is moved
            if inside > 0 and not np.any((part > 0) & occupied[cube_sl]):
                break
        else:
            continue
        sel = part > 0
        rms_part = rms_vox[cube_sl]
        amplitude, _ = _solve_amplitude(part[sel], rms_part[sel], float(target), mask_threshold, omega)
        if amplitude <= 0:
            continue
        scaled = (amplitude * part).astype(np.float32)
        mask = scaled > mask_threshold * rms_part
        if not mask.any():
            continue
        sid = len(records) + 1
        occupied[cube_sl] |= sel
        model[cube_sl] += scaled
        labels[cube_sl][mask] = sid
        zz, yy, xx = np.nonzero(labels == sid)
        p = SimpleNamespace(x0=float(centre[2]), y0=float(centre[1]), z0=float(centre[0]), r_hi=float(r_hi),
                            incl=shape_p['incl'], pa=shape_p['pa'], v_rot=shape_p['v_rot'],
                            sigma_v=shape_p['sigma_v'], profile=kind)
        sl = (slice(zz.min(), zz.max() + 1), slice(yy.min(), yy.max() + 1), slice(xx.min(), xx.max() + 1))
        records.append((sid, p, 'edge' if inside < 0.99 else 'normal', float(target), sl,
                        float(amplitude * box.sum()), inside < 0.99))
        models.append(shape_p)
    if len(records) < n_sources:
        warnings.warn(f'placed {len(records)} of {n_sources} galaxies without overlap in a {shape} cube',
                      AstroMLFinderWarning, stacklevel=2)

    # --- noise, artefacts, blanking ------------------------------------------------
    noise = spectral(beam_noise(shape, bmaj, bmin, bpa, noise_rng))
    std = noise.std(axis=(1, 2), keepdims=True)
    std[std == 0] = 1.0
    data = (noise / std * rms_vox).astype(np.float32) + model
    artefacts, art_info = make_artefacts(shape, rms, 0.5 * (bmaj + bmin), opts, art_rng)
    if artefacts is not None:
        artefacts = spectral(artefacts).astype(np.float32)
        data += artefacts
    blank = np.zeros((ny, nx), dtype=bool)
    if inst['nan_edges']:
        blank = blank_edges((ny, nx), inst_rng, pb=pb)
        data[:, blank] = np.nan
    flagged = flag_channels(nz, inst_rng, n_blocks=inst['flagged_blocks']) if inst['flagged_blocks'] else \
        np.zeros(nz, dtype=bool)
    data[flagged] = np.nan
    # no truth where there are no data (as a finder's masks, which never cover blank voxels)
    labels[:, blank] = 0
    labels[flagged] = 0

    header = make_hi_header(shape, pixel_scale=pixel_scale, beam_fwhm=bmaj, channel_width=channel_width,
                            freq0=freq0, center=center)
    header['BMIN'] = bmin * pixel_scale / 3600.0
    header['BPA'] = bpa
    header['ORIGIN'] = 'astro_mlfinder.simulate.hi_telescope'
    header['INSTRUME'] = (str(inst['telescope']), 'simulated instrument preset')
    wcs = WCS(header)
    truth = _truth_table(records, model, labels, rms, wcs, omega, channel_width, freq0)
    # the truth SNR uses the local noise (channel rms times the pixel's factor)
    for row in truth:
        m = labels == row['id']
        row['snr'] = float(model[m].sum() / np.sqrt(omega * (rms_vox[m]**2).sum()))
    labels = _renumber(truth, labels, len(records))
    truth.meta.update({'telescope': inst['telescope'], 'mask_threshold': float(mask_threshold),
                       'beam_area_pix': omega, 'rfi_channels': art_info['rfi_channels'],
                       'flagged_channels': np.flatnonzero(flagged).tolist(),
                       'blank_pixels': int(blank.sum())})
    params = dict(shape=shape, n_sources=n_sources, telescope=inst['telescope'],
                  snr_range=(snr_lo, snr_hi), size_range=(size_lo, size_hi), noise=inst['noise'],
                  beam_fwhm=float(np.sqrt(bmaj * bmin)), bmaj=bmaj, bmin=bmin, bpa=bpa,
                  channel_width=channel_width, pixel_scale=float(pixel_scale), freq0=float(freq0),
                  mask_threshold=float(mask_threshold), beam_area=omega, morphologies=dict(zip(names, weights.tolist(),
                                                                                              strict=True)))
    return HISimulation(data=data, model=model, labels=labels, truth=truth, wcs=wcs, header=header,
                        noise_rms=rms.astype(np.float64), artefacts=artefacts, params=params,
                        realism=dict(inst, pixel_noise=pix, galaxies=models))
