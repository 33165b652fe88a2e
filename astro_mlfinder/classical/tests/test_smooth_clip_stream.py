"""smooth_clip streamed plane by plane gives the one-working-cube result bit for bit."""

import numpy as np
import pytest

from astro_mlfinder.classical import _stream_clip
from astro_mlfinder.classical.smooth_clip import STREAM_MIN_BYTES, smooth_clip

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _cube(shape, seed=3):
    rng = np.random.default_rng(seed)
    cube = rng.standard_normal(shape, dtype=np.float32)
    cube[4:9, 5:12, 6:14] += 2.5  # a source
    cube[rng.random(shape) < 0.01] = np.nan
    cube[1] = np.nan  # a blank plane
    mask = (rng.random(shape) < 0.002).astype(np.uint8)
    mask[np.isnan(cube) & (rng.random(shape) < 0.5)] = 1  # masked NaN voxels (replacement of a NaN)
    return cube, mask


def _spy(monkeypatch, name):
    calls = []
    real = getattr(_stream_clip, name)

    def wrapper(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_stream_clip, name, wrapper)
    return calls


@pytest.mark.parametrize("statistic,flux_range", [("mad", "negative"), ("mad", "full"), ("std", "positive"),
                                                  ("std", "negative")])
@pytest.mark.parametrize("kernels_z", [(0, 3, 7), (0, 1, 2)])
def test_stream_equals_working_cube(statistic, flux_range, kernels_z, monkeypatch):
    cube, mask = _cube((41, 24, 21))
    applied = _spy(monkeypatch, "_apply")
    monkeypatch.setattr(_stream_clip, "MIN_CANDIDATES", 1500)  # the store overflows: its level rises
    kw = dict(kernels_xy=(0, 3, 6), kernels_z=kernels_z, threshold=3.0, statistic=statistic,
              flux_range=flux_range, mask=mask)
    a = smooth_clip(cube, stream=False, **kw)
    assert not applied
    b = smooth_clip(cube, stream=True, **kw)
    assert applied  # passes clipped from their candidates (others, with many detections, re-smoothed)
    np.testing.assert_array_equal(a.packed.bits, b.packed.bits)
    assert a.passes == b.passes  # same noise (float equality) and the same new voxels per pass
    assert a.mask.sum() > 100


def test_stream_fallback_when_detections_exceed_the_candidate_store(monkeypatch):
    # threshold 0.3 sigma: most voxels are detected, more than the candidate store holds,
    # so each pass is smoothed a second time and clipped plane by plane
    cube, mask = _cube((40, 20, 23), seed=5)
    merged = _spy(monkeypatch, "_merge")
    monkeypatch.setattr(_stream_clip, "MIN_CANDIDATES", 2000)
    kw = dict(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=0.3, mask=mask)
    a = smooth_clip(cube, stream=False, **kw)
    b = smooth_clip(cube, stream=True, **kw)
    assert merged
    np.testing.assert_array_equal(a.packed.bits, b.packed.bits)
    assert a.passes == b.passes


def test_stream_default_and_validation():
    cube, _ = _cube((20, 16, 16))
    assert cube.nbytes < STREAM_MIN_BYTES  # small cubes keep the working cube by default
    with pytest.raises(ValueError, match="stream=True needs statistic"):
        smooth_clip(cube, statistic="gauss", stream=True)
    with pytest.raises(ValueError, match="stream=True needs statistic"):
        smooth_clip(cube, scale_noise=lambda c: None, stream=True)


def test_stream_candidate_level_rises_mid_pass(monkeypatch):
    # a low starting level fills the small store within a pass: the level is raised (a partition of
    # the stored and staged values, batches staged by the spectral kernel included) and the mask
    # is still the working cube's
    cube, mask = _cube((41, 24, 21), seed=7)
    partitions = []
    real = np.partition

    def spy(*args, **kwargs):
        partitions.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_stream_clip, "MIN_CANDIDATES", 1500)
    monkeypatch.setattr(_stream_clip, "EARLY_LEVEL", 0.2)
    monkeypatch.setattr(_stream_clip, "EARLY_LEVEL_MAX", 0.2)
    kw = dict(kernels_xy=(0, 3), kernels_z=(0, 3, 7), threshold=3.0, mask=mask)
    a = smooth_clip(cube, stream=False, **kw)
    monkeypatch.setattr(_stream_clip.np, "partition", spy)
    b = smooth_clip(cube, stream=True, **kw)
    monkeypatch.setattr(_stream_clip.np, "partition", real)
    assert len(partitions) > 2 * 5  # the first-batch quantile of each of the 5 streamed passes, and raises
    np.testing.assert_array_equal(a.packed.bits, b.packed.bits)
    assert a.passes == b.passes


def test_level32_is_the_float64_comparison():
    rng = np.random.default_rng(1)
    vals = np.concatenate([rng.standard_normal(10000).astype(np.float32),
                           np.float32([2.5, -2.5, np.nextafter(np.float32(2.5), np.float32(3))])])
    for level in (2.5, 2.4999999, 2.5000001, 0.0, 1.2345678901):
        l32 = _stream_clip._level32(level)
        np.testing.assert_array_equal(np.abs(vals) > l32, np.abs(vals.astype(np.float64)) > level)
