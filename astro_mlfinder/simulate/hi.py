# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated HI spectral-line cubes: rotating disk galaxies in beam-correlated
noise, with exact truth (model cube, segmentation, catalogue) and optional
instrumental realism (variable beam/channel width/noise, RFI, baseline
ripples, continuum residuals, galaxies cut by the edges or on the same
sightline).
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
from astropy.wcs import WCS

from astro_mlfinder.simulate._base import Simulation, sin_header
from astro_mlfinder.simulate._galaxy import disk_model
from astro_mlfinder.simulate._hi_sources import HI_REST_FREQUENCY, _Placer, _solve_amplitude
from astro_mlfinder.simulate._hi_truth import _renumber, _truth_table
from astro_mlfinder.simulate._noise import beam_area_pixels, correlated_noise
from astro_mlfinder.simulate._realism import (
    REALISM_DEFAULTS,
    channel_rms,
    make_artefacts,
    random_realism,
    resolve_realism,
)
from astro_mlfinder.simulate.augment import cutmix

from ..core.exceptions import AstroMLFinderWarning

__all__ = ['HI_REST_FREQUENCY', 'HISimulation', 'REALISM_DEFAULTS', 'cutmix',
           'make_hi_header', 'random_realism', 'simulate_hi_cube']

_MASK_DEFINITION = (
    'A voxel belongs to source i when the noiseless, beam-convolved model of '
    'source i exceeds mask_threshold times the noise rms of that channel '
    '(where two models overlap, the larger one wins).')


@dataclass(repr=False)
class HISimulation(Simulation):
    """
    A simulated HI cube and its truth.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 ``(z, y, x)`` cube in Jy/beam: noise + sources (+ artefacts).
    model : `~numpy.ndarray`
        float32 noiseless source model (beam-convolved), Jy/beam.
    labels : `~numpy.ndarray`
        int32 truth segmentation; 0 = background, ``1..N`` = ``truth['id']``.
    truth : `~astropy.table.QTable`
        One row per source (see `simulate_hi_cube`).
    wcs : `~astropy.wcs.WCS`
        3D celestial + frequency WCS.
    header : `~astropy.io.fits.Header`
        FITS header with the WCS, BUNIT, beam and provenance.
    noise_rms : `~numpy.ndarray`
        Per-channel rms of the Gaussian noise (Jy/beam).
    artefacts : `~numpy.ndarray` or None
        float32 cube of the additive artefacts (RFI, ripples, continuum
        residuals) included in ``data``, `None` when there are none.
    params : dict
        Every parameter used (after applying the realism options).
    realism : dict
        The resolved realism options.
    """

    noise_rms: np.ndarray = field(kw_only=True)
    artefacts: np.ndarray | None = None
    realism: dict = field(default_factory=dict)

    @property
    def beam_area(self):
        """Beam area in pixels."""
        return beam_area_pixels(self.params['beam_fwhm'])

    def __repr__(self):
        return (f'<HISimulation shape={self.data.shape} '
                f'n_sources={len(self.truth)} '
                f"noise={self.params.get('noise'):.3g} Jy/beam "
                f"beam_fwhm={self.params.get('beam_fwhm'):.3g} px>")


def make_hi_header(shape, *, pixel_scale=10.0, beam_fwhm=3.0,
                   channel_width=5.0e4, freq0=1.40e9, center=(150.0, 30.0)):
    """
    FITS header for a simulated HI cube.

    Parameters
    ----------
    shape : tuple of int
        ``(z, y, x)`` cube shape.
    pixel_scale : float, optional
        Pixel size in arcsec.
    beam_fwhm : float, optional
        Circular beam FWHM in pixels.
    channel_width : float, optional
        Channel width in Hz (positive: frequency increases with channel).
    freq0 : float, optional
        Frequency of channel 0 in Hz.
    center : tuple of float, optional
        RA and Dec (deg, ICRS) of the spatial centre of the cube.

    Returns
    -------
    header : `~astropy.io.fits.Header`
    """
    nz, ny, nx = shape
    h = sin_header(ny, nx, pixel_scale=pixel_scale, center=center, wcsaxes=3)
    h['CTYPE3'] = 'FREQ'
    h['CRPIX3'] = 1.0
    h['CRVAL3'] = float(freq0)
    h['CDELT3'] = float(channel_width)
    h['CUNIT3'] = 'Hz'
    h['RADESYS'] = 'ICRS'
    h['SPECSYS'] = 'BARYCENT'
    h['RESTFRQ'] = HI_REST_FREQUENCY
    h['BUNIT'] = 'Jy/beam'
    h['BMAJ'] = float(beam_fwhm) * float(pixel_scale) / 3600.0
    h['BMIN'] = float(beam_fwhm) * float(pixel_scale) / 3600.0
    h['BPA'] = 0.0
    h['TELESCOP'] = 'SIMULATED'
    h['OBJECT'] = 'astro_mlfinder HI simulation'
    return h


def _check_range(name, value, positive=True):
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a (low, high) pair of numbers, got '
                         f'{value!r}') from None
    if not lo <= hi or (positive and lo <= 0):
        raise ValueError(f'{name} must satisfy 0 < low <= high, got {value!r}')
    return lo, hi


def simulate_hi_cube(shape=(128, 96, 96), n_sources=8, *, seed=0,
                     snr_range=(3.0, 30.0), snr=None, noise=1e-3,
                     beam_fwhm=3.0, channel_width=5.0e4, pixel_scale=10.0,
                     freq0=1.40e9, center=(150.0, 30.0), realism=None,
                     edge_sources=0, size_range=(2.0, 8.0),
                     incl_range=(20.0, 80.0), vrot_range=(50.0, 250.0),
                     sigma_v_range=(7.0, 12.0), profile='random',
                     mask_threshold=0.5, allow_overlap=False, supersample=3):
    """
    Simulate an HI spectral-line cube of rotating disk galaxies.

    Each galaxy is a thin disk (exponential or flat surface density,
    tapered at the HI radius; position angle, inclination, a flat-ish
    rotation curve ``v_rot (1 - exp(-r / r_turn))`` and a Gaussian velocity
    dispersion), which gives the double-horned integrated profile of real
    spiral galaxies.  The model of each source is built on its own bounding
    box and convolved spatially with the circular Gaussian beam.  The
    noise is Gaussian, smoothed so that its spatial autocorrelation is the
    beam, and rescaled to the requested rms in every channel.

    The integrated signal-to-noise ratio of each source is drawn
    log-uniformly from ``snr_range`` and the source amplitude is scaled so
    that, inside its truth mask,

    ``snr = f_sum / sqrt(beam_area * sum_{voxels} rms_z**2)``

    which is ``f_sum / (rms * sqrt(n_pix * beam_area))`` for constant noise
    (SoFiA-2's integrated SNR).  The truth mask of a source is the set of
    voxels where its noiseless beam-convolved model exceeds
    ``mask_threshold`` times the noise rms of the channel; because the mask
    grows with the amplitude, the amplitude is solved for exactly over the
    mask sorted by model/rms.

    Parameters
    ----------
    shape : tuple of 3 int, optional
        Cube shape ``(z, y, x)``.
    n_sources : int, optional
        Number of galaxies.
    seed : int, `numpy.random.SeedSequence`, `numpy.random.Generator` or None
        Random seed.  Sources, noise, realism options and artefacts use
        independent streams, so switching artefacts on leaves the sources
        and the noise unchanged (unless the realism options change the
        beam, channel width or noise level).
    snr_range : tuple of float, optional
        Range of the integrated SNR (log-uniform).
    snr : array_like, optional
        Explicit target SNR for each source (overrides ``snr_range``).
    noise : float, optional
        Noise rms in Jy/beam.
    beam_fwhm : float, optional
        FWHM of the circular Gaussian beam in pixels.
    channel_width : float, optional
        Channel width in Hz (about 10.8 km/s per channel at 1.4 GHz for the
        default 50 kHz).
    pixel_scale : float, optional
        Pixel size in arcsec.
    freq0 : float, optional
        Frequency of channel 0 in Hz.
    center : tuple of float, optional
        RA, Dec (deg) of the spatial centre.
    realism : None, 'realistic' or dict, optional
        `None`: sources and noise only.  ``'realistic'``: options drawn with
        `random_realism` from the seed.  A dict: the options given (see
        `REALISM_DEFAULTS`; ``beam_fwhm``, ``channel_width``, ``noise`` and
        ``edge_sources`` override the keywords of the same name).
    edge_sources : int, optional
        How many of the ``n_sources`` galaxies are placed across a cube
        edge (spatial or spectral), so that they are cut.
    size_range : tuple of float, optional
        Range of HI radii in pixels (log-uniform).
    incl_range : tuple of float, optional
        Range of inclinations in degrees (uniform in ``cos(incl)``).
    vrot_range : tuple of float, optional
        Range of flat rotation velocities in km/s.
    sigma_v_range : tuple of float, optional
        Range of velocity dispersions in km/s.
    profile : {'random', 'exponential', 'flat'}, optional
        Surface-density profile.
    mask_threshold : float, optional
        Truth-mask threshold in units of the channel noise rms.
    allow_overlap : bool, optional
        Allow the bounding boxes of sources to overlap.
    supersample : int, optional
        Sub-pixels per pixel and axis for the disk models.

    Returns
    -------
    sim : `HISimulation`
        ``sim.truth`` has columns ``id``, ``x``, ``y``, ``z`` (flux-weighted
        centroid of the model in the mask, 0-based pixels), ``ra``, ``dec``,
        ``freq``, ``sky_centroid``, ``v_sys`` (optical, km/s), ``f_sum``
        (Jy/beam summed over the mask), ``f_sum_phys`` (Jy Hz, ``f_sum *
        |CDELT3| / beam_area``), ``f_total`` (whole model of the source,
        Jy/beam, including parts outside the cube), ``peak``, ``snr``
        (reached), ``snr_target``, ``n_pix``, ``w20``, ``w50`` (channels),
        ``w20_kms``, ``w50_kms``, ``x_min`` ... ``z_max`` (mask bounding box),
        ``x0``, ``y0``, ``z0`` (dynamical centre), ``r_hi`` (pixels),
        ``incl``, ``pa``, ``v_rot``, ``sigma_v``, ``profile``, ``cut``
        (source extends beyond the cube) and ``sightline`` (placed behind
        another source).
    """
    shape = tuple(int(n) for n in np.atleast_1d(shape))
    if len(shape) != 3 or min(shape) < 4:
        raise ValueError(f'shape must be (z, y, x) with every axis >= 4, got '
                         f'{shape}')
    n_sources = int(n_sources)
    if n_sources < 0:
        raise ValueError(f'n_sources must be >= 0, got {n_sources}')
    snr_lo, snr_hi = _check_range('snr_range', snr_range)
    if profile not in ('random', 'exponential', 'flat'):
        raise ValueError(f"profile must be 'random', 'exponential' or "
                         f"'flat', got {profile!r}")

    if isinstance(seed, np.random.Generator):
        streams = seed.spawn(5)
    else:
        ss = (seed if isinstance(seed, np.random.SeedSequence)
              else np.random.SeedSequence(seed))
        streams = [np.random.default_rng(s) for s in ss.spawn(5)]
    src_rng, noise_rng, realism_rng, art_rng, rms_rng = streams

    if isinstance(realism, str) and realism == 'realistic':
        opts = random_realism(realism_rng, n_sources=n_sources)
    else:
        opts = resolve_realism(realism, realism_rng)
    if opts['beam_fwhm'] is not None:
        beam_fwhm = opts['beam_fwhm']
    if opts['channel_width'] is not None:
        channel_width = opts['channel_width']
    if opts['noise'] is not None:
        noise = opts['noise']
    if opts['edge_sources'] is not None:
        edge_sources = opts['edge_sources']

    beam_fwhm = float(beam_fwhm)
    channel_width = float(channel_width)
    noise = float(noise)
    if beam_fwhm < 0:
        raise ValueError(f'beam_fwhm must be >= 0 pixels, got {beam_fwhm}')
    if channel_width <= 0:
        raise ValueError(f'channel_width must be > 0 Hz, got {channel_width}')
    if noise <= 0:
        raise ValueError(f'noise must be > 0, got {noise}')
    if mask_threshold <= 0:
        raise ValueError(f'mask_threshold must be > 0, got {mask_threshold}')
    edge_sources = min(max(int(edge_sources), 0), n_sources)
    n_sightline = min(int(opts['sightline_sources']),
                      max(n_sources - edge_sources - 1, 0))

    if snr is not None:
        targets = np.atleast_1d(np.asarray(snr, dtype=float))
        if targets.size != n_sources:
            raise ValueError(f'snr has {targets.size} values but n_sources '
                             f'is {n_sources}')
        if np.any(targets <= 0):
            raise ValueError('snr values must be > 0')
    else:
        targets = np.exp(src_rng.uniform(np.log(snr_lo), np.log(snr_hi),
                                         size=n_sources))

    header = make_hi_header(shape, pixel_scale=pixel_scale,
                            beam_fwhm=beam_fwhm, channel_width=channel_width,
                            freq0=freq0, center=center)
    wcs = WCS(header)
    omega = beam_area_pixels(beam_fwhm) if beam_fwhm > 0 else 1.0
    rms = channel_rms(shape[0], noise, opts, rms_rng)

    # --- placement -------------------------------------------------------
    placer = _Placer(shape, src_rng, beam_fwhm=beam_fwhm,
                     channel_width=channel_width, freq0=freq0,
                     size_range=_check_range('size_range', size_range),
                     incl_range=_check_range('incl_range', incl_range,
                                             positive=False),
                     vrot_range=_check_range('vrot_range', vrot_range),
                     sigma_v_range=_check_range('sigma_v_range',
                                                sigma_v_range),
                     profile=profile, allow_overlap=allow_overlap)
    kinds = (['normal'] * (n_sources - edge_sources - n_sightline)
             + ['sightline'] * n_sightline + ['edge'] * edge_sources)
    sources = []
    n_dropped = 0
    for kind, target in zip(kinds, targets, strict=True):
        placed = False
        for attempt in range(10):
            p = placer.draw()
            # Later attempts try smaller galaxies, which are easier to fit.
            factor = 0.85**attempt
            p.r_hi *= factor
            p.r_turn *= factor
            p.scale_length *= factor
            p.v_rot *= factor
            shrink = 1.0
            while not placer.fits(p) and shrink > 0.05:
                shrink *= 0.8
                p.r_hi *= 0.8
                p.r_turn *= 0.8
                p.scale_length *= 0.8
                p.v_rot *= 0.8
            if placer.try_place(p, kind, n_tries=50):
                placed = True
                break
        if placed:
            sources.append((p, kind, float(target)))
        else:
            n_dropped += 1
    if n_dropped:
        warnings.warn(f'could not place {n_dropped} of {n_sources} sources '
                      f'without overlap in a {shape} cube; the truth table '
                      f'has {len(sources)} rows', AstroMLFinderWarning, stacklevel=2)

    # --- models, amplitudes and labels --------------------------------------
    model = np.zeros(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.int32)
    best = np.zeros(shape, dtype=np.float32) if allow_overlap else None
    records = []
    for p, kind, target in sources:
        origin, box = disk_model(p, beam_fwhm, supersample=supersample)
        lo = [max(o, 0) for o in origin]
        hi = [min(o + n, s) for o, n, s in zip(origin, box.shape, shape, strict=True)]
        if any(h <= l for l, h in zip(lo, hi, strict=True)):
            continue
        inner = tuple(slice(l - o, h - o) for l, h, o in zip(lo, hi, origin, strict=True))
        cube_sl = tuple(slice(l, h) for l, h in zip(lo, hi, strict=True))
        part = box[inner]
        rms_vox = np.broadcast_to(rms[cube_sl[0], None, None], part.shape)
        amplitude, _ = _solve_amplitude(part.ravel(), rms_vox.ravel(),
                                        target, mask_threshold, omega)
        if amplitude <= 0:
            continue
        scaled = (amplitude * part).astype(np.float32)
        mask = amplitude * part > mask_threshold * rms_vox
        if not mask.any():
            continue
        sid = len(records) + 1
        model[cube_sl] += scaled
        lab = labels[cube_sl]
        if best is not None:
            bview = best[cube_sl]
            win = mask & (scaled > bview)
            lab[win] = sid
            bview[win] = scaled[win]
        else:
            lab[mask & (lab == 0)] = sid
        records.append((sid, p, kind, target, cube_sl,
                        amplitude * box.sum(), part.sum() < 0.99))

    # --- noise and artefacts -------------------------------------------------
    data = correlated_noise(shape, beam_fwhm, rms, noise_rng)
    data += model
    artefacts, art_info = make_artefacts(shape, rms, beam_fwhm, opts, art_rng)
    if artefacts is not None:
        data += artefacts

    truth = _truth_table(records, model, labels, rms, wcs, omega,
                         channel_width, freq0)
    labels = _renumber(truth, labels, len(records))
    params = dict(shape=shape, n_sources=n_sources, seed=seed if isinstance(
        seed, (int, type(None))) else repr(seed), snr_range=(snr_lo, snr_hi),
        noise=noise, beam_fwhm=beam_fwhm, channel_width=channel_width,
        pixel_scale=float(pixel_scale), freq0=float(freq0),
        center=tuple(center), edge_sources=edge_sources,
        size_range=tuple(size_range), incl_range=tuple(incl_range),
        vrot_range=tuple(vrot_range), sigma_v_range=tuple(sigma_v_range),
        profile=profile, mask_threshold=float(mask_threshold),
        allow_overlap=bool(allow_overlap), supersample=int(supersample),
        beam_area=omega)
    truth.meta.update({
        'mask_definition': _MASK_DEFINITION,
        'mask_threshold': float(mask_threshold),
        'snr_definition': 'f_sum / sqrt(beam_area * sum over mask of rms_z**2)',
        'noise': noise, 'beam_fwhm_pix': beam_fwhm, 'beam_area_pix': omega,
        'channel_width_hz': channel_width, 'pixel_scale_arcsec':
        float(pixel_scale), 'shape': list(shape),
        'rfi_channels': art_info['rfi_channels'],
        'continuum_positions': [list(p) for p in
                                art_info['continuum_positions']]})
    if isinstance(seed, (int, np.integer)):
        truth.meta['seed'] = int(seed)

    header = header.copy()
    header['ORIGIN'] = 'astro_mlfinder.simulate.hi'
    header['NSOURCES'] = (len(truth), 'number of simulated sources')
    header['NOISERMS'] = (noise, 'base noise rms (Jy/beam)')
    if isinstance(seed, (int, np.integer)):
        header['SIMSEED'] = (int(seed), 'simulate_hi_cube seed')
    return HISimulation(data=data, model=model, labels=labels, truth=truth,
                        wcs=wcs, header=header, noise_rms=rms.astype(np.float64),
                        artefacts=artefacts, params=params, realism=opts)
