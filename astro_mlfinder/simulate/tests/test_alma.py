# Licensed under a 3-clause BSD style license - see LICENSE.rst
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from astro_mlfinder.simulate import ALMA_FAST_PARAMS, ALMA_SEEDS, simulate_alma_cube
from astro_mlfinder.simulate._uv import (
    ALMA_C3,
    C_LIGHT,
    baselines,
    beam_from_sampling,
    grid_sampling,
    uv_tracks,
)

SMALL = dict(shape=(32, 128, 128), integration=60.0)


@pytest.fixture(scope='module')
def sim():
    return simulate_alma_cube(seed=11, n_faint=4, continuum_fraction=0.5, **SMALL)


def test_c3_configuration():
    names, enu = ALMA_C3
    assert len(names) == len(enu) == 43
    assert names[0] == 'A001'
    b = np.hypot(*baselines(enu)[:, :2].T)
    # C-3: baselines 15 m to 500 m
    assert 14.0 < b.min() < 16.0
    assert 495.0 < b.max() < 505.0


def test_beam_peak_and_width(sim):
    nz, ny, nx = sim.shape
    beam = sim.dirty_beam
    assert np.allclose(beam[:, ny // 2, nx // 2], 1.0, atol=1e-6)
    assert np.all(beam.max(axis=(1, 2)) <= 1.0 + 1e-6)
    # the beam of a real array has sidelobes, negative and positive
    assert beam.min() < -0.02
    lam = C_LIGHT / sim.params['frequency']
    lam_over_b = np.degrees(lam / 500.0) * 3600.0 / sim.params['pixel_scale']
    bmaj, bmin, _ = sim.params['beam']
    assert 1.0 < bmin / lam_over_b <= bmaj / lam_over_b < 2.0
    # header beam = fit at the reference channel, in degrees
    assert sim.header['BMAJ'] == pytest.approx(bmaj * 0.1 / 3600.0)
    assert sim.channel_beams['bmaj'][nz // 2].to_value(u.deg) == pytest.approx(
        sim.header['BMAJ'], rel=1e-6)


def test_gridded_beam_matches_direct_fourier_sum():
    u_m, v_m = uv_tracks(ALMA_C3[1], dec=-35.0, hour_angle=(-0.3, 0.3), integration=60.0)
    freq, pix = 230e9, 0.1
    grid = (256, 256)
    beam, _ = beam_from_sampling(grid_sampling(u_m, v_m, freq, grid, pix), grid)
    delta = np.deg2rad(pix / 3600.0)
    uu, vv = u_m * freq / C_LIGHT, v_m * freq / C_LIGHT
    for dy, dx in [(0, 3), (4, 0), (-3, 5), (6, 6), (2, -7)]:
        direct = np.mean(np.cos(2 * np.pi * (uu * (-dx * delta) + vv * (dy * delta))))
        assert beam[dy % 256, dx % 256] == pytest.approx(direct, abs=0.02)


def test_beam_scales_with_inverse_frequency():
    sim = simulate_alma_cube(shape=(16, 128, 128), seed=1, n_faint=0, bright=False,
                             channel_width=0.5e9, frequency=230e9, integration=60.0)
    cb = sim.channel_beams
    size = np.sqrt(cb['bmaj'] * cb['bmin']).to_value(u.arcsec)
    freq = cb['freq'].to_value(u.Hz)
    assert freq[-1] / freq[0] == pytest.approx(1.0 + 7.5 / 226.0, rel=1e-3)
    # size * frequency is constant across the band (to 1 %) while the size changes by 3 %
    product = size * freq
    assert np.ptp(product) / product.mean() < 0.01
    assert size[0] / size[-1] > 1.02


def test_noise_rms_matches_target():
    sim = simulate_alma_cube(shape=(32, 128, 128), seed=3, n_faint=0, bright=False,
                             noise=2.5e-3, integration=60.0)
    assert len(sim.truth) == 0
    assert np.all(sim.model == 0)
    assert sim.data.std() == pytest.approx(2.5e-3, rel=0.05)
    assert abs(sim.data.mean()) < 2.5e-4


def test_truth_flux_equals_model_sum(sim):
    t = sim.truth
    dnu = sim.params['channel_width']
    total = (t['flux'] + t['flux_continuum']).to_value(u.Jy * u.Hz).sum()
    assert float(sim.model.astype(np.float64).sum()) * dnu == pytest.approx(total, rel=1e-5)
    # Jy km/s = Jy Hz * c / nu at the line
    freq_line = sim.params['frequency'] + (np.rint(t['z']) - sim.shape[0] // 2) * dnu
    kms = t['flux'].to_value(u.Jy * u.Hz) / freq_line * C_LIGHT / 1e3
    assert np.allclose(t['flux_kms'].to_value(u.Jy * u.km / u.s), kms)
    assert np.any(t['continuum'] > 0) and np.any(t['continuum'] == 0)


def test_seeded_determinism():
    a = simulate_alma_cube(seed=5, **ALMA_FAST_PARAMS)
    b = simulate_alma_cube(seed=5, **ALMA_FAST_PARAMS)
    c = simulate_alma_cube(seed=6, **ALMA_FAST_PARAMS)
    assert np.array_equal(a.data, b.data)
    assert np.array_equal(a.model, b.model)
    assert np.array_equal(np.asarray(a.truth['x']), np.asarray(b.truth['x']))
    assert not np.array_equal(a.data, c.data)
    assert a.shape == (64, 128, 128)
    assert set(ALMA_SEEDS) == {'training', 'validation', 'tuning', 'benchmark'}
    starts = sorted(ALMA_SEEDS.values())
    assert np.all(np.diff(starts) >= 1_000_000)


def test_sources_within_bounds(sim):
    t = sim.truth
    nz, ny, nx = sim.shape
    assert int(t['bright'].sum()) == 1
    assert len(t) == 5
    assert np.all(t['x_min'] >= 0) and np.all(t['x_max'] < nx)
    assert np.all(t['y_min'] >= 0) and np.all(t['y_max'] < ny)
    assert np.all(t['z_min'] >= 0) and np.all(t['z_max'] < nz)
    for name in ('x', 'y', 'z'):
        assert np.all((t[f'{name}_min'] <= t[name]) & (t[name] <= t[f'{name}_max']))
    assert not np.any(t['cut'])
    assert np.all(t['fwhm_x'] >= t['fwhm_y'])
    assert np.allclose(t['fwhm_x_arcsec'].to_value(u.arcsec), t['fwhm_x'] * 0.1)
    # labels are the truth ids, each inside its own box
    ids = np.unique(sim.labels)
    assert set(ids[ids > 0]) <= set(t['id'])
    for r in t:
        zz, yy, xx = np.nonzero(sim.labels == r['id'])
        assert zz.min() >= r['z_min'] and zz.max() <= r['z_max']
        assert xx.min() >= r['x_min'] and xx.max() <= r['x_max']
    # S/N: the bright source is brighter than every faint one
    snr = np.asarray(t['snr_peak'])
    assert snr[t['bright']][0] >= 20.0 > 0
    assert np.all((snr[~t['bright']] >= 5.0 - 1e-9) & (snr[~t['bright']] <= 20.0 + 1e-9))
    assert np.all(t['snr_int'] > 0)


def test_sky_position_angle_convention():
    sim = simulate_alma_cube(shape=(16, 128, 128), seed=21, n_faint=0, integration=60.0,
                             axis_ratio=(0.3, 0.4), fwhm_range=(12.0, 14.0),
                             exponential_fraction=0.0, continuum_fraction=0.0)
    r = sim.truth[0]
    img = sim.model.sum(axis=0).astype(np.float64)
    yy, xx = np.mgrid[:128, :128]
    w = img / img.sum()
    mx, my = (w * xx).sum(), (w * yy).sum()
    cov = np.cov(np.stack([xx.ravel() - mx, yy.ravel() - my]), aweights=w.ravel())
    vals, vecs = np.linalg.eigh(cov)
    theta = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1])) % 180.0
    assert _angle_diff(theta, r['theta'].to_value(u.deg)) < 2.0
    # astronomical PA: from the centre towards a point on the major axis, east of north
    t = np.deg2rad(r['theta'].to_value(u.deg))
    wcs = WCS(sim.header).celestial
    c0 = wcs.pixel_to_world(r['x'], r['y'])
    c1 = wcs.pixel_to_world(r['x'] + 10 * np.cos(t), r['y'] + 10 * np.sin(t))
    pa_sky = c0.position_angle(c1).to_value(u.deg) % 180.0
    assert _angle_diff(pa_sky, r['pa'].to_value(u.deg)) < 0.5


def _angle_diff(a, b):
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def test_sightline_pair_when_asked():
    sim = simulate_alma_cube(seed=8, n_faint=4, sightline_fraction=1.0, **ALMA_FAST_PARAMS)
    t = sim.truth
    pairs = [(r, t[t['id'] == r['sightline']][0]) for r in t if r['sightline'] > 0]
    assert pairs
    for a, b in pairs:
        assert b['x_min'] <= a['x'] <= b['x_max'] and b['y_min'] <= a['y'] <= b['y_max']
        assert a['z_max'] < b['z_min'] or b['z_max'] < a['z_min']
    assert len(t) == 5


def test_header_and_wcs(sim):
    h = sim.header
    nz = sim.shape[0]
    assert h['CTYPE1'] == 'RA---SIN' and h['CTYPE2'] == 'DEC--SIN' and h['CTYPE3'] == 'FREQ'
    assert h['BUNIT'] == 'Jy/beam'
    freq = WCS(h).spectral.pixel_to_world_values(nz // 2)
    assert float(freq) == pytest.approx(230e9)
    t = sim.truth
    assert np.allclose(t['freq'].to_value(u.Hz),
                       230e9 + (t['z'] - nz // 2) * sim.params['channel_width'])


def test_write_all(tmp_path, sim):
    paths = [tmp_path / n for n in ('dirty.fits', 'truth.ecsv', 'model.fits', 'beam.fits')]
    sim.write_all(paths[0], paths[1], model_path=paths[2], beam_path=paths[3])
    with fits.open(paths[0]) as h:
        assert np.array_equal(h[0].data, sim.data)
        assert h[0].header['BUNIT'] == 'Jy/beam'
    with fits.open(paths[2]) as h:
        assert h[0].header['BUNIT'] == 'Jy/pixel'
        assert np.array_equal(h[0].data, sim.model)
    with fits.open(paths[3]) as h:
        assert np.array_equal(h[0].data, sim.dirty_beam)
        assert len(h['BEAMS'].data) == sim.shape[0]
    t = QTable.read(paths[1])
    assert t['flux'].unit == u.Jy * u.Hz
    assert t['flux_kms'].unit == u.Jy * u.km / u.s
    assert np.allclose(t['fwhm_x'], sim.truth['fwhm_x'])
    (tmp_path / 'new').mkdir()
    fresh = [tmp_path / 'new' / p.name for p in paths[:2]]
    with pytest.raises(FileExistsError):
        sim.write_all(fresh[0], fresh[1], model_path=paths[2])
    assert not fresh[0].exists() and not fresh[1].exists()


@pytest.mark.parametrize('kwargs, match', [
    (dict(shape=(4, 64, 64)), 'shape must be'),
    (dict(noise=0), 'noise must be > 0'),
    (dict(n_faint=-1), 'n_faint must be'),
    (dict(hour_angle=(1, -1)), 'hour_angle must be'),
    (dict(center=(0.0, 75.0)), 'never rises'),
    (dict(antennas='C-9'), "antennas must be 'C-3'"),
    (dict(axis_ratio=(0.5, 1.5)), 'axis_ratio must be'),
    (dict(sightline_fraction=2), 'sightline_fraction must be between 0 and 1'),
    (dict(pixel_scale=1.0), 'too coarse'),
    (dict(box_level=1.0), 'box_level must be'),
])
def test_bad_parameters(kwargs, match):
    params = dict(shape=(8, 32, 32), seed=0) | kwargs
    with pytest.raises(ValueError, match=match) as err:
        simulate_alma_cube(**params)
    assert '\n' not in str(err.value)


def test_fit_main_lobe_recovers_a_gaussian():
    from astro_mlfinder.simulate._uv import fit_main_lobe

    yy, xx = np.mgrid[:64, :64] - 32.0
    t = np.deg2rad(30.0)
    a = xx * np.cos(t) + yy * np.sin(t)
    b = -xx * np.sin(t) + yy * np.cos(t)
    k = np.sqrt(8 * np.log(2))
    img = np.exp(-0.5 * ((a / (9.0 / k)) ** 2 + (b / (6.0 / k)) ** 2))
    bmaj, bmin, theta = fit_main_lobe(img, (32, 32))
    assert bmaj == pytest.approx(9.0, rel=1e-3)
    assert bmin == pytest.approx(6.0, rel=1e-3)
    assert theta == pytest.approx(30.0, abs=0.1)
