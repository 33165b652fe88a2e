"""The numba moment-map sweeps give the numpy reference's float32 maps bit for bit."""

import numpy as np
import pytest

from astro_mlfinder.io import _moment_kernels, moments


def _maps(shape):
    return [np.zeros(shape, np.float32) for _ in range(4)] + [np.zeros(shape, np.int32)]


@pytest.mark.parametrize("kernel", ["moment_passes", "moment_passes_serial"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threshold", [0.0, 0.7])
def test_kernels_equal_numpy_reference(kernel, dtype, threshold):
    rng = np.random.default_rng(3)
    data = rng.normal(size=(30, 17, 23)).astype(dtype)
    data[3, 4, 5], data[4, 4, 5], data[5, 4, 5] = np.nan, np.inf, -0.0
    labels = (rng.random(data.shape) < 0.3).astype(np.int32) * rng.integers(1, 5, data.shape, dtype=np.int32)
    spectral = np.linspace(1.4e9, 1.41e9, 30)
    fast, ref = _maps((17, 23)), _maps((17, 23))
    getattr(_moment_kernels, kernel)(data, labels, spectral, threshold, *fast)
    moments._moment_passes_numpy(data, labels, spectral, threshold, *ref)
    for a, b in zip(fast, ref, strict=True):
        assert a.tobytes() == b.tobytes()
    assert np.isnan(fast[1]).any() and (fast[4] > 0).any()  # pixels without and with flux


def test_moment_maps_big_endian_input_uses_the_reference():
    rng = np.random.default_rng(4)
    data = rng.normal(size=(12, 8, 9)).astype(np.float32)
    labels = (rng.random(data.shape) < 0.4).astype(np.uint8)
    native = moments.moment_maps(data, labels)
    swapped = moments.moment_maps(data.astype(">f4"), labels.astype(np.uint8))
    for a, b in zip(native, swapped, strict=True):
        assert a.tobytes() == b.tobytes()
