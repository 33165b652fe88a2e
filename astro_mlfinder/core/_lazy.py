"""Lazy arrays behind `~astro_mlfinder.core.inputs.ImageData`: memmaps, dask arrays, chunked reads.

A memory-mapped FITS image or a dask array is never read whole at load: the
checks run block by block (`_has_finite`), the pages a block touched are
released again, and `_read_float32` converts to native float32 in chunks of
`_CHUNK_BYTES` when a stage needs the values.
"""

import math
import mmap
import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # astropy.wcs is imported when a WCS is built: it is slow to import
    pass


__all__ = []

#: Size of the chunks `ImageData.read` converts at a time (bytes of float32 output).
_CHUNK_BYTES = 32 * 2**20
#: Size of the blocks the finite-value check at load reads at a time (plane by plane up to this).
_CHECK_BYTES = 4 * 2**20
#: FITS BITPIX -> on-disk dtype (FITS is big-endian).
_BITPIX_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
#: Threads converting the chunks of `_read_float32` (page faults and byte swaps of a memory-mapped file).
_READ_THREADS = min(2, os.cpu_count() or 1)


# ---------------------------------------------------------------- lazy arrays
def _is_duck_lazy(data):
    """True for a dask array or another lazy array (``compute`` or ``__dask_graph__``, with shape and dtype)."""
    return (
        not isinstance(data, np.ndarray)
        and hasattr(data, "shape")
        and hasattr(data, "dtype")
        and (hasattr(data, "__dask_graph__") or callable(getattr(data, "compute", None)))
    )


def _mmap_of(array):
    """The `mmap.mmap` whose memory ``array`` views, or None (an in-memory array)."""
    base = array
    while isinstance(base, np.ndarray | memoryview):
        base = base.obj if isinstance(base, memoryview) else base.base
    return base if isinstance(base, mmap.mmap) else None


def _memmap_mode(array):
    """The mode of the `numpy.memmap` ``array`` views (``'r'``, ``'c'``, ...), or None."""
    base = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap) and getattr(base, "mode", None):
            return base.mode
        base = base.base
    return None


def _is_lazy(data):
    """True if ``data`` is not an in-memory array: a file-backed (memory-mapped) array or a lazy array."""
    if isinstance(data, np.ndarray):
        return _mmap_of(data) is not None
    return _is_duck_lazy(data)


def _compute(block):
    """A block of a lazy array as an ndarray (computed if lazy)."""
    if _is_duck_lazy(block):
        block = block.compute()
    return np.asarray(block)


def _blocks(shape, itemsize, target):
    """Index tuples cutting a C-ordered array into contiguous blocks of at most ``target`` bytes.

    Blocks run along axis 0 (several planes at a time) when a plane fits in
    ``target``, else along the first axis whose trailing block fits (at least
    one row of the last axis).
    """
    ndim = len(shape)
    axis = 0
    while axis < ndim - 1 and math.prod(shape[axis + 1 :]) * itemsize > target:
        axis += 1
    step = max(1, target // max(1, math.prod(shape[axis + 1 :]) * itemsize))
    for outer in np.ndindex(*shape[:axis]):
        for start in range(0, shape[axis], step):
            yield outer + (slice(start, min(start + step, shape[axis])),)


def _lazy_blocks(data, target):
    """Slices along axis 0 of a lazy array, on its chunk boundaries, of about ``target`` bytes (one chunk at least).

    Whole chunks only: computing part of a chunk may compute the whole chunk.
    """
    n0 = data.shape[0]
    plane = math.prod(data.shape[1:]) * max(np.dtype(data.dtype).itemsize, 4)
    chunks = getattr(data, "chunks", None)
    if chunks and isinstance(chunks[0], tuple):  # dask / xarray: sizes of the chunks of each axis
        edges = np.cumsum((0,) + tuple(int(c) for c in chunks[0])).tolist()
    elif chunks and isinstance(chunks[0], int | np.integer):  # zarr-like: one chunk shape
        edges = list(range(0, n0, int(chunks[0]))) + [n0]
    else:
        edges = list(range(0, n0, max(1, target // max(plane, 1)))) + [n0]
    start = previous = edges[0]
    for edge in edges[1:]:
        if (edge - start) * plane > target and previous > start:
            yield (slice(start, previous),)
            start = previous
        previous = edge
    if previous > start:
        yield (slice(start, previous),)


def _byte_bounds(array):
    """(first, one past the last) memory address of ``array``'s elements."""
    low = high = array.__array_interface__["data"][0]
    for n, stride in zip(array.shape, array.strides, strict=True):
        if n == 0:
            return low, low
        if stride < 0:
            low += (n - 1) * stride
        else:
            high += (n - 1) * stride
    return low, high + array.itemsize


def _page_releaser(array):
    """A function ``release(view)`` that drops the pages of ``view`` (a part of ``array``) from this process.

    Only for a `numpy.memmap` whose mapping is shared with the file (modes
    ``r``, ``r+``, ``w+``): its pages are re-read from the file (page cache)
    when touched again, so no value is lost. A private (copy-on-write) mapping,
    an in-memory array or a platform without ``madvise`` gets a no-op.
    """
    mm = _mmap_of(array)
    shared = _memmap_mode(array) in ("r", "r+", "w+")
    if mm is None or not shared or _MADV_DONTNEED is None or not hasattr(mm, "madvise"):
        return lambda view: None
    try:
        base = np.frombuffer(mm, dtype=np.uint8).__array_interface__["data"][0]
    except (ValueError, TypeError, BufferError):  # pragma: no cover - closed or unexportable mapping
        return lambda view: None
    size = len(mm)
    page = mmap.PAGESIZE

    def release(view):
        low, high = _byte_bounds(view)
        start = (low - base) // page * page
        stop = min(high - base, size)
        if 0 <= start < stop:
            try:
                mm.madvise(_MADV_DONTNEED, start, stop - start)
            except (OSError, ValueError):  # pragma: no cover - advice refused: the pages just stay
                pass

    return release


def _read_float32(data):
    """``data`` (a memmap, a lazy array or any numeric array) as a new native float32 ndarray.

    Converted chunk by chunk into one preallocated array: the peak is the
    output plus one chunk, and the pages of a memory-mapped file are released
    once their chunk is converted.
    """
    out = np.empty(data.shape, dtype=np.float32)
    if out.size == 0:
        return out
    if _is_duck_lazy(data):
        for index in _lazy_blocks(data, _CHUNK_BYTES):
            out[index] = _compute(data[index])
        return out
    data = np.asanyarray(data)
    if data.ndim == 0:
        out[...] = data
        return out
    release = _page_releaser(data)

    def convert(index):
        part = data[index]
        np.copyto(out[index], part, casting="unsafe")  # numpy releases the GIL: chunks convert in parallel
        release(part)

    chunks = list(_blocks(data.shape, max(data.dtype.itemsize, 4), _CHUNK_BYTES))
    threads = min(_READ_THREADS, len(chunks))
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(convert, chunks):
                pass
    else:
        for index in chunks:
            convert(index)
    return out


def _is_loaded(data):
    """True for an in-memory (not file-backed) native-endian float32 ndarray."""
    return isinstance(data, np.ndarray) and data.dtype == np.float32 and data.dtype.isnative and _mmap_of(data) is None


def _any_finite(block):
    found = np.isfinite(block).any()
    if _is_duck_lazy(found):
        found = found.compute()
    return bool(found)


def _has_finite(data):
    """True if ``data`` hold a finite value; lazy data are read block by block up to the first finite one."""
    if np.dtype(data.dtype).kind in "iu":
        return data.size > 0
    if not _is_lazy(data):
        return bool(np.isfinite(data).any())
    if _is_duck_lazy(data):
        return any(_any_finite(data[index]) for index in _lazy_blocks(data, _CHECK_BYTES))
    release = _page_releaser(data)
    for index in _blocks(data.shape, data.dtype.itemsize, _CHECK_BYTES):
        part = data[index]
        found = bool(np.isfinite(part).any())
        release(part)
        if found:
            return True
    return False
