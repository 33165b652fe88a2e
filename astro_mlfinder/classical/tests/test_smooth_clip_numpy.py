"""The numpy passes of small cubes (classical._boxcar_numpy) give the numba kernels' masks bit for bit."""

import warnings

import numpy as np
import pytest

from astro_mlfinder.classical import smooth_clip as sc
from astro_mlfinder.classical._boxcar_numpy import NumpyPasses, _float32_below
from astro_mlfinder.core import _small


def _cube(shape, seed, nan_fraction=0.01):
    rng = np.random.default_rng(seed)
    cube = rng.standard_normal(shape, dtype=np.float32)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cz, cy, cx = (n / 2 for n in shape)
    cube += (4.0 * np.exp(-0.5 * (((z - cz) / 3) ** 2 + ((y - cy) / 2.5) ** 2 + ((x - cx) / 2.5) ** 2))).astype(
        np.float32)
    cube[rng.random(shape) < nan_fraction] = np.nan
    return cube


def _both(monkeypatch, cube, **kwargs):
    """smooth_clip with the numba kernels and with the numpy passes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkeypatch.setattr(_small, "NUMPY_MAX_VOXELS", 0)
        numba_result = sc.smooth_clip(cube, **kwargs)
        monkeypatch.setattr(_small, "NUMPY_MAX_VOXELS", cube.size)
        numpy_result = sc.smooth_clip(cube, **kwargs)
    return numba_result, numpy_result


CASES = [
    dict(kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=3.5),
    dict(kernels_xy=(0, 3, 6), kernels_z=(0, 3), threshold=3.0, statistic="std", flux_range="full"),
    dict(kernels_xy=(0, 5), kernels_z=(0, 2), threshold=3.0, replacement=-1.0),
    dict(kernels_xy=(4, 9), kernels_z=(0, 1, 5), threshold=2.5, statistic="gauss", flux_range="positive"),
    dict(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.0,
         scale_noise=lambda c: np.multiply(c, np.float32(1.1), out=c)),
]


@pytest.mark.parametrize("kwargs", CASES)
@pytest.mark.parametrize("shape", [(32, 36, 33), (21, 17, 40)])
def test_numpy_passes_give_the_numba_mask_bit_for_bit(monkeypatch, shape, kwargs):
    cube = _cube(shape, seed=sum(shape))
    a, b = _both(monkeypatch, cube, **kwargs)
    assert np.array_equal(a.packed.bits, b.packed.bits)
    assert a.passes == b.passes  # the same noise (bit for bit) and the same new voxels in every pass
    assert sum(p["n_new"] for p in b.passes) > 50


def test_numpy_passes_with_an_input_mask_infinities_and_an_image(monkeypatch):
    rng = np.random.default_rng(7)
    cube = _cube((24, 30, 28), seed=7)
    cube.ravel()[rng.integers(0, cube.size, 5)] = np.inf  # Inf - Inf makes NaN inside the running sums
    mask = rng.random(cube.shape) < 0.02
    a, b = _both(monkeypatch, cube, kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7), threshold=3.0, mask=mask)
    assert np.array_equal(a.packed.bits, b.packed.bits)
    assert a.passes == b.passes
    image = _cube((1, 50, 61), seed=8)[0]
    a, b = _both(monkeypatch, image, kernels_xy=(0, 3, 6), kernels_z=(0,), threshold=3.0)
    assert np.array_equal(a.mask, b.mask) and a.mask.sum() > 10


def test_numpy_passes_smoothed_values_equal_the_kernels():
    from astro_mlfinder.classical import _boxcar

    cube = _cube((20, 26, 22), seed=3)
    rng = np.random.default_rng(3)
    bits = np.packbits(rng.random(cube.shape) < 0.05, axis=-1, bitorder="little")
    passes = NumpyPasses(cube, bits.copy(), 0.7, True, radius_xy=2, radius_z=7)
    for n_iter, r_xy in ((0, 0), (3, 1), (3, 2)):
        for r_z in (0, 1, 3, 7):
            expected = np.empty_like(cube)
            if n_iter:
                _boxcar.spatial_pass(expected, cube, bits, 0.7, True, n_iter, r_xy, r_z == 0, 2)
                if r_z:
                    _boxcar.spectral_pass_inplace(expected, cube, r_z, 2)
            elif r_z:
                _boxcar.spectral_pass_from(expected, cube, bits, 0.7, True, r_z, 2)
            else:
                _boxcar.replace_pass(expected, cube, bits, 0.7, True)
            got = np.empty_like(cube)
            passes.smooth(got, n_iter, r_xy, r_z)
            assert np.array_equal(got.view(np.uint32), expected.view(np.uint32)), (n_iter, r_xy, r_z)


def test_float32_threshold_is_the_float64_comparison():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(100_000).astype(np.float32) * 4
    for thr in (3.0, 3.1, 1e-3, float(np.float32(2.7)), float(np.nextafter(np.float32(2.7), np.float32(9)))):
        t = _float32_below(thr)
        assert t.dtype == np.float32 and float(t) <= thr
        assert np.array_equal(np.abs(values) > t, np.abs(values).astype(np.float64) > thr)


def test_small_cubes_take_the_numpy_passes_and_large_ones_numba(monkeypatch):
    cube = _cube((16, 16, 16), seed=1)
    bits = np.zeros((16, 16, 2), np.uint8)
    assert type(sc._kernels(cube, bits, 1.0, True, [0.0, 3.0], [0, 3], False)).__name__ == "NumpyPasses"
    monkeypatch.setattr(_small, "NUMPY_MAX_VOXELS", cube.size - 1)
    assert type(sc._kernels(cube, bits, 1.0, True, [0.0, 3.0], [0, 3], False)).__name__ == "_NumbaPasses"
