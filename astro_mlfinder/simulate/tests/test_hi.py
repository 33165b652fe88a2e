# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests for the HI cube simulator."""

import importlib.util
import time
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from numpy.testing import assert_allclose, assert_array_equal
from scipy import signal

from astro_mlfinder.simulate import (
    REALISM_DEFAULTS,
    HISimulation,
    cutmix,
    random_realism,
    simulate_hi_cube,
)
from astro_mlfinder.simulate._noise import beam_area_pixels, correlated_noise, fwhm_to_sigma


@pytest.fixture(scope='module')
def sim():
    return simulate_hi_cube((64, 48, 48), 4, seed=1, snr_range=(5.0, 40.0))


def test_types_and_shapes(sim):
    assert isinstance(sim, HISimulation)
    assert sim.data.shape == sim.model.shape == sim.labels.shape == (64, 48, 48)
    assert sim.data.dtype == np.float32
    assert sim.model.dtype == np.float32
    assert sim.labels.dtype == np.int32
    assert sim.noise_rms.shape == (64,)
    assert_allclose(sim.noise_rms, 1e-3)
    assert isinstance(sim.truth, QTable)
    assert len(sim.truth) == 4
    assert sim.artefacts is None
    assert 'HISimulation' in repr(sim)


def test_wcs_and_header(sim):
    h = sim.header
    assert h['CTYPE1'] == 'RA---SIN'
    assert h['CTYPE2'] == 'DEC--SIN'
    assert h['CTYPE3'] == 'FREQ'
    assert h['BUNIT'] == 'Jy/beam'
    assert h['RESTFRQ'] == 1.420405752e9
    assert h['SPECSYS'] == 'BARYCENT'
    assert_allclose(h['BMAJ'], 3.0 * 10.0 / 3600.0)
    assert sim.wcs.naxis == 3
    assert sim.wcs.has_celestial
    # channel 0 is freq0, channels are 50 kHz wide
    ra, dec, freq = sim.wcs.pixel_to_world_values(23.5, 23.5, [0, 1])
    assert_allclose(freq, [1.40e9, 1.40005e9])
    assert_allclose([ra[0], dec[0]], [150.0, 30.0], atol=1e-9)
    # truth sky columns are consistent with the WCS
    t = sim.truth
    assert t['freq'].unit == u.Hz
    assert_allclose(t['freq'].value, 1.40e9 + 5e4 * t['z'])
    assert_allclose(t['sky_centroid'].ra.deg, t['ra'].to_value(u.deg))
    assert np.all(t['v_sys'] > 3000 * u.km / u.s)
    assert sim.beam['bmaj'] == h['BMAJ']
    assert_allclose(sim.beam_area, np.pi * 9 / (4 * np.log(2)))


def test_determinism():
    a = simulate_hi_cube((48, 40, 40), 2, seed=5, realism='realistic')
    b = simulate_hi_cube((48, 40, 40), 2, seed=5, realism='realistic')
    c = simulate_hi_cube((48, 40, 40), 2, seed=6, realism='realistic')
    assert_array_equal(a.data, b.data)
    assert_array_equal(a.labels, b.labels)
    assert a.realism == b.realism
    for name in ('x', 'y', 'z', 'snr'):
        assert_array_equal(a.truth[name], b.truth[name])
    assert not np.array_equal(a.data, c.data)
    # a Generator works too and gives reproducible results
    g1 = simulate_hi_cube((48, 40, 40), 2, seed=np.random.default_rng(3))
    g2 = simulate_hi_cube((48, 40, 40), 2, seed=np.random.default_rng(3))
    assert_array_equal(g1.data, g2.data)


def test_truth_consistent_with_labels_and_model(sim):
    t = sim.truth
    ids = np.unique(sim.labels)
    assert_array_equal(ids, np.arange(len(t) + 1))
    assert_array_equal(t['id'], np.arange(1, len(t) + 1))
    zz, yy, xx = np.indices(sim.shape)
    thr = sim.params['mask_threshold'] * sim.noise_rms[:, None, None]
    for row in t:
        m = sim.labels == row['id']
        vals = sim.model[m].astype(np.float64)
        assert row['n_pix'] == m.sum()
        assert_allclose(row['f_sum'].to_value(u.Jy / u.beam), vals.sum(),
                        rtol=1e-6)
        assert_allclose(row['peak'].to_value(u.Jy / u.beam), vals.max(),
                        rtol=1e-6)
        assert_allclose(row['x'], (vals * xx[m]).sum() / vals.sum(), rtol=1e-6)
        assert_allclose(row['y'], (vals * yy[m]).sum() / vals.sum(), rtol=1e-6)
        assert_allclose(row['z'], (vals * zz[m]).sum() / vals.sum(), rtol=1e-6)
        for name, idx in (('x', xx), ('y', yy), ('z', zz)):
            assert row[f'{name}_min'] == idx[m].min()
            assert row[f'{name}_max'] == idx[m].max()
        # mask definition: model above the threshold inside the mask
        assert np.all(sim.model[m] > thr.repeat(48, 1).repeat(48, 2)[m] * 0.999)
        # physical flux: f_sum * channel width / beam area
        assert_allclose(row['f_sum_phys'].to_value(u.Jy * u.Hz),
                        row['f_sum'].value * 5e4 / sim.beam_area)
        assert row['w20'] >= row['w50'] > 0
        assert row['f_total'] >= row['f_sum'] * 0.999
    # outside all masks the model is below the threshold (no overlaps)
    outside = sim.labels == 0
    assert np.all(sim.model[outside] <= np.broadcast_to(thr, sim.shape)[outside]
                  * 1.001)
    # the data are model + noise
    noise = sim.data - sim.model
    assert_allclose(noise.std(axis=(1, 2)), sim.noise_rms, rtol=1e-3)


def test_snr_control():
    sim = simulate_hi_cube((64, 48, 48), 4, seed=2, snr=[30.0, 30.0, 40.0, 40.0])
    t = sim.truth
    assert_allclose(t['snr'], t['snr_target'], rtol=1e-3)
    assert_allclose(t['snr_target'], [30, 30, 40, 40])
    # measured on the noisy data inside the truth mask
    omega = sim.beam_area
    for row in t:
        m = sim.labels == row['id']
        measured = sim.data[m].sum(dtype=np.float64) / (
            1e-3 * np.sqrt(m.sum() * omega))
        assert abs(measured / row['snr_target'] - 1) < 0.10


def test_snr_range_is_respected():
    sim = simulate_hi_cube((64, 64, 64), 6, seed=4, snr_range=(3.0, 10.0))
    assert np.all(sim.truth['snr_target'] >= 3.0)
    assert np.all(sim.truth['snr_target'] <= 10.0)
    assert_allclose(sim.truth['snr'], sim.truth['snr_target'], rtol=0.02)


def test_noise_is_beam_correlated():
    rng = np.random.default_rng(0)
    fwhm = 4.0
    n = correlated_noise((16, 96, 96), fwhm, 2.0, rng)
    assert n.dtype == np.float32
    assert_allclose(n.std(axis=(1, 2)), 2.0, rtol=1e-5)
    sig = fwhm_to_sigma(fwhm)
    for lag in (1, 2, 3):
        acf = np.mean(n * np.roll(n, lag, axis=2)) / np.mean(n * n)
        assert abs(acf - np.exp(-lag**2 / (2 * sig**2))) < 0.03
    # the sum over a large box has variance ~ rms^2 * n_pix * beam area
    sums = [n[k, y:y + 32, x:x + 32].sum(dtype=np.float64)
            for k in range(16) for y in (0, 32, 64) for x in (0, 32, 64)]
    expected = 2.0 * np.sqrt(32 * 32 * beam_area_pixels(fwhm))
    assert 0.75 < np.std(sums) / expected < 1.25
    # per-channel rms and validation
    n2 = correlated_noise((3, 8, 8), 2.0, [1.0, 2.0, 3.0], rng)
    assert_allclose(n2.std(axis=(1, 2)), [1, 2, 3], rtol=1e-5)
    with pytest.raises(ValueError, match='per-channel rms has 2 values'):
        correlated_noise((3, 8, 8), 2.0, [1.0, 2.0], rng)


def test_double_horned_profile():
    sim = simulate_hi_cube((96, 48, 48), 1, seed=3, snr=[50.0],
                           incl_range=(65, 65), vrot_range=(200, 200),
                           size_range=(6, 6), sigma_v_range=(8, 8),
                           profile='flat')
    spec = sim.model.sum(axis=(1, 2), dtype=np.float64)
    spec = spec / spec.max()
    peaks, _ = signal.find_peaks(spec, prominence=0.2)
    assert len(peaks) == 2
    centre = spec[peaks[0] + 1:peaks[1]].min()
    assert centre < 0.75
    # width ~ 2 v_rot sin(i) = 363 km/s
    w50 = sim.truth['w50_kms'][0].to_value(u.km / u.s)
    assert 300 < w50 < 420


def test_face_on_is_single_peaked():
    sim = simulate_hi_cube((64, 48, 48), 1, seed=3, snr=[50.0],
                           incl_range=(0, 0), size_range=(5, 5),
                           profile='exponential')
    spec = sim.model.sum(axis=(1, 2), dtype=np.float64)
    peaks, _ = signal.find_peaks(spec / spec.max(), prominence=0.05)
    assert len(peaks) == 1
    # only the velocity dispersion broadens the line
    assert sim.truth['w50'][0] < 4


def _plain_and(options, seed=11):
    shape = (64, 40, 40)
    plain = simulate_hi_cube(shape, 3, seed=seed)
    real = simulate_hi_cube(shape, 3, seed=seed, realism=options)
    return plain, real


def test_realism_rfi_adds_excess_power():
    plain, real = _plain_and({'rfi': 1, 'rfi_amplitude': (20.0, 20.0),
                              'rfi_width': 2.0})
    # sources and noise unchanged; the difference is the artefact cube
    assert_array_equal(real.model, plain.model)
    assert_allclose(real.data - plain.data, real.artefacts, atol=1e-6)
    zc = real.truth.meta['rfi_channels'][0]
    power = (real.artefacts.astype(np.float64)**2).mean(axis=(1, 2))
    hot = int(round(zc))
    assert power[hot] > 10 * 1e-6                   # >> noise variance
    far = np.abs(np.arange(64) - zc) > 6
    assert np.all(power[far] == 0)
    # spatially extended: most pixels of the RFI channel are affected
    assert np.mean(np.abs(real.artefacts[hot]) > 1e-3) > 0.5
    # the data channel variance is raised
    var = real.data.var(axis=(1, 2))
    assert var[hot] > 5 * np.median(var)


def test_realism_ripple_and_continuum():
    _, real = _plain_and({'ripple_amplitude': 1.0, 'ripple_period': 16.0})
    spec = real.artefacts[:, 20, 20].astype(np.float64)
    power = np.abs(np.fft.rfft(spec))**2
    freqs = np.fft.rfftfreq(64)
    assert_allclose(freqs[np.argmax(power)], 1 / 16)
    # amplitude and phase vary across the field
    assert not np.allclose(real.artefacts[:, 5, 5], real.artefacts[:, 35, 35])

    _, real = _plain_and({'continuum_sources': 1,
                          'continuum_amplitude': 10.0})
    yc, xc = real.truth.meta['continuum_positions'][0]
    y, x = int(round(yc)), int(round(xc))
    residual = real.artefacts[:, y, x]
    # present in every channel, smooth (offset + slope + curvature)
    assert np.all(residual != 0)
    assert np.abs(np.diff(residual, 3)).max() < 1e-6
    # point-like: it falls off with the beam
    assert np.abs(real.artefacts[:, (y + 10) % 40, (x + 10) % 40]).max() < \
        0.05 * np.abs(residual).max()


def test_realism_noise_variation():
    _, smooth = _plain_and({'noise_variation': 0.2})
    _, real = _plain_and({'noise_variation': 0.2, 'noisy_channels': 2})
    assert 0.05 < smooth.noise_rms.std() / smooth.noise_rms.mean() < 0.4
    ratio = real.noise_rms / smooth.noise_rms
    assert np.sum(ratio != 1) == 2
    assert np.all((ratio == 1) | ((ratio >= 1.5) & (ratio <= 3)))
    noise = (real.data - real.model).std(axis=(1, 2))
    assert_allclose(noise, real.noise_rms, rtol=1e-3)
    # SNR control uses the per-channel noise
    assert_allclose(real.truth['snr'], real.truth['snr_target'], rtol=0.02)


@pytest.mark.filterwarnings('ignore:could not place')
def test_realism_instrument_overrides():
    _, real = _plain_and({'beam_fwhm': 4.5, 'channel_width': 2e4,
                          'noise': 2e-3})
    assert real.params['beam_fwhm'] == 4.5
    assert_allclose(real.header['BMAJ'], 4.5 * 10 / 3600)
    assert real.header['CDELT3'] == 2e4
    assert_allclose(real.noise_rms, 2e-3)


def test_edge_and_sightline_sources():
    sim = simulate_hi_cube((96, 64, 64), 6, seed=7, edge_sources=2,
                           realism={'sightline_sources': 1})
    t = sim.truth
    assert len(t) == 6
    assert t['cut'].sum() >= 2
    assert (t['f_sum'] / t['f_total'])[t['cut']].max() < 0.99
    assert t['sightline'].sum() == 1
    s = t[t['sightline']][0]
    others = t[~t['sightline']]
    dist = np.hypot(others['x0'] - s['x0'], others['y0'] - s['y0'])
    assert dist.min() < 3.0
    assert np.abs(others['z'][np.argmin(dist)] - s['z']) > 5


def test_random_realism():
    a = random_realism(np.random.default_rng(1))
    b = random_realism(np.random.default_rng(1))
    assert a == b
    assert set(a) == set(REALISM_DEFAULTS)
    assert 2.0 <= a['beam_fwhm'] <= 5.0
    # over many draws every artefact appears and so does a clean cube
    draws = [random_realism(np.random.default_rng(s)) for s in range(40)]
    for key in ('rfi', 'ripple_amplitude', 'continuum_sources',
                'noise_variation'):
        values = [d[key] for d in draws]
        assert any(v for v in values) and not all(v for v in values)


def test_realistic_runs_and_is_fast():
    sim = simulate_hi_cube((128, 64, 64), 8, seed=0, realism='realistic')
    assert sim.data.dtype == np.float32
    assert np.isfinite(sim.data).all()
    best = np.inf
    for seed in range(3):
        t0 = time.perf_counter()
        simulate_hi_cube((128, 64, 64), 8, seed=seed, realism='realistic')
        best = min(best, time.perf_counter() - t0)
    assert best < 1.0


def test_input_validation():
    with pytest.raises(ValueError, match='unknown realism option'):
        simulate_hi_cube((32, 32, 32), 1, realism={'rfii': 2})
    with pytest.raises(ValueError, match='realism must be'):
        simulate_hi_cube((32, 32, 32), 1, realism='very')
    with pytest.raises(ValueError, match='shape must be'):
        simulate_hi_cube((32, 32), 1)
    with pytest.raises(ValueError, match='snr has 1 values'):
        simulate_hi_cube((32, 32, 32), 2, snr=[5.0])
    with pytest.raises(ValueError, match='snr_range'):
        simulate_hi_cube((32, 32, 32), 2, snr_range=(10, 5))
    with pytest.raises(ValueError, match='noise must be'):
        simulate_hi_cube((32, 32, 32), 2, noise=0)


def test_too_many_sources_warns():
    with pytest.warns(UserWarning, match='could not place'):
        sim = simulate_hi_cube((32, 24, 24), 30, seed=0)
    assert 0 < len(sim.truth) < 30
    assert_array_equal(np.unique(sim.labels), np.arange(len(sim.truth) + 1))


def test_no_sources():
    sim = simulate_hi_cube((16, 16, 16), 0, seed=0)
    assert len(sim.truth) == 0
    assert not sim.labels.any()
    assert not sim.model.any()


def test_write_and_hdu(sim, tmp_path):
    hdu = sim.to_hdu()
    assert_array_equal(hdu.data, sim.data)
    path = tmp_path / 'cube.fits'
    sim.write(path, model=True, labels=True)
    with fits.open(path) as hdul:
        assert_array_equal(hdul[0].data, sim.data)
        assert hdul[0].header['BUNIT'] == 'Jy/beam'
        assert hdul[0].header['CTYPE3'] == 'FREQ'
        assert_array_equal(hdul['LABELS'].data, sim.labels)
        assert_array_equal(hdul['MODEL'].data, sim.model)
    with pytest.raises(FileExistsError):
        sim.write(path)
    sim.write(path, overwrite=True)
    with fits.open(path) as hdul:
        assert len(hdul) == 1
    # no temporary files left behind, normal permissions
    assert [p.name for p in tmp_path.iterdir()] == ['cube.fits']
    assert path.stat().st_mode & 0o044
    # truth table round-trips through ECSV, VOTable and FITS
    for name, fmt in (('truth.ecsv', 'ascii.ecsv'), ('truth.xml', 'votable'),
                      ('truth.fits', 'fits')):
        sim.write_truth(tmp_path / name, format=fmt)
        back = QTable.read(tmp_path / name)
        assert_allclose(back['f_sum'].value, sim.truth['f_sum'].value)
        assert_array_equal(back['id'], sim.truth['id'])
    with pytest.raises(FileExistsError):
        sim.write_truth(tmp_path / 'truth.ecsv')
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'cube.fits', 'truth.ecsv', 'truth.fits', 'truth.xml']


def test_cutmix():
    rng = np.random.default_rng(0)
    background = rng.normal(size=(20, 16, 16)).astype(np.float32)
    bg_labels = np.zeros(background.shape, dtype=np.int32)
    bg_labels[2:4, 2:4, 2:4] = 1
    src = np.zeros((6, 4, 4))
    src[1:5, 1:3, 1:3] = 2.0
    lab = (src > 0).astype(np.int32)
    data, labels = cutmix(background, src, lab, 0.25, background_labels=bg_labels,
                          offset=(10, 8, 8))
    assert_allclose(data[10:16, 8:12, 8:12], background[10:16, 8:12, 8:12]
                    + 0.25 * src, rtol=1e-6)
    assert_array_equal(data[:10], background[:10])
    assert_array_equal(labels[11:15, 9:11, 9:11], 2)
    assert (labels == 2).sum() == 16
    assert (labels == 1).sum() == 8
    # partially outside: cropped
    data, labels = cutmix(background, src, lab, 1.0, offset=(17, -2, 14))
    assert labels.sum() == lab[:3, 2:, :2].sum()
    # label threshold removes faint voxels, percentile normalisation
    src2 = src.copy()
    src2[1, 1, 1] = 0.5
    data, labels = cutmix(background, src2, lab, 1.0, offset=(0, 0, 0),
                          label_threshold=1.0)
    assert labels[1, 1, 1] == 0 and labels[2, 1, 1] == 1
    data, labels = cutmix(np.zeros((8, 8, 8)), src, lab, 2.0, offset=(0, 0, 0),
                          percentile=50, noise=3.0)
    assert_allclose(data[1:5, 1:3, 1:3], 6.0)
    # random offset and scale are reproducible
    a = cutmix(background, src, lab, (0.1, 0.5), rng=1)
    b = cutmix(background, src, lab, (0.1, 0.5), rng=1)
    assert_array_equal(a[0], b[0])
    assert a[1].any()
    with pytest.raises(ValueError, match='labels shape'):
        cutmix(background, src, lab[:2])


def test_cutmix_with_simulation():
    sim = simulate_hi_cube((32, 32, 32), 1, seed=0, snr=[20.0])
    bg = simulate_hi_cube((32, 32, 32), 0, seed=1)
    thr = 0.5 * 1e-3
    data, labels = cutmix(bg.data, sim.model, sim.labels, 0.5,
                          offset=(0, 0, 0), label_threshold=thr)
    assert_allclose(data, bg.data + 0.5 * sim.model, atol=1e-7)
    assert 0 < labels.sum() < sim.labels.sum()


def test_mask_threshold():
    kw = dict(shape=(64, 48, 48), n_sources=2, seed=8, snr=[15.0, 15.0])
    loose = simulate_hi_cube(mask_threshold=0.25, **kw)
    tight = simulate_hi_cube(mask_threshold=1.0, **kw)
    assert np.all(loose.truth['n_pix'] > tight.truth['n_pix'])
    assert_allclose(loose.truth['snr'], 15.0, rtol=0.02)
    assert_allclose(tight.truth['snr'], 15.0, rtol=0.02)
    # a larger mask holds more of the flux
    assert np.all(loose.truth['f_sum'] / loose.truth['f_total']
                  > tight.truth['f_sum'] / tight.truth['f_total'])


DATA = Path(__file__).resolve().parents[3] / 'data'


@pytest.mark.skipif(not (DATA / 'make_sample.py').exists()
                    or not (DATA / 'sample_hi_cube.fits').exists(),
                    reason='needs a source checkout with data/')
def test_bundled_sample_is_up_to_date():
    spec = importlib.util.spec_from_file_location('make_sample',
                                                  DATA / 'make_sample.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.check_sample(DATA)
    truth = QTable.read(DATA / 'sample_hi_truth.ecsv')
    assert len(truth) == 5
    assert_allclose(truth['snr'], [8, 12, 18, 27, 40], rtol=1e-3)
    assert not truth['cut'].any()
    assert (DATA / 'sample_hi_cube.fits').stat().st_size < 2e6
