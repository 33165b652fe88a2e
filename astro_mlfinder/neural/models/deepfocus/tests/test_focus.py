"""Spectral focusing: cut-outs at the edges, continuum subtraction, S/N, the source's pixels, ResNet inputs."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.deepfocus.focus import (
    blobs_input,
    box_snr,
    cutout_slices,
    integrate,
    line_image,
    reference_image,
    resnet_input,
    source_pixels,
)


def test_integrate_is_normalised():
    cube = np.random.default_rng(0).normal(size=(8, 16, 16)).astype(np.float32)
    cube[0, 0, 0] = np.nan
    img = integrate(cube)
    assert img.shape == (16, 16) and img.min() == 0 and img.max() == pytest.approx(1)


def test_blobs_inputs_peak_lifts_a_narrow_line():
    rng = np.random.default_rng(2)
    cube = rng.normal(0, 1, (128, 48, 48)).astype(np.float32)
    cube[60:66, 20:23, 30:33] += 6.0  # 6 channels of S/N 6: diluted in the sum over 128 channels
    x = blobs_input(cube, ("sum", "peak"))
    assert x.shape == (2, 48, 48)
    assert x[0].min() == 0 and x[0].max() == pytest.approx(1)
    # in noise units: the line stands at S/N ~13 of the 5-channel mean, the noise maxima near 0.05 of the clip
    assert x[1][21, 31] > 0.2 and np.median(x[1]) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="unknown Blobs Finder input 'mom1'"):
        blobs_input(cube, ("mom1",))


def test_cutout_at_the_edge_is_zero_padded():
    src, dst = cutout_slices((2, 30), 8, (32, 32))
    assert src == (slice(0, 6), slice(26, 32))
    assert dst == (slice(2, 8), slice(0, 6))
    cube = np.ones((10, 32, 32), np.float32)
    img = reference_image(cube, (2, 30), 8)
    assert img.sum() == 10 * 36 and img[0, 0] == 0


def test_line_image_subtracts_the_continuum():
    cube = np.full((40, 32, 32), 2.0, np.float32)  # continuum everywhere
    cube[10:15, 14:18, 14:18] += 3.0  # a line on a 4x4 patch
    img = line_image(cube, (15.5, 15.5), (10, 15), 16)
    assert img[6:10, 6:10] == pytest.approx(np.full((4, 4), 15.0))
    assert np.abs(img[:6]).max() == pytest.approx(0)


def test_box_snr_and_source_pixels():
    rng = np.random.default_rng(1)
    img = rng.normal(0, 1, (64, 64)).astype(np.float32)
    yy, xx = np.mgrid[:64, :64]
    img += 20 * np.exp(-0.5 * ((yy - 30) ** 2 + (xx - 34) ** 2) / 2.0**2)
    snr, noise, peak = box_snr(img, (24, 37, 28, 41))
    assert noise == pytest.approx(1.0, rel=0.15)
    assert snr > 15 and peak == (30, 34)
    pix = source_pixels(img, noise, peak, grow_snr=3.0)
    ys, xs = np.nonzero(pix)
    assert pix[30, 34] and 10 < pix.sum() < 80
    assert abs(ys.mean() - 30) < 1 and abs(xs.mean() - 34) < 1
    faint = source_pixels(np.zeros((8, 8)), 1.0, (3, 3))
    assert faint.sum() == 1 and faint[3, 3]


def test_resnet_input_scale():
    img = np.zeros((64, 64), np.float32)
    img[32, 32] = 4.0
    img[0, 0] = -10.0
    x, scale = resnet_input(img, (28, 36, 28, 36))
    assert scale == 4.0 and x[32, 32] == 1.0 and x[0, 0] == -1.0
