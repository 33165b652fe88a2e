# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated optical images of blended sources: cut-outs and fields of groups
of 1-6 overlapping galaxies (truncated Sersic profiles of any index, a few
bulge + disc) and stars, convolved with a Moffat PSF with wings, in sky,
read and Poisson noise; every source's own noise-free image is kept as
truth, for training and scoring deblenders.
"""

import functools
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from astro_mlfinder.io.atomic import atomic_path, check_writable
from astro_mlfinder.simulate._base import Simulation
from astro_mlfinder.simulate._blend_sky import _place_blend, _render
from astro_mlfinder.simulate._blend_truth import _truth_table
from astro_mlfinder.simulate._sersic import (
    moffat_alpha,
    moffat_enclosed,
    moffat_kernel,
    paste,
)

__all__ = ['BENCHMARK_SEED', 'BLEND_SEEDS', 'TRAINING_SEED', 'TUNING_SEED', 'VALIDATION_SEED',
           'BlendSimulation', 'blend_cutouts', 'make_optical_header', 'simulate_blends']

#: First seed of the training cut-outs (cut-out ``k`` uses ``TRAINING_SEED + k``).
TRAINING_SEED = 5_000_000
#: First seed of the validation cut-outs (model selection during training).
VALIDATION_SEED = 5_500_000
#: First seed of the cut-outs that tune classical deblenders for benchmarks.
TUNING_SEED = 8_000_000
#: First seed of the benchmark cut-outs (never used in training or tuning).
BENCHMARK_SEED = 9_000_000
#: The seed sets by purpose; each set has room for 500,000 cut-outs.
BLEND_SEEDS = {'training': TRAINING_SEED, 'validation': VALIDATION_SEED,
               'tuning': TUNING_SEED, 'benchmark': BENCHMARK_SEED}

_SEPARATION_UNITS = ('hlr', 'fwhm', 'pixel')

_HLR_DEFINITION = (
    "r_half: circularised half-light radius (sqrt(q) times the semi-major axis of the "
    "half-light ellipse) of the intrinsic, truncated profile, 0 for stars; r_half_psf = "
    "sqrt(r_half**2 + (psf_fwhm / 2)**2), the size of the source as seen through the PSF.")
_SEPARATION_DEFINITION = (
    "nn_id: the nearest neighbour, the other source with the smallest separation in units "
    "of the sum of the two r_half_psf (the one it overlaps most); nn_sep: distance to it "
    "(pixels); nn_sep_hlr = nn_sep / (r_half_psf + r_half_psf of the neighbour) "
    "(half-light circles touch at 1; for two stars this is nn_sep / psf_fwhm); "
    "nn_sep_fwhm = nn_sep / psf_fwhm; flux_ratio = flux / flux of the nearest neighbour.")
_FLUX_DEFINITION = (
    "flux: total flux (ADU) of the truncated, PSF-convolved source (the sum of its truth "
    "image over an unbounded detector); flux_image: the sum of its truth image inside "
    "this image (smaller only where the source reaches the edge); mag = MAGZP - "
    "2.5 log10(flux).")
_MASK_DEFINITION = (
    'A pixel belongs to source i when the truth image of source i exceeds mask_threshold '
    'times the background noise rms (where sources overlap, the larger one wins).')


@dataclass(repr=False)
class BlendSimulation(Simulation):
    """
    A simulated optical image of blended sources and its truth.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 ``(y, x)`` image in ADU (sky-subtracted unless
        ``params['sky_subtracted']`` is `False`).
    model : `~numpy.ndarray`
        float32 noiseless image of all sources (ADU); equal to
        ``sources.sum(axis=0)``.
    labels : `~numpy.ndarray`
        int32 truth segmentation (``truth.meta['mask_definition']``).
    truth : `~astropy.table.QTable`
        One row per source (see `simulate_blends`).
    sources : `~numpy.ndarray`
        float32 ``(n_src, y, x)`` noise-free, PSF-convolved image of every
        source; plane ``k`` is source ``truth['id'][k]``.
    psf : `~numpy.ndarray`
        The PSF integrated over pixels, centred on the central pixel,
        normalised to 1.
    variance : `~numpy.ndarray`
        float32 expected noise variance of every pixel (ADU**2: sky, read
        and the sources' Poisson noise).
    """

    sources: np.ndarray | None = None
    psf: np.ndarray | None = None
    variance: np.ndarray | None = None

    @property
    def background_rms(self):
        """Noise rms (ADU) of a pixel without sources: ``sqrt(sky + read**2) / gain``."""
        p = self.params
        return float(np.sqrt(p['sky'] + p['read_noise'] ** 2) / p['gain'])

    @property
    def beam(self):
        """The PSF FWHM as a circular beam: ``bmaj``, ``bmin``, ``bpa`` in degrees."""
        fwhm = self.params['psf_fwhm'] * self.params['pixel_scale'] / 3600.0
        return {'bmaj': fwhm, 'bmin': fwhm, 'bpa': 0.0}

    def __repr__(self):
        p = self.params
        return (f'<BlendSimulation shape={self.data.shape} n_sources={len(self.truth)} '
                f"n_blends={p['n_blends']} psf_fwhm={p['psf_fwhm']:.3g} px "
                f'background_rms={self.background_rms:.3g} ADU>')

    def sources_hdu(self):
        """
        The per-source truth images as a FITS cube (axis 3 = source id).

        Returns
        -------
        hdu : `~astropy.io.fits.PrimaryHDU`
        """
        header = self.wcs.to_header()
        header['WCSAXES'] = 3
        header['CTYPE3'] = 'SOURCEID'
        header['CRPIX3'] = 1.0
        header['CRVAL3'] = 1.0
        header['CDELT3'] = 1.0
        header['CUNIT3'] = ''
        header['BUNIT'] = self.header['BUNIT']
        header['MAGZP'] = self.header['MAGZP']
        header['COMMENT'] = ('Plane k is the noise-free, PSF-convolved image of the source '
                             'with truth id k (1-based).')
        return fits.PrimaryHDU(data=np.ascontiguousarray(self.sources), header=header)

    def write_sources(self, path, overwrite=False):
        """
        Write the per-source truth images as a FITS cube, atomically.

        Parameters
        ----------
        path : str or path-like
        overwrite : bool, optional
        """
        hdu = self.sources_hdu()
        with atomic_path(path, overwrite=overwrite) as tmp:
            hdu.writeto(tmp)

    def write_all(self, image_path, truth_path, sources_path=None, overwrite=False, **kwargs):
        """
        Write the image, the truth table and (optionally) the per-source
        truth cube, refusing before writing any when one exists and
        ``overwrite`` is `False`.

        Parameters
        ----------
        image_path, truth_path : str or path-like
            FITS image and ECSV table.
        sources_path : str or path-like, optional
            FITS cube of the per-source truth images.
        overwrite : bool, optional
        **kwargs
            Passed to `write` (``model``, ``labels``).

        Returns
        -------
        paths : list
        """
        paths = [image_path, truth_path] + ([sources_path] if sources_path is not None else [])
        check_writable(paths, overwrite=overwrite)
        self.write(image_path, overwrite=overwrite, **kwargs)
        self.write_truth(truth_path, overwrite=overwrite)
        if sources_path is not None:
            self.write_sources(sources_path, overwrite=overwrite)
        return paths


def make_optical_header(shape, *, pixel_scale=0.2, center=(150.1, 2.2), zero_point=31.0,
                        gain=2.0, read_noise=5.0, sky=300.0, psf_fwhm=3.5, psf_beta=2.5):
    """
    FITS header of a simulated optical image: RA/Dec TAN WCS centred on the
    image (north up, east left), ``BUNIT = 'adu'``, zero point and detector
    and PSF keywords.

    Parameters
    ----------
    shape : tuple of 2 int
        ``(y, x)``.
    pixel_scale : float, optional
        Arcsec per pixel.
    center : tuple of float, optional
        RA, Dec (deg, ICRS) of the image centre.
    zero_point : float, optional
        AB magnitude of 1 ADU (``MAGZP``).
    gain, read_noise, sky : float, optional
        e-/ADU, e- rms, e- per pixel.
    psf_fwhm, psf_beta : float, optional
        Moffat PSF FWHM (pixels) and beta.

    Returns
    -------
    header : `~astropy.io.fits.Header`
    """
    ny, nx = shape
    h = fits.Header()
    h['WCSAXES'] = 2
    h['CTYPE1'] = 'RA---TAN'
    h['CRPIX1'] = (nx + 1) / 2.0
    h['CRVAL1'] = float(center[0])
    h['CDELT1'] = -float(pixel_scale) / 3600.0
    h['CUNIT1'] = 'deg'
    h['CTYPE2'] = 'DEC--TAN'
    h['CRPIX2'] = (ny + 1) / 2.0
    h['CRVAL2'] = float(center[1])
    h['CDELT2'] = float(pixel_scale) / 3600.0
    h['CUNIT2'] = 'deg'
    h['RADESYS'] = 'ICRS'
    h['EQUINOX'] = 2000.0
    h['BUNIT'] = 'adu'
    h['MAGZP'] = (float(zero_point), 'AB magnitude of 1 ADU')
    h['GAIN'] = (float(gain), '[electron/adu]')
    h['RDNOISE'] = (float(read_noise), '[electron] read noise rms')
    h['SKYLEVEL'] = (float(sky), '[electron] sky per pixel')
    h['PSFFWHM'] = (float(psf_fwhm), '[pixel] Moffat PSF FWHM')
    h['PSFBETA'] = (float(psf_beta), 'Moffat PSF beta')
    h['SEEING'] = (float(psf_fwhm) * float(pixel_scale), '[arcsec] PSF FWHM')
    h['TELESCOP'] = 'SIMULATED'
    h['OBJECT'] = 'astro_mlfinder blend simulation'
    return h


@functools.lru_cache(maxsize=16)
def _header_template(shape, pixel_scale, center, zero_point, gain, read_noise, sky, fwhm, beta):
    header = make_optical_header(shape, pixel_scale=pixel_scale, center=center,
                                 zero_point=zero_point, gain=gain, read_noise=read_noise,
                                 sky=sky, psf_fwhm=fwhm, psf_beta=beta)
    return header, WCS(header)


def _header_and_wcs(*args):
    """A fresh header and WCS (copies of cached ones: building them is slow)."""
    header, wcs = _header_template(*args)
    return header.copy(), wcs.deepcopy()


def _range(name, value, *, positive=True, upper=None):
    """A scalar or ``(low, high)`` parameter as a checked pair."""
    lo, hi = (value, value) if np.ndim(value) == 0 else tuple(value)
    lo, hi = float(lo), float(hi)
    if not np.isfinite([lo, hi]).all() or lo > hi or (positive and lo <= 0) or lo < 0 \
            or (upper is not None and hi > upper):
        bound = f'>= 0{" and <= " + str(upper) if upper is not None else ""}'
        raise ValueError(f'{name} must be a number or (low, high) with low <= high, '
                         f'{"> 0" if positive else bound}, got {value!r}')
    return lo, hi


def _positive(name, value, *, zero=False):
    value = float(value)
    if not (value >= 0 if zero else value > 0) or not np.isfinite(value):
        raise ValueError(f'{name} must be {">= 0" if zero else "> 0"}, got {value}')
    return value


def _fraction(name, value):
    value = float(value)
    if not 0 <= value <= 1:
        raise ValueError(f'{name} must be between 0 and 1, got {value}')
    return value


def simulate_blends(shape=(64, 64), n_blends=1, n_sources=(1, 6), *, seed=0,
                    separation=(0.7, 3.0), separation_unit='hlr', flux_ratio=(0.1, 1.0),
                    mag_range=(18.0, 22.0), mag_limit=24.0, zero_point=31.0, r_half=(0.8, 5.0),
                    sersic_n=(0.5, 6.0), ellipticity=(0.0, 0.7), star_fraction=0.15,
                    bulge_disc_fraction=0.2, psf_fwhm=3.5, psf_beta=2.5, psf_radius=None,
                    sky=300.0, read_noise=5.0, gain=2.0, sky_subtracted=True,
                    pixel_scale=0.2, center=(150.1, 2.2), trunc=5.0, supersample=3,
                    mask_threshold=1.0):
    """
    Simulate an optical image of blended galaxies and stars.

    Each of ``n_blends`` blends holds ``n_sources`` sources (drawn
    uniformly between the two numbers).  The first (primary) source of a
    blend sits at the image centre (one blend: jittered by up to 1/8 of the
    image) or at a uniform random position (several blends: a field); its
    magnitude is uniform in ``mag_range``.  Every further source picks an
    already placed source of its blend as parent, takes its flux times a
    ratio drawn log-uniformly in ``flux_ratio``, and sits at a separation
    drawn uniformly in ``separation`` (in ``separation_unit``) from it, in
    a random direction, inside the image and no closer to any source of its
    blend than the lower separation limit (a source that cannot be placed
    in 50 tries is dropped).  So every source of a blend of two or more has
    its nearest neighbour of the blend between the two separation limits
    and, in a blend of two, ``flux_ratio`` is exactly the ratio drawn.

    Sources are stars (fraction ``star_fraction``), single Sersic galaxies
    (index uniform in ``sersic_n``) or, for a fraction
    ``bulge_disc_fraction`` of the galaxies, an n = 4 bulge (10-60 % of the
    flux) plus an exponential disc sharing axis ratio and position angle.
    Half-light radii are log-uniform in ``r_half`` and ellipticities
    ``1 - b/a`` uniform in ``ellipticity``.  Profiles use the exact
    ``b_n`` and are truncated at ``trunc`` effective radii.  They are
    integrated over pixels centred on a pixel (``supersample**2``
    sub-pixels; inside 1.5 pixels of the centre, where high-index profiles
    are cuspy, the exact flux of elliptical annuli), convolved with a
    circular Moffat PSF sampled at pixel centres and moved to their
    sub-pixel position by a Fourier phase shift; stars are the Moffat
    profile integrated over pixels.  The image in
    ADU is ``(Poisson(sources + sky) + Normal(0, read_noise)) / gain``, in
    electrons before the division, minus the sky unless
    ``sky_subtracted=False``.

    Parameters
    ----------
    shape : tuple of 2 int, optional
        ``(y, x)``: a cut-out (64x64, 128x128) or a field.
    n_blends : int, optional
        Number of blends.
    n_sources : int or tuple of 2 int, optional
        Sources per blend, or the range of it (1-6 by default).
    seed : int, `numpy.random.SeedSequence` or None, optional
        Random seed (sources and noise use independent streams); see
        `BLEND_SEEDS` for the seed sets reserved for training, validation,
        tuning and benchmarks.
    separation : float or tuple of float, optional
        Separation to the parent, fixed or ``(low, high)``.
    separation_unit : {'hlr', 'fwhm', 'pixel'}, optional
        ``'hlr'``: the sum of the two sources' PSF-convolved half-light
        radii ``sqrt(r_half**2 + (psf_fwhm / 2)**2)``; ``'fwhm'``: the PSF
        FWHM; ``'pixel'``.
    flux_ratio : float or tuple of float, optional
        Flux of a source over its parent's, fixed or ``(low, high)``.
    mag_range : float or tuple of float, optional
        AB magnitudes of the primary sources.
    mag_limit : float, optional
        Faintest magnitude of any source: a further source draws its flux
        ratio only where it stays brighter (a source that cannot is
        dropped).
    zero_point : float, optional
        AB magnitude of 1 ADU.
    r_half : float or tuple of float, optional
        Circularised half-light radius (pixels) of galaxies.
    sersic_n : float or tuple of float, optional
        Sersic index of single-component galaxies (0.2-10).
    ellipticity : float or tuple of float, optional
        ``1 - b/a`` of galaxies (0-0.95).
    star_fraction, bulge_disc_fraction : float, optional
        Fraction of stars among the sources, of bulge + disc galaxies
        among the galaxies.
    psf_fwhm : float, optional
        Moffat FWHM in pixels.
    psf_beta : float, optional
        Moffat beta (> 1; smaller means stronger wings).
    psf_radius : int, optional
        Half-size of the PSF kernel in pixels (default: where the profile
        holds 99.5 % of its flux, at most 15 FWHM).  The kernel is
        normalised to 1: the wing beyond it is the only flux not modelled.
    sky : float, optional
        Sky level, electrons per pixel.
    read_noise : float, optional
        Read-noise rms, electrons.
    gain : float, optional
        Electrons per ADU.
    sky_subtracted : bool, optional
        Subtract the sky level from the image.
    pixel_scale : float, optional
        Arcsec per pixel.
    center : tuple of float, optional
        RA, Dec (deg) of the image centre.
    trunc : float, optional
        Truncation radius of the Sersic profiles in effective radii.
    supersample : int, optional
        Sub-pixels per pixel and axis of the galaxy rendering.
    mask_threshold : float, optional
        Truth segmentation threshold in units of the background rms.

    Returns
    -------
    sim : `BlendSimulation`
        ``sim.sources`` holds each source's noise-free image;
        ``sim.truth`` has per source: ``id``, ``blend_id``, ``kind``
        (``'galaxy'`` or ``'star'``), ``bulge_disc`` (bool), ``x``, ``y``
        (true centre, 0-based pixels), ``ra``, ``dec``, ``sky_centroid``,
        ``flux`` and ``flux_image`` (ADU), ``mag``, ``r_half`` and
        ``r_half_psf`` (pixels), ``sersic_n`` (the disc's, 1, for bulge +
        disc; NaN for stars), ``bulge_fraction``, ``bulge_r_half``,
        ``ellipticity``, ``pa`` (deg, north through east), ``nn_id``
        (0 without another source), ``nn_sep``, ``nn_sep_hlr``,
        ``nn_sep_fwhm``, ``flux_ratio`` (NaN without another source),
        ``snr`` (matched-filter S/N of the source alone:
        ``sqrt(sum(m**2 / var))`` with its own Poisson noise) and ``n_pix``
        (pixels of its truth mask).  The definitions are in
        ``sim.truth.meta``.
    """
    shape = tuple(int(n) for n in np.atleast_1d(shape))
    if len(shape) != 2 or min(shape) < 16:
        raise ValueError(f'shape must be (y, x) with both axes >= 16, got {shape}')
    n_blends = int(n_blends)
    if n_blends < 0:
        raise ValueError(f'n_blends must be >= 0, got {n_blends}')
    n_lo, n_hi = (n_sources, n_sources) if np.ndim(n_sources) == 0 else tuple(n_sources)
    if int(n_lo) != n_lo or int(n_hi) != n_hi or not 1 <= n_lo <= n_hi:
        raise ValueError(f'n_sources must be an int >= 1 or (low, high) with 1 <= low <= high, '
                         f'got {n_sources!r}')
    if separation_unit not in _SEPARATION_UNITS:
        raise ValueError(f'separation_unit must be one of {_SEPARATION_UNITS}, '
                         f'got {separation_unit!r}')
    opts = dict(
        separation=_range('separation', separation), separation_unit=separation_unit,
        flux_ratio=_range('flux_ratio', flux_ratio),
        mag_range=_range('mag_range', mag_range), zero_point=float(zero_point),
        mag_limit=float(mag_limit),
        r_half=_range('r_half', r_half), sersic_n=_range('sersic_n', sersic_n),
        ellipticity=_range('ellipticity', ellipticity, positive=False, upper=0.95),
        star_fraction=_fraction('star_fraction', star_fraction),
        bulge_disc_fraction=_fraction('bulge_disc_fraction', bulge_disc_fraction),
        psf_fwhm=_positive('psf_fwhm', psf_fwhm), psf_beta=float(psf_beta),
        trunc=_positive('trunc', trunc), supersample=int(supersample))
    if not (0.2 <= opts['sersic_n'][0] and opts['sersic_n'][1] <= 10):
        raise ValueError(f'sersic_n must lie within 0.2-10, got {sersic_n!r}')
    if not opts['mag_limit'] >= opts['mag_range'][1]:
        raise ValueError(f'mag_limit must be >= the faint end of mag_range '
                         f"({opts['mag_range'][1]}), got {mag_limit}")
    opts['flux_limit'] = 10 ** (-0.4 * (opts['mag_limit'] - opts['zero_point']))
    if not opts['psf_beta'] > 1:
        raise ValueError(f'psf_beta must be > 1 (the Moffat flux diverges otherwise), '
                         f'got {psf_beta}')
    if opts['supersample'] < 1:
        raise ValueError(f'supersample must be an int >= 1, got {supersample}')
    sky = _positive('sky', sky, zero=True)
    read_noise = _positive('read_noise', read_noise, zero=True)
    if sky == 0 and read_noise == 0:
        raise ValueError('sky and read_noise are both 0; give at least one a positive value')
    gain = _positive('gain', gain)
    pixel_scale = _positive('pixel_scale', pixel_scale)
    mask_threshold = _positive('mask_threshold', mask_threshold)
    if psf_radius is None:
        alpha = moffat_alpha(opts['psf_fwhm'], opts['psf_beta'])
        reach = alpha * np.sqrt(0.005 ** (1.0 / (1.0 - opts['psf_beta'])) - 1.0)
        psf_radius = int(np.ceil(min(reach, 15.0 * opts['psf_fwhm'])))
    psf_radius = int(psf_radius)
    if psf_radius < 1:
        raise ValueError(f'psf_radius must be >= 1 pixel, got {psf_radius}')
    opts['psf_radius'] = psf_radius

    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    src_rng, noise_rng = (np.random.default_rng(s) for s in ss.spawn(2))
    ny, nx = shape

    placed = []
    for b in range(n_blends):
        if n_blends == 1:
            centre = ((ny - 1) / 2 + src_rng.uniform(-ny / 8, ny / 8),
                      (nx - 1) / 2 + src_rng.uniform(-nx / 8, nx / 8))
        else:
            centre = (src_rng.uniform(0.05 * ny, 0.95 * ny - 1),
                      src_rng.uniform(0.05 * nx, 0.95 * nx - 1))
        n = int(src_rng.integers(int(n_lo), int(n_hi) + 1))
        placed.extend(_place_blend(src_rng, b + 1, centre, n, shape, opts))

    cube = np.zeros((len(placed), ny, nx), dtype=np.float64)
    for k, src in enumerate(placed):
        origin, stamp = _render(src, opts)
        paste(cube[k], origin, stamp * src['flux'])

    model = cube.sum(axis=0)
    model_e = np.maximum(model, 0.0) * gain
    counts = noise_rng.poisson(model_e + sky).astype(np.float64)
    counts += noise_rng.normal(0.0, read_noise, size=shape) if read_noise > 0 else 0.0
    if sky_subtracted:
        counts -= sky
    data = (counts / gain).astype(np.float32)
    variance = (model_e + sky + read_noise ** 2) / gain ** 2
    bg_rms = np.sqrt(sky + read_noise ** 2) / gain

    labels = np.zeros(shape, dtype=np.int32)
    if len(placed):
        best = cube.argmax(axis=0)
        peak = np.take_along_axis(cube, best[None], axis=0)[0]
        on = peak > mask_threshold * bg_rms
        labels[on] = best[on] + 1

    header, wcs = _header_and_wcs(shape, pixel_scale, tuple(float(c) for c in center),
                                  opts['zero_point'], gain, read_noise, sky, opts['psf_fwhm'],
                                  opts['psf_beta'])
    truth = _truth_table(placed, cube, labels, variance, bg_rms, wcs, opts, gain)
    params = dict(shape=shape, n_blends=n_blends, n_sources=(int(n_lo), int(n_hi)),
                  seed=seed if isinstance(seed, (int, type(None))) else repr(seed),
                  sky=sky, read_noise=read_noise, gain=gain, sky_subtracted=bool(sky_subtracted),
                  pixel_scale=pixel_scale, center=tuple(center), mask_threshold=mask_threshold,
                  **{k: v for k, v in opts.items()})
    psf_frac = float(moffat_enclosed(psf_radius, opts['psf_fwhm'], opts['psf_beta']))
    truth.meta.update({
        'flux_definition': _FLUX_DEFINITION, 'r_half_definition': _HLR_DEFINITION,
        'separation_definition': _SEPARATION_DEFINITION, 'mask_definition': _MASK_DEFINITION,
        'mask_threshold': mask_threshold, 'zero_point': opts['zero_point'],
        'psf_fwhm_pix': opts['psf_fwhm'], 'psf_beta': opts['psf_beta'],
        'psf_radius_pix': psf_radius, 'psf_enclosed_in_radius': psf_frac,
        'background_rms_adu': float(bg_rms), 'gain': gain, 'sky_e': sky,
        'read_noise_e': read_noise, 'pixel_scale_arcsec': pixel_scale, 'shape': list(shape),
        'sersic_truncation_reff': opts['trunc']})
    header = header.copy()
    header['ORIGIN'] = 'astro_mlfinder.simulate.blends'
    header['NSOURCES'] = (len(truth), 'number of simulated sources')
    header['NBLENDS'] = (n_blends, 'number of blends')
    header['BKGRMS'] = (float(bg_rms), '[adu] background noise rms')
    header['SKYSUB'] = (bool(sky_subtracted), 'sky level subtracted')
    header['PSFRAD'] = (psf_radius, '[pixel] PSF kernel half-size')
    header['PSFFRAC'] = (psf_frac, 'Moffat flux inside PSFRAD')
    if isinstance(seed, (int, np.integer)):
        truth.meta['seed'] = int(seed)
        header['SIMSEED'] = (int(seed), 'simulate_blends seed')
    psf = moffat_kernel(opts['psf_fwhm'], opts['psf_beta'], psf_radius, supersample=5)
    return BlendSimulation(data=data, model=model.astype(np.float32), labels=labels,
                           truth=truth, wcs=wcs, header=header, params=params,
                           sources=cube.astype(np.float32), psf=psf.astype(np.float32),
                           variance=variance.astype(np.float32))


def blend_cutouts(n, *, purpose='training', start=0, **kwargs):
    """
    Yield seeded cut-outs of one of the reserved seed sets.

    Parameters
    ----------
    n : int
        Number of cut-outs.
    purpose : {'training', 'validation', 'tuning', 'benchmark'}, optional
        Seed set (`BLEND_SEEDS`); cut-out ``k`` uses seed
        ``BLEND_SEEDS[purpose] + start + k``.
    start : int, optional
        First index within the set.
    **kwargs
        Passed to `simulate_blends`.

    Yields
    ------
    sim : `BlendSimulation`
    """
    if purpose not in BLEND_SEEDS:
        raise ValueError(f'purpose must be one of {sorted(BLEND_SEEDS)}, got {purpose!r}')
    n, start = int(n), int(start)
    if n < 0 or start < 0 or start + n > 500_000:
        raise ValueError(f'need 0 <= start and start + n <= 500000 (the size of a seed set), '
                         f'got start={start}, n={n}')
    base = BLEND_SEEDS[purpose]
    for k in range(n):
        yield simulate_blends(seed=base + start + k, **kwargs)
