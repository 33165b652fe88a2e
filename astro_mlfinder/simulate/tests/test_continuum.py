# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the 2D continuum simulator: truth consistency, noise, WCS, I/O."""

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from astro_mlfinder.simulate.continuum import (
    ContinuumSimulation,
    make_continuum_header,
    simulate_continuum_image,
)


@pytest.fixture(scope='module')
def sim():
    return simulate_continuum_image(shape=(256, 256), n_sources=150, seed=7)


def test_types_and_header(sim):
    assert isinstance(sim, ContinuumSimulation)
    assert sim.data.shape == sim.model.shape == sim.labels.shape == (256, 256)
    assert sim.data.dtype == np.float32
    h = sim.header
    assert h['BUNIT'] == 'Jy/beam'
    assert h['BMAJ'] == pytest.approx(3.0 * 0.6 / 3600)
    assert h['BMIN'] == pytest.approx(3.0 * 0.6 / 3600)
    assert h['FREQ'] == 5.6e8
    assert sim.wcs.has_celestial and sim.wcs.naxis == 2
    assert sim.beam_area == pytest.approx(np.pi * 9 / (4 * np.log(2)))


def test_flux_truth_matches_model(sim):
    t = sim.truth
    whole = ~t['cut']
    # the model summed over pixels / beam area is the intrinsic flux density
    np.testing.assert_allclose(t['f_int'][whole].to_value(u.Jy),
                               t['f_int_true'][whole].to_value(u.Jy), rtol=0.02)
    # a point source sampled at pixel centres peaks at >= 70% of its flux
    compact = t['class'] == 'agn_compact'
    ratio = t['f_peak'][compact].value / t['f_int_true'][compact].value
    assert np.all(ratio <= 1.0 + 1e-6) and np.all(ratio > 0.7)
    # resolved sources have a lower peak for their flux than compact ones
    resolved = t['class'] == 'agn_resolved'
    assert (np.median(t['f_peak'][resolved].value / t['f_int'][resolved].value)
            < np.median(ratio))
    # S/N columns
    np.testing.assert_allclose(t['snr_peak'], t['f_peak'].value / t['rms'].value)
    np.testing.assert_allclose(t['snr_int'], t['f_int'].value / t['rms'].value)
    assert np.all(t['rms'].value == 1e-5)
    # the sum of the per-source models is the model image
    assert sim.model.sum() / sim.beam_area == pytest.approx(t['f_int'].value.sum(), rel=1e-4)


def test_flux_distribution_reaches_below_noise(sim):
    snr = np.asarray(sim.truth['f_int_true'].value / 1e-5)
    assert snr.min() >= 0.3 and snr.max() <= 500
    assert np.mean(snr < 1) > 0.5          # most sources below the noise
    assert 5 < np.sum(snr > 5) < 40
    # maximum-likelihood slope of the truncated power law is near 1.8
    slopes = np.linspace(1.2, 2.4, 121)
    lo, hi = 0.3, 500.0
    ll = [np.sum(-a * np.log(snr)) + len(snr) * np.log((a - 1) / (lo**(1 - a) - hi**(1 - a)))
          for a in slopes]
    assert abs(slopes[int(np.argmax(ll))] - 1.8) < 0.15


def test_noise_is_beam_correlated(sim):
    noise = (sim.data - sim.model).astype(np.float64)
    assert noise.std() == pytest.approx(1e-5, rel=1e-3)
    sigma = 3.0 / np.sqrt(8 * np.log(2))
    for lag in (1, 2, 3):
        r = np.mean(noise[:, lag:] * noise[:, :-lag]) / noise.var()
        assert r == pytest.approx(np.exp(-0.25 * lag**2 / sigma**2 * 2), abs=0.03)


def test_positions_wcs_and_labels(sim):
    t = sim.truth
    ra, dec = sim.wcs.pixel_to_world_values(t['x'], t['y'])
    np.testing.assert_allclose(t['ra'].to_value(u.deg), ra)
    np.testing.assert_allclose(t['dec'].to_value(u.deg), dec)
    assert t['sky_centroid'][0].separation(
        sim.wcs.pixel_to_world(t['x'][0], t['y'][0])).arcsec < 1e-6
    # the image centre is the requested sky position
    c = sim.wcs.pixel_to_world(127.5, 127.5)
    assert c.ra.deg == pytest.approx(0.0, abs=1e-9) and c.dec.deg == pytest.approx(-30.0)
    # compact sources: centroid on the core
    compact = (t['class'] == 'agn_compact') & ~t['cut']
    np.testing.assert_allclose(t['x'][compact], t['x_core'][compact], atol=0.05)
    # labels: every labelled pixel is above the mask threshold of the model
    assert np.all(sim.model[sim.labels > 0] > 0.5 * 1e-5)
    counts = np.bincount(sim.labels.ravel(), minlength=len(t) + 1)[1:]
    np.testing.assert_array_equal(counts, t['n_pix'])
    bright = t['snr_peak'] > 5
    assert np.all(t['n_pix'][bright] > 5)


def test_point_map(sim):
    t = sim.truth
    target = sim.point_map(min_snr=3)
    n = len({(int(y), int(x)) for y, x, s in zip(t['y_peak'], t['x_peak'], t['snr_int'],
                                                 strict=True) if s >= 3})
    assert target.sum() == n and n == np.sum(t['snr_int'] >= 3) - 0
    classes = sim.point_map(classes=True)
    assert set(np.unique(classes)) <= {0, 1, 2, 3}
    with pytest.raises(ValueError, match="position must be 'peak' or 'centroid'"):
        sim.point_map(position='middle')


def test_primary_beam_corrected_and_attenuated():
    kw = dict(shape=(128, 128), n_sources=60, seed=3, primary_beam=100.0)
    cor = simulate_continuum_image(pb_corrected=True, **kw)
    att = simulate_continuum_image(pb_corrected=False, **kw)
    assert cor.noise_map[0, 0] > 3 * cor.noise_map[64, 64]
    assert np.all(att.noise_map == 1e-5)
    # attenuated fluxes are intrinsic x gain; the S/N is the same either way
    inner = ~cor.truth['cut']
    # (exactly for point sources; extended ones see the gain vary across them)
    point = inner & (cor.truth['class'] == 'agn_compact')
    np.testing.assert_allclose(att.truth['snr_int'][point], cor.truth['snr_int'][point], rtol=0.03)
    np.testing.assert_allclose(att.truth['snr_int'][inner], cor.truth['snr_int'][inner], rtol=0.2)
    assert np.all(att.truth['f_int'][inner] <= cor.truth['f_int'][inner] * 1.0001)
    np.testing.assert_allclose((cor.data * cor.primary_beam - att.data), 0,
                               atol=1e-5 * 1e-3)
    assert cor.header['PBCOR'] and not att.header['PBCOR']


def test_seeded_and_elliptical_beam():
    a = simulate_continuum_image(shape=(64, 80), n_sources=20, seed=11, beam=(4.0, 2.0, 30.0))
    b = simulate_continuum_image(shape=(64, 80), n_sources=20, seed=11, beam=(4.0, 2.0, 30.0))
    np.testing.assert_array_equal(a.data, b.data)
    assert a.header['BPA'] == 30.0
    assert a.header['BMAJ'] == pytest.approx(2 * a.header['BMIN'])
    # the beam's major axis points at PA 30 deg (north through east): the noise
    # is more correlated along it than across it
    noise = a.data - a.model
    t = np.deg2rad(30.0)
    along = (int(round(-np.sin(t) * 2)), int(round(np.cos(t) * 2)))   # (dx, dy)
    across = (int(round(np.cos(t) * 2)), int(round(np.sin(t) * 2)))

    def corr(dx, dy):
        s = np.roll(noise, (dy, dx), axis=(0, 1))
        return np.mean(s * noise) / noise.var()
    assert corr(*along) > corr(*across) + 0.2


def test_write_and_read(tmp_path, sim):
    img, cat = tmp_path / 'a.fits', tmp_path / 'a.ecsv'
    sim.write_all(img, cat)
    with fits.open(img) as hdul:
        assert hdul[0].data.shape == (256, 256)
        w = WCS(hdul[0].header)
        assert w.has_celestial
    t = QTable.read(cat)
    assert t['f_int'].unit == u.Jy and t['f_peak'].unit == u.Jy / u.beam
    assert list(t['class'][:3]) == list(sim.truth['class'][:3])
    with pytest.raises(FileExistsError, match='already exists'):
        sim.write_all(tmp_path / 'b.fits', cat)
    assert not (tmp_path / 'b.fits').exists()   # refused before writing either


def test_cli_simulate_continuum(tmp_path, capsys):
    from astro_mlfinder.cli import main

    assert main(['simulate', 'continuum', '--seed', '5', '--shape', '64,96',
                 '--n-sources', '30', '--output', str(tmp_path)]) == 0
    data = fits.getdata(tmp_path / 'sim_continuum_5.fits')
    assert data.shape == (64, 96)
    assert len(QTable.read(tmp_path / 'sim_continuum_5_truth.ecsv')) == 30
    assert main(['simulate', 'continuum', '--seed', '5', '--shape', '64,96',
                 '--output', str(tmp_path)]) == 1
    assert 'already exists' in capsys.readouterr().err
    assert main(['simulate', 'continuum', '--shape', '64,96,3', '--output', str(tmp_path)]) == 1
    assert '--shape' in capsys.readouterr().err


@pytest.mark.parametrize('kwargs, match', [
    (dict(shape=(4, 64)), 'shape must be'),
    (dict(shape=(8, 8, 8)), 'shape must be'),
    (dict(beam=(2.0, 3.0, 0.0)), 'bmaj >= bmin'),
    (dict(beam=(3.0, 3.0)), 'beam must be'),
    (dict(noise=0), 'noise must be > 0'),
    (dict(snr_range=(5, 1)), 'snr_range'),
    (dict(classes={'quasar': 1.0}), 'unknown source class'),
    (dict(n_sources=-1), 'n_sources'),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_continuum_image(**kwargs)


def test_header_function():
    h = make_continuum_header((10, 20), pixel_scale=2.0, beam=(3.0, 2.0, 45.0), frequency=1.4e9)
    assert h['CRPIX1'] == 10.5 and h['CDELT1'] == pytest.approx(-2 / 3600)
    assert h['BMIN'] == pytest.approx(4 / 3600) and h['BPA'] == 45.0
