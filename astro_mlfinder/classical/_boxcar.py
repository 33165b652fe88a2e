"""Numba kernels for the smooth-and-clip finder (private).

All kernels reproduce SoFiA-2's single-precision running-sum boxcar bit for
bit: for a line ``c`` of length ``n`` and radius ``r`` (width ``w = 2r + 1``,
``inv = float32(1 / w)``) the last output is the float32 sum of
``c[n-1+r], c[n-2+r], ..., c[n-1-r]`` (in that order, starting from 0, values
beyond the ends counting as 0) times ``inv``, and every earlier output follows
backwards from ``o[i] = o[i+1] + (c[i-r] - c[i+r+1]) * inv`` in float32.  NaN
inputs count as 0.  The kernels differ from SoFiA-2 only in memory layout:
the y and z passes run over whole x rows at once (contiguous, vectorised)
instead of copying out strided columns and spectra, and in-place filtering
keeps the ``r + 1`` overwritten input rows in a small ring buffer instead of a
padded copy of the whole line.

The running detection mask is kept packed, one bit per voxel along x
(``pack_mask``/``unpack_mask``), which saves 0.22x the float32 cube while a
working cube is alive.  Memory: no kernel allocates more than a few rows or
planes per thread.
"""

import math

import numpy as np
from numba import njit, prange

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


@njit(cache=True)
def _boxcar_row(row, pad, r, inv):
    """Boxcar of radius ``r`` along one contiguous line, in place."""
    n = row.shape[0]
    fs = 2 * r + 1
    for i in range(r):
        pad[i] = _F0
        pad[n + r + i] = _F0
    for i in range(n):
        pad[r + i] = _nan0(row[i])
    s = np.float32(0.0)
    for k in range(fs - 1, -1, -1):
        s += pad[n - 1 + k]
    s *= inv
    row[n - 1] = s
    for i in range(n - 2, -1, -1):
        s = s + (pad[i] - pad[i + fs]) * inv
        row[i] = s


@njit(cache=True)
def _boxcar_plane_y(work, z, r, inv, ring, acc):
    """Boxcar of radius ``r`` along y of plane ``work[z]``, in place."""
    ny = work.shape[1]
    nx = work.shape[2]
    fs = 2 * r + 1
    nslot = r + 1
    for s_ in range(nslot):
        for j in range(nx):
            ring[s_, j] = _F0
    # last row: sum of rows ny-1+r ... ny-1-r (beyond the end = 0)
    for j in range(nx):
        acc[j] = _F0
    for k in range(fs - 1, -1, -1):
        idx = ny - 1 + k - r
        if idx >= 0 and idx < ny:
            for j in range(nx):
                acc[j] += _nan0(work[z, idx, j])
    slot = (ny - 1) % nslot
    for j in range(nx):
        ring[slot, j] = _nan0(work[z, ny - 1, j])
        acc[j] *= inv
        work[z, ny - 1, j] = acc[j]
    for i in range(ny - 2, -1, -1):
        slot = i % nslot
        lo = i - r
        if lo >= 0:
            for j in range(nx):
                a = _nan0(work[z, lo, j])
                b = ring[slot, j]
                ring[slot, j] = _nan0(work[z, i, j])
                acc[j] = acc[j] + (a - b) * inv
                work[z, i, j] = acc[j]
        else:
            for j in range(nx):
                b = ring[slot, j]
                ring[slot, j] = _nan0(work[z, i, j])
                acc[j] = acc[j] + (_F0 - b) * inv
                work[z, i, j] = acc[j]


@njit(cache=True)
def _fill_plane(work, data, bits, z, rv, use_repl):
    ny = work.shape[1]
    nx = work.shape[2]
    for y in range(ny):
        for x in range(nx):
            work[z, y, x] = _repl(data[z, y, x], _bit(bits, z, y, x), rv, use_repl)


@njit(cache=True)
def _restore_plane(work, data, z):
    ny = work.shape[1]
    nx = work.shape[2]
    for y in range(ny):
        for x in range(nx):
            if data[z, y, x] != data[z, y, x]:
                work[z, y, x] = np.nan


@njit(cache=True, parallel=True)
def spatial_pass(work, data, bits, rv, use_repl, n_iter, r, restore_nan, nthreads):
    """Replace, then smooth every xy-plane (n_iter boxcars along x, then y).

    ``work`` receives the result; ``data`` and the packed mask ``bits`` are
    only read.  With ``restore_nan`` the NaN voxels of ``data`` are set back to
    NaN.
    """
    nz, ny, nx = work.shape
    inv = np.float32(1.0 / (2 * r + 1))
    nchunk = min(nz, 4 * nthreads)
    for c in prange(nchunk):
        z0 = (c * nz) // nchunk
        z1 = ((c + 1) * nz) // nchunk
        rowpad = np.empty(nx + 2 * r, dtype=np.float32)
        ring = np.empty((r + 1, nx), dtype=np.float32)
        acc = np.empty(nx, dtype=np.float32)
        for z in range(z0, z1):
            _fill_plane(work, data, bits, z, rv, use_repl)
            if n_iter > 0:
                for y in range(ny):
                    row = work[z, y]
                    for _ in range(n_iter):
                        _boxcar_row(row, rowpad, r, inv)
                for _ in range(n_iter):
                    _boxcar_plane_y(work, z, r, inv, ring, acc)
            if restore_nan:
                _restore_plane(work, data, z)


@njit(cache=True, parallel=True)
def spectral_pass_inplace(work, data, r, nthreads):
    """Boxcar of radius ``r`` along z of ``work``, in place, then NaN restore.

    Runs over x rows (z loop outside, x loop inside) so that every access is
    contiguous; a ring buffer of ``r + 1`` rows per y holds overwritten input.
    """
    nz, ny, nx = work.shape
    fs = 2 * r + 1
    nslot = r + 1
    inv = np.float32(1.0 / fs)
    nchunk = min(ny, 4 * nthreads)
    for c in prange(nchunk):
        y0 = (c * ny) // nchunk
        y1 = ((c + 1) * ny) // nchunk
        ring = np.empty((nslot, nx), dtype=np.float32)
        acc = np.empty(nx, dtype=np.float32)
        for y in range(y0, y1):
            for s_ in range(nslot):
                for j in range(nx):
                    ring[s_, j] = _F0
            for j in range(nx):
                acc[j] = _F0
            for k in range(fs - 1, -1, -1):
                idx = nz - 1 + k - r
                if idx >= 0 and idx < nz:
                    for j in range(nx):
                        acc[j] += _nan0(work[idx, y, j])
            slot = (nz - 1) % nslot
            for j in range(nx):
                ring[slot, j] = _nan0(work[nz - 1, y, j])
                acc[j] *= inv
                d = data[nz - 1, y, j]
                work[nz - 1, y, j] = acc[j] if d == d else np.nan
            for i in range(nz - 2, -1, -1):
                slot = i % nslot
                lo = i - r
                if lo >= 0:
                    for j in range(nx):
                        a = _nan0(work[lo, y, j])
                        b = ring[slot, j]
                        ring[slot, j] = _nan0(work[i, y, j])
                        acc[j] = acc[j] + (a - b) * inv
                        d = data[i, y, j]
                        work[i, y, j] = acc[j] if d == d else np.nan
                else:
                    for j in range(nx):
                        b = ring[slot, j]
                        ring[slot, j] = _nan0(work[i, y, j])
                        acc[j] = acc[j] + (_F0 - b) * inv
                        d = data[i, y, j]
                        work[i, y, j] = acc[j] if d == d else np.nan


@njit(cache=True, parallel=True)
def spectral_pass_from(work, data, bits, rv, use_repl, r, nthreads):
    """Replace, boxcar of radius ``r`` along z, NaN restore: ``data`` -> ``work``.

    Used when there is no spatial smoothing, so no separate copy of the cube is
    made first; the replacement is applied on the fly while reading ``data``.
    """
    nz, ny, nx = work.shape
    fs = 2 * r + 1
    inv = np.float32(1.0 / fs)
    nchunk = min(ny, 4 * nthreads)
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
                        acc[j] += _nan0(_repl(data[idx, y, j], _bit(bits, idx, y, j), rv, use_repl))
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


def pack_mask(mask):
    """Pack a (z, y, x) mask (non-zero = set) into bits along x (little order)."""
    return np.packbits(np.asarray(mask) != 0, axis=-1, bitorder="little")


def unpack_mask(bits, nx):
    """Inverse of :func:`pack_mask`: uint8 0/1 array with ``nx`` columns."""
    return np.unpackbits(bits, axis=-1, count=nx, bitorder="little")


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
