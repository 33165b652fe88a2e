import numpy as np
import pytest
from numpy.testing import assert_array_equal

from astro_mlfinder.classical.noise_scaling import (
    _grid_start_end,
    _odd_sizes,
    local_grid,
    ripple_filter,
    scale_noise_local,
    scale_noise_spectral,
)
from astro_mlfinder.core.stats import MAD_TO_STD, measure_noise


def _noise_cube(shape=(30, 40, 36), seed=0, sigma=1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, sigma, shape).astype(np.float32)


# ---------------------------------------------------------------------------
# spectral scaling
# ---------------------------------------------------------------------------

def test_scale_noise_spectral():
    cube = _noise_cube()
    cube[7] *= 5.0
    cube[12, :3] = np.nan
    orig = cube.copy()
    spectrum = scale_noise_spectral(cube)
    assert spectrum.shape == (30,)
    for z in (0, 7, 12):
        assert spectrum[z] == measure_noise(orig[z], "mad", "negative", sample=False)
    assert spectrum[7] == pytest.approx(5.0, rel=0.1)
    # divided in double precision and rounded once, as in SoFiA-2
    expected = (orig.astype(np.float64) / spectrum[:, None, None]).astype(np.float32)
    assert_array_equal(cube, expected)
    rescaled = [measure_noise(cube[z], "mad", "negative", sample=False) for z in range(30)]
    assert np.allclose(rescaled, 1.0, atol=1e-6)


def test_scale_noise_spectral_blank_channel_and_std():
    cube = _noise_cube()
    cube[3] = np.nan
    spectrum = scale_noise_spectral(cube, statistic="std", flux_range="full")
    assert np.isnan(spectrum[3])
    assert np.isnan(cube[3]).all()
    assert np.nanmedian(spectrum) == pytest.approx(1.0, rel=0.05)


def test_scale_noise_spectral_validation():
    with pytest.raises(ValueError, match="float32 or float64"):
        scale_noise_spectral(np.zeros((3, 4, 5), np.int16))
    with pytest.raises(ValueError, match="3D"):
        scale_noise_spectral(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="numpy array"):
        scale_noise_spectral([[[1.0]]])
    with pytest.raises(ValueError, match="statistic"):
        scale_noise_spectral(np.zeros((3, 4, 5), np.float32), statistic="mean")


# ---------------------------------------------------------------------------
# grid geometry
# ---------------------------------------------------------------------------

def test_default_sizes():
    # SoFiA-2 log for the defaults: grid 13 x 7, window 25 x 15
    assert _odd_sizes(25, 15, 0, 0) == (25, 15, 13, 7)
    assert _odd_sizes(0, 0, 0, 0) == (25, 15, 13, 7)
    assert _odd_sizes(24, 14, 4, 2) == (25, 15, 5, 3)
    assert _odd_sizes(1, 1, 0, 0) == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="window_xy"):
        _odd_sizes(-1, 15, 0, 0)


def test_grid_is_centred():
    for n, g in ((40, 13), (36, 13), (30, 7), (100, 1), (5, 7)):
        start, end = _grid_start_end(n, g)
        assert 0 <= start < max(g, 1) or n < g
        assert (end - start) % g == 0
        # margins on both sides differ by less than one grid step
        assert abs(start - (n - 1 - end)) <= g


# ---------------------------------------------------------------------------
# local scaling
# ---------------------------------------------------------------------------

def test_local_grid_cell_values_brute_force():
    cube = _noise_cube((20, 30, 26), seed=4)
    cube[2:6, 3:9, 4:10] = np.nan
    ws, wz, gs, gz = 7, 5, 3, 3
    out = local_grid(cube, "mad", "negative", window_xy=ws, window_z=wz, grid_xy=gs, grid_z=gz)
    sx, _ = _grid_start_end(26, gs)
    sy, _ = _grid_start_end(30, gs)
    sz, _ = _grid_start_end(20, gz)
    for z, y, x in ((sz, sy, sx), (sz + 3 * gz, sy + 4 * gs, sx + 2 * gs), (sz + gz, sy, sx + gs)):
        win = cube[max(z - 2, 0):z + 3, max(y - 3, 0):y + 4, max(x - 3, 0):x + 4].ravel()
        vals = win[~np.isnan(win)]
        # SoFiA's MAD on the window: element 0 skipped, at most n // 2 negative values
        picked = []
        for v in vals[:0:-1]:
            if len(picked) >= vals.size // 2:
                break
            if v < 0:
                picked.append(-v)
        picked = np.sort(np.array(picked, np.float32))
        m = picked.size
        med = picked[m // 2] if m % 2 else (picked[m // 2] + picked[m // 2 - 1]) / np.float32(2)
        expected = np.float32(MAD_TO_STD * float(med))
        cell = out[max(z - 1, 0):z + 2, max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
        assert np.all(cell == expected)


def test_scale_noise_local_normalises():
    cube = _noise_cube((30, 40, 40), seed=5, sigma=2.0)
    cube[:, :, 20:] *= 3.0
    orig = cube.copy()
    noise = scale_noise_local(cube, window_xy=9, window_z=9)
    assert noise.dtype == np.float32 and noise.shape == cube.shape
    assert np.median(noise[:, :, :15]) == pytest.approx(2.0, rel=0.1)
    assert np.median(noise[:, :, 26:]) == pytest.approx(6.0, rel=0.1)
    with np.errstate(invalid="ignore"):
        assert_array_equal(cube, orig / noise)
    assert measure_noise(cube) == pytest.approx(1.0, rel=0.1)


def test_scale_noise_local_blank_region_gives_nan():
    cube = _noise_cube((20, 30, 30), seed=6)
    cube[:, :15, :15] = np.nan
    noise = scale_noise_local(cube, window_xy=5, window_z=3, grid_xy=5, grid_z=3)
    assert np.isnan(noise[:, :5, :5]).all()
    assert np.isnan(cube[:, :15, :15]).all()
    assert np.isfinite(noise[:, 20:, 20:]).all()


def test_interpolation_is_linear_between_grid_points():
    cube = _noise_cube((21, 31, 31), seed=7)
    kw = dict(window_xy=7, window_z=5, grid_xy=5, grid_z=3, statistic="std", flux_range="full")
    plain = local_grid(cube, **kw)
    interp = local_grid(cube, **kw, interpolate=True)
    sx, ex = _grid_start_end(31, 5)
    sy, ey = _grid_start_end(31, 5)
    sz, ez = _grid_start_end(21, 3)
    # grid points keep their values
    assert_array_equal(interp[sz:ez + 1:3, sy:ey + 1:5, sx:ex + 1:5],
                       plain[sz:ez + 1:3, sy:ey + 1:5, sx:ex + 1:5])
    # halfway along x between two grid points on a grid row and plane
    z, y = sz, sy
    a, b = interp[z, y, sx], interp[z, y, sx + 5]
    for i in range(1, 5):
        assert interp[z, y, sx + i] == pytest.approx(a + (b - a) * i / 5, rel=1e-6)
    # along z between grid planes
    a, b = interp[sz, sy, sx], interp[sz + 3, sy, sx]
    assert interp[sz + 1, sy, sx] == pytest.approx(a + (b - a) / 3, rel=1e-6)


def test_local_statistics_validation():
    cube = _noise_cube((10, 12, 12))
    with pytest.raises(ValueError, match="statistic"):
        scale_noise_local(cube, statistic="median")
    with pytest.raises(ValueError, match="3D"):
        local_grid(cube[0], "mad")
    with pytest.raises(ValueError, match="flux_range"):
        scale_noise_local(cube, flux_range="none")
    with pytest.raises(ValueError, match="read-only"):
        ro = cube.copy()
        ro.flags.writeable = False
        scale_noise_local(ro)


@pytest.mark.parametrize("statistic", ["std", "gauss"])
def test_local_other_statistics(statistic):
    cube = _noise_cube((20, 30, 30), seed=8, sigma=0.5)
    noise = scale_noise_local(cube, window_xy=11, window_z=7, statistic=statistic,
                              flux_range="full")
    assert np.median(noise) == pytest.approx(0.5, rel=0.15)


# ---------------------------------------------------------------------------
# ripple filter
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("statistic", ["median", "mean"])
def test_ripple_filter_removes_offsets(statistic):
    cube = _noise_cube((30, 40, 40), seed=9)
    z = np.arange(30, dtype=np.float32)[:, None, None]
    cube += 5.0 + 0.1 * z
    level = ripple_filter(cube, statistic=statistic, window_xy=11, window_z=5)
    assert abs(float(np.nanmean(cube))) < 0.05
    assert np.nanmedian(level) == pytest.approx(5.0 + 0.1 * 14.5, rel=0.05)


def test_ripple_mean_brute_force():
    cube = _noise_cube((15, 20, 20), seed=10) + 2.0
    orig = cube.copy()
    level = ripple_filter(cube, statistic="mean", window_xy=5, window_z=3, grid_xy=5, grid_z=3)
    sx, _ = _grid_start_end(20, 5)
    sy, _ = _grid_start_end(20, 5)
    sz, _ = _grid_start_end(15, 3)
    z, y, x = sz + 3, sy + 5, sx + 5
    win = orig[z - 1:z + 2, y - 2:y + 3, x - 2:x + 3].ravel()
    expected = np.float32(np.sum(win[::-1].astype(np.float64)) / win.size)
    assert level[z, y, x] == expected
    assert_array_equal(cube, orig - level)


def test_ripple_validation():
    with pytest.raises(ValueError, match="median' or 'mean"):
        ripple_filter(_noise_cube((10, 10, 10)), statistic="mad")
