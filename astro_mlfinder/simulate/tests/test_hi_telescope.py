import warnings

import astropy.units as u
import numpy as np
import pytest

from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.simulate import _instrument as I
from astro_mlfinder.simulate import _morphology as M
from astro_mlfinder.simulate._noise import FWHM_TO_SIGMA
from astro_mlfinder.simulate.hi_telescope import simulate_telescope_cube
from astro_mlfinder.simulate.telescopes import TELESCOPES, draw_instrument, to_telescope_hdu

QUIET = dict(TELESCOPES['WSRT'], rfi=0.0, ripple=0.0, continuum=0.0, nan_edges=0.0, flagged_channels=0.0,
             noise_patterns=('uniform',), name='quiet')


def _sim(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return simulate_telescope_cube(**kw)


@pytest.mark.parametrize('telescope', sorted(TELESCOPES))
def test_every_telescope_reaches_the_target_snr_and_reads_back(telescope):
    sim = _sim(shape=(96, 48, 48), n_sources=2, telescope=telescope, seed=4, snr=[6.0, 20.0],
               size_range=(2.0, 5.0))
    assert len(sim.truth) >= 1
    # the target SNR is reached, less what NaN edges or flagged channels hide of a source
    assert np.all(sim.truth['snr'] <= 1.001 * sim.truth['snr_target'])
    whole = [not np.isnan(sim.data[r['z_min']:r['z_max'] + 1, r['y_min']:r['y_max'] + 1,
                                   r['x_min']:r['x_max'] + 1]).any() for r in sim.truth]
    np.testing.assert_allclose(sim.truth['snr'][whole], sim.truth['snr_target'][whole], rtol=0.05)
    # truth mask: the source model above 0.5 x the local noise
    rms_vox = sim.noise_rms[:, None, None] * sim.realism['pixel_noise'][None]
    inside = sim.labels > 0
    assert np.all(sim.model[inside] > 0.5 * rms_vox[inside])
    # the telescope's FITS conventions read back as the same cube
    hdu = to_telescope_hdu(sim, telescope)
    image = load_image(hdu)
    preset = TELESCOPES[telescope]
    assert image.read().shape == sim.data.shape
    assert hdu.data.ndim == (4 if preset['stokes'] else 3)
    assert image.unit == (u.mJy / u.beam if preset['bunit'] == 'mJy/beam' else u.Jy / u.beam)
    np.testing.assert_allclose(np.nan_to_num(image.read()), np.nan_to_num(sim.data) * preset['flux_scale'],
                               rtol=1e-6)
    np.testing.assert_allclose(image.beam['bmaj'] / image.beam['bmin'], sim.params['bmaj'] / sim.params['bmin'],
                               rtol=1e-6)


def test_velocity_axes_agree_with_the_frequency_axis():
    sim = _sim(shape=(64, 32, 32), n_sources=1, telescope='WSRT', seed=1)
    freq = sim.wcs.spectral.pixel_to_world_values(np.array([0.0, 63.0]))
    c = 299792.458
    rest = sim.header['RESTFRQ']
    for telescope, velocity in (('WSRT', c * (rest / freq - 1)), ('FAST', c * (1 - freq / rest))):
        wcs = load_image(to_telescope_hdu(sim, telescope)).wcs.spectral
        got = wcs.pixel_to_world(np.array([0.0, 63.0])).to_value(u.km / u.s)
        # optical velocity is linearised at channel 0: within 5 % of a channel over 64 channels
        np.testing.assert_allclose(got, velocity, atol=0.05 * abs(velocity[1] - velocity[0]) / 63)


def test_beam_noise_has_the_elliptical_beam_as_autocorrelation():
    rng = np.random.default_rng(0)
    noise = I.beam_noise((40, 64, 64), 6.0, 3.0, 0.0, rng)  # major axis along y
    np.testing.assert_allclose(noise.std(axis=(1, 2)), 1.0, rtol=1e-5)
    for axis, fwhm in ((1, 6.0), (2, 3.0)):
        lag = np.mean(noise * np.roll(noise, 2, axis=axis))
        expected = np.exp(-0.5 * 4 / (fwhm * FWHM_TO_SIGMA)**2)
        assert abs(lag - expected) < 0.03


def test_hanning_correlates_neighbouring_channels():
    rng = np.random.default_rng(1)
    white = rng.standard_normal((2000, 8, 8))
    smooth = I.hanning(white)
    r1 = np.mean(smooth[1:] * smooth[:-1]) / np.mean(smooth**2)
    r2 = np.mean(smooth[2:] * smooth[:-2]) / np.mean(smooth**2)
    assert abs(r1 - 2 / 3) < 0.02 and abs(r2 - 1 / 6) < 0.02
    # in a simulated WSRT cube (always Hanning-smoothed) as well, measured on the noise
    sim = _sim(shape=(256, 32, 32), n_sources=0, telescope=QUIET, seed=2)
    d = sim.data
    assert sim.realism['hanning'] is True
    assert abs(np.mean(d[1:] * d[:-1]) / np.mean(d**2) - 2 / 3) < 0.03


def test_noise_patterns_flags_and_blank_edges():
    rng = np.random.default_rng(3)
    for pattern in I.NOISE_PATTERNS:
        factor, pb = I.pixel_noise_map((48, 48), pattern, rng)
        assert np.median(factor) == pytest.approx(1.0)
        if pattern == 'uniform':
            assert np.all(factor == 1.0) and pb is None
        if pattern == 'primary_beam':  # noise grows away from the pointing centre
            assert factor.max() > 1.05 * factor.min()
            assert factor[np.unravel_index(np.argmax(pb), pb.shape)] == factor.min()
    flagged = I.flag_channels(100, rng, n_blocks=2, max_width=5)
    assert 1 <= flagged.sum() <= 10
    askap = dict(TELESCOPES['ASKAP'], nan_edges=1.0, flagged_channels=1.0, name='askap-flagged')
    sim = _sim(shape=(64, 48, 48), n_sources=1, telescope=askap, seed=5)
    nan_channels = np.all(np.isnan(sim.data), axis=(1, 2))
    assert nan_channels.sum() == len(sim.truth.meta['flagged_channels']) >= 1
    blank = np.all(np.isnan(sim.data), axis=0)
    assert blank.sum() == sim.truth.meta['blank_pixels']
    assert not np.any((sim.labels > 0) & np.isnan(sim.data))  # no truth where there are no data


def test_morphologies_have_their_spectral_and_spatial_signatures():
    rng = np.random.default_rng(7)

    def spectrum(s):
        x, y, v, w = M.galaxy_particles(s, np.random.default_rng(1), n=60000)
        _, box = M.grid_particles(x, y, v, w, centre=(0, 0, 0), dv_chan=5.0, sigma_v=s['sigma_v'])
        return box.sum(axis=(1, 2))

    def centre_over_peak(spec):
        centre = np.sum(np.arange(spec.size) * spec) / spec.sum()
        return np.interp(centre, np.arange(spec.size), spec) / spec.max()

    disk = M.draw_shape('disk', rng, r_hi=10.0)
    disk.update(incl=60.0, v_rot=200.0, sigma_v=8.0)
    assert centre_over_peak(spectrum(disk)) < 0.8     # the double horn of a rotating disc
    dwarf = M.draw_shape('dwarf', rng, r_hi=5.0)
    assert dwarf['v_rot'] <= 30.0
    assert centre_over_peak(spectrum(dwarf)) > 0.9    # one peak at the systemic velocity

    lop = M.draw_shape('lopsided', rng, r_hi=10.0)
    lop.update(incl=30.0, lopsided=0.5, lopsided_phase=0.0, pa=0.0)
    x, y, v, w = M.galaxy_particles(lop, np.random.default_rng(2), n=60000)
    # phase 0 lies along the major axis, which points along +y for pa=0
    assert w[y > 0].sum() / w[y < 0].sum() > 1.3

    flat = M.draw_shape('disk', rng, r_hi=10.0)
    warped = dict(flat, warp=30.0, warp_start=0.5, warp_phase=0.0)
    p0 = M.galaxy_particles(M.GalaxyShape(flat), np.random.default_rng(3), n=20000)
    p1 = M.galaxy_particles(M.GalaxyShape(warped), np.random.default_rng(3), n=20000)
    r = np.hypot(p0[0], p0[1] / max(np.cos(np.radians(flat['incl'])), 0.1))
    moved = np.hypot(p1[0] - p0[0], p1[1] - p0[1])
    assert np.all(moved[r < 2.0] < 1e-9)     # the inner disc stays flat
    assert np.percentile(moved[r > 9.0], 90) > 0.5   # the outer disc tilts

    pair = M.draw_shape('interacting', rng, r_hi=8.0)
    x, y, v, w = M.galaxy_particles(pair, np.random.default_rng(4), n=40000)
    comp = pair['companion']
    near = np.hypot(x - comp['dx'], y - comp['dy']) < comp['r_hi']
    assert w[near].sum() > 0.5 * comp['flux_ratio'] / (1 + comp['flux_ratio'] + comp['tail_fraction'])
    with pytest.raises(ValueError, match='unknown morphology'):
        M.draw_shape('spiral', rng, r_hi=3.0)


def test_large_galaxies_are_cut_and_the_stream_is_seeded():
    sim = _sim(shape=(96, 40, 40), n_sources=1, telescope='MeerKAT', seed=11, morphologies='large')
    assert bool(sim.truth['cut'][0]) and sim.truth['profile'][0] == 'large'
    again = _sim(shape=(96, 40, 40), n_sources=1, telescope='MeerKAT', seed=11, morphologies='large')
    np.testing.assert_array_equal(np.nan_to_num(sim.data), np.nan_to_num(again.data))


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(ValueError, match='unknown telescope'):
        draw_instrument('VLA', np.random.default_rng(0))
    with pytest.raises(ValueError, match='lacks'):
        draw_instrument({'beam_fwhm': (1, 2)}, np.random.default_rng(0))
    with pytest.raises(ValueError, match='unknown morphology'):
        simulate_telescope_cube((32, 16, 16), 1, morphologies={'spiral': 1.0})
    with pytest.raises(ValueError, match='shape'):
        simulate_telescope_cube((4, 16, 16), 1)
