"""The linker's numpy path for small cubes: the same results as `astro_mlfinder.classical._link_kernels`.

A cube of at most `astro_mlfinder.core._small.NUMPY_MAX_VOXELS` voxels is
linked here, so that a small search never imports numba (its import and
cached-kernel load cost more CPU than the whole 128^3 search). The functions
mirror `_link_kernels.scan_link`, `component_stats` and `component_moments`:
the same linkable voxels, the same components (numbered differently, which
the linker's SoFiA ordering by highest linear index does not see), the same
sums in the same voxel order (``np.bincount``), so catalogues are identical
(``classical/tests/test_linker_small.py`` compares both paths).
"""

import numpy as np

from ..core import _small
from .packed_mask import PackedMask

__all__ = ["scan", "component_stats", "component_moments", "blank_neighbour"]


def _offsets(structure):
    """The (dz, dy, dx) offsets of ``structure`` from its centre (centre included)."""
    return np.argwhere(structure) - np.array(structure.shape) // 2


def _inside(coords, shape, off):
    """Which of the voxels ``coords`` (a tuple of per-axis index arrays) still lie inside ``shape`` when
    moved by ``off``."""
    ok = np.ones(coords[0].size, dtype=bool)
    for axis, d in enumerate(off):
        if d > 0:
            ok &= coords[axis] < shape[axis] - d
        elif d < 0:
            ok &= coords[axis] >= -d
    return ok


def blank_neighbour(data, coords, shape, structure):
    """True for the voxels ``coords`` with a non-finite voxel of ``data`` inside their neighbourhood
    ``structure`` (SoFiA's flag 4)."""
    n = coords[0].size
    result = np.zeros(n, dtype=bool)
    for off in _offsets(structure):
        if not np.any(off):
            continue
        idx = np.flatnonzero(_inside(coords, shape, off))
        nb = tuple(coords[axis][idx] + off[axis] for axis in range(len(shape)))
        result[idx[~np.isfinite(data[nb])]] = True
    return result


def _mask_planes(mask, shape3):
    """The mask as a (z, y, x) array of bool (a small cube: one unpacked copy is cheap)."""
    if isinstance(mask, PackedMask):
        return np.asarray(mask.to_array()).reshape(shape3) != 0
    return np.asarray(mask).reshape(shape3) != 0


def _graph_components(nz_idx, shape, structure):
    """0-based component of each linkable voxel (ascending flat indices ``nz_idx``) for any merging
    ellipsoid: neighbours found by binary search in ``nz_idx``, joined by numpy's union-find."""
    coords = np.unravel_index(nz_idx, shape)
    n = nz_idx.size
    rows, cols = [], []
    strides = np.array([int(np.prod(shape[i + 1:])) for i in range(len(shape))])
    for off in _offsets(structure):
        lin = int(np.dot(off, strides))
        if lin <= 0:
            continue  # each undirected edge only once (and skip the origin)
        src = np.flatnonzero(_inside(coords, shape, off))
        nb = nz_idx[src] + lin
        dst = np.searchsorted(nz_idx, nb)
        hit = dst < n
        hit[hit] = nz_idx[dst[hit]] == nb[hit]
        rows.append(src[hit])
        cols.append(dst[hit])
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    return _small.connected_components(n, rows, cols).astype(np.int64, copy=False)


def scan(mask, data3, structure, positivity):
    """Linkable voxels, components and blank neighbours, as `_link_kernels.scan_link` returns them.

    Returns ``(nz_idx, values, comp, n_comp, blank)``; see ``linker._scan``.
    """
    shape3 = data3.shape
    det = _mask_planes(mask, shape3)
    finite = np.isfinite(data3)
    has_blank = not finite.all()
    det &= finite
    if positivity:
        det &= ~(data3 < 0)
    nz_idx = np.flatnonzero(det).astype(np.int64, copy=False)
    values = data3.reshape(-1)[nz_idx]
    comp = _graph_components(nz_idx, shape3, structure)
    n_comp = int(comp.max()) + 1 if nz_idx.size else 0
    if has_blank and nz_idx.size:
        blank = blank_neighbour(data3, np.unravel_index(nz_idx, shape3), shape3, structure)
    else:
        blank = np.zeros(nz_idx.size, dtype=bool)
    return nz_idx, values, comp, n_comp, blank


def component_stats(idx, values, comp, n_comp, ny, nx):
    """Per component: voxel count, bounding box (x_min, x_max, y_min, y_max, z_min, z_max), flux
    extremes and sum (``np.bincount``, voxel order), highest linear index; as `_link_kernels`."""
    n_pix = np.bincount(comp, minlength=n_comp).astype(np.int64)
    if n_comp == 0:
        empty = np.zeros(0, dtype=np.float64)
        return n_pix, np.zeros((0, 6), dtype=np.int64), empty, empty.copy(), empty.copy(), \
            np.zeros(0, dtype=np.int64)
    order = np.argsort(comp, kind="stable")
    starts = np.concatenate(([0], np.cumsum(n_pix)[:-1]))
    idx = idx.astype(np.int64, copy=False)
    zc, rest = np.divmod(idx, ny * nx)
    yc, xc = np.divmod(rest, nx)

    def reduce(func, arr):
        return func.reduceat(arr[order], starts)

    box = np.stack([reduce(np.minimum, xc), reduce(np.maximum, xc), reduce(np.minimum, yc),
                    reduce(np.maximum, yc), reduce(np.minimum, zc), reduce(np.maximum, zc)], axis=1)
    f_min, f_max = reduce(np.minimum, values), reduce(np.maximum, values)
    f_sum = np.bincount(comp, weights=values, minlength=n_comp)
    last = reduce(np.maximum, idx)
    return n_pix, box, f_min, f_max, f_sum, last


def component_moments(values, comp, mean, n_comp):
    """Sums of the 2nd, 3rd and 4th powers of the deviations from ``mean`` per component (``np.bincount``)."""
    dev = values - mean[comp]
    dev2 = dev * dev
    return (np.bincount(comp, weights=dev2, minlength=n_comp), np.bincount(comp, weights=dev2 * dev, minlength=n_comp),
            np.bincount(comp, weights=dev2 * dev2, minlength=n_comp))
