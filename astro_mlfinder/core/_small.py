"""Small arrays: numpy code paths instead of numba kernels and scipy.ndimage (private).

Importing numba and loading its cached kernels costs about 0.5 s of CPU in
every process, importing `scipy.ndimage` about 0.2 s (it brings
`scipy.special` and the array-API layer); for a small cube both are more than
the search itself. Arrays of at most `NUMPY_MAX_VOXELS` voxels are therefore
smoothed and clipped by `astro_mlfinder.classical._boxcar_numpy`, linked with
a numpy union-find and measured with `find_objects` below, all with results
identical to the numba/scipy paths (the tests compare them bit for bit).

The limit, 192^3 voxels (27 MiB of float32), is chosen by measurement
(``benchmarks/startup.py`` and ``benchmarks/speed.py``, 2 shared cores, load
average 8-10): smooth-and-clip with kernels 0,3,6 x 0,3,7,15 took 0.19 CPU s
in numpy against 0.27 s with numba's kernels at 128^3, 0.49 against 0.48 s at
192^3 and 0.89 against 0.90 s at 256^3, so below about 256^3 the numpy path
saves the whole fixed cost of numba and scipy.ndimage (~0.7 CPU s). Above
192^3 the numpy path's memory decides: it keeps the replaced input in two
layouts and, per spatial kernel, the x-smoothed and the smoothed cube, about
12x the float32 cube in all (15x the cube at peak for a whole 256^3 run, 1 GB,
against 5.3x with numba), and numba's two threads finish sooner in wall time
on an idle machine.
"""

import numpy as np

__all__ = ["NUMPY_MAX_VOXELS", "connected_components", "find_objects", "is_small", "numba_not_worth_it", "label_boxes"]

#: Arrays of at most this many voxels take the numpy paths.
NUMPY_MAX_VOXELS = 192**3


def is_small(size):
    """True if an array of ``size`` voxels takes the numpy paths (reads `NUMPY_MAX_VOXELS` at call time)."""
    return int(size) <= NUMPY_MAX_VOXELS


def numba_not_worth_it(size):
    """True if an array of ``size`` voxels is small and numba is not imported yet in this process.

    For code whose numba and numpy versions give identical results (e.g. the moment maps of
    `astro_mlfinder.io.moments`): a small cube's products then load no numba, while the many small
    cubelets of a large cube's run, whose search has loaded numba anyway, keep the compiled kernels.
    """
    import sys

    return is_small(size) and "numba" not in sys.modules


def label_boxes(labels):
    """``(objects, lowest)``: `find_objects` of a (z, y, x) label array and its smallest value (0 or less).

    A small array is swept here in numpy (no numba import), a larger one by the numba kernel of
    `astro_mlfinder.core._bbox.find_objects`; the slices are the same.
    """
    if is_small(labels.size):
        lowest = min(int(labels.min()), 0) if labels.size else 0
        return find_objects(labels), lowest
    from ._bbox import find_objects as find_objects_numba  # numba: loaded on first use

    return find_objects_numba(labels)


def find_objects(labels):
    """`scipy.ndimage.find_objects` of an integer label array, in numpy.

    Parameters
    ----------
    labels : `~numpy.ndarray` of int
        0 is background; negative values are ignored, as by
        `scipy.ndimage.find_objects` and `astro_mlfinder.core._bbox.find_objects`.

    Returns
    -------
    list
        For every label ``1..max``, the tuple of slices of its bounding box, or
        None for a label that does not occur (as `scipy.ndimage.find_objects`).
    """
    labels = np.asarray(labels)
    flat = labels.ravel()
    index = np.flatnonzero(flat > 0)
    if not index.size:
        return []
    ids = flat[index].astype(np.intp) - 1
    n = int(ids.max()) + 1
    present = np.bincount(ids, minlength=n) > 0
    lows, highs = [], []
    for coord in np.unravel_index(index, labels.shape):
        low = np.full(n, np.iinfo(np.intp).max, dtype=np.intp)
        high = np.full(n, -1, dtype=np.intp)
        np.minimum.at(low, ids, coord)
        np.maximum.at(high, ids, coord)
        lows.append(low.tolist())
        highs.append((high + 1).tolist())
    return [tuple(slice(lo[i], hi[i]) for lo, hi in zip(lows, highs, strict=True)) if present[i] else None
            for i in range(n)]


def connected_components(n, src, dst):
    """Connected components of the undirected graph of ``n`` nodes with edges ``src[i] -- dst[i]``, in numpy.

    Union by the smaller root with full path compression, vectorised over all
    edges per round (a round roughly halves the number of distinct roots of
    every component).

    Parameters
    ----------
    n : int
        Number of nodes.
    src, dst : `~numpy.ndarray` of int
        The edges' end nodes.

    Returns
    -------
    `~numpy.ndarray` of int64
        A component number per node, ``0..n_components - 1``, in the order of
        each component's smallest node.
    """
    parent = np.arange(n, dtype=np.int64)
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    while src.size:
        root_src, root_dst = parent[src], parent[dst]
        apart = root_src != root_dst
        if not apart.any():
            break
        src, dst = src[apart], dst[apart]  # joined edges stay joined
        root_src, root_dst = root_src[apart], root_dst[apart]
        np.minimum.at(parent, np.maximum(root_src, root_dst), np.minimum(root_src, root_dst))
        while True:  # every node to its root (parent[i] <= i: the roots are the fixed points)
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return np.unique(parent, return_inverse=True)[1].astype(np.int64)
