# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated ALMA dirty line cubes (the DeepFocus / ALMASim setting): a sky of
one bright and several fainter line sources, observed through the dirty
beam of a real ALMA configuration with the frequency dependence of the uv
coverage, in thermal noise convolved with the same beam; with the clean
sky model, the dirty beam and the truth table beside each dirty cube.

The antenna positions are the 43 pads of the 12-m array in configuration
C-3 from the CASA simulator file ``alma.cycle8.3.cfg`` (see
``astro_mlfinder/simulate/_uv.py`` for the provenance).
"""

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS
from scipy import fft as sfft

from astro_mlfinder.io.atomic import atomic_path, check_writable
from astro_mlfinder.simulate._alma_sky import draw_sources, line_profile, spatial_profile
from astro_mlfinder.simulate._alma_truth import (
    BOX_DEFINITION,
    PA_DEFINITION,
    crop_beam,
    gaussian_transfer,
    truth_table,
)
from astro_mlfinder.simulate._base import Simulation, sin_header
from astro_mlfinder.simulate._noise import beam_area_pixels
from astro_mlfinder.simulate._uv import (
    ALMA_C3,
    ALMA_LATITUDE,
    C_LIGHT,
    beam_from_sampling,
    fit_main_lobe,
    grid_sampling,
    sampling_sumsq,
    uv_tracks,
)

__all__ = ['ALMA_FAST_PARAMS', 'ALMA_SEEDS', 'ALMASimulation', 'CO21_REST_FREQUENCY',
           'make_alma_header', 'simulate_alma_cube']

#: Rest frequency of CO(2-1) in Hz (``RESTFRQ`` of the default Band 6 cubes).
CO21_REST_FREQUENCY = 230.538e9

#: First seed of each disjoint block of one million seeds: cubes for
#: training, validation, tuning the classical finder and the benchmark
#: never share a seed.
ALMA_SEEDS = {'training': 3_000_000, 'validation': 4_000_000, 'tuning': 7_000_000,
              'benchmark': 8_000_000}

#: Parameters for many small, fast cubes (training sets): 64 channels of
#: 128 x 128 pixels, 60 s integrations.
ALMA_FAST_PARAMS = {'shape': (64, 128, 128), 'integration': 60.0}

@dataclass(repr=False)
class ALMASimulation(Simulation):
    """
    A simulated ALMA dirty cube and its truth.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 ``(z, y, x)`` dirty cube (Jy/beam): sky and thermal noise,
        both convolved with the dirty beam of their channel.
    model : `~numpy.ndarray`
        float32 clean sky model (Jy/pixel): lines and continuum.
    labels : `~numpy.ndarray`
        int32 truth segmentation of the lines (see
        ``truth.meta['box_definition']``).
    truth : `~astropy.table.QTable`
        One row per source (see `simulate_alma_cube`).
    dirty_beam : `~numpy.ndarray`
        float32 ``(z, y, x)`` dirty beam of every channel, peak 1 at pixel
        ``(ny // 2, nx // 2)``.
    channel_beams : `~astropy.table.QTable`
        Gaussian fit of every channel's main lobe: ``bmaj``, ``bmin``
        (arcsec), ``bpa`` (deg east of north).
    """

    dirty_beam: np.ndarray | None = None
    channel_beams: QTable | None = None

    @property
    def beam_area(self):
        """Area of the restoring beam (reference channel) in pixels."""
        return self.params['beam_area']

    def __repr__(self):
        b = self.params['beam']
        return (f'<ALMASimulation shape={self.data.shape} n_sources={len(self.truth)} '
                f"noise={self.params['noise']:.3g} Jy/beam beam={b[0]:.3g}x{b[1]:.3g} px>")

    def model_hdu(self):
        """The clean sky model as a FITS primary HDU (``BUNIT`` Jy/pixel)."""
        hdr = self.header.copy()
        hdr['BUNIT'] = 'Jy/pixel'
        for key in ('BMAJ', 'BMIN', 'BPA'):
            hdr.remove(key, ignore_missing=True)
        hdr['OBJECT'] = 'clean sky model'
        return fits.PrimaryHDU(self.model, header=hdr)

    def beam_hdulist(self):
        """
        The dirty beam cube and the per-channel Gaussian fits.

        Returns
        -------
        hdul : `~astropy.io.fits.HDUList`
            Primary HDU: the beam cube (peak 1 at pixel ``(ny // 2, nx //
            2)``, FITS ``BEAMPIX1/2``); extension ``BEAMS``: ``BMAJ``,
            ``BMIN`` (arcsec), ``BPA`` (deg), ``CHAN``, ``POL`` (as CASA
            writes per-channel beams).
        """
        hdr = self.header.copy()
        hdr['BUNIT'] = ''
        hdr['OBJECT'] = 'dirty beam'
        nz, ny, nx = self.shape
        hdr['BEAMPIX1'] = (nx // 2 + 1, 'x pixel (1-based) of the beam peak')
        hdr['BEAMPIX2'] = (ny // 2 + 1, 'y pixel (1-based) of the beam peak')
        cb = self.channel_beams
        cols = [fits.Column('BMAJ', 'E', unit='arcsec', array=cb['bmaj'].to_value(u.arcsec)),
                fits.Column('BMIN', 'E', unit='arcsec', array=cb['bmin'].to_value(u.arcsec)),
                fits.Column('BPA', 'E', unit='deg', array=cb['bpa'].to_value(u.deg)),
                fits.Column('CHAN', 'J', array=np.arange(nz, dtype=np.int32)),
                fits.Column('POL', 'J', array=np.zeros(nz, dtype=np.int32))]
        return fits.HDUList([fits.PrimaryHDU(self.dirty_beam, header=hdr),
                             fits.BinTableHDU.from_columns(cols, name='BEAMS')])

    def to_hdulist(self, *, model=True, labels=True):
        """Like `Simulation.to_hdulist`, with the model in Jy/pixel."""
        hdul = super().to_hdulist(model=model, labels=labels)
        if model:
            hdul['MODEL'].header['BUNIT'] = 'Jy/pixel'
        return hdul

    def write_all(self, image_path, truth_path, overwrite=False, *, model_path=None,
                  beam_path=None, **kwargs):
        """
        Write the dirty cube, the truth table and optionally the clean model
        and the dirty beam, refusing before writing any when one exists and
        ``overwrite`` is `False`.

        Parameters
        ----------
        image_path, truth_path : str or path-like
            Dirty cube (FITS) and truth table (ECSV).
        overwrite : bool, optional
            Replace existing files.
        model_path, beam_path : str or path-like, optional
            Clean sky model and dirty beam (FITS).
        **kwargs
            Passed to `write` (``model``, ``labels`` extensions).

        Returns
        -------
        paths : list
            The paths written.
        """
        paths = [image_path, truth_path] + [p for p in (model_path, beam_path) if p is not None]
        check_writable(paths, overwrite=overwrite)
        self.write(image_path, overwrite=overwrite, **kwargs)
        self.write_truth(truth_path, overwrite=overwrite)
        if model_path is not None:
            with atomic_path(model_path, overwrite=overwrite) as tmp:
                self.model_hdu().writeto(tmp)
        if beam_path is not None:
            with atomic_path(beam_path, overwrite=overwrite) as tmp:
                self.beam_hdulist().writeto(tmp)
        return paths


def make_alma_header(shape, *, pixel_scale=0.1, beam=(8.9, 7.6, 0.0), frequency=230.0e9,
                     channel_width=10.0e6, center=(60.0, -35.0),
                     rest_frequency=CO21_REST_FREQUENCY):
    """
    FITS header of a simulated ALMA cube.

    Parameters
    ----------
    shape : tuple of 3 int
        ``(z, y, x)`` cube shape.
    pixel_scale : float, optional
        Pixel size in arcsec.
    beam : tuple of 3 float, optional
        Restoring beam: major, minor FWHM (pixels), position angle (deg
        east of north).
    frequency : float, optional
        Frequency at the centre of the band (Hz); channel ``nz // 2`` is
        there.
    channel_width : float, optional
        Channel width (Hz).
    center : tuple of float, optional
        RA, Dec (deg, ICRS) of the pointing (image centre).
    rest_frequency : float, optional
        ``RESTFRQ`` (Hz).

    Returns
    -------
    header : `~astropy.io.fits.Header`
    """
    nz, ny, nx = shape
    h = sin_header(ny, nx, pixel_scale=pixel_scale, center=center, wcsaxes=3)
    h['CTYPE3'] = 'FREQ'
    h['CRPIX3'] = float(nz // 2 + 1)
    h['CRVAL3'] = float(frequency)
    h['CDELT3'] = float(channel_width)
    h['CUNIT3'] = 'Hz'
    h['RADESYS'] = 'ICRS'
    h['SPECSYS'] = 'LSRK'
    h['RESTFRQ'] = float(rest_frequency)
    h['BUNIT'] = 'Jy/beam'
    h['BMAJ'] = float(beam[0]) * float(pixel_scale) / 3600.0
    h['BMIN'] = float(beam[1]) * float(pixel_scale) / 3600.0
    h['BPA'] = float(beam[2])
    h['TELESCOP'] = 'ALMA'
    h['INSTRUME'] = 'SIMULATED'
    h['OBJECT'] = 'astro_mlfinder ALMA simulation'
    return h


def _positive(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a number > 0, got {value!r}') from None
    if not value > 0:
        raise ValueError(f'{name} must be > 0, got {value}')
    return value


def _fraction(name, value):
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'{name} must be between 0 and 1, got {value}')
    return value


def _pair(name, value, *, lo=0.0, hi=np.inf, strict_lo=True):
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a (low, high) pair of numbers, got {value!r}') from None
    ok_lo = a > lo if strict_lo else a >= lo
    if not (ok_lo and a <= b <= hi):
        raise ValueError(f'{name} must be (low, high) with {lo} {"<" if strict_lo else "<="} '
                         f'low <= high <= {hi}, got {value!r}')
    return a, b


def _check_params(shape, n_faint, antennas, dec, hour_angle):
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f'shape must be (nz, ny, nx), got {shape!r}') from None
    if len(shape) != 3 or shape[0] < 8 or min(shape[1:]) < 32:
        raise ValueError(f'shape must be (nz, ny, nx) with nz >= 8 and ny, nx >= 32, got {shape}')
    if isinstance(n_faint, (int, np.integer)):
        if n_faint < 0:
            raise ValueError(f'n_faint must be >= 0 or a (low, high) range, got {n_faint}')
        n_faint = int(n_faint)
    else:
        lo, hi = _pair('n_faint', n_faint, strict_lo=False)
        if lo != int(lo) or hi != int(hi):
            raise ValueError(f'n_faint must be an int or a (low, high) pair of ints, got {n_faint!r}')
        n_faint = (int(lo), int(hi))
    if isinstance(antennas, str):
        if antennas.upper() not in ('C-3', 'C3', 'C43-3'):
            raise ValueError(f"antennas must be 'C-3' or an (n, 3) array of east, north, up "
                             f'positions (m), got {antennas!r}')
        enu = ALMA_C3[1]
    else:
        enu = np.asarray(antennas, dtype=np.float64)
        if enu.ndim != 2 or enu.shape[1] != 3 or len(enu) < 2:
            raise ValueError(f'antennas must be an (n >= 2, 3) array of east, north, up '
                             f'positions (m), got shape {enu.shape}')
    dec = float(dec)
    if not -90.0 < dec < 90.0 or abs(dec - ALMA_LATITUDE) >= 85.0:
        raise ValueError(f'dec={dec} deg never rises more than 5 deg above the horizon at ALMA '
                         f'(latitude {ALMA_LATITUDE}); use -90 < dec < 61')
    h0, h1 = _pair('hour_angle', hour_angle, lo=-12.0, hi=12.0, strict_lo=False)
    if not h1 > h0:
        raise ValueError(f'hour_angle must be (start, end) hours with start < end, got {hour_angle!r}')
    return shape, n_faint, enu, dec, (h0, h1)


def simulate_alma_cube(shape=(128, 256, 256), *, seed=0, n_faint=(2, 6), bright=True,
                       noise=1.0e-3, pixel_scale=0.1, frequency=230.0e9, channel_width=10.0e6,
                       center=(60.0, -35.0), antennas='C-3', hour_angle=(-0.33, 0.33),
                       integration=30.0, fwhm_range=(4.0, 18.0), axis_ratio=(0.4, 1.0),
                       exponential_fraction=0.3, line_width=(40.0, 350.0),
                       double_horn_fraction=0.3, snr_bright=(20.0, 80.0),
                       snr_faint=(5.0, 20.0), continuum_fraction=0.3,
                       continuum_snr=(0.5, 3.0), sightline_fraction=0.25,
                       min_separation=10.0, box_level=0.1):
    """
    Simulate an ALMA dirty line cube with its clean model, dirty beam and
    truth.

    **Sky.** One bright source (unless ``bright=False``) within 5 % of the
    image size from the centre and ``n_faint`` fainter ones (an int, or a
    ``(low, high)`` range drawn uniformly, inclusive). Each is an elliptical
    Gaussian or, with probability ``exponential_fraction``, an exponential
    disc (major FWHM uniform in ``fwhm_range`` pixels, axis ratio in
    ``axis_ratio``, random orientation) with a Gaussian or (probability
    ``double_horn_fraction``) double-horned line (FWHM uniform in
    ``line_width`` km/s, at most a quarter of the band) and, with
    probability ``continuum_fraction``, continuum (power law in frequency,
    index in [-1, 3]). Line amplitudes are set so that the line's peak in
    the noiseless dirty cube is ``snr`` times ``noise`` (log-uniform in
    ``snr_bright`` / ``snr_faint``); continuum peaks ``continuum_snr``
    times ``noise`` per channel. With probability ``sightline_fraction`` a
    faint source is put on the line of sight of an earlier one (within 1
    pixel) with its line at other frequencies.

    **Observation.** The uv tracks of every baseline of ``antennas`` over
    ``hour_angle`` (one sample per ``integration`` seconds) at the ALMA
    latitude and the declination of ``center``; per channel, the uv
    coordinates in wavelengths at the channel frequency are gridded
    (natural weighting, nearest cell) on a grid twice the image size, and
    the dirty beam is its inverse FFT (peak 1), so the beam shrinks as
    ``1 / frequency`` across the band.  Each channel of the sky model, plus
    white noise, is convolved with its dirty beam (multiplication by the
    gridded sampling function in the uv plane); the white noise level is set
    so that the convolved noise has rms ``noise`` Jy/beam in every channel.

    Parameters
    ----------
    shape : tuple of 3 int, optional
        ``(nz, ny, nx)`` (DeepFocus: 128 x 256 x 256).
    seed : int, `numpy.random.SeedSequence` or None, optional
        Random seed; sky and noise use independent streams. See
        `ALMA_SEEDS` for the blocks reserved for training, validation,
        tuning and benchmarks.
    n_faint : int or tuple of 2 int, optional
        Number of faint sources.
    bright : bool, optional
        Include the bright central source.
    noise : float, optional
        Noise rms of the dirty cube (Jy/beam).
    pixel_scale : float, optional
        Pixel size (arcsec).
    frequency : float, optional
        Frequency of channel ``nz // 2`` (Hz; default Band 6).
    channel_width : float, optional
        Channel width (Hz, > 0).
    center : tuple of float, optional
        RA, Dec (deg) of the pointing; the Dec sets the uv coverage.
    antennas : 'C-3' or array-like, optional
        ALMA configuration C-3, or ``(n, 3)`` east, north, up antenna
        positions (m).
    hour_angle : tuple of float, optional
        Start and end hour angle (hours); the default is 40 minutes around
        transit, as DeepFocus' 2400 s simulations.
    integration : float, optional
        Integration time (s).
    fwhm_range : tuple of float, optional
        Range of the sources' major-axis FWHM (pixels).
    axis_ratio : tuple of float, optional
        Range of minor / major axis ratios.
    exponential_fraction, double_horn_fraction, continuum_fraction, sightline_fraction : float, optional
        Probabilities (see above).
    line_width : tuple of float, optional
        Range of line FWHM (km/s).
    snr_bright, snr_faint : tuple of float, optional
        Ranges of the line peak S/N.
    continuum_snr : tuple of float, optional
        Range of the continuum peak S/N per channel.
    min_separation : float, optional
        Smallest distance (pixels) between sources whose line windows
        overlap.
    box_level : float, optional
        Truth masks and boxes: fraction of the peak of the restored line
        (see the truth table meta ``box_definition``).

    Returns
    -------
    sim : `ALMASimulation`
        ``sim.truth`` has, per source: ``id``; ``bright``; ``kind``
        (``'gaussian'``, ``'exponential'``); ``profile`` (``'gaussian'``,
        ``'double_horn'``); ``x``, ``y`` (centre, 0-based pixels), ``z``
        (line centre, channel), ``ra``, ``dec``, ``freq``, ``sky_centroid``;
        the truth box ``x_min, x_max, y_min, y_max, z_min, z_max`` (inclusive;
        ``z_min..z_max`` is the line window); ``fwhm_x``, ``fwhm_y``: FWHM
        of the intrinsic (clean-model) profile along its major and minor
        axis (pixels, so ``fwhm_x >= fwhm_y``) and ``fwhm_x_arcsec``,
        ``fwhm_y_arcsec``; ``pa`` (deg east of north) and ``theta`` (deg
        counter-clockwise from +x) of the major axis, 0-180; ``fwhm_z``
        (line FWHM, channels) and ``line_width`` (km/s); ``flux``, the
        line's integrated flux (Jy Hz: the line part of the model summed
        times the channel width, the unit of the finders' physical
        ``f_sum``) and ``flux_kms`` (the same in Jy km/s at the line
        centre); ``continuum`` (Jy at the line centre), ``continuum_index``
        and ``flux_continuum`` (Jy Hz, the continuum part of the model
        summed times the channel width); ``peak`` (Jy/beam, the line's peak in the
        noiseless dirty cube, computed with the dirty beam of its centre
        channel), ``rms`` (Jy/beam), ``snr_peak = peak / rms`` and
        ``snr_int`` (the noiseless dirty line summed over the truth mask,
        over ``rms * sqrt(n_pix * beam_area)``); ``n_pix`` (voxels of its
        truth mask); ``sightline`` (id of another source on the same line of
        sight, i.e. whose box contains this centre, at other frequencies;
        0 for none); ``cut`` (the box touches the image edge).
    """
    shape, n_faint, enu, dec, hour_angle = _check_params(shape, n_faint, antennas,
                                                         center[1], hour_angle)
    noise = _positive('noise', noise)
    pixel_scale = _positive('pixel_scale', pixel_scale)
    frequency = _positive('frequency', frequency)
    channel_width = _positive('channel_width', channel_width)
    integration = _positive('integration', integration)
    min_separation = float(min_separation)
    if min_separation < 0:
        raise ValueError(f'min_separation must be >= 0 pixels, got {min_separation}')
    box_level = float(box_level)
    if not 0.0 < box_level < 1.0:
        raise ValueError(f'box_level must be between 0 and 1 (exclusive), got {box_level}')
    nz, ny, nx = shape
    dv = C_LIGHT / 1e3 * channel_width / frequency
    cfg = {
        'n_faint': n_faint, 'bright': bool(bright),
        'fwhm_range': _pair('fwhm_range', fwhm_range),
        'axis_ratio': _pair('axis_ratio', axis_ratio, hi=1.0),
        'exponential_fraction': _fraction('exponential_fraction', exponential_fraction),
        'line_width': _pair('line_width', line_width),
        'double_horn_fraction': _fraction('double_horn_fraction', double_horn_fraction),
        'snr_bright': _pair('snr_bright', snr_bright),
        'snr_faint': _pair('snr_faint', snr_faint),
        'continuum_fraction': _fraction('continuum_fraction', continuum_fraction),
        'continuum_snr': _pair('continuum_snr', continuum_snr),
        'sightline_fraction': _fraction('sightline_fraction', sightline_fraction),
        'min_separation': min_separation, 'box_level': box_level}
    cfg['line_width_ch'] = tuple(max(w / dv, 1.0) for w in cfg['line_width'])

    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sky_rng, noise_rng = (np.random.default_rng(s) for s in ss.spawn(2))

    freqs = frequency + (np.arange(nz) - nz // 2) * channel_width
    uu, vv = uv_tracks(enu, dec=dec, hour_angle=hour_angle, integration=integration)
    grid = (2 * ny, 2 * nx)
    center_px = (ny // 2, nx // 2)

    def sampling(z):
        return grid_sampling(uu, vv, freqs[z], grid, pixel_scale)

    # restoring beam: Gaussian fit to the main lobe at the reference channel
    s_ref = sampling(nz // 2)
    beam_ref, _ = beam_from_sampling(s_ref, grid)
    bmaj, bmin, btheta = fit_main_lobe(crop_beam(beam_ref, shape[1:]), center_px)
    bpa = (btheta - 90.0) % 180.0
    omega = beam_area_pixels(bmaj, bmin)

    sources = draw_sources(sky_rng, shape, cfg, bmaj)
    gauss_tf = gaussian_transfer(grid, bmaj, bmin, btheta)
    records = []
    model = np.zeros(shape, dtype=np.float32)
    cache = {}
    for src in sources:
        sl, stamp = spatial_profile(src, (ny, nx))
        pad = np.zeros(grid, dtype=np.float64)
        pad[sl] = stamp
        ft = sfft.rfft2(pad, workers=1)
        zc = int(np.clip(np.rint(src.z0), 0, nz - 1))
        if zc not in cache:
            s = sampling(zc)
            cache[zc] = (s, beam_from_sampling(s, grid)[1])
        s, norm = cache[zc]
        dirty1 = sfft.irfft2(ft * s, s=grid, workers=1)[:ny, :nx] / norm
        restored = sfft.irfft2(ft * gauss_tf, s=grid, workers=1)[:ny, :nx]
        spec = line_profile(src.profile, src.z0, src.fwhm_z, nz, src.trough)
        d_peak = float(dirty1.max())
        amp = src.snr * noise / (d_peak * spec.max())
        line = amp * spec
        cont = np.zeros(nz)
        if src.continuum_snr > 0:
            c0 = src.continuum_snr * noise / d_peak
            cont = c0 * (freqs / freqs[zc]) ** src.alpha
        model[:, sl[0], sl[1]] += ((line + cont)[:, None, None] * stamp[None]).astype(np.float32)
        records.append(dict(src=src, sl=sl, stamp=stamp, line=line, cont=cont, amp=amp,
                            dirty1=dirty1, restored=restored, zc=zc))

    data = np.empty(shape, dtype=np.float32)
    dirty_beam = np.empty(shape, dtype=np.float32)
    beams = np.empty((nz, 3))
    work = np.empty(grid, dtype=np.float32)
    rows = (np.arange(ny) - ny // 2) % grid[0]
    cols = (np.arange(nx) - nx // 2) % grid[1]
    half_size = int(2.0 * bmaj) + 3
    n_grid = grid[0] * grid[1]
    for z in range(nz):
        s = cache[z][0] if z in cache else sampling(z)
        beam, norm = beam_from_sampling(s, grid)
        # sum of the beam squared over the grid (Parseval): the convolved white noise's variance
        sumsq = sampling_sumsq(s, grid) / n_grid / norm**2
        noise_rng.standard_normal(dtype=np.float32, out=work)
        work *= np.float32(noise / np.sqrt(sumsq))
        work[:ny, :nx] += model[z]
        ft = sfft.rfft2(work, workers=1)
        ft *= s
        data[z] = sfft.irfft2(ft, s=grid, workers=1)[:ny, :nx] * np.float32(1.0 / norm)
        dirty_beam[z] = beam[np.ix_(rows, cols)]
        beams[z] = fit_main_lobe(dirty_beam[z], center_px, half_size=half_size)

    labels = np.zeros(shape, dtype=np.int32)
    best = np.zeros(shape, dtype=np.float32)
    header = make_alma_header(shape, pixel_scale=pixel_scale, beam=(bmaj, bmin, bpa),
                              frequency=frequency, channel_width=channel_width, center=center)
    wcs = WCS(header)
    truth = truth_table(records, labels, best, box_level, noise, omega, wcs, freqs,
                         channel_width, pixel_scale)
    params = dict(shape=shape, seed=seed if isinstance(seed, (int, type(None))) else repr(seed),
                  n_faint=n_faint, bright=bool(bright), noise=noise, pixel_scale=pixel_scale,
                  frequency=frequency, channel_width=channel_width, center=tuple(center),
                  antennas=antennas if isinstance(antennas, str) else 'custom',
                  n_antennas=len(enu), hour_angle=hour_angle, integration=integration,
                  beam=(bmaj, bmin, bpa), beam_area=omega, channel_width_kms=dv,
                  **{k: v for k, v in cfg.items() if k not in ('n_faint', 'bright')})
    truth.meta.update({
        'box_definition': BOX_DEFINITION, 'pa_definition': PA_DEFINITION,
        'box_level': box_level,
        'snr_int_definition': 'sum of the noiseless dirty line over the truth mask / '
                              '(rms * sqrt(n_pix * beam_area))',
        'snr_peak_definition': 'peak of the noiseless dirty line / rms',
        'flux_definition': 'flux: sum of the line part of the clean model (Jy/pixel) over the '
                           'cube times the channel width (Jy Hz); flux_kms: the same times '
                           'c / frequency of the line centre (Jy km/s)',
        'noise': noise, 'beam_pix': [bmaj, bmin, bpa], 'beam_area_pix': omega,
        'pixel_scale_arcsec': pixel_scale, 'channel_width_hz': channel_width,
        'frequency_hz': frequency, 'shape': list(shape)})
    header['ORIGIN'] = 'astro_mlfinder.simulate.alma'
    header['NSOURCES'] = (len(truth), 'number of simulated sources')
    header['NOISERMS'] = (noise, 'noise rms per channel (Jy/beam)')
    header['ANTCFG'] = (params['antennas'], 'ALMA antenna configuration')
    header['HASTART'] = (hour_angle[0], '[h] hour angle at the start')
    header['HAEND'] = (hour_angle[1], '[h] hour angle at the end')
    if isinstance(seed, (int, np.integer)):
        truth.meta['seed'] = int(seed)
        header['SIMSEED'] = (int(seed), 'simulate_alma_cube seed')
    cb = QTable()
    cb['bmaj'] = beams[:, 0] * pixel_scale * u.arcsec
    cb['bmin'] = beams[:, 1] * pixel_scale * u.arcsec
    cb['bpa'] = ((beams[:, 2] - 90.0) % 180.0) * u.deg
    cb['freq'] = freqs * u.Hz
    return ALMASimulation(data=data, model=model, labels=labels, truth=truth, wcs=wcs,
                          header=header, params=params, dirty_beam=dirty_beam,
                          channel_beams=cb)
