"""Noise normalisation and ripple filtering (SoFiA-2 ``scaleNoise`` and ``rippleFilter``).

* :func:`scale_noise_spectral` divides every channel by its own noise.
* :func:`scale_noise_local` measures the noise in a window around each point
  of a coarse grid, fills the grid cells with it (optionally interpolating
  linearly between grid points) and divides the cube by the resulting noise
  cube.
* :func:`ripple_filter` uses the same window/grid machinery with the mean or
  median and *subtracts* it (removal of large-scale ripples and offsets).

All three work in place on the array they are given, like SoFiA-2; pass a
copy to keep the original.  They follow SoFiA-2 2.5.1 exactly: windows and
grids are forced odd, a window of 0 means the default (25 x 15), a grid of 0
means half the window, the grid is centred on the cube, a window needs at
least 10 finite values (otherwise its cell stays NaN), and a noise value that
is not positive gives NaN data.
"""

import math

import numpy as np

from ..core._numba import njit, prange
from ..core.stats import (
    MAD_TO_STD,
    check_flux_range,
    check_statistic,
    gauss_fit,
    measure_noise,
    nth_element,
)

__all__ = ["local_grid", "ripple_filter", "scale_noise_local", "scale_noise_spectral"]

_STD, _MAD, _GAUSS, _MEAN, _MEDIAN = 0, 1, 2, 3, 4
_STAT_CODES = {"std": _STD, "mad": _MAD, "gauss": _GAUSS, "mean": _MEAN, "median": _MEDIAN}


def _check_float_array(data, name="data"):
    if not isinstance(data, np.ndarray):
        raise ValueError(f"{name} must be a numpy array (it is modified in place).")
    if data.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64 (it is modified in place), got "
                         f"{data.dtype}.")
    if not data.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writeable copy.")


@njit(cache=True, parallel=True)
def _divide_planes(data, rms):
    # SoFiA: float /= double, i.e. divided in double precision, rounded once
    nz = data.shape[0]
    for z in prange(nz):
        r = rms[z]
        plane = data[z]
        for y in range(plane.shape[0]):
            for x in range(plane.shape[1]):
                if r > 0.0:
                    plane[y, x] = np.float64(plane[y, x]) / r
                else:
                    plane[y, x] = np.nan


def scale_noise_spectral(data, *, statistic="mad", flux_range="negative"):
    """Divide every channel by its noise (SoFiA-2 ``scaleNoise.mode = spectral``).

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x), float32 or float64; **divided in place**.
    statistic : {'mad', 'std', 'gauss'}
        Noise statistic, measured about zero over every voxel of the channel.
    flux_range : {'negative', 'positive', 'full'}
        Voxels used in the measurement.

    Returns
    -------
    ndarray of float64
        The noise spectrum (one value per channel; SoFiA's ``_noise.txt``).
        Channels whose noise is not a positive number (e.g. fully blanked
        ones) become NaN.
    """
    stat = check_statistic(statistic)
    check_flux_range(flux_range)
    _check_float_array(data)
    if data.ndim != 3:
        raise ValueError(f"scale_noise_spectral needs a 3D (z, y, x) cube, got shape "
                         f"{data.shape}.")
    rms = np.array([measure_noise(data[z], stat, flux_range, sample=False)
                    for z in range(data.shape[0])], dtype=np.float64)
    _divide_planes(data, np.where(np.isfinite(rms), rms, 0.0))
    return rms


# ---------------------------------------------------------------------------
# window statistics (SoFiA-2 statistics on the finite values of a window,
# taken in C order z, y, x)
# ---------------------------------------------------------------------------

@njit(cache=True)
def _median_inplace(a, n):
    # SoFiA median_flt: upper middle; even n averages with the lower middle (float32 add)
    if n == 0:
        return np.nan
    k = n // 2
    upper = nth_element(a, n, k)
    if n % 2 == 1:
        return np.float64(upper)
    lower = a[0]
    for i in range(1, k):
        if a[i] > lower:
            lower = a[i]
    return np.float64(np.float32(np.float32(upper + lower) / np.float32(2.0)))


@njit(cache=True)
def _window_stat(buf, n, tmp, stat, code):
    if stat == _STD:
        total = 0.0
        cnt = 0
        for i in range(n - 1, -1, -1):
            v = buf[i]
            if code == 0 or (code < 0 and v < 0.0) or (code > 0 and v > 0.0):
                total += np.float64(v) * np.float64(v)
                cnt += 1
        return math.sqrt(total / cnt) if cnt else np.nan
    if stat == _MAD:
        cap = n if code == 0 else n // 2
        cnt = 0
        i = n - 1
        while i > 0 and cnt < cap:
            v = buf[i]
            if code == 0 or (code < 0 and v < 0.0) or (code > 0 and v > 0.0):
                tmp[cnt] = abs(v)
                cnt += 1
            i -= 1
        return MAD_TO_STD * _median_inplace(tmp, cnt)
    if stat == _GAUSS:
        sigma, _ = gauss_fit(buf, n, 1, code)
        return sigma
    if stat == _MEAN:
        total = 0.0
        for i in range(n - 1, -1, -1):
            total += buf[i]
        return total / n
    for i in range(n):
        tmp[i] = buf[i]
    return _median_inplace(tmp, n)


@njit(cache=True, parallel=True)
def _fill_grid(data, out, stat, code, gs, gz, rws, rwz, sx, sy, sz, ez):
    nz, ny, nx = data.shape
    rgs = gs // 2
    rgz = gz // 2
    nzg = (ez - sz) // gz + 1
    size = (min(2 * rws + 1, nx) * min(2 * rws + 1, ny) * min(2 * rwz + 1, nz))
    for iz in prange(nzg):
        z = sz + iz * gz
        buf = np.empty(size, dtype=np.float32)
        tmp = np.empty(size, dtype=np.float32)
        wz0 = max(z - rwz, 0)
        wz1 = min(z + rwz, nz - 1)
        gz0 = max(z - rgz, 0)
        gz1 = min(z + rgz, nz - 1)
        for y in range(sy, ny, gs):
            wy0 = max(y - rws, 0)
            wy1 = min(y + rws, ny - 1)
            gy0 = max(y - rgs, 0)
            gy1 = min(y + rgs, ny - 1)
            for x in range(sx, nx, gs):
                wx0 = max(x - rws, 0)
                wx1 = min(x + rws, nx - 1)
                n = 0
                for zz in range(wz0, wz1 + 1):
                    for yy in range(wy0, wy1 + 1):
                        for xx in range(wx0, wx1 + 1):
                            v = data[zz, yy, xx]
                            if v == v:
                                buf[n] = v
                                n += 1
                if n < 10:
                    continue
                val = np.float32(_window_stat(buf, n, tmp, stat, code))
                gx0 = max(x - rgs, 0)
                gx1 = min(x + rgs, nx - 1)
                for zz in range(gz0, gz1 + 1):
                    for yy in range(gy0, gy1 + 1):
                        for xx in range(gx0, gx1 + 1):
                            out[zz, yy, xx] = val


@njit(cache=True)
def _interp_z(out, gs, gz, sx, sy, sz, ex, ey, ez):
    for y in range(sy, ey + 1, gs):
        for x in range(sx, ex + 1, gs):
            z = sz
            while z < ez:
                s0 = np.float64(out[z, y, x])
                s2 = np.float64(out[z + gz, y, x])
                if s0 == s0 and s2 == s2:
                    for i in range(1, gz):
                        out[z + i, y, x] = s0 + (s2 - s0) * np.float64(i) / np.float64(gz)
                z += gz


@njit(cache=True, parallel=True)
def _interp_xy(out, gs, sx, sy, ex, ey):
    nz = out.shape[0]
    for z in prange(nz):
        for x in range(sx, ex + 1, gs):
            y = sy
            while y < ey:
                s0 = np.float64(out[z, y, x])
                s2 = np.float64(out[z, y + gs, x])
                if s0 == s0 and s2 == s2:
                    for i in range(1, gs):
                        out[z, y + i, x] = s0 + (s2 - s0) * np.float64(i) / np.float64(gs)
                y += gs
        for y in range(sy, ey + 1):
            x = sx
            while x < ex:
                s0 = np.float64(out[z, y, x])
                s2 = np.float64(out[z, y, x + gs])
                if s0 == s0 and s2 == s2:
                    for i in range(1, gs):
                        out[z, y, x + i] = s0 + (s2 - s0) * np.float64(i) / np.float64(gs)
                x += gs


@njit(cache=True, parallel=True)
def _divide_cube(data, noise):
    nz = data.shape[0]
    for z in prange(nz):
        for y in range(data.shape[1]):
            for x in range(data.shape[2]):
                s = noise[z, y, x]
                if s > 0.0:
                    data[z, y, x] = data[z, y, x] / s
                else:
                    data[z, y, x] = np.nan


@njit(cache=True, parallel=True)
def _subtract_cube(data, level):
    nz = data.shape[0]
    for z in prange(nz):
        for y in range(data.shape[1]):
            for x in range(data.shape[2]):
                data[z, y, x] = data[z, y, x] - level[z, y, x]


def _odd_sizes(window_xy, window_z, grid_xy, grid_z):
    vals = {"window_xy": window_xy, "window_z": window_z, "grid_xy": grid_xy, "grid_z": grid_z}
    for name, v in vals.items():
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}.")
    ws = int(window_xy) or 25
    wz = int(window_z) or 15
    ws += 1 - ws % 2
    wz += 1 - wz % 2
    gs = int(grid_xy) or ws // 2
    gz = int(grid_z) or wz // 2
    gs = gs or 1
    gz = gz or 1
    gs += 1 - gs % 2
    gz += 1 - gz % 2
    return ws, wz, gs, gz


def _grid_start_end(n, g):
    start = (n - g * int(math.ceil(n / g) - 1.0)) // 2
    end = n - ((n - start - 1) % g) - 1
    return start, end


def local_grid(data, statistic, flux_range="full", *, window_xy=25, window_z=15, grid_xy=0,
               grid_z=0, interpolate=False):
    """Running-window statistic of a cube on SoFiA-2's grid (not applied).

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x); only read.
    statistic : {'std', 'mad', 'gauss', 'mean', 'median'}
        Noise statistics (about zero, in ``flux_range``) or the mean/median.
    flux_range : {'negative', 'positive', 'full'}
        Voxels used by the noise statistics.
    window_xy, window_z, grid_xy, grid_z : int
        Window and grid sizes, pixels/channels (0 = default; forced odd).
    interpolate : bool
        Interpolate linearly between grid points (along z, then y, then x).

    Returns
    -------
    ndarray of float32
        Cube of the shape of ``data``; NaN where a window had fewer than 10
        finite values.
    """
    key = str(statistic).lower()
    if key not in _STAT_CODES:
        raise ValueError(f"statistic must be one of {tuple(_STAT_CODES)}, got {statistic!r}.")
    code = check_flux_range(flux_range)
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise ValueError(f"local noise/ripple filtering needs a 3D (z, y, x) cube, got shape "
                         f"{arr.shape}.")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    ws, wz, gs, gz = _odd_sizes(window_xy, window_z, grid_xy, grid_z)
    nz, ny, nx = arr.shape
    sx, ex = _grid_start_end(nx, gs)
    sy, ey = _grid_start_end(ny, gs)
    sz, ez = _grid_start_end(nz, gz)
    out = np.full(arr.shape, np.nan, dtype=np.float32)
    _fill_grid(arr, out, _STAT_CODES[key], code, gs, gz, ws // 2, wz // 2, sx, sy, sz, ez)
    if interpolate and (gs > 1 or gz > 1):
        if gz > 1:
            _interp_z(out, gs, gz, sx, sy, sz, ex, ey, ez)
        if gs > 1:
            _interp_xy(out, gs, sx, sy, ex, ey)
    return out


def scale_noise_local(data, *, window_xy=25, window_z=15, grid_xy=0, grid_z=0,
                      interpolate=False, statistic="mad", flux_range="negative"):
    """Divide a cube by its local noise (SoFiA-2 ``scaleNoise.mode = local``).

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x), float32 or float64; **divided in place**.
    window_xy, window_z : int
        Window size in pixels and channels (0 = 25 and 15; forced odd).
    grid_xy, grid_z : int
        Grid spacing (0 = half the window; forced odd).
    interpolate : bool
        Interpolate the noise linearly between grid points instead of filling
        each grid cell with its value.
    statistic : {'mad', 'std', 'gauss'}
        Noise statistic (about zero).
    flux_range : {'negative', 'positive', 'full'}
        Voxels used in the measurement.

    Returns
    -------
    ndarray of float32
        The noise cube (SoFiA's ``_noise.fits``); voxels where it is not
        positive (or NaN) are set to NaN in ``data``.

    Notes
    -----
    Memory: one float32 noise cube (1x the cube) on top of ``data``.
    """
    stat = check_statistic(statistic)
    _check_float_array(data)
    noise = local_grid(data, stat, flux_range, window_xy=window_xy, window_z=window_z,
                       grid_xy=grid_xy, grid_z=grid_z, interpolate=interpolate)
    _divide_cube(data, noise)
    return noise


def ripple_filter(data, *, statistic="median", window_xy=31, window_z=15, grid_xy=0, grid_z=0,
                  interpolate=False):
    """Subtract a running-window mean or median (SoFiA-2 ``rippleFilter``).

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x), float32 or float64; **changed in place**.
    statistic : {'median', 'mean'}
        Statistic of the finite values in each window.
    window_xy, window_z, grid_xy, grid_z, interpolate
        As in :func:`scale_noise_local` (window 0 means 25 x 15 here too, as in
        SoFiA-2, whose ripple filter reuses the noise-scaling code).

    Returns
    -------
    ndarray of float32
        The subtracted background cube (NaN where a window had fewer than 10
        finite values; there the data become NaN).
    """
    key = str(statistic).lower()
    if key not in ("median", "mean"):
        raise ValueError(f"ripple_filter statistic must be 'median' or 'mean', got "
                         f"{statistic!r}.")
    _check_float_array(data)
    level = local_grid(data, key, "full", window_xy=window_xy, window_z=window_z,
                       grid_xy=grid_xy, grid_z=grid_z, interpolate=interpolate)
    _subtract_cube(data, level)
    return level
