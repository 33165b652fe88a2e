"""Smooth-and-clip passes without a cube-sized smoothed copy (private).

:func:`~astro_mlfinder.classical.smooth_clip.smooth_clip` normally smooths
the whole cube into one working cube (+1x the float32 cube), measures its
noise and clips it.  For large cubes it instead streams every pass plane by
plane, from the last plane (z = nz - 1) down to the first, which is the order
in which the spectral running-sum boxcar of :mod:`._boxcar` produces its
values, so the result is bit for bit the one-cube result:

* the spatially smoothed planes that the spectral boxcar still needs live in
  a ring of ``B + 2 r + 2`` planes, the running spectral sum in one plane;
* each output plane contributes its voxels of SoFiA-2's strided noise sample
  (the indices ``n - k c``, the only voxels any statistic but ``'gauss'``
  reads) to a sample array in sampling order, from which the noise is then
  computed exactly as :func:`~astro_mlfinder.core.stats.measure_noise` does;
* voxels with ``|x| > L`` are kept as candidates (flat index and value).
  ``L`` starts at :data:`EARLY_LEVEL` times the clip level that the first
  batch's own sample suggests, or up to :data:`EARLY_LEVEL_MAX` times it
  where that batch's values say the candidate store (1/64 of the voxels)
  would otherwise be more than half filled, and is raised whenever the store
  would overflow, to the value that halves it.  The voxels above ``L`` are
  staged by the spectral kernel while each output row is still in cache (by
  a separate scan for the first batch and passes without spectral
  smoothing), as a float32 comparison against ``L`` rounded down, which is
  the float64 comparison exactly.  Once the
  noise ``rms`` is known, every voxel with ``|x| > threshold * rms`` is a
  candidate provided ``threshold * rms >= L`` (the usual case), and the clip
  is made from the candidates.  Otherwise (detections filling more than
  ~0.8 % of the cube, or noise in the first batch far above the cube's) the
  pass is smoothed a second time and clipped plane by plane into a separate
  bit array, then merged, so the mask is the same either way.

The buffers live in a :class:`Workspace` kept for all passes of a cube.
Batches are :data:`BATCH_BYTES` of planes (at most 1/16 of the cube): a
parallel region per batch and kernel waits on the scheduler of a loaded
machine, so few large batches keep the streamed pass as fast as the
one-cube pass.  Extra memory: the batch, the ring, the per-plane candidate
offsets, per-thread plane buffers, the sample (~4 MB) and the candidate store
(12 bytes per 64 voxels): about 0.35x the cube at 512^3 (0.2x at
1024x512x512), instead of 1x.
"""

import math

import numpy as np

from ..core._numba import get_num_threads, njit, prange
from ..core.stats import MAD_TO_STD, _sum_squares, noise_stride, sofia_median
from ._boxcar import _F0, _fill_row, _nan0, _repl, _smooth_plane

__all__ = []

#: bytes of output planes per batch (at most 1/16 of the cube, at least 4 planes)
BATCH_BYTES = 32 * 2**20


#: the candidate level starts at this fraction of the first batch's estimate of the clip level
EARLY_LEVEL = 0.7

#: ... and rises up to this fraction if the first batch's values suggest the store would overflow
EARLY_LEVEL_MAX = 0.8

#: smallest size of the candidate store (else 1/64 of the voxels)
MIN_CANDIDATES = 1 << 16


def _batch(shape):
    # BATCH_BYTES of planes, at most 1/16 of the cube, at least 4 planes
    return max(1, min(shape[0], max(4, min(BATCH_BYTES // (4 * shape[1] * shape[2]), shape[0] // 16))))

# plane modes of _planes
_SMOOTH = 0        # spatial boxcars (replacement applied on the input rows)
_SMOOTH_NAN = 1    # spatial boxcars, then the input's NaN voxels set back to NaN
_FILL = 2          # replacement only (NaN voxels take the replacement value if masked)
_REPLACE = 3       # replacement only, NaN voxels stay NaN


@njit(cache=True, parallel=True)
def _planes(dst, base, m, data, bits, rv, use_repl, n_iter, r, j0, j1, mode, pas, pbs, tas, tbs):
    """Planes ``j0 <= j < j1`` of the pass's first stage into ``dst[(j - base) % m]``.

    ``pas``, ``pbs`` (shape ``(k, ny + 2r, nx)``) and ``tas``, ``tbs``
    (``(k, nx + 2r, ny)``) are the plane buffers of ``k`` parallel chunks,
    allocated once per pass by the caller.
    """
    ny = data.shape[1]
    nx = data.shape[2]
    inv = np.float32(1.0 / (2 * r + 1))
    n = j1 - j0
    if n <= 0:
        return
    nchunk = max(1, min(n, pas.shape[0]))
    for c in prange(nchunk):
        a = j0 + (c * n) // nchunk
        b = j0 + ((c + 1) * n) // nchunk
        pa = pas[c]
        pb = pbs[c]
        ta = tas[c]
        tb = tbs[c]
        for j in range(a, b):
            out = dst[(j - base) % m]
            if mode == _SMOOTH or mode == _SMOOTH_NAN:
                _smooth_plane(out, data, bits, j, rv, use_repl, n_iter, r, inv, pa, pb, ta, tb)
                if mode == _SMOOTH_NAN:
                    for y in range(ny):
                        for x in range(nx):
                            if data[j, y, x] != data[j, y, x]:
                                out[y, x] = np.nan
            elif mode == _FILL:
                for y in range(ny):
                    _fill_row(out[y], data, bits, j, y, rv, use_repl)
            else:
                for y in range(ny):
                    for x in range(nx):
                        d = data[j, y, x]
                        if d == d:
                            out[y, x] = _repl(d, (bits[j, y, x >> 3] >> (x & 7)) & 1, rv, use_repl)
                        else:
                            out[y, x] = np.nan


@njit(cache=True, parallel=True)
def _spectral(out, ring, m, acc, data, z0, z1, r, nchunk, stage, level, sidx, counts):
    """Spectral boxcar of radius ``r`` for output planes ``z1 - 1`` down to ``z0`` (then NaN restore).

    ``ring[j % m]`` holds stage-one plane ``j`` for ``z0 - r <= j <= z1 + r``;
    ``acc`` carries the running sums from the previous batch (``z1 < nz``).
    Same float32 operations in the same order as ``_boxcar.spectral_pass_inplace``.
    With ``stage``, each output row is staged while it is in cache, as
    :func:`_stage` would (``counts`` has one column per chunk of rows).
    """
    nz, ny, nx = data.shape
    fs = 2 * r + 1
    inv = np.float32(1.0 / fs)
    nchunk = max(1, min(ny, nchunk))
    for c in prange(nchunk):
        y0 = (c * ny) // nchunk
        y1 = ((c + 1) * ny) // nchunk
        for y in range(y0, y1):
            a = acc[y]
            for i in range(z1 - 1, z0 - 1, -1):
                if i == nz - 1:
                    for j in range(nx):
                        a[j] = _F0
                    for k in range(fs - 1, -1, -1):
                        p = nz - 1 + k - r
                        if p < nz:
                            row = ring[p % m, y]
                            for j in range(nx):
                                a[j] += _nan0(row[j])
                        else:
                            for j in range(nx):
                                a[j] += _F0
                    for j in range(nx):
                        a[j] *= inv
                else:
                    lo = i - r
                    hi = i + r + 1
                    if lo >= 0 and hi < nz:
                        ra = ring[lo % m, y]
                        rb = ring[hi % m, y]
                        for j in range(nx):
                            a[j] = a[j] + (_nan0(ra[j]) - _nan0(rb[j])) * inv
                    elif lo >= 0:
                        ra = ring[lo % m, y]
                        for j in range(nx):
                            a[j] = a[j] + (_nan0(ra[j]) - _F0) * inv
                    elif hi < nz:
                        rb = ring[hi % m, y]
                        for j in range(nx):
                            a[j] = a[j] + (_F0 - _nan0(rb[j])) * inv
                    else:
                        for j in range(nx):
                            a[j] = a[j] + (_F0 - _F0) * inv
                d = data[i, y]
                o = out[i - z0, y]
                for j in range(nx):
                    dj = d[j]
                    o[j] = a[j] if dj == dj else np.float32(np.nan)
                if stage:
                    si = sidx[i - z0]
                    k = counts[i - z0, c]
                    s0 = y0 * nx + k
                    k = _stage_row(o, si, s0, y * nx, level) - y0 * nx
                    counts[i - z0, c] = k


@njit(cache=True)
def _gather(out, z0, z1, plane, n, cadence, sample):
    # sample[k - 1] = flat[n - k * cadence] for the indices inside planes z0..z1-1
    lo = z0 * plane
    hi = z1 * plane - 1
    k = max(1, (n - hi + cadence - 1) // cadence)
    flat = out.reshape(-1)
    while True:
        idx = n - k * cadence
        if idx < lo or idx < 0:
            break
        if idx <= hi:
            sample[k - 1] = flat[idx - lo]
        k += 1


@njit(cache=True, inline="always")
def _stage_row(row, si, k, base, level):
    # append base + x for the voxels of ``row`` with |v| > level to si[k:]; new k.  ``level`` is
    # float32: rounded down from the float64 level, |v| > it is exactly abs(float64(v)) > level
    for x in range(row.shape[0]):
        if abs(row[x]) > level:
            si[k] = base + x
            k += 1
    return k


@njit(cache=True, parallel=True)
def _stage(out, nplanes, level, sidx, counts):
    # per plane: in-plane offsets of the voxels with |v| > level (chunk 0 of ``counts``)
    ny = out.shape[1]
    nx = out.shape[2]
    for p in prange(nplanes):
        k = 0
        si = sidx[p]
        for y in range(ny):
            k = _stage_row(out[p, y], si, k, y * nx, level)
        counts[p, 0] = k
        for c in range(1, counts.shape[1]):
            counts[p, c] = 0


@njit(cache=True, parallel=True)
def _commit_at(out, sidx, counts, offs, nplanes, z0, plane, cidx, cval):
    # plane p's staged voxels to cidx/cval[offs[p]:offs[p + 1]] (chunk c of plane p starts
    # at sidx[p, y0(c) * nx])
    ny = out.shape[1]
    nx = out.shape[2]
    nch = counts.shape[1]
    for p in prange(nplanes):
        base = (z0 + p) * plane
        si = sidx[p]
        flat = out[p].reshape(-1)
        o = offs[p]
        for c in range(nch):
            s0 = ((c * ny) // nch) * nx
            for k in range(counts[p, c]):
                idx = si[s0 + k]
                cidx[o] = base + idx
                cval[o] = flat[idx]
                o += 1


def _commit(out, sidx, counts, nplanes, z0, plane, cidx, cval, count):
    """Append the staged voxels of the batch to the candidate store; the new count."""
    offs = np.empty(nplanes + 1, dtype=np.int64)
    offs[0] = count
    np.cumsum(counts[:nplanes].sum(axis=1), out=offs[1:])
    offs[1:] += count
    _commit_at(out, sidx, counts, offs, nplanes, z0, plane, cidx, cval)
    return int(offs[nplanes])


def _level32(level):
    """The largest float32 <= ``level``: ``|v| > it`` equals ``abs(float64(v)) > level`` for float32 v."""
    f = np.float32(level)
    if float(f) > level:
        f = np.nextafter(f, np.float32(-np.inf))
    return f


@njit(cache=True)
def _apply(bits, cidx, cval, count, thr, ny, nx):
    # clip_bits on the candidates: set the bit where |v| > thr; number of new bits
    n_new = 0
    plane = ny * nx
    for m in range(count):
        if abs(np.float64(cval[m])) > thr:
            idx = cidx[m]
            z = idx // plane
            rem = idx - z * plane
            y = rem // nx
            x = rem - y * nx
            b = np.uint8(1 << (x & 7))
            old = bits[z, y, x >> 3]
            if (old & b) == 0:
                n_new += 1
                bits[z, y, x >> 3] = old | b
    return n_new


@njit(cache=True, parallel=True)
def _merge(bits, new):
    # bits |= new; number of bits that were not set before
    nz = bits.shape[0]
    counts = np.zeros(nz, dtype=np.int64)
    for z in prange(nz):
        c = 0
        for y in range(bits.shape[1]):
            for x in range(bits.shape[2]):
                fresh = new[z, y, x] & ~bits[z, y, x]
                if fresh:
                    c += _popcount8(fresh)
                    bits[z, y, x] |= fresh
        counts[z] = c
    return counts.sum()


@njit(cache=True, inline="always")
def _popcount8(v):
    c = 0
    while v:
        c += v & 1
        v >>= 1
    return c


_NO_SIDX = np.empty((1, 1), dtype=np.int32)
_NO_COUNTS = np.empty((1, 1), dtype=np.int64)

KERNELS = (_planes, _spectral, _gather, _stage, _commit_at, _apply)  # _merge: only on the rare re-smoothing path


def _noise(sample, n, cadence, stat, code):
    """The noise of the whole smoothed cube from its strided sample (``measure_noise``'s rules)."""
    def select(v):
        if code < 0:
            return v[v < 0]
        if code > 0:
            return v[v > 0]
        return v[~np.isnan(v)]

    if stat == "mad":
        # flat[n - c : 0 : -c]: index 0 is never used
        vals = sample[:-1] if (sample.size and n % cadence == 0) else sample
        cap = n // cadence if code == 0 else n // (2 * cadence)
        return MAD_TO_STD * float(sofia_median(np.abs(select(vals)[:cap])))
    vals = select(sample)
    if vals.size == 0:
        return math.nan
    return math.sqrt(_sum_squares(vals) / vals.size)


def _estimate(values, stat, code):
    """A rough noise level from part of the sample (the statistic without SoFiA's cap)."""
    if code < 0:
        values = values[values < 0]
    elif code > 0:
        values = values[values > 0]
    else:
        values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan
    if stat == "mad":
        return MAD_TO_STD * float(np.median(np.abs(values)))
    return math.sqrt(float(np.mean(np.square(values, dtype=np.float64))))


class Workspace:
    """Buffers kept from one pass to the next (private).

    Every pass of a cube needs the same batch, ring, plane and staging buffers
    (the ring and plane buffers grow with the kernel radii).  Large numpy
    arrays are memory maps that go back to the system when freed, so
    allocating them per pass makes the kernel zero and map every page again
    (about 0.15 GB per pass at 512^3); one workspace per
    :func:`~astro_mlfinder.classical.smooth_clip.smooth_clip` call maps them once.
    """

    def __init__(self):
        self._bufs = {}

    def get(self, name, shape, dtype=np.float32):
        """A C-contiguous array of ``shape`` (contents undefined) on the buffer ``name``."""
        size = math.prod(shape)
        buf = self._bufs.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._bufs[name] = np.empty(max(size, 1), dtype=dtype)
        return buf[:size].reshape(shape)


def _sweep(data, bits, rv, use_repl, n_iter, radius_xy, radius_z, spatial, consumer, nchunk, ws, staging=None):
    """Produce the pass's output planes in batches, from the last plane down.

    Calls ``consumer(out, z0, z1, staged)``.  With ``staging = (state, sidx,
    counts)`` and ``radius_z > 0``, the spectral kernel stages the voxels above
    ``state["level"]`` itself once ``state["staging"]`` is set (``staged`` True).
    """
    nz, ny, nx = data.shape
    batch = _batch(data.shape)
    out = ws.get("out", (batch, ny, nx))
    k = max(1, min(batch, 4 * nchunk))
    rr = radius_xy if spatial else 0
    bufs = (ws.get("pa", (k, ny + 2 * rr, nx)), ws.get("pb", (k, ny + 2 * rr, nx)),
            ws.get("ta", (k, nx + 2 * rr, ny)), ws.get("tb", (k, nx + 2 * rr, ny)))
    if radius_z > 0:
        m = batch + 2 * radius_z + 2
        ring = ws.get("ring", (m, ny, nx))
        acc = ws.get("acc", (ny, nx))
        mode = _SMOOTH if spatial else _FILL
        done = nz  # stage-one planes >= done are computed
        for z1 in range(nz, 0, -batch):
            z0 = max(0, z1 - batch)
            lo = max(0, z0 - radius_z)
            if z1 == nz:
                _planes(ring, 0, m, data, bits, rv, use_repl, n_iter, radius_xy, lo, nz, mode, *bufs)
            else:
                _planes(ring, 0, m, data, bits, rv, use_repl, n_iter, radius_xy, lo, done, mode, *bufs)
            done = lo
            staged = staging is not None and staging[0]["staging"]
            if staged:
                counts = staging[2]
                counts[:] = 0
                _spectral(out, ring, m, acc, data, z0, z1, radius_z, counts.shape[1], True,
                          _level32(staging[0]["level"]), staging[1], counts)
            else:
                _spectral(out, ring, m, acc, data, z0, z1, radius_z, 4 * nchunk, False, np.float32(0),
                          _NO_SIDX, _NO_COUNTS)
            consumer(out, z0, z1, staged)
    else:
        mode = _SMOOTH_NAN if spatial else _REPLACE
        for z1 in range(nz, 0, -batch):
            z0 = max(0, z1 - batch)
            _planes(out, z0, batch, data, bits, rv, use_repl, n_iter, radius_xy, z0, z1, mode, *bufs)
            consumer(out, z0, z1, False)


def stream_pass(cube, bits, *, threshold, rv, use_repl, n_iter, radius_xy, radius_z, spatial,
                stat, code, workspace=None):
    """One smooth-and-clip pass streamed plane by plane; returns ``(rms, n_new)``.

    Equal to smoothing the whole cube, ``measure_noise(work, stat, ...,
    sample=True)`` and ``clip_bits(work, bits, threshold * rms)``; ``stat``
    must be ``'mad'`` or ``'std'``.  ``rms`` may be NaN or <= 0 (no bit is
    then set; the caller raises).  ``workspace`` (a :class:`Workspace`)
    carries the buffers from one pass of a cube to the next.
    """
    ws = Workspace() if workspace is None else workspace
    nz, ny, nx = cube.shape
    plane = ny * nx
    n = nz * plane
    cadence = noise_stride(n, nx)
    sample = ws.get("sample", (n // cadence,))
    sample[:] = np.nan
    nchunk = get_num_threads()
    batch = _batch(cube.shape)
    cap = max(n // 64, MIN_CANDIDATES)
    cidx = ws.get("cidx", (cap,), np.int64)
    cval = ws.get("cval", (cap,))
    # staged in-plane offsets: chunk c of the spectral kernel's rows writes from its first row on
    counts = np.zeros((batch, max(1, min(ny, 4 * nchunk))), dtype=np.int64)
    sidx = ws.get("sidx", (batch, plane), np.int32)
    state = {"count": 0, "level": 0.0, "staging": False}

    def collect(out, z0, z1, staged):
        nplanes = z1 - z0
        _gather(out, z0, z1, plane, n, cadence, sample)
        if z1 == nz:
            # first batch: start the level at EARLY_LEVEL x the clip level its own sample
            # suggests (a guess only: a pass whose final clip level is below it is re-smoothed)
            first = sample[: (n - z0 * plane) // cadence]
            est = _estimate(first, stat, code)
            if math.isfinite(est) and est > 0.0:
                state["level"] = float(EARLY_LEVEL * threshold * est)
                # up to EARLY_LEVEL_MAX x, the level that leaves about half the store filled if
                # the batch is typical (what the store's overflow would otherwise raise it to)
                mags = np.abs(first[np.isfinite(first)])
                k = int(mags.size * (1.0 - min(1.0, (cap // 2) / n)))
                if 0 <= k < mags.size:
                    q = float(np.partition(mags, k)[k])
                    state["level"] = max(state["level"], min(q, EARLY_LEVEL_MAX * threshold * est))
            state["staging"] = True
        if not staged:
            _stage(out, nplanes, _level32(state["level"]), sidx, counts)
        total = int(counts[:nplanes].sum())
        count = state["count"]
        if count + total > cap:
            # raise the level so that at most cap // 2 of the stored and staged voxels stay above it
            if staged:  # the rows' chunks as one list per plane
                _stage(out, nplanes, _level32(state["level"]), sidx, counts)
            mags = np.abs(np.concatenate([cval[:count]] + [out[p].reshape(-1)[sidx[p, : counts[p, 0]]]
                                                            for p in range(nplanes)]))
            k = mags.size - cap // 2
            level = max(state["level"], float(np.partition(mags, k)[k]))
            del mags
            keep = np.flatnonzero(np.abs(cval[:count]).astype(np.float64) > level)
            cidx[: keep.size] = cidx[keep]
            cval[: keep.size] = cval[keep]
            count = keep.size
            del keep
            state["level"] = level
            _stage(out, nplanes, _level32(level), sidx, counts)
        state["count"] = int(_commit(out, sidx, counts, nplanes, z0, plane, cidx, cval, count))

    _sweep(cube, bits, rv, use_repl, n_iter, radius_xy, radius_z, spatial, collect, nchunk, ws,
           (state, sidx, counts))
    rms = _noise(sample, n, cadence, stat, code)
    if not (math.isfinite(rms) and rms > 0.0):
        return rms, 0
    thr = threshold * rms
    if thr >= state["level"]:
        return rms, int(_apply(bits, cidx, cval, state["count"], thr, ny, nx))
    # detections above the candidate level: smooth again, clip into separate bits, merge
    from ._boxcar import clip_bits

    new = np.zeros_like(bits)

    def clip(out, z0, z1, staged):
        clip_bits(out[: z1 - z0], new[z0:z1], thr)

    _sweep(cube, bits, rv, use_repl, n_iter, radius_xy, radius_z, spatial, clip, nchunk, ws)
    return rms, int(_merge(bits, new))
