"""Numba kernels for the smooth-and-clip finder (private).

All kernels reproduce SoFiA-2's single-precision running-sum boxcar bit for
bit: for a line ``c`` of length ``n`` and radius ``r`` (width ``w = 2r + 1``,
``inv = float32(1 / w)``) the last output is the float32 sum of
``c[n-1+r], c[n-2+r], ..., c[n-1-r]`` (in that order, starting from 0, values
beyond the ends counting as 0) times ``inv``, and every earlier output follows
backwards from ``o[i] = o[i+1] + (c[i-r] - c[i+r+1]) * inv`` in float32.  NaN
inputs count as 0 (SoFiA's ``FILTER_NAN``, applied to every filter input).

The kernels differ from SoFiA-2 only in memory layout, which does not change
a single bit of the result:

* Every recursion runs over whole contiguous rows at once, so the compiler
  vectorises it: the y and z passes work on rows of x, and the x passes work
  on a transposed copy of the plane (x rows, y contiguous), transposed back
  once before the y passes.  SoFiA-2 instead walks one line at a time, a
  latency-bound chain, and copies out strided columns and spectra.
* Filters ping-pong between two zero-padded plane buffers per thread; the
  last spatial iteration writes straight into the working cube.

The running detection mask is kept packed, one bit per voxel along x
(the layout of `~astro_mlfinder.classical.packed_mask.PackedMask`), which saves 0.22x the float32 cube
while a working cube is alive.  No kernel allocates more than four planes (or
one spectral slab) per thread.
"""

import math

import numpy as np

from ..core._numba import njit, prange

__all__ = []

_F0 = np.float32(0.0)


@njit(cache=True, inline="always")
def _nan0(v):
    # SoFiA's FILTER_NAN: NaN counts as 0 inside the filter.
    return v if v == v else np.float32(0.0)


@njit(cache=True, inline="always")
def _bit(bits, z, y, x):
    # mask bit of voxel (z, y, x); bits are packed along x, little bit order
    return (bits[z, y, x >> 3] >> (x & 7)) & 1


@njit(cache=True, inline="always")
def _repl(v, m, rv, use_repl):
    # SoFiA's set_masked_8: copysign(replacement * rms, x) on masked voxels.
    if use_repl and m != 0:
        return np.float32(math.copysign(rv, v))
    return v


# ---------------------------------------------------------------------------
# row primitives (simple 1D loops that LLVM vectorises)
# ---------------------------------------------------------------------------

@njit(cache=True)
def _line_first(dst, src, n, r, inv):
    """``dst = (sum over k = 2r..0 of nan0(src[n - 1 + k])) * inv``, row-wise.

    ``src`` is padded: its row ``r + i`` holds line element ``i``.
    """
    fs = 2 * r + 1
    m = dst.shape[0]
    for j in range(m):
        dst[j] = _F0
    for k in range(fs - 1, -1, -1):
        row = src[n - 1 + k]
        for j in range(m):
            dst[j] += _nan0(row[j])
    for j in range(m):
        dst[j] *= inv


@njit(cache=True)
def _line_step(dst, prev, a, b, inv):
    """``dst = prev + (nan0(a) - nan0(b)) * inv``, element-wise."""
    for j in range(dst.shape[0]):
        dst[j] = prev[j] + (_nan0(a[j]) - _nan0(b[j])) * inv


@njit(cache=True)
def _boxcar_rows(src, dst, off, n, r, inv):
    """Boxcar of radius ``r`` along axis 0 of ``src`` into rows ``off..off+n-1`` of ``dst``.

    ``src`` has shape ``(n + 2r, m)`` with zero rows ``[0, r)`` and
    ``[n + r, n + 2r)``; every column is filtered independently.
    """
    fs = 2 * r + 1
    _line_first(dst[off + n - 1], src, n, r, inv)
    for i in range(n - 2, -1, -1):
        _line_step(dst[off + i], dst[off + i + 1], src[i], src[i + fs], inv)


@njit(cache=True)
def _transpose(dst, doff, src, soff, n0, n1):
    """``dst[doff + j, i] = src[soff + i, j]`` for ``i < n0``, ``j < n1``."""
    i0 = 0
    while i0 + 8 <= n0:
        s0 = src[soff + i0]
        s1 = src[soff + i0 + 1]
        s2 = src[soff + i0 + 2]
        s3 = src[soff + i0 + 3]
        s4 = src[soff + i0 + 4]
        s5 = src[soff + i0 + 5]
        s6 = src[soff + i0 + 6]
        s7 = src[soff + i0 + 7]
        for j in range(n1):
            d = dst[doff + j]
            d[i0] = s0[j]
            d[i0 + 1] = s1[j]
            d[i0 + 2] = s2[j]
            d[i0 + 3] = s3[j]
            d[i0 + 4] = s4[j]
            d[i0 + 5] = s5[j]
            d[i0 + 6] = s6[j]
            d[i0 + 7] = s7[j]
        i0 += 8
    for i in range(i0, n0):
        srow = src[soff + i]
        for j in range(n1):
            dst[doff + j, i] = srow[j]


@njit(cache=True)
def _zero_pads(buf, n, r):
    for i in range(r):
        for j in range(buf.shape[1]):
            buf[i, j] = _F0
            buf[n + r + i, j] = _F0


@njit(cache=True)
def _fill_row(dst, data, bits, z, y, rv, use_repl):
    """Row ``y`` of plane ``z`` of ``data`` with replacement applied."""
    for x in range(dst.shape[0]):
        dst[x] = _repl(data[z, y, x], _bit(bits, z, y, x), rv, use_repl)


@njit(cache=True)
def _restore_plane(work, data, z):
    ny = work.shape[1]
    nx = work.shape[2]
    for y in range(ny):
        for x in range(nx):
            if data[z, y, x] != data[z, y, x]:
                work[z, y, x] = np.nan


# ---------------------------------------------------------------------------
# passes over the cube
# ---------------------------------------------------------------------------

@njit(cache=True)
def _smooth_plane(dst, data, bits, z, rv, use_repl, n_iter, r, inv, pa, pb, ta, tb):
    # plane z of ``data`` (replaced, then ``n_iter`` boxcars along x and y) into the 2D ``dst``: a plane of the
    # working cube here, a plane of the streamed ring in _stream_clip
    ny = data.shape[1]
    nx = data.shape[2]
    _zero_pads(pa, ny, r)
    _zero_pads(pb, ny, r)
    _zero_pads(ta, nx, r)
    _zero_pads(tb, nx, r)
    for y in range(ny):
        _fill_row(pa[r + y], data, bits, z, y, rv, use_repl)
    # x direction on the transposed plane (x along axis 0)
    _transpose(ta, r, pa, r, ny, nx)
    src = ta
    tmp = tb
    for _ in range(n_iter):
        _boxcar_rows(src, tmp, r, nx, r, inv)
        src, tmp = tmp, src
    _transpose(pa, r, src, r, nx, ny)
    # y direction; the last iteration writes into dst
    src = pa
    tmp = pb
    for it in range(n_iter):
        if it == n_iter - 1:
            _boxcar_rows(src, dst, 0, ny, r, inv)
        else:
            _boxcar_rows(src, tmp, r, ny, r, inv)
            src, tmp = tmp, src


@njit(cache=True, parallel=True)
def spatial_pass(work, data, bits, rv, use_repl, n_iter, r, restore_nan, nchunk):
    """Replace, then smooth every xy-plane (``n_iter`` boxcars along x, then y).

    ``work`` receives the result; ``data`` and the packed mask ``bits`` are
    only read.  With ``restore_nan`` the NaN voxels of ``data`` are set back
    to NaN.  ``nchunk`` is the number of z blocks handed out to threads.
    """
    nz, ny, nx = work.shape
    inv = np.float32(1.0 / (2 * r + 1))
    nchunk = max(1, min(nz, nchunk))
    for c in prange(nchunk):
        z0 = (c * nz) // nchunk
        z1 = ((c + 1) * nz) // nchunk
        pa = np.empty((ny + 2 * r, nx), dtype=np.float32)
        pb = np.empty((ny + 2 * r, nx), dtype=np.float32)
        ta = np.empty((nx + 2 * r, ny), dtype=np.float32)
        tb = np.empty((nx + 2 * r, ny), dtype=np.float32)
        for z in range(z0, z1):
            if n_iter > 0:
                _smooth_plane(work[z], data, bits, z, rv, use_repl, n_iter, r, inv, pa, pb, ta, tb)
            else:
                for y in range(ny):
                    _fill_row(work[z, y], data, bits, z, y, rv, use_repl)
            if restore_nan:
                _restore_plane(work, data, z)


@njit(cache=True)
def _step_restore(dst, acc, a, b, d, inv):
    # acc += (nan0(a) - nan0(b)) * inv; dst = acc, NaN where the input d is NaN
    for j in range(dst.shape[0]):
        s = acc[j] + (_nan0(a[j]) - _nan0(b[j])) * inv
        acc[j] = s
        dj = d[j]
        dst[j] = s if dj == dj else np.float32(np.nan)


@njit(cache=True)
def _copy_restore(dst, acc, d):
    for j in range(dst.shape[0]):
        dj = d[j]
        dst[j] = acc[j] if dj == dj else np.float32(np.nan)


@njit(cache=True, parallel=True)
def spectral_pass_inplace(work, data, r, nchunk):
    """Boxcar of radius ``r`` along z of ``work``, in place, then NaN restore.

    For each y the (z, x) slab is copied into a zero-padded buffer and the
    recursion runs over whole x rows (z loop outside, x loop inside), so that
    every access is contiguous.
    """
    nz, ny, nx = work.shape
    fs = 2 * r + 1
    inv = np.float32(1.0 / fs)
    nchunk = max(1, min(ny, nchunk))
    for c in prange(nchunk):
        y0 = (c * ny) // nchunk
        y1 = ((c + 1) * ny) // nchunk
        slab = np.zeros((nz + 2 * r, nx), dtype=np.float32)
        acc = np.empty(nx, dtype=np.float32)
        for y in range(y0, y1):
            for z in range(nz):
                srow = slab[r + z]
                wrow = work[z, y]
                for j in range(nx):
                    srow[j] = wrow[j]
            _line_first(acc, slab, nz, r, inv)
            _copy_restore(work[nz - 1, y], acc, data[nz - 1, y])
            for i in range(nz - 2, -1, -1):
                _step_restore(work[i, y], acc, slab[i], slab[i + fs], data[i, y], inv)


@njit(cache=True, parallel=True)
def spectral_pass_from(work, data, bits, rv, use_repl, r, nchunk):
    """Replace, boxcar of radius ``r`` along z, NaN restore: ``data`` -> ``work``.

    Used when there is no spatial smoothing, so no separate copy of the cube is
    made first; the replacement is applied on the fly while reading ``data``.
    """
    nz, ny, nx = work.shape
    fs = 2 * r + 1
    inv = np.float32(1.0 / fs)
    nchunk = max(1, min(ny, nchunk))
    for c in prange(nchunk):
        y0 = (c * ny) // nchunk
        y1 = ((c + 1) * ny) // nchunk
        acc = np.empty(nx, dtype=np.float32)
        for y in range(y0, y1):
            for j in range(nx):
                acc[j] = _F0
            for k in range(fs - 1, -1, -1):
                idx = nz - 1 + k - r
                if idx >= 0 and idx < nz:
                    for j in range(nx):
                        acc[j] += _nan0(_repl(data[idx, y, j], _bit(bits, idx, y, j), rv,
                                              use_repl))
            for j in range(nx):
                acc[j] *= inv
                d = data[nz - 1, y, j]
                work[nz - 1, y, j] = acc[j] if d == d else np.nan
            for i in range(nz - 2, -1, -1):
                lo = i - r
                hi = i + r + 1
                if lo >= 0 and hi < nz:
                    for j in range(nx):
                        a = _nan0(_repl(data[lo, y, j], _bit(bits, lo, y, j), rv, use_repl))
                        b = _nan0(_repl(data[hi, y, j], _bit(bits, hi, y, j), rv, use_repl))
                        acc[j] = acc[j] + (a - b) * inv
                        d = data[i, y, j]
                        work[i, y, j] = acc[j] if d == d else np.nan
                else:
                    for j in range(nx):
                        a = _F0
                        b = _F0
                        if lo >= 0:
                            a = _nan0(_repl(data[lo, y, j], _bit(bits, lo, y, j), rv, use_repl))
                        if hi < nz:
                            b = _nan0(_repl(data[hi, y, j], _bit(bits, hi, y, j), rv, use_repl))
                        acc[j] = acc[j] + (a - b) * inv
                        d = data[i, y, j]
                        work[i, y, j] = acc[j] if d == d else np.nan


@njit(cache=True, parallel=True)
def replace_pass(work, data, bits, rv, use_repl):
    """Copy ``data`` to ``work`` with replacement; NaN voxels stay NaN."""
    nz, ny, nx = work.shape
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                d = data[z, y, x]
                if d == d:
                    work[z, y, x] = _repl(d, _bit(bits, z, y, x), rv, use_repl)
                else:
                    work[z, y, x] = np.nan


@njit(cache=True, parallel=True)
def clip_bits(arr, bits, thr):
    """Set the mask bit where ``|arr| > thr`` (double comparison); return new count."""
    nz, ny, nx = arr.shape
    counts = np.zeros(nz, dtype=np.int64)
    for z in prange(nz):
        n = 0
        for y in range(ny):
            for x in range(nx):
                if abs(np.float64(arr[z, y, x])) > thr:
                    b = np.uint8(1 << (x & 7))
                    old = bits[z, y, x >> 3]
                    if (old & b) == 0:
                        n += 1
                        bits[z, y, x >> 3] = old | b
        counts[z] = n
    return counts.sum()


@njit(cache=True, parallel=True)
def clip_pass(arr, mask, thr):
    """Set ``mask`` to 1 where ``|arr| > thr`` (double comparison); return new count."""
    nz, ny, nx = arr.shape
    counts = np.zeros(nz, dtype=np.int64)
    for z in prange(nz):
        n = 0
        for y in range(ny):
            for x in range(nx):
                if abs(np.float64(arr[z, y, x])) > thr:
                    if mask[z, y, x] == 0:
                        n += 1
                    mask[z, y, x] = 1
        counts[z] = n
    return counts.sum()
