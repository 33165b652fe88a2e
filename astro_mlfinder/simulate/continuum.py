# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated radio continuum images in the style of the SKA Science Data
Challenge 1: star-forming galaxies (exponential discs), compact AGN (flat
spectrum cores) and resolved AGN (core and two lobes) with a power-law flux
distribution reaching below the noise, convolved with the restoring beam,
in beam-correlated noise, optionally attenuated (or corrected) by a
primary beam; with the exact truth (model, segmentation, catalogue and
one-pixel-per-source maps).
"""

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable
from astropy.wcs import WCS

from astro_mlfinder.simulate._base import Simulation, sin_header
from astro_mlfinder.simulate._continuum_sources import (
    CLASS_CODES,
    beam_covariance,
    correlated_noise_2d,
    draw_source,
    render_source,
)
from astro_mlfinder.simulate._noise import beam_area_pixels

__all__ = ['CLASS_CODES', 'CONTINUUM_CLASSES', 'ContinuumSimulation',
           'make_continuum_header', 'simulate_continuum_image']

#: Default mixture of source classes (fractions of ``n_sources``).
CONTINUUM_CLASSES = {'sfg': 0.75, 'agn_compact': 0.15, 'agn_resolved': 0.10}

_MASK_DEFINITION = (
    'A pixel belongs to source i when the noiseless, beam-convolved model of '
    'source i exceeds mask_threshold times the local noise rms (where two '
    'models overlap, the larger one wins).')


@dataclass(repr=False)
class ContinuumSimulation(Simulation):
    """
    A simulated 2D continuum image and its truth.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 ``(y, x)`` image in Jy/beam.
    model : `~numpy.ndarray`
        float32 noiseless model of every source (beam-convolved, with the
        primary-beam attenuation when it applies), Jy/beam.
    labels : `~numpy.ndarray`
        int32 truth segmentation (see ``truth.meta['mask_definition']``).
    truth : `~astropy.table.QTable`
        One row per source (see `simulate_continuum_image`).
    noise_map : `~numpy.ndarray`
        float32 local noise rms (Jy/beam) of every pixel.
    primary_beam : `~numpy.ndarray` or None
        Primary-beam gain of every pixel, `None` without a primary beam.
    """

    noise_map: np.ndarray | None = None
    primary_beam: np.ndarray | None = None

    @property
    def beam_area(self):
        """Restoring beam area in pixels."""
        return self.params['beam_area']

    def __repr__(self):
        return (f'<ContinuumSimulation shape={self.data.shape} '
                f'n_sources={len(self.truth)} '
                f"noise={self.params['noise']:.3g} Jy/beam "
                f"beam={self.params['beam'][0]:.3g}x{self.params['beam'][1]:.3g} px>")

    def point_map(self, *, min_snr=0.0, position='peak', classes=False):
        """
        One-pixel-per-source truth map (the ConvoSource training target).

        Parameters
        ----------
        min_snr : float, optional
            Only sources with ``snr_int >= min_snr``.
        position : {'peak', 'centroid'}, optional
            Mark the brightest pixel of the source's model (``x_peak``,
            ``y_peak``) or the rounded flux-weighted centroid.
        classes : bool, optional
            Mark pixels with the SDC1 class code (1 resolved AGN, 2 compact
            AGN, 3 SFG) instead of 1.

        Returns
        -------
        target : `~numpy.ndarray`
            uint8 ``(y, x)`` map.
        """
        if position not in ('peak', 'centroid'):
            raise ValueError(f"position must be 'peak' or 'centroid', got {position!r}")
        t = self.truth
        keep = np.asarray(t['snr_int']) >= min_snr
        if position == 'peak':
            xs, ys = np.asarray(t['x_peak']), np.asarray(t['y_peak'])
        else:
            xs = np.rint(np.asarray(t['x'])).astype(int)
            ys = np.rint(np.asarray(t['y'])).astype(int)
        ny, nx = self.shape
        keep &= (xs >= 0) & (xs < nx) & (ys >= 0) & (ys < ny)
        target = np.zeros(self.shape, dtype=np.uint8)
        values = np.asarray(t['class_id'], dtype=np.uint8) if classes else 1
        order = np.argsort(np.asarray(t['f_peak'])[keep])  # brightest written last
        vals = (values[keep][order] if classes else 1)
        target[ys[keep][order], xs[keep][order]] = vals
        return target


def make_continuum_header(shape, *, pixel_scale=0.6, beam=(3.0, 3.0, 0.0),
                          frequency=5.6e8, center=(0.0, -30.0)):
    """
    FITS header of a simulated 2D continuum image.

    Parameters
    ----------
    shape : tuple of 2 int
        ``(y, x)`` image shape.
    pixel_scale : float, optional
        Pixel size in arcsec.
    beam : tuple of 3 float, optional
        Restoring beam: major and minor FWHM in pixels and position angle in
        degrees (north through east).
    frequency : float, optional
        Observing frequency in Hz (``FREQ`` and ``RESTFRQ`` keywords).
    center : tuple of float, optional
        RA and Dec (deg, ICRS) of the image centre.

    Returns
    -------
    header : `~astropy.io.fits.Header`
    """
    ny, nx = shape
    h = sin_header(ny, nx, pixel_scale=pixel_scale, center=center)
    h['RADESYS'] = 'ICRS'
    h['EQUINOX'] = 2000.0
    h['BUNIT'] = 'Jy/beam'
    h['BMAJ'] = float(beam[0]) * float(pixel_scale) / 3600.0
    h['BMIN'] = float(beam[1]) * float(pixel_scale) / 3600.0
    h['BPA'] = float(beam[2])
    h['FREQ'] = (float(frequency), '[Hz] observing frequency')
    h['RESTFRQ'] = (float(frequency), '[Hz] observing frequency')
    h['TELESCOP'] = 'SIMULATED'
    h['OBJECT'] = 'astro_mlfinder continuum simulation'
    return h


def _check_positive(name, value):
    value = float(value)
    if not value > 0:
        raise ValueError(f'{name} must be > 0, got {value}')
    return value


def _check_classes(classes):
    if not isinstance(classes, dict) or not classes:
        raise ValueError(f'classes must be a dict of fractions, e.g. {CONTINUUM_CLASSES}')
    unknown = set(classes) - set(CLASS_CODES)
    if unknown:
        raise ValueError(f'unknown source class(es) {sorted(unknown)} in classes; use '
                         f'{sorted(CLASS_CODES)}')
    frac = np.array([float(v) for v in classes.values()])
    if np.any(frac < 0) or frac.sum() <= 0:
        raise ValueError('classes fractions must be >= 0 with a positive sum')
    return list(classes), frac / frac.sum()


def _power_law(rng, n, lo, hi, slope):
    """Draw ``n`` values with ``dN/dS ~ S**-slope`` between ``lo`` and ``hi``."""
    x = rng.uniform(size=n)
    if abs(slope - 1.0) < 1e-9:
        return lo * (hi / lo) ** x
    a = 1.0 - slope
    return (lo**a + x * (hi**a - lo**a)) ** (1.0 / a)


def simulate_continuum_image(shape=(512, 512), n_sources=400, *, seed=0,
                             noise=1e-5, beam=(3.0, 3.0, 0.0), pixel_scale=0.6,
                             frequency=5.6e8, center=(0.0, -30.0),
                             snr_range=(0.3, 500.0), slope=1.8,
                             classes=None, primary_beam=None,
                             pb_corrected=True, mask_threshold=0.5,
                             supersample=3):
    """
    Simulate a 2D radio continuum image (SKA SDC1-like).

    Source positions are uniform over the image.  The integrated flux
    densities follow a power law ``dN/dS ~ S**-slope`` between
    ``snr_range[0] * noise`` and ``snr_range[1] * noise`` (so most sources
    lie below the noise and form a confusion background, as in SDC1).
    Classes are drawn with the fractions ``classes``:

    * ``'sfg'``: star-forming galaxy, an exponential disc (scale length a
      fraction of the beam, larger for brighter sources, random axis ratio
      and position angle);
    * ``'agn_compact'``: flat-spectrum AGN, an unresolved core;
    * ``'agn_resolved'``: steep-spectrum AGN, a point core (3-50 % of the
      flux) and two Gaussian lobes (one to six beams from the core, slightly
      asymmetric and bent).

    Every source is rendered convolved with the elliptical Gaussian
    restoring beam (Gaussian parts analytically, discs on a supersampled
    grid); the noise is Gaussian with the beam as its autocorrelation.
    With ``primary_beam`` (a Gaussian primary-beam FWHM in pixels, centred
    on the image) the sky is attenuated by the primary-beam gain; with
    ``pb_corrected=True`` the image is then divided by the gain, so that
    fluxes are intrinsic and the noise rises towards the edges (as in the
    SDC1 images).

    Parameters
    ----------
    shape : tuple of 2 int, optional
        Image shape ``(y, x)``.
    n_sources : int, optional
        Number of sources (including the many below the noise).
    seed : int, `numpy.random.SeedSequence` or None, optional
        Random seed; sources and noise use independent streams.
    noise : float, optional
        Noise rms in Jy/beam (at the primary-beam centre).
    beam : tuple of 3 float, optional
        Restoring beam major and minor FWHM (pixels) and position angle
        (degrees, north through east).
    pixel_scale : float, optional
        Pixel size in arcsec.
    frequency : float, optional
        Observing frequency in Hz.
    center : tuple of float, optional
        RA, Dec (deg) of the image centre.
    snr_range : tuple of float, optional
        Range of the flux distribution in units of ``noise`` (integrated
        flux density in Jy over noise in Jy/beam).
    slope : float, optional
        Power-law slope of the differential source counts.
    classes : dict, optional
        Class fractions (default `CONTINUUM_CLASSES`).
    primary_beam : float or None, optional
        Primary-beam FWHM in pixels; `None` for no primary beam.
    pb_corrected : bool, optional
        Divide the image by the primary-beam gain.
    mask_threshold : float, optional
        Truth-mask threshold in units of the local noise.
    supersample : int, optional
        Sub-pixels per pixel and axis for the discs (odd).

    Returns
    -------
    sim : `ContinuumSimulation`
        ``sim.truth`` has, per source: ``id``; ``class`` (``'sfg'``,
        ``'agn_compact'``, ``'agn_resolved'``) and ``class_id`` (SDC1 code);
        ``x``, ``y`` (flux-weighted centroid of the model, 0-based pixels),
        ``x_peak``, ``y_peak`` (its brightest pixel), ``x_core``,
        ``y_core`` (disc centre or AGN core), ``ra``, ``dec``,
        ``sky_centroid``; ``f_peak`` (Jy/beam) and ``f_int`` (Jy, the model
        summed over the image divided by the beam area) as they appear in
        the image, ``f_int_true`` (intrinsic total flux density, Jy);
        ``rms`` (local noise at the peak, Jy/beam), ``snr_peak =
        f_peak / rms``, ``snr_int = f_int / rms`` (the ConvoSource/SDC1
        integrated S/N); ``pb`` (primary-beam gain at the core);
        ``size`` (arcsec: half-light diameter of a disc, largest angular
        size of an AGN, 0 for a compact AGN), ``axis_ratio``, ``pa`` (deg),
        ``core_fraction``; ``n_pix`` (pixels of its truth mask) and ``cut``
        (the model extends beyond the image).
    """
    shape = tuple(int(n) for n in np.atleast_1d(shape))
    if len(shape) != 2 or min(shape) < 8:
        raise ValueError(f'shape must be (y, x) with both axes >= 8, got {shape}')
    n_sources = int(n_sources)
    if n_sources < 0:
        raise ValueError(f'n_sources must be >= 0, got {n_sources}')
    noise = _check_positive('noise', noise)
    if len(beam) != 3:
        raise ValueError(f'beam must be (bmaj, bmin, bpa) in pixels and degrees, got {beam}')
    bmaj, bmin, bpa = (float(b) for b in beam)
    if not bmaj >= bmin > 0:
        raise ValueError(f'beam must have bmaj >= bmin > 0 pixels, got {beam}')
    pixel_scale = _check_positive('pixel_scale', pixel_scale)
    frequency = _check_positive('frequency', frequency)
    lo, hi = (float(v) for v in snr_range)
    if not 0 < lo < hi:
        raise ValueError(f'snr_range must be (low, high) with 0 < low < high, got {snr_range}')
    names, fractions = _check_classes(CONTINUUM_CLASSES if classes is None else classes)
    if primary_beam is not None:
        primary_beam = _check_positive('primary_beam', primary_beam)
    mask_threshold = _check_positive('mask_threshold', mask_threshold)

    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    src_rng, noise_rng = (np.random.default_rng(s) for s in ss.spawn(2))

    beam_cov = beam_covariance(bmaj, bmin, bpa)
    omega = beam_area_pixels(bmaj, bmin)
    header = make_continuum_header(shape, pixel_scale=pixel_scale, beam=(bmaj, bmin, bpa),
                                   frequency=frequency, center=center)
    wcs = WCS(header)

    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    if primary_beam is not None:
        r2 = (xx - (nx - 1) / 2.0) ** 2 + (yy - (ny - 1) / 2.0) ** 2
        pb = np.exp(-4.0 * np.log(2.0) * r2 / primary_beam**2).astype(np.float32)
    else:
        pb = None
    if pb is not None and pb_corrected:
        noise_map = noise / pb.astype(np.float64)
    else:
        noise_map = np.full(shape, noise, dtype=np.float64)

    fluxes = _power_law(src_rng, n_sources, lo * noise, hi * noise, slope)
    kinds = src_rng.choice(len(names), size=n_sources, p=fractions)
    xs = src_rng.uniform(-0.5, nx - 0.5, size=n_sources)
    ys = src_rng.uniform(-0.5, ny - 0.5, size=n_sources)

    model = np.zeros(shape, dtype=np.float64)
    best = np.zeros(shape, dtype=np.float64)
    labels = np.zeros(shape, dtype=np.int32)
    records = []
    for i in range(n_sources):
        kind = names[kinds[i]]
        comps, morph = draw_source(kind, xs[i], ys[i], fluxes[i], src_rng,
                                   flux_pivot=10.0 * noise, bmaj=bmaj)
        box, stamp, total = render_source(comps, beam_cov, shape, supersample=supersample)
        if box is None:
            continue
        gain_core = 1.0
        if pb is not None:
            ix = int(np.clip(np.rint(xs[i]), 0, nx - 1))
            iy = int(np.clip(np.rint(ys[i]), 0, ny - 1))
            gain_core = float(pb[iy, ix])
            if not pb_corrected:
                stamp = stamp * pb[box]
        sid = len(records) + 1
        model[box] += stamp
        mask = stamp > mask_threshold * noise_map[box]
        bview = best[box]
        win = mask & (stamp > bview)
        labels[box][win] = sid
        bview[win] = stamp[win]
        records.append((sid, kind, comps, morph, box, stamp, total, fluxes[i], gain_core))

    data = correlated_noise_2d(shape, beam_cov, noise, noise_rng)
    if pb is not None and pb_corrected:
        data = (data / pb).astype(np.float32)
    data += model.astype(np.float32)

    truth = _truth_table(records, labels, noise_map, wcs, omega, pixel_scale)
    params = dict(shape=shape, n_sources=n_sources,
                  seed=seed if isinstance(seed, (int, type(None))) else repr(seed),
                  noise=noise, beam=(bmaj, bmin, bpa), beam_area=omega,
                  pixel_scale=pixel_scale, frequency=frequency, center=tuple(center),
                  snr_range=(lo, hi), slope=float(slope),
                  classes=dict(zip(names, fractions.tolist(), strict=True)),
                  primary_beam=primary_beam, pb_corrected=bool(pb_corrected),
                  mask_threshold=mask_threshold, supersample=int(supersample))
    truth.meta.update({
        'mask_definition': _MASK_DEFINITION, 'mask_threshold': mask_threshold,
        'snr_int_definition': 'f_int / rms (integrated flux density over the local noise)',
        'snr_peak_definition': 'f_peak / rms',
        'noise': noise, 'beam_pix': [bmaj, bmin, bpa], 'beam_area_pix': omega,
        'pixel_scale_arcsec': pixel_scale, 'frequency_hz': frequency,
        'shape': list(shape)})
    header = header.copy()
    header['ORIGIN'] = 'astro_mlfinder.simulate.continuum'
    header['NSOURCES'] = (len(truth), 'number of simulated sources')
    header['NOISERMS'] = (noise, 'noise rms at the pointing centre (Jy/beam)')
    if primary_beam is not None:
        header['PBFWHM'] = (primary_beam * pixel_scale / 3600.0, '[deg] primary-beam FWHM')
        header['PBCOR'] = (bool(pb_corrected), 'image divided by the primary beam')
    if isinstance(seed, (int, np.integer)):
        truth.meta['seed'] = int(seed)
        header['SIMSEED'] = (int(seed), 'simulate_continuum_image seed')
    return ContinuumSimulation(data=data, model=model.astype(np.float32), labels=labels,
                               truth=truth, wcs=wcs, header=header, params=params,
                               noise_map=noise_map.astype(np.float32), primary_beam=pb)


def _truth_table(records, labels, noise_map, wcs, omega, pixel_scale):
    """Measure the truth catalogue from each source's own model stamp."""
    cols = {n: [] for n in ('id', 'class', 'class_id', 'x', 'y', 'x_peak', 'y_peak',
                            'x_core', 'y_core', 'f_peak', 'f_int', 'f_int_true', 'rms',
                            'pb', 'size', 'axis_ratio', 'pa', 'core_fraction', 'n_pix',
                            'cut')}
    for sid, kind, comps, morph, box, stamp, total, flux, gain in records:
        sy, sx = box
        yy, xx = np.mgrid[sy, sx]
        s = stamp.sum()
        k = int(np.argmax(stamp))
        py, px = np.unravel_index(k, stamp.shape)
        py, px = sy.start + py, sx.start + px
        cols['id'].append(sid)
        cols['class'].append(kind)
        cols['class_id'].append(CLASS_CODES[kind])
        cols['x'].append(float((stamp * xx).sum() / s) if s > 0 else comps[0].x)
        cols['y'].append(float((stamp * yy).sum() / s) if s > 0 else comps[0].y)
        cols['x_peak'].append(int(px))
        cols['y_peak'].append(int(py))
        cols['x_core'].append(comps[0].x)
        cols['y_core'].append(comps[0].y)
        cols['f_peak'].append(float(stamp.max()))
        cols['f_int'].append(float(s / omega))
        cols['f_int_true'].append(float(flux))
        cols['rms'].append(float(noise_map[py, px]))
        cols['pb'].append(gain)
        cols['size'].append(morph['size'] * pixel_scale)
        cols['axis_ratio'].append(morph['axis_ratio'])
        cols['pa'].append(morph['pa'])
        cols['core_fraction'].append(morph['core_fraction'])
        cols['n_pix'].append(int((labels[box] == sid).sum()))
        cols['cut'].append(bool(abs(s - total) > 1e-3 * abs(total)))
    t = QTable()
    t['id'] = np.asarray(cols['id'], dtype=np.int32)
    t['class'] = np.asarray(cols['class'], dtype='U12')
    t['class_id'] = np.asarray(cols['class_id'], dtype=np.int16)
    for name in ('x', 'y'):
        t[name] = np.asarray(cols[name], dtype=np.float64)
    for name in ('x_peak', 'y_peak'):
        t[name] = np.asarray(cols[name], dtype=np.int64)
    for name in ('x_core', 'y_core'):
        t[name] = np.asarray(cols[name], dtype=np.float64)
    if len(t):
        ra, dec = wcs.pixel_to_world_values(t['x'], t['y'])
    else:
        ra = dec = np.zeros(0)
    t['ra'] = np.asarray(ra, dtype=np.float64) * u.deg
    t['dec'] = np.asarray(dec, dtype=np.float64) * u.deg
    t['sky_centroid'] = SkyCoord(t['ra'], t['dec'], frame='icrs')
    jyb = u.Jy / u.beam
    t['f_peak'] = np.asarray(cols['f_peak'], dtype=np.float64) * jyb
    t['f_int'] = np.asarray(cols['f_int'], dtype=np.float64) * u.Jy
    t['f_int_true'] = np.asarray(cols['f_int_true'], dtype=np.float64) * u.Jy
    t['rms'] = np.asarray(cols['rms'], dtype=np.float64) * jyb
    t['snr_peak'] = (t['f_peak'] / t['rms']).to_value(u.dimensionless_unscaled)
    t['snr_int'] = np.asarray(t['f_int'].value / t['rms'].value, dtype=np.float64)
    t['pb'] = np.asarray(cols['pb'], dtype=np.float64)
    t['size'] = np.asarray(cols['size'], dtype=np.float64) * u.arcsec
    t['axis_ratio'] = np.asarray(cols['axis_ratio'], dtype=np.float64)
    t['pa'] = np.asarray(cols['pa'], dtype=np.float64) * u.deg
    t['core_fraction'] = np.asarray(cols['core_fraction'], dtype=np.float64)
    t['n_pix'] = np.asarray(cols['n_pix'], dtype=np.int64)
    t['cut'] = np.asarray(cols['cut'], dtype=bool)
    return t
