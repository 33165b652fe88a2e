import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from astro_mlfinder.classical import _boxcar
from astro_mlfinder.classical.packed_mask import PackedMask
from astro_mlfinder.classical.smooth_clip import (
    SmoothClipResult,
    optimal_filter_size,
    smooth_clip,
)
from astro_mlfinder.core.stats import measure_noise

FIXTURES = Path("/work/shared/fixtures/sofia2-2.5.1-small")


# ---------------------------------------------------------------------------
# independent reference: SoFiA-2's running-sum boxcar written line by line
# ---------------------------------------------------------------------------

@np.errstate(invalid="ignore", over="ignore")
def _ref_boxcar_line(line, r):
    """filter_boxcar_1d_flt on one line, float32 scalar arithmetic."""
    n = line.size
    fs = 2 * r + 1
    inv = np.float32(1.0 / fs)
    pad = np.zeros(n + 2 * r, dtype=np.float32)
    pad[r:r + n] = np.where(np.isnan(line), np.float32(0), line)
    out = np.empty(n, dtype=np.float32)
    s = np.float32(0)
    for k in range(fs - 1, -1, -1):
        s = np.float32(s + pad[n - 1 + k])
    out[n - 1] = np.float32(s * inv)
    for i in range(n - 2, -1, -1):
        out[i] = np.float32(out[i + 1] + np.float32(np.float32(pad[i] - pad[i + fs]) * inv))
    return out


def _ref_smooth(cube, mask, rv, use_repl, fwhm, width):
    """Replacement, spatial and spectral smoothing and NaN restore of one pass."""
    work = cube.copy()
    if use_repl:
        sel = mask != 0
        work[sel] = np.copysign(np.float32(rv), work[sel])
    nz, ny, nx = work.shape
    if fwhm > 0:
        n_iter, r = optimal_filter_size(fwhm)
        for z in range(nz):
            for y in range(ny):
                for _ in range(n_iter):
                    work[z, y, :] = _ref_boxcar_line(work[z, y, :], r)
            for x in range(nx):
                for _ in range(n_iter):
                    work[z, :, x] = _ref_boxcar_line(work[z, :, x], r)
    if width // 2 > 0:
        for y in range(ny):
            for x in range(nx):
                work[:, y, x] = _ref_boxcar_line(work[:, y, x], width // 2)
    work[np.isnan(cube)] = np.nan
    return work


def _ref_smooth_clip(cube, kernels_xy, kernels_z, threshold, replacement):
    mask = np.zeros(cube.shape, dtype=np.uint8)
    rms0 = measure_noise(cube, "mad", "negative")
    rv = float(np.float32(replacement * rms0))
    rms_list = []
    for kxy in sorted(kernels_xy):
        for kz in sorted(kernels_z):
            if kxy == 0 and kz == 0:
                sm, rms = cube, rms0
            else:
                sm = _ref_smooth(cube, mask, rv, replacement >= 0, kxy, kz)
                rms = measure_noise(sm, "mad", "negative")
            with np.errstate(invalid="ignore"):
                mask[np.abs(sm.astype(np.float64)) > threshold * rms] = 1
            rms_list.append(rms)
    return mask, rms_list


def _cube_with_sources(shape=(24, 20, 18), seed=3, nan=True):
    rng = np.random.default_rng(seed)
    cube = rng.normal(0.0, 1.0, shape).astype(np.float32)
    z, y, x = np.indices(shape)
    for cz, cy, cx, amp in ((8, 6, 5, 3.0), (16, 13, 12, -2.5), (3, 15, 4, 4.0)):
        cube += (amp * np.exp(-0.5 * (((z - cz) / 2.0) ** 2 + ((y - cy) / 1.5) ** 2
                                      + ((x - cx) / 1.5) ** 2))).astype(np.float32)
    if nan:
        cube[5:8, 2:6, 10:14] = np.nan
        cube[:, 0, 0] = np.nan
    return cube


# ---------------------------------------------------------------------------
# kernel sizes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("fwhm", "expected"), [(3, (3, 1)), (6, (3, 2)), (0, (3, 0)),
                                                (10, (5, 3))])
def test_optimal_filter_size(fwhm, expected):
    assert optimal_filter_size(fwhm) == expected


def test_optimal_filter_size_rule():
    # the chosen (n, r) has the smallest distance of r to an integer over n = 3..6
    for fwhm in (2.5, 4.0, 7.5, 12.0, 20.0):
        sigma = fwhm / 2.3548200450309493
        dists = []
        for n in range(3, 7):
            r = np.sqrt(3 * sigma**2 / n + 0.25) - 0.5
            dists.append((abs(r - np.floor(r + 0.5)), n, int(r + 0.5)))
        best = min(dists, key=lambda t: t[0])
        assert optimal_filter_size(fwhm) == (best[1], best[2])


def test_optimal_filter_size_negative():
    with pytest.raises(ValueError, match="FWHM"):
        optimal_filter_size(-1)


# ---------------------------------------------------------------------------
# the numba kernels are bit-identical to SoFiA's line-by-line arithmetic
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("fwhm", "width"), [(3, 0), (6, 7), (0, 3), (0, 15), (10, 4), (3, 1)])
def test_kernels_bit_exact(fwhm, width):
    cube = _cube_with_sources((21, 17, 13), seed=5)
    cube[10, 8, 6] = np.inf            # Inf arithmetic (inf - inf = NaN) is reproduced too
    cube[4, 3, 2] = -0.0
    mask = np.zeros(cube.shape, np.uint8)
    mask[np.abs(np.nan_to_num(cube, posinf=0)) > 2.5] = 1
    mask[4, 3, 2] = 1                  # copysign(rv, -0.0) = -rv
    rv = 1.7
    expected = _ref_smooth(cube, mask, rv, True, fwhm, width)
    work = np.empty_like(cube)
    bits = PackedMask.from_array(mask).bits.copy()
    r_z = width // 2
    if fwhm > 0:
        n_iter, r = optimal_filter_size(fwhm)
        _boxcar.spatial_pass(work, cube, bits, rv, True, n_iter, r, r_z == 0, 2)
        if r_z:
            _boxcar.spectral_pass_inplace(work, cube, r_z, 2)
    elif r_z:
        _boxcar.spectral_pass_from(work, cube, bits, rv, True, r_z, 2)
    else:
        _boxcar.replace_pass(work, cube, bits, rv, True)
    assert_array_equal(work, expected)  # NaN positions equal, values bit for bit


@pytest.mark.parametrize("nx", [1, 7, 8, 13, 16])
def test_mask_bits_roundtrip(nx):
    rng = np.random.default_rng(nx)
    mask = (rng.random((3, 4, nx)) < 0.3).astype(np.uint8) * 5
    bits = PackedMask.from_array(mask).bits.copy()
    assert bits.shape == (3, 4, (nx + 7) // 8)
    assert_array_equal(PackedMask(bits, (3, 4, nx)).to_array(), (mask != 0).astype(np.uint8))
    arr = rng.normal(size=(3, 4, nx)).astype(np.float32)
    n_new = _boxcar.clip_bits(arr, bits, 1.0)
    expected = (mask != 0) | (np.abs(arr) > 1.0)
    assert_array_equal(PackedMask(bits, (3, 4, nx)).to_array(), expected.astype(np.uint8))
    assert n_new == int(expected.sum() - (mask != 0).sum())


def test_kernel_radius_larger_than_axis():
    cube = np.random.default_rng(1).normal(size=(5, 4, 3)).astype(np.float32)
    work = np.empty_like(cube)
    mask = np.zeros(cube.shape, np.uint8)
    bits = PackedMask.from_array(mask).bits.copy()
    _boxcar.spectral_pass_from(work, cube, bits, 0.0, False, 7, 1)
    expected = _ref_smooth(cube, mask, 0.0, False, 0, 15)
    assert_array_equal(work, expected)
    _boxcar.spatial_pass(work, cube, bits, 0.0, False, 3, 6, True, 1)
    ref = cube.copy()
    for z in range(5):
        for y in range(4):
            for _ in range(3):
                ref[z, y] = _ref_boxcar_line(ref[z, y], 6)
        for x in range(3):
            for _ in range(3):
                ref[z, :, x] = _ref_boxcar_line(ref[z, :, x], 6)
    assert_array_equal(work, ref)


# ---------------------------------------------------------------------------
# whole finder against the reference implementation
# ---------------------------------------------------------------------------

def test_matches_reference_implementation():
    cube = _cube_with_sources()
    mask, rms = _ref_smooth_clip(cube, (0, 3), (0, 3, 4), 3.0, 2.0)
    with pytest.warns(UserWarning, match="even"):
        res = smooth_clip(cube, kernels_xy=(3, 0), kernels_z=(4, 0, 3), threshold=3.0)
    assert isinstance(res, SmoothClipResult)
    assert res.mask.dtype == np.uint8
    assert res.mask.sum() > 0
    assert_array_equal(res.mask, mask)
    assert [p["rms"] for p in res.passes] == rms
    assert [(p["kernel_xy"], p["kernel_z"]) for p in res.passes] == [
        (0, 0), (0, 3), (0, 4), (3, 0), (3, 3), (3, 4)]
    assert sum(p["n_new"] for p in res.passes) == int(mask.sum())


def test_replacement_disabled():
    cube = _cube_with_sources(nan=False)
    mask_on, _ = _ref_smooth_clip(cube, (0, 3), (0, 5), 3.0, 2.0)
    mask_off, _ = _ref_smooth_clip(cube, (0, 3), (0, 5), 3.0, -1.0)
    on = smooth_clip(cube, kernels_xy=(0, 3), kernels_z=(0, 5), threshold=3.0, replacement=2.0)
    off = smooth_clip(cube, kernels_xy=(0, 3), kernels_z=(0, 5), threshold=3.0, replacement=-1)
    assert_array_equal(on.mask, mask_on)
    assert_array_equal(off.mask, mask_off)
    assert not np.array_equal(on.mask, off.mask)


def test_width_one_is_a_replacement_only_pass():
    cube = _cube_with_sources(nan=True)
    with pytest.warns(UserWarning, match="size of 1"):
        res = smooth_clip(cube, kernels_xy=(0,), kernels_z=(0, 1), threshold=3.0)
    assert len(res.passes) == 2
    ref, rms = _ref_smooth_clip(cube, (0,), (0, 1), 3.0, 2.0)
    assert_array_equal(res.mask, ref)
    assert res.passes[1]["rms"] == rms[1]
    # replaced voxels (|x| > 3 rms -> 2 rms) are not detected again
    assert res.passes[1]["n_new"] == 0


def test_input_not_modified_and_nan_never_detected():
    cube = _cube_with_sources()
    before = cube.copy()
    res = smooth_clip(cube, kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.0)
    assert_array_equal(cube, before)
    assert not res.mask[np.isnan(cube)].any()


def test_strict_threshold():
    cube = np.zeros((4, 5, 6), np.float32)
    cube.flat[::2] = -1.0
    rms0 = measure_noise(cube)
    # a threshold whose level threshold * rms0 is exactly a float32 value
    threshold = next(t for t in (2.0 / rms0 + k * 1e-15 for k in range(-50, 50))
                     if t * rms0 == float(np.float32(t * rms0)))
    level = np.float32(threshold * rms0)
    cube[1, 2, 3] = level               # exactly at the threshold: not detected
    cube[2, 2, 3] = np.nextafter(level, np.float32(10))
    res = smooth_clip(cube, kernels_xy=(0,), kernels_z=(0,), threshold=threshold)
    assert res.mask[1, 2, 3] == 0
    assert res.mask[2, 2, 3] == 1


def test_existing_mask_is_included_and_not_modified():
    cube = _cube_with_sources(nan=False)
    prior = np.zeros(cube.shape, np.uint8)
    prior[0, 0, 1] = 7
    prior_copy = prior.copy()
    res = smooth_clip(cube, kernels_xy=(0,), kernels_z=(0, 3), threshold=3.0, mask=prior)
    assert res.mask[0, 0, 1] == 1
    assert res.mask.max() == 1
    assert_array_equal(prior, prior_copy)
    with pytest.raises(ValueError, match="mask has shape"):
        smooth_clip(cube, mask=prior[:-1])


def test_scale_noise_callable_called_per_smoothed_pass():
    cube = _cube_with_sources(nan=False)
    calls = []

    def scale(arr):
        calls.append((arr.shape, arr.dtype))
        arr *= np.float32(2.0)

    res = smooth_clip(cube, kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.0, scale_noise=scale)
    assert len(calls) == 3
    assert all(c == (cube.shape, np.float32) for c in calls)
    plain = smooth_clip(cube, kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.0)
    # doubling the smoothed copies doubles their rms; the (0, 0) pass is untouched
    assert res.passes[0]["rms"] == plain.passes[0]["rms"]
    assert res.passes[1]["rms"] == pytest.approx(2 * plain.passes[1]["rms"], rel=1e-6)


def test_image_input():
    img = _cube_with_sources((1, 40, 30), nan=False)[0]
    res = smooth_clip(img, kernels_xy=(0, 3), kernels_z=(0,), threshold=3.0)
    assert res.mask.shape == img.shape
    ref, _ = _ref_smooth_clip(img[np.newaxis], (0, 3), (0,), 3.0, 2.0)
    assert_array_equal(res.mask, ref[0])


def test_progress_bar_runs():
    cube = _cube_with_sources(nan=False)
    res = smooth_clip(cube, kernels_xy=(0,), kernels_z=(0, 3), threshold=3.0, progress=True)
    assert len(res.passes) == 2


def test_float64_and_noncontiguous_input():
    cube = _cube_with_sources(nan=False)
    a = smooth_clip(cube, kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.0)
    b = smooth_clip(cube.astype(np.float64), kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.0)
    c_in = np.asfortranarray(cube)
    c = smooth_clip(c_in, kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.0)
    assert_array_equal(a.mask, b.mask)
    assert_array_equal(a.mask, c.mask)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def test_kernel_validation():
    cube = np.random.default_rng(0).normal(size=(10, 12, 14)).astype(np.float32)
    with pytest.raises(ValueError, match=r"Spectral kernel 15 in kernels_z.*z axis size \(10\)"):
        smooth_clip(cube, kernels_z=(0, 3, 15))
    with pytest.raises(ValueError, match=r"Spatial kernel 12 in kernels_xy.*x and y axis"):
        smooth_clip(cube, kernels_xy=(0, 12), kernels_z=(0,))
    with pytest.raises(ValueError, match="kernels_xy must be >= 0"):
        smooth_clip(cube, kernels_xy=(-3, 0), kernels_z=(0,))
    with pytest.raises(ValueError, match="kernels_z must be an integer >= 0"):
        smooth_clip(cube, kernels_xy=(0,), kernels_z=(0, -3))
    with pytest.raises(ValueError, match="kernels_z must be an integer"):
        smooth_clip(cube, kernels_xy=(0,), kernels_z=(0, 2.5))
    with pytest.raises(ValueError, match="at least one kernel"):
        smooth_clip(cube, kernels_xy=(), kernels_z=(0,))


def test_kernel_warnings():
    cube = np.random.default_rng(0).normal(size=(10, 12, 14)).astype(np.float32)
    with pytest.warns(UserWarning, match="cannot be accurately modelled"):
        smooth_clip(cube, kernels_xy=(0, 2), kernels_z=(0,))
    with pytest.warns(UserWarning, match="spatial kernel size of 0"):
        smooth_clip(cube, kernels_xy=(3,), kernels_z=(0,))
    with pytest.warns(UserWarning, match="spectral kernel size of 0"):
        smooth_clip(cube, kernels_xy=(0,), kernels_z=(3,))


@pytest.mark.parametrize("threshold", [0, -1, np.nan])
def test_threshold_validation(threshold):
    cube = np.random.default_rng(0).normal(size=(10, 12, 14)).astype(np.float32)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        smooth_clip(cube, threshold=threshold, kernels_z=(0,))


def test_other_validation():
    cube = np.random.default_rng(0).normal(size=(10, 12, 14)).astype(np.float32)
    with pytest.raises(ValueError, match="statistic"):
        smooth_clip(cube, statistic="median", kernels_z=(0,))
    with pytest.raises(ValueError, match="flux_range"):
        smooth_clip(cube, flux_range="both", kernels_z=(0,))
    with pytest.raises(ValueError, match="2D"):
        smooth_clip(cube[0, 0])
    with pytest.raises(ValueError, match="positive noise level"):
        smooth_clip(np.zeros((10, 12, 14), np.float32), kernels_z=(0,))
    with pytest.raises(ValueError, match="scale_noise"):
        smooth_clip(cube, kernels_z=(0,), scale_noise=3)


@pytest.mark.parametrize("statistic", ["std", "gauss"])
@pytest.mark.parametrize("flux_range", ["positive", "full"])
def test_other_statistics(statistic, flux_range):
    cube = _cube_with_sources(shape=(30, 24, 20), nan=False)
    res = smooth_clip(cube, kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.5,
                      statistic=statistic, flux_range=flux_range)
    assert res.passes[0]["rms"] == pytest.approx(
        measure_noise(cube, statistic, flux_range), rel=1e-12)
    assert 0.7 < res.passes[0]["rms"] < 1.3
    assert res.mask.sum() > 0


# ---------------------------------------------------------------------------
# parity with the SoFiA-2 2.5.1 binary
# ---------------------------------------------------------------------------

def _log_noise_levels(path):
    text = path.read_text(errors="replace")
    return re.findall(r"Noise level:\s+(\S+)", text)


@pytest.mark.parametrize(("cube_name", "out_dir", "mask_name", "n_expected"), [
    ("small_cube.fits.gz", "out_small", "small_mask-raw.fits.gz", 8275),
    ("small_cube_nan.fits.gz", "out_nan", "nan_mask-raw.fits.gz", 8334),
])
def test_parity_with_sofia2(cube_name, out_dir, mask_name, n_expected):
    fits = pytest.importorskip("astropy.io.fits")
    if not FIXTURES.exists():
        pytest.skip("SoFiA-2 fixtures not available")
    cube = fits.getdata(FIXTURES / cube_name).astype(np.float32)
    ref = fits.getdata(FIXTURES / out_dir / mask_name)
    # small.par / nan.par settings
    res = smooth_clip(cube, kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=4.0,
                      replacement=2.0, statistic="mad", flux_range="negative")
    assert int((ref != 0).sum()) == n_expected
    assert int(res.mask.sum()) == n_expected
    assert_array_equal(res.mask, (ref != 0).astype(np.uint8))
    levels = _log_noise_levels(FIXTURES / out_dir / "run.log")
    assert len(levels) == 12
    assert [f"{p['rms']:.3e}" for p in res.passes] == levels


# ---------------------------------------------------------------------------
# threshold finder
# ---------------------------------------------------------------------------

def test_threshold_find_relative_and_absolute():
    from astro_mlfinder.classical.threshold import threshold_find

    cube = _cube_with_sources(nan=True)
    rms = measure_noise(cube, "mad", "negative")
    with np.errstate(invalid="ignore"):
        expected = (np.abs(cube.astype(np.float64)) > 3.0 * rms).astype(np.uint8)
    assert_array_equal(threshold_find(cube, 3.0), expected)
    with np.errstate(invalid="ignore"):
        expected_abs = (np.abs(cube) > 2.5).astype(np.uint8)
    assert_array_equal(threshold_find(cube, 2.5, mode="absolute"), expected_abs)
    rms_std = measure_noise(cube, "std", "full")
    with np.errstate(invalid="ignore"):
        expected_std = (np.abs(cube.astype(np.float64)) > 3.0 * rms_std).astype(np.uint8)
    assert_array_equal(threshold_find(cube, 3.0, statistic="std", flux_range="full"),
                       expected_std)


def test_threshold_find_mask_image_and_validation():
    from astro_mlfinder.classical.threshold import threshold_find

    img = _cube_with_sources((1, 30, 20), nan=False)[0]
    prior = np.zeros(img.shape, np.uint8)
    prior[0, 0] = 1
    out = threshold_find(img, 100.0, mode="absolute", mask=prior)
    assert out.shape == img.shape and out.sum() == 1 and out[0, 0] == 1
    with pytest.raises(ValueError, match="threshold must be > 0"):
        threshold_find(img, 0.0)
    with pytest.raises(ValueError, match="mode"):
        threshold_find(img, 3.0, mode="sigma")
    with pytest.raises(ValueError, match="mask has shape"):
        threshold_find(img, 3.0, mask=prior[1:])
    with pytest.raises(ValueError, match="positive noise"):
        threshold_find(np.zeros((5, 5), np.float32), 3.0)
