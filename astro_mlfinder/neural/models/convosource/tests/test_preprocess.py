"""Local noise and input normalisation of the convosource model."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.convosource.preprocess import local_noise, normalize_image
from astro_mlfinder.simulate.continuum import simulate_continuum_image


def test_local_noise_follows_a_primary_beam():
    sim = simulate_continuum_image(shape=(384, 384), n_sources=50, seed=3, primary_beam=500.0)
    noise = local_noise(sim.data, box=64)
    centre = noise[160:224, 160:224].mean() / sim.noise_map[160:224, 160:224].mean()
    corner = noise[32:64, 32:64].mean() / sim.noise_map[32:64, 32:64].mean()
    assert centre == pytest.approx(1.0, abs=0.1)
    assert corner == pytest.approx(1.0, abs=0.15)
    assert noise[40, 40] > 1.3 * noise[192, 192]


def test_normalisation_blanks_and_global_noise():
    rng = np.random.default_rng(1)
    img = rng.normal(0, 2e-3, (100, 100)).astype(np.float32)
    img[:10] = np.nan
    x, noise = normalize_image(img)  # smaller than two boxes: one global value
    assert np.ptp(noise) == 0 and noise[50, 50] == pytest.approx(2e-3, rel=0.05)
    assert np.all(x[:10] == 0) and np.isfinite(x).all()
    assert np.std(x[10:]) == pytest.approx(0.79, abs=0.03)  # std of asinh(N(0, 1))
    lin, _ = normalize_image(img, {"scale": "linear"})
    assert np.std(lin[10:]) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="cannot estimate the noise"):
        local_noise(np.full((50, 50), np.nan))
    with pytest.raises(ValueError, match="scale"):
        normalize_image(img, {"scale": "log"})
    with pytest.raises(ValueError, match=r"\(y, x\)"):
        local_noise(np.zeros((2, 50, 50)))


def test_local_background_follows_a_gradient():
    from astro_mlfinder.neural.models.convosource.preprocess import local_background

    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:256, 0:256]
    slope = 1e-2 * xx / 255
    img = (rng.normal(0, 1e-3, (256, 256)) + slope).astype(np.float32)
    bkg = local_background(img, box=64)
    inner = slice(32, 224)
    np.testing.assert_allclose(bkg[inner, inner], slope[inner, inner], atol=1.5e-3)
    assert local_background(img[:100, :100], box=64)[0, 0] == pytest.approx(np.median(img[:100, :100]))
    with pytest.raises(ValueError, match="no finite values"):
        local_background(np.full((10, 10), np.nan))
