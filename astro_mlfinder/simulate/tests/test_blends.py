# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the optical blend simulator: per-source truth, noise, controls, I/O."""

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from scipy import special

from astro_mlfinder.simulate._sersic import (
    SersicComponent,
    composite_half_light,
    convolve_shift,
    moffat_kernel,
    render_galaxy,
    render_star,
    sersic_b,
    sersic_half_light_factor,
)
from astro_mlfinder.simulate.blends import (
    BENCHMARK_SEED,
    BLEND_SEEDS,
    TRAINING_SEED,
    VALIDATION_SEED,
    BlendSimulation,
    blend_cutouts,
    simulate_blends,
)


@pytest.fixture(scope='module')
def sim():
    return simulate_blends(shape=(64, 64), n_sources=(4, 6), seed=11)


@pytest.fixture(scope='module')
def inside():
    """Two blends whose whole profiles and PSF wings lie inside the image."""
    return simulate_blends(shape=(160, 160), n_sources=(3, 3), seed=3, r_half=(1.0, 2.0),
                           separation=(1.0, 1.5), star_fraction=0.3)


def test_types_header_and_wcs(sim):
    assert isinstance(sim, BlendSimulation)
    n = len(sim.truth)
    assert 4 <= n <= 6
    assert sim.data.shape == sim.model.shape == sim.labels.shape == (64, 64)
    assert sim.sources.shape == (n, 64, 64) and sim.sources.dtype == np.float32
    assert sim.data.dtype == np.float32
    h = sim.header
    assert h['BUNIT'] == 'adu' and h['CTYPE1'] == 'RA---TAN' and h['CTYPE2'] == 'DEC--TAN'
    assert h['MAGZP'] == 31.0 and h['GAIN'] == 2.0 and h['SIMSEED'] == 11
    assert sim.wcs.has_celestial
    ra, dec = sim.wcs.pixel_to_world_values(31.5, 31.5)
    assert (ra, dec) == pytest.approx((150.1, 2.2))
    assert sim.psf.sum() == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(sim.truth['ra'].to_value(u.deg),
                               sim.wcs.pixel_to_world_values(sim.truth['x'], sim.truth['y'])[0])
    assert 'BlendSimulation' in repr(sim)


def test_truth_images_sum_to_fluxes(sim, inside):
    for s in (sim, inside):
        t = s.truth
        # the noise-free image is the sum of the truth images
        np.testing.assert_allclose(s.model, s.sources.sum(axis=0), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(t['flux_image'].to_value(u.adu),
                                   s.sources.sum(axis=(1, 2), dtype=np.float64), rtol=1e-5)
        # only flux falling beyond the edge of the image is lost
        assert np.all(t['flux_image'] <= t['flux'] * (1 + 1e-5))
        np.testing.assert_allclose(t['mag'].value,
                                   31.0 - 2.5 * np.log10(t['flux'].to_value(u.adu)))
    # sources well inside the image keep all their flux
    np.testing.assert_allclose(inside.truth['flux_image'].value, inside.truth['flux'].value,
                               rtol=1e-5)
    assert inside.truth['flux'].unit == u.adu


def test_noise_rms_matches_sky_read_and_poisson():
    s = simulate_blends(shape=(128, 128), n_sources=6, seed=5, mag_range=(15.0, 16.0),
                        sky=400.0, read_noise=8.0, gain=1.5)
    resid = (s.data - s.model).astype(np.float64)
    bg = s.model < 1e-3 * s.background_rms
    assert s.background_rms == pytest.approx(np.sqrt(400 + 64) / 1.5)
    assert resid[bg].std() == pytest.approx(s.background_rms, rel=0.03)
    assert abs(resid[bg].mean()) < 0.05 * s.background_rms     # sky subtracted
    # Poisson noise of the sources: bright pixels are noisier, as predicted
    bright = s.model > 20 * s.background_rms
    assert bright.sum() > 100
    assert resid[bright].std() > 2 * s.background_rms
    z = resid / np.sqrt(s.variance)
    assert z[bright].std() == pytest.approx(1.0, abs=0.1)
    assert z.std() == pytest.approx(1.0, abs=0.03)
    np.testing.assert_allclose(s.variance, (s.model * 1.5 + 400 + 64) / 1.5 ** 2, rtol=1e-5)
    # without sky subtraction the sky level stays in the image
    raw = simulate_blends(shape=(64, 64), n_sources=1, seed=5, sky=400.0, gain=1.5,
                          sky_subtracted=False)
    assert np.median(raw.data - raw.model) == pytest.approx(400 / 1.5, rel=0.01)


def test_seeded_determinism(sim):
    again = simulate_blends(shape=(64, 64), n_sources=(4, 6), seed=11)
    np.testing.assert_array_equal(again.data, sim.data)
    np.testing.assert_array_equal(again.sources, sim.sources)
    np.testing.assert_array_equal(again.truth['flux'], sim.truth['flux'])
    other = simulate_blends(shape=(64, 64), n_sources=(4, 6), seed=12)
    assert not np.array_equal(other.data, sim.data)
    first = next(blend_cutouts(1, purpose='validation', start=3))
    np.testing.assert_array_equal(first.data, simulate_blends(seed=VALIDATION_SEED + 3).data)


def test_seed_sets_are_disjoint():
    assert TRAINING_SEED == 5_000_000 and VALIDATION_SEED == 5_500_000
    assert BENCHMARK_SEED == 9_000_000
    starts = sorted(BLEND_SEEDS.values())
    assert np.all(np.diff(starts) >= 500_000)
    with pytest.raises(ValueError, match='start \\+ n <= 500000'):
        next(blend_cutouts(10, start=499_995))


def test_fixed_separation_and_flux_ratio_are_exact():
    for seed in range(5):
        s = simulate_blends(n_sources=2, seed=seed, separation=1.5, flux_ratio=0.4,
                            star_fraction=0.5)
        t = s.truth
        assert len(t) == 2
        np.testing.assert_allclose(t['nn_sep_hlr'], [1.5, 1.5])
        np.testing.assert_allclose(t['flux_ratio'], [2.5, 0.4])
        np.testing.assert_array_equal(t['nn_id'], [2, 1])
        r = t['r_half_psf'].value
        np.testing.assert_allclose(t['nn_sep'].value, 1.5 * (r[0] + r[1]))
        s = simulate_blends(n_sources=2, seed=seed, separation=2.0, separation_unit='fwhm')
        np.testing.assert_allclose(s.truth['nn_sep_fwhm'], [2.0, 2.0])
        np.testing.assert_allclose(s.truth['nn_sep'].value, [7.0, 7.0])


def test_separation_and_flux_ratio_ranges():
    seps, ratios = [], []
    for seed in range(20):
        t = simulate_blends(n_sources=(2, 6), seed=100 + seed, separation=(1.0, 2.0),
                            flux_ratio=(0.2, 0.8), mag_limit=30.0).truth
        seps.append(t['nn_sep_hlr'])
        if len(t) == 2:
            ratios.append(t['flux_ratio'][1])
        assert t['nn_id'][0] > 0 and np.all(t['blend_id'] == 1)
    seps = np.concatenate(seps)
    assert seps.min() >= 1.0 - 1e-9 and seps.max() <= 2.0 + 1e-9
    ratios = np.array(ratios)
    assert len(ratios) and np.all((ratios >= 0.2 - 1e-12) & (ratios <= 0.8 + 1e-12))
    # a single source has no neighbour
    t = simulate_blends(n_sources=1, seed=1).truth
    assert t['nn_id'][0] == 0 and np.isnan(t['nn_sep_hlr'][0]) and np.isnan(t['flux_ratio'][0])


def test_mag_limit_bounds_faint_sources():
    for seed in range(10):
        t = simulate_blends(n_sources=6, seed=seed, flux_ratio=(0.05, 0.2), mag_limit=23.0).truth
        assert np.all(t['mag'].value <= 23.0 + 1e-9)


def test_field_of_blends():
    s = simulate_blends(shape=(256, 256), n_blends=8, n_sources=(1, 6), seed=2)
    t = s.truth
    assert set(t['blend_id']) <= set(range(1, 9)) and len(set(t['blend_id'])) == 8
    assert np.all((t['x'] >= -0.5) & (t['x'] <= 255.5) & (t['y'] >= -0.5) & (t['y'] <= 255.5))
    # labels: a labelled pixel's source is the brightest there, above the threshold
    on = s.labels > 0
    np.testing.assert_array_equal(s.labels[on] - 1, s.sources.argmax(axis=0)[on])
    assert np.all(s.sources.max(axis=0)[on] > s.background_rms)
    np.testing.assert_array_equal(t['n_pix'], [(s.labels == i).sum() for i in t['id']])
    kinds = set(t['kind'])
    assert kinds <= {'galaxy', 'star'}
    stars = t['kind'] == 'star'
    assert np.all(t['r_half'][stars] == 0) and np.all(np.isnan(t['sersic_n'][stars]))
    assert np.all(t['r_half'][~stars] > 0)
    np.testing.assert_allclose(t['r_half_psf'].value, np.hypot(t['r_half'].value, 3.5 / 2))


def test_sersic_b_and_half_light_radius():
    assert sersic_b(4.0) == pytest.approx(7.66925, abs=1e-4)
    assert sersic_b(1.0) == pytest.approx(1.67835, abs=1e-4)
    n = np.array([0.5, 2.5, 6.0])
    np.testing.assert_allclose(special.gammainc(2 * n, sersic_b(n)), 0.5)
    assert sersic_half_light_factor(1.0, 1e3) == pytest.approx(1.0)
    assert sersic_half_light_factor(4.0, 5.0) < 1.0
    # the rendered profile holds half its flux inside the half-light ellipse, and its
    # centroid is the true centre (also through the PSF, for sources smaller than a pixel)
    for n_s, a_eff, q in [(1.0, 6.0, 0.5), (4.0, 8.0, 0.8), (6.0, 10.0, 0.6), (4.0, 0.3, 0.5)]:
        comp = [SersicComponent(n_s, a_eff, 1.0, 5.0)]
        theta = 0.3
        stamp = render_galaxy(comp, q, theta)
        assert stamp.sum() == pytest.approx(1.0)
        a_half = composite_half_light(comp)
        half = stamp.shape[0] // 2
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
        uu = xx * np.cos(theta) + yy * np.sin(theta)
        vv = (-xx * np.sin(theta) + yy * np.cos(theta)) / q
        if a_half > 2:
            assert stamp[np.hypot(uu, vv) < a_half].sum() == pytest.approx(0.5, abs=0.02)
        (py, px), img = convolve_shift(stamp, 60.7, 60.2, 3.5, 2.5, 18)
        assert img.sum() == pytest.approx(1.0) and img.min() >= 0
        yy, xx = np.mgrid[py:py + img.shape[0], px:px + img.shape[1]]
        assert (img * xx).sum() == pytest.approx(60.2, abs=0.002)
        assert (img * yy).sum() == pytest.approx(60.7, abs=0.002)
    # bulge + disc: the composite half-light radius lies between the components'
    comps = [SersicComponent(4.0, 2.0, 0.3, 5.0), SersicComponent(1.0, 8.0, 0.7, 5.0)]
    a = composite_half_light(comps)
    assert sum(c.fraction * c.enclosed(a) for c in comps) == pytest.approx(0.5)
    assert comps[0].a_eff < a < comps[1].a_eff * sersic_half_light_factor(1.0, 5.0)


def test_star_is_the_psf():
    kernel = moffat_kernel(3.5, 2.5, 10, supersample=5)
    (oy, ox), stamp = render_star(20.0, 30.0, 3.5, 2.5, 10)
    assert (oy, ox) == (20, 10)
    np.testing.assert_allclose(stamp, kernel)
    # the FWHM of the centred profile is the one asked for (sampled finely)
    fine = moffat_kernel(3.5, 2.5, 40, supersample=1)[40, 40:]
    assert np.interp(0.5, fine[::-1] / fine[0], np.arange(41)[::-1]) == pytest.approx(1.75,
                                                                                       abs=0.05)


def test_bulge_disc_galaxies():
    s = simulate_blends(shape=(128, 128), n_sources=6, seed=4, bulge_disc_fraction=1.0,
                        star_fraction=0.0)
    t = s.truth
    assert np.all(t['bulge_disc']) and np.all(t['sersic_n'] == 1.0)
    assert np.all((t['bulge_fraction'] >= 0.1) & (t['bulge_fraction'] <= 0.6))
    assert np.all(t['bulge_r_half'] < t['r_half'])


@pytest.mark.parametrize('kwargs, message', [
    (dict(shape=(8, 8)), 'shape must be'),
    (dict(n_sources=0), 'n_sources must be'),
    (dict(n_sources=(3, 2)), 'n_sources must be'),
    (dict(separation=(2.0, 1.0)), 'separation must be'),
    (dict(separation=-1.0), 'separation must be'),
    (dict(separation_unit='arcsec'), 'separation_unit must be one of'),
    (dict(flux_ratio=0), 'flux_ratio must be'),
    (dict(ellipticity=(0.0, 0.99)), 'ellipticity must be'),
    (dict(sersic_n=(0.1, 4.0)), 'sersic_n must lie within'),
    (dict(psf_beta=1.0), 'psf_beta must be > 1'),
    (dict(psf_fwhm=0), 'psf_fwhm must be > 0'),
    (dict(gain=0), 'gain must be > 0'),
    (dict(sky=0, read_noise=0), 'sky and read_noise are both 0'),
    (dict(star_fraction=1.5), 'star_fraction must be between 0 and 1'),
    (dict(mag_limit=20.0), 'mag_limit must be >='),
    (dict(n_blends=-1), 'n_blends must be'),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        simulate_blends(**kwargs)
    assert '\n' not in str(err.value)


def test_write_all(tmp_path, sim):
    paths = [tmp_path / 'b.fits', tmp_path / 'b_truth.ecsv', tmp_path / 'b_sources.fits']
    assert sim.write_all(*paths) == paths
    with fits.open(paths[0]) as hdul:
        np.testing.assert_array_equal(hdul[0].data, sim.data)
        assert hdul[0].header['BUNIT'] == 'adu'
    with fits.open(paths[2]) as hdul:
        cube = hdul[0].data
        assert cube.shape == sim.sources.shape and hdul[0].header['CTYPE3'] == 'SOURCEID'
        np.testing.assert_array_equal(cube, sim.sources)
    t = QTable.read(paths[1])
    assert t['flux'].unit == u.adu and t['r_half'].unit == u.pix
    np.testing.assert_allclose(t['flux'].value, sim.truth['flux'].value)
    assert t.meta['zero_point'] == 31.0
    # refused whole: nothing is written when one output exists
    new = [tmp_path / 'c.fits', tmp_path / 'c.ecsv', paths[2]]
    with pytest.raises(FileExistsError):
        sim.write_all(*new)
    assert not new[0].exists() and not new[1].exists()


def test_empty_image_is_pure_noise():
    s = simulate_blends(n_blends=0, seed=8)
    assert len(s.truth) == 0 and s.sources.shape == (0, 64, 64)
    assert not s.model.any() and not s.labels.any()
    assert s.data.std() == pytest.approx(s.background_rms, rel=0.05)
    with pytest.raises(ValueError, match='purpose must be one of'):
        next(blend_cutouts(1, purpose='test'))


def test_cli_simulate_blends(tmp_path, capsys):
    from astro_mlfinder.cli import main

    assert main(['simulate', 'blends', '--seed', '4', '--shape', '48,64', '--n-sources', '2',
                 '--separation', '1.5', '--flux-ratio', '0.2,0.5', '--output', str(tmp_path)]) == 0
    image, truth = tmp_path / 'sim_blends_4.fits', tmp_path / 'sim_blends_4_truth.ecsv'
    sources = tmp_path / 'sim_blends_4_sources.fits'
    out = capsys.readouterr().out
    assert all(str(p) in out for p in (image, truth, sources))
    sim = simulate_blends(shape=(48, 64), n_sources=2, seed=4, separation=1.5, flux_ratio=(0.2, 0.5))
    np.testing.assert_array_equal(fits.getdata(image), sim.data)
    np.testing.assert_array_equal(fits.getdata(sources), sim.sources)
    t = QTable.read(truth)
    np.testing.assert_allclose(t['nn_sep_hlr'], [1.5, 1.5])
    assert 0.2 <= t['flux_ratio'][1] <= 0.5
    # written whole or not at all: an existing cube blocks all three
    image.unlink()
    truth.unlink()
    assert main(['simulate', 'blends', '--seed', '4', '--output', str(tmp_path)]) == 1
    assert 'already exists' in capsys.readouterr().err
    assert not image.exists() and not truth.exists()
    assert main(['simulate', 'blends', '--separation', 'near', '--output', str(tmp_path)]) == 1
    assert '--separation must be VALUE or LOW,HIGH' in capsys.readouterr().err
    assert main(['simulate', 'blends', '--shape', '8,8', '--output', str(tmp_path)]) == 1
    assert '--shape' in capsys.readouterr().err
    assert main(['simulate', 'hi', '--separation', '2', '--output', str(tmp_path)]) == 1
    assert "--separation applies to 'simulate blends' only" in capsys.readouterr().err
