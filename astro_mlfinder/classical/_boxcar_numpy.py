"""The smooth-and-clip passes in numpy, for small cubes (private).

:func:`~astro_mlfinder.classical.smooth_clip.smooth_clip` runs these instead
of the numba kernels of :mod:`._boxcar` for cubes of at most
:data:`~astro_mlfinder.core._small.NUMPY_MAX_VOXELS` voxels, so
that the search of a small cube never loads numba (importing numba and
loading its cached machine code costs about half a second of CPU per
process, about what the whole search of a 128^3 cube takes).  The arithmetic
is that of :mod:`._boxcar`, operation for operation, so the mask is the same
bit for bit:

* a boxcar of radius ``r`` (width ``w = 2r + 1``, ``inv = float32(1 / w)``)
  along an axis of length ``n`` sets its last output to the float32 sum,
  from 0, of the inputs ``n-1+r, ..., n-1-r`` (those beyond the ends count
  as 0) times ``inv``, and every earlier output to
  ``o[i] = o[i+1] + (c[i-r] - c[i+r+1]) * inv``, all in float32, NaN inputs
  counting as 0;
* the recursion runs over whole rows: the filtered axis is the outermost one
  of a zero-padded array, so each step is one numpy addition of ``nz * ny``
  (x), ``p * nx`` (y, ``p`` planes) or ``ny * nx`` (z) contiguous values
  (the differences times ``inv`` are computed for 16 rows at a time);
* the clip ``|x| > thr`` (a float64 comparison in the kernels) is a float32
  comparison against ``thr`` rounded down to float32, which is the same test.

Work shared between passes is not redone, which changes no bit either: the
replaced input (masked voxels set to ``copysign(rv, x)``, NaN as 0) is kept
in the two layouts the filters read (x outermost, and z outermost) and
updated voxel by voxel as the mask grows, and the spatially smoothed cube of
each spatial kernel is kept: the x boxcars of a row depend only on that row
of the replaced input, and the y boxcars of a plane only on that plane of the
x-smoothed cube, so a later pass with the same spatial kernel redoes only the
rows (x) and planes (y) in which the mask changed since.

Memory: besides the input and the working cube, the two replaced copies,
per spatial kernel its x-smoothed and its smoothed cube, and four scratch
arrays of up to a cube each (reused by all passes): about 10x the float32
cube with two spatial kernels, which is why this path is for small cubes only
(`astro_mlfinder.core._small`).
"""

import math

import numpy as np

__all__ = ["NumpyPasses"]

_F0 = np.float32(0.0)


#: rows of differences ``(c[i-r] - c[i+r+1]) * inv`` computed at a time (they stay in cache for the adds)
_BLOCK = 16


def _boxcar_rows(src, dst, n, r, inv, tmp):
    """Boxcar of radius ``r`` along axis 0: padded ``src`` (``n + 2r`` rows, zero pads) -> ``dst`` (``n`` rows).

    ``src`` must not contain NaN (SoFiA's NaN-as-0 rule is applied by the
    caller); ``tmp`` is scratch space of ``_BLOCK`` rows of ``dst[0]``'s shape.
    """
    fs = 2 * r + 1
    last = dst[n - 1]
    last[...] = _F0
    for k in range(fs - 1, -1, -1):
        np.add(last, src[n - 1 + k], out=last)
    np.multiply(last, inv, out=last)
    add = np.add
    hi = n - 2  # the rows hi, hi - 1, ..., lo of this block
    while hi >= 0:
        lo = max(hi - _BLOCK + 1, 0)
        diff = tmp[:hi - lo + 1]
        np.subtract(src[lo:hi + 1], src[lo + fs:hi + 1 + fs], out=diff)
        np.multiply(diff, inv, out=diff)
        for i in range(hi, lo - 1, -1):
            add(dst[i + 1], diff[i - lo], out=dst[i])
        hi = lo - 1


def _nan_to_zero(arr):
    """SoFiA's NaN-as-0 rule for filter inputs, in place (a cheap test first: boxcar outputs rarely hold NaN)."""
    if not np.isfinite(np.add.reduce(arr, axis=None)):
        arr[np.isnan(arr)] = _F0


def _zero_pads(buf, n, r):
    """Zero the first and last ``r`` rows of ``buf`` (``n + 2r`` rows)."""
    buf[:r] = _F0
    buf[n + r:] = _F0
    return buf


def _iterate(src, n, r, n_iter, out, buffer, check=True):
    """``n_iter`` boxcars of radius ``r`` along axis 0 of the padded, NaN-free ``src``; the last one into ``out``.

    ``buffer(name, shape)`` lends the scratch arrays (reused between calls);
    ``check=False`` skips the NaN test of the intermediate results (for
    inputs that cannot make NaN, see `NumpyPasses`).
    """
    inv = np.float32(1.0 / (2 * r + 1))
    rest = src.shape[1:]
    tmp = buffer("diff", (_BLOCK, *rest))
    for it in range(n_iter):
        if it == n_iter - 1:
            _boxcar_rows(src, out, n, r, inv, tmp)
            return
        dst = _zero_pads(buffer(f"ping{it % 2}", (n + 2 * r, *rest)), n, r)
        _boxcar_rows(src, dst[r:r + n], n, r, inv, tmp)
        if check:
            _nan_to_zero(dst[r:r + n])
        src = dst


def _float32_below(value):
    """The largest float32 <= ``value``: ``x > value`` (float64) is ``x > result`` for every float32 ``x``."""
    t = np.float32(value)
    if float(t) > value:
        t = np.nextafter(t, np.float32(-np.inf))
    return t


class _Spatial:
    """One spatial kernel's smoothed cube and what is needed to bring it up to date with the mask."""

    def __init__(self, shape, pad_z):
        nz = shape[0]
        self.x = None                                       # x-smoothed cube, (z, y, x)
        # x- then y-smoothed cube, (z, y, x), between pad_z zero planes (the spectral boxcar reads it there)
        self.padded = _zero_pads(np.empty((nz + 2 * pad_z, *shape[1:]), dtype=np.float32), nz, pad_z)
        self.smoothed = None                                # its interior, once computed
        self.has_nan = False                                # whether it holds NaN (only from Inf inputs)
        self.rows = np.zeros(shape[:2], dtype=bool)         # rows (z, y) whose mask changed since


class NumpyPasses:
    """The passes of :mod:`._boxcar` on one input cube, in numpy.

    Parameters
    ----------
    data : `~numpy.ndarray` of float32
        The C-contiguous (z, y, x) input cube; only read.
    bits : `~numpy.ndarray` of uint8
        The packed running mask (one bit per voxel along x, little bit
        order); updated by `clip_bits`, which must be the only writer.
    rv : float
        The replacement value (``copysign(rv, x)`` on masked voxels).
    use_repl : bool
        Whether masked voxels are replaced.
    radius_xy, radius_z : int
        The largest spatial and spectral boxcar radii that will be used.
    """

    def __init__(self, data, bits, rv, use_repl, radius_xy, radius_z):
        self.data, self.bits = data, bits
        self.use_repl = bool(use_repl)
        self.rv = np.float32(rv)
        nz, ny, nx = self.shape = data.shape
        self.pad_xy, self.pad_z = int(radius_xy), int(radius_z)
        nan = np.flatnonzero(np.isnan(data))
        self.nan = nan if nan.size else None                # flat indices of the input's NaN voxels
        # Boxcar outputs can hold NaN only from Inf inputs (Inf - Inf) or float32 overflow: without either
        # (no Inf, every |value| and the replacement far below float32's maximum over the widest boxcar),
        # the NaN tests of the intermediate results are skipped.
        with np.errstate(invalid="ignore"):
            peak = max(float(np.nanmax(np.abs(data))) if nan.size < data.size else 0.0, abs(float(rv)))
        self.check = not (math.isfinite(peak) and peak * (2 * max(radius_xy, radius_z) + 1) < 1e30)
        self.mask = np.unpackbits(bits, axis=-1, count=nx, bitorder="little").view(bool)
        self._spatial = {}
        self._x_major = None                                # replaced input, (x, z, y), padded along x
        self._z_major = None                                # replaced input, (z, y, x), padded along z
        self._buffers = {}
        self._hits = np.empty(data.shape, dtype=bool)

    def _buffer(self, name, shape):
        """A float32 scratch array of ``shape`` (uninitialised) in the memory of the earlier ones of ``name``.

        Names: ``a`` (the x boxcars' output, the y boxcars' partial output, the clip's ``|x|``), ``b`` (the y
        boxcars' input, a NaN-free copy for the z boxcar), ``ping0``/``ping1`` (intermediate boxcars) and
        ``diff`` (the scaled differences); a name's arrays are never alive at the same time.
        """
        size = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.size < size:
            buf = self._buffers[name] = np.empty(size, dtype=np.float32)
        return buf[:size].reshape(shape)

    # -------------------------------------------------------- replaced input
    def _replacement(self, index):
        return np.copysign(self.rv, self.data.ravel()[index])

    def _replaced_z_major(self):
        """The replaced input padded by ``pad_z`` zero planes; NaN as 0 (updated by `clip_bits`)."""
        if self._z_major is None:
            nz = self.shape[0]
            buf = _zero_pads(np.empty((nz + 2 * self.pad_z, *self.shape[1:]), dtype=np.float32), nz, self.pad_z)
            inner = buf[self.pad_z:self.pad_z + nz]
            np.copyto(inner, self.data)
            if self.nan is not None:
                inner.ravel()[self.nan] = _F0
            if self.use_repl:
                index = np.flatnonzero(self.mask)
                inner.ravel()[index] = self._replacement(index)
            self._z_major = buf
        return self._z_major

    def _replaced_x_major(self):
        """The replaced input transposed to (x, z, y), padded by ``pad_xy`` zero planes; NaN as 0."""
        if self._x_major is None:
            nz, ny, nx = self.shape
            buf = _zero_pads(np.empty((nx + 2 * self.pad_xy, nz, ny), dtype=np.float32), nx, self.pad_xy)
            zmaj = self._replaced_z_major()
            np.copyto(buf[self.pad_xy:self.pad_xy + nx], zmaj[self.pad_z:self.pad_z + nz].transpose(2, 0, 1))
            self._x_major = buf
        return self._x_major

    def _update_replaced(self, index):
        """Set the newly masked voxels ``index`` (flat, ascending) to their replacement value in both copies."""
        values = self._replacement(index)
        nz, ny, nx = self.shape
        if self._z_major is not None:
            self._z_major[self.pad_z:self.pad_z + nz].ravel()[index] = values
        if self._x_major is not None:
            z, rem = np.divmod(index, ny * nx)
            y, x = np.divmod(rem, nx)
            self._x_major[x + self.pad_xy, z, y] = values

    # ---------------------------------------------------------------- passes
    def _restore(self, work):
        if self.nan is not None:
            work.ravel()[self.nan] = np.nan

    def _spatial_cube(self, n_iter, r):
        """The `_Spatial` of the replaced input smoothed by ``n_iter`` boxcars of radius ``r`` along x, then y
        (no NaN restore), brought up to date with the mask."""
        nz, ny, nx = self.shape
        buffer = self._buffer
        state = self._spatial.get((n_iter, r))
        if state is None:
            state = self._spatial[(n_iter, r)] = _Spatial(self.shape, self.pad_z)
        src = self._replaced_x_major()[self.pad_xy - r:self.pad_xy + nx + r]
        if state.smoothed is None:  # first time: every row and plane
            xs = buffer("a", (nx, nz, ny))
            _iterate(src, nx, r, n_iter, xs, buffer, self.check)
            state.x = np.ascontiguousarray(xs.transpose(1, 2, 0))
            planes = None
        else:
            rows = np.flatnonzero(state.rows)
            if not rows.size:
                return state
            z, y = np.divmod(rows, ny)
            xs = buffer("a", (nx, rows.size))
            _iterate(src[:, z, y], nx, r, n_iter, xs, buffer, self.check)
            state.x[z, y] = xs.T
            planes = np.flatnonzero(state.rows.any(axis=1))
        state.rows[...] = False
        part = state.x if planes is None else state.x[planes]
        ysrc = _zero_pads(buffer("b", (ny + 2 * r, part.shape[0], nx)), ny, r)
        np.copyto(ysrc[r:r + ny], part.transpose(1, 0, 2))
        if self.check:
            _nan_to_zero(ysrc[r:r + ny])
        if planes is None:
            state.smoothed = state.padded[self.pad_z:self.pad_z + nz]
            _iterate(ysrc, ny, r, n_iter, state.smoothed.transpose(1, 0, 2), buffer, self.check)
        else:
            out = buffer("a", (ny, planes.size, nx))
            _iterate(ysrc, ny, r, n_iter, out, buffer, self.check)
            state.smoothed[planes] = out.transpose(1, 0, 2)
        state.has_nan = self.check and not np.isfinite(np.add.reduce(state.smoothed, axis=None)) and bool(
            np.isnan(state.smoothed).any())
        return state

    def _spectral(self, work, padded, r):
        """Boxcar of radius ``r`` along z of the NaN-free, ``r``-padded ``padded`` into ``work``; NaN restore."""
        inv = np.float32(1.0 / (2 * r + 1))
        _boxcar_rows(padded, work, work.shape[0], r, inv, self._buffer("diff", (_BLOCK, *work.shape[1:])))
        self._restore(work)

    def smooth(self, work, n_iter, radius_xy, radius_z):
        """Replace, smooth (``n_iter`` boxcars of ``radius_xy`` along x, then y; one of ``radius_z`` along z),
        restore NaN: the smoothed copy of one pass, into ``work``."""
        nz = self.shape[0]
        with np.errstate(invalid="ignore", over="ignore"):  # Inf - Inf gives NaN, as in the kernels
            if n_iter > 0:
                state = self._spatial_cube(n_iter, radius_xy)
                if radius_z == 0:
                    np.copyto(work, state.smoothed)
                    self._restore(work)
                    return
                padded = state.padded[self.pad_z - radius_z:self.pad_z + nz + radius_z]
                if state.has_nan:  # NaN counts as 0 in the filter: a copy (the smoothed cube is kept as it is)
                    padded = _zero_pads(self._buffer("b", padded.shape), nz, radius_z)
                    np.copyto(padded[radius_z:radius_z + nz], state.smoothed)
                    padded[np.isnan(padded)] = _F0
                self._spectral(work, padded, radius_z)
                return
            zmaj = self._replaced_z_major()
            if radius_z > 0:
                self._spectral(work, zmaj[self.pad_z - radius_z:self.pad_z + nz + radius_z], radius_z)
                return
            np.copyto(work, zmaj[self.pad_z:self.pad_z + nz])  # replacement only: NaN voxels stay NaN
            self._restore(work)

    def clip_bits(self, arr, thr):
        """Add the voxels with ``|arr| > thr`` to the mask; return how many are new."""
        magnitude = np.abs(arr, out=self._buffer("a", arr.shape))
        hit = self._hits
        np.greater(magnitude, _float32_below(thr), out=hit)
        np.greater(hit, self.mask, out=hit)  # new voxels only
        index = np.flatnonzero(hit)
        if not index.size:
            return 0
        self.mask.ravel()[index] = True
        np.bitwise_or(self.bits, np.packbits(hit, axis=-1, bitorder="little"), out=self.bits)
        rows = index // self.shape[2]
        for state in self._spatial.values():
            state.rows.ravel()[rows] = True
        if self.use_repl:
            self._update_replaced(index)
        return int(index.size)
