"""Numba kernel of the linker: the linkable voxels, their components and their blank neighbours in one sweep.

`scan_link` walks the detection mask once in raster order (z, y, x
ascending, the order of the voxels' linear indices). A voxel is linkable when
it is set, its value is finite and, with ``positivity``, not negative. Each
linkable voxel is joined (union-find with path halving) to the linkable
voxels among its *causal* neighbours (the offsets of the merging
neighbourhood that precede it in raster order), found in a ring of the last
``rz + 1`` planes of voxel numbers. For a bit-packed mask only the non-zero
bytes are unpacked, and the data are read only at linkable voxels and around
them (the blank-neighbour test): no cube-sized array and no full pass over
the data.
"""

import numpy as np

from ..core._numba import njit

__all__ = ["count_set", "scan_link", "component_stats", "component_moments"]


@njit(cache=True)
def count_set(mask, packed):  # pragma: no cover - jit
    """Number of set voxels (bits of a packed mask, non-zero bytes otherwise): an upper bound of the linkable."""
    n = 0
    flat = mask.ravel()
    for i in range(flat.size):
        b = np.int64(flat[i])
        if b:
            if packed:
                while b:
                    b &= b - 1
                    n += 1
            else:
                n += 1
    return n


@njit(cache=True, inline="always")
def _find(parent, k):  # pragma: no cover - jit
    while parent[k] != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


@njit(cache=True, inline="always")
def _visit(z, y, x, n, data, positivity, causal, around, ring, rz1, ny, nx, idx, vals, parent,
           blank):  # pragma: no cover - jit
    """Record voxel (z, y, x) as linkable voxel ``n`` if it is; return the next free number."""
    v = data[z, y, x]
    if not np.isfinite(v) or (positivity and v < 0):
        return n
    idx[n] = (z * ny + y) * nx + x
    vals[n] = v
    parent[n] = n
    for o in range(causal.shape[0]):
        zz = z + causal[o, 0]
        yy = y + causal[o, 1]
        xx = x + causal[o, 2]
        if zz < 0 or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
            continue
        q = ring[zz % rz1, yy, xx]
        if q:
            a = _find(parent, n)
            b = _find(parent, q - 1)
            if a != b:  # the larger root under the smaller: roots stay the first voxel of a component
                if a < b:
                    parent[b] = a
                else:
                    parent[a] = b
    nz = data.shape[0]
    for o in range(around.shape[0]):
        zz = z + around[o, 0]
        yy = y + around[o, 1]
        xx = x + around[o, 2]
        if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
            continue
        if not np.isfinite(data[zz, yy, xx]):
            blank[n] = True
            break
    ring[z % rz1, y, x] = n + 1
    return n + 1


@njit(cache=True)
def scan_link(mask, packed, data, causal, around, positivity, n_max):  # pragma: no cover - jit
    """Linkable voxels of ``mask`` (packed along x, little bit order, or one byte per voxel) on ``data`` (z, y, x).

    ``causal`` holds the neighbourhood offsets (dz, dy, dx) that precede the
    origin in raster order, ``around`` all offsets but the origin.

    Returns
    -------
    idx : int64 array
        Ascending linear indices of the linkable voxels.
    vals : array of ``data.dtype``
        Their values.
    comp : int64 array
        Their 0-based component, numbered in the order of the components' first voxels.
    n_comp : int
        Number of components.
    blank : bool array
        Whether a non-finite voxel lies inside each voxel's neighbourhood.
    """
    nz, ny, nx = data.shape
    rz1 = 1
    for o in range(causal.shape[0]):
        rz1 = max(rz1, 1 - causal[o, 0])
    ring = np.zeros((rz1, ny, nx), dtype=np.int64)
    idx = np.empty(n_max, dtype=np.int64)
    vals = np.empty(n_max, dtype=data.dtype)
    parent = np.empty(n_max, dtype=np.int64)
    blank = np.zeros(n_max, dtype=np.bool_)
    starts = np.zeros(nz + 1, dtype=np.int64)
    n = 0
    plane = ny * nx
    for z in range(nz):
        starts[z] = n  # (also the end of plane z - 1)
        if z >= rz1:  # the ring slot of plane z holds plane z - rz1: clear its voxels
            slot = ring[z % rz1]
            for k in range(starts[z - rz1], starts[z - rz1 + 1]):
                p = idx[k] - (z - rz1) * plane
                slot[p // nx, p % nx] = 0
        for y in range(ny):
            if packed:
                for j in range(mask.shape[2]):
                    b = np.int64(mask[z, y, j])
                    while b:
                        bit = 0
                        while not (b >> bit) & 1:
                            bit += 1
                        b &= b - 1
                        x = 8 * j + bit
                        if x < nx:
                            n = _visit(z, y, x, n, data, positivity, causal, around, ring, rz1, ny, nx, idx, vals,
                                       parent, blank)
            else:
                for x in range(nx):
                    if mask[z, y, x]:
                        n = _visit(z, y, x, n, data, positivity, causal, around, ring, rz1, ny, nx, idx, vals,
                                   parent, blank)
    starts[nz] = n
    comp = np.empty(n, dtype=np.int64)
    n_comp = 0
    for k in range(n):  # roots are the first voxel of their component: numbered in first-voxel order
        r = _find(parent, k)
        if r == k:
            comp[k] = n_comp
            n_comp += 1
        else:
            comp[k] = comp[r]
    return idx[:n].copy(), vals[:n].copy(), comp, n_comp, blank[:n].copy()


@njit(cache=True)
def component_stats(idx, values, comp, n_comp, ny, nx):  # pragma: no cover - jit
    """Per component: voxel count, bounding box, flux extremes and sum, highest linear index.

    ``values`` (float64) are summed in voxel order, as ``np.bincount(comp, weights=values)`` does.

    Returns
    -------
    n_pix : int64 array
    box : int64 array (n_comp, 6)
        x_min, x_max, y_min, y_max, z_min, z_max.
    f_min, f_max, f_sum : float64 arrays
    last : int64 array
        Highest linear index (``idx`` is ascending).
    """
    n_pix = np.zeros(n_comp, dtype=np.int64)
    box = np.empty((n_comp, 6), dtype=np.int64)
    f_min = np.empty(n_comp, dtype=np.float64)
    f_max = np.empty(n_comp, dtype=np.float64)
    f_sum = np.zeros(n_comp, dtype=np.float64)
    last = np.empty(n_comp, dtype=np.int64)
    plane = ny * nx
    for k in range(idx.size):
        c = comp[k]
        i = idx[k]
        z = i // plane
        r = i - z * plane
        y = r // nx
        x = r - y * nx
        v = values[k]
        if n_pix[c] == 0:
            box[c, 0] = x
            box[c, 1] = x
            box[c, 2] = y
            box[c, 3] = y
            box[c, 4] = z
            f_min[c] = v
            f_max[c] = v
        else:
            box[c, 0] = min(box[c, 0], x)
            box[c, 1] = max(box[c, 1], x)
            box[c, 2] = min(box[c, 2], y)
            box[c, 3] = max(box[c, 3], y)
            f_min[c] = min(f_min[c], v)
            f_max[c] = max(f_max[c], v)
        box[c, 5] = z  # z only grows with the index
        n_pix[c] += 1
        f_sum[c] += v
        last[c] = i
    return n_pix, box, f_min, f_max, f_sum, last


@njit(cache=True)
def component_moments(values, comp, mean, n_comp):  # pragma: no cover - jit
    """Sums of the 2nd, 3rd and 4th powers of the deviations from ``mean`` per component, in voxel order
    (as ``np.bincount(comp, weights=dev2)``, ``dev2 * dev`` and ``dev2 * dev2``)."""
    m2 = np.zeros(n_comp, dtype=np.float64)
    m3 = np.zeros(n_comp, dtype=np.float64)
    m4 = np.zeros(n_comp, dtype=np.float64)
    for k in range(values.size):
        c = comp[k]
        dev = values[k] - mean[c]
        dev2 = dev * dev
        m2[c] += dev2
        m3[c] += dev2 * dev
        m4[c] += dev2 * dev2
    return m2, m3, m4
