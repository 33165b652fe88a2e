"""Which rows of an integer cube hold non-zero values: lets a mostly empty label cube be written sparsely."""

import numpy as np

from ..core._numba import njit, prange

__all__ = ["row_extents"]


@njit(cache=True, parallel=True)
def row_extents(cube):  # pragma: no cover - jit
    """``(nz, 2)`` int64: the first and last row (y) of each plane holding a non-zero value, -1 -1 if none."""
    nz, ny, nx = cube.shape
    out = np.full((nz, 2), -1, dtype=np.int64)
    for z in prange(nz):
        for y in range(ny):
            row = cube[z, y]
            hit = 0
            for x in range(nx):  # an OR reduction: vectorised, no branch
                hit |= row[x] != 0
            if hit:
                if out[z, 0] < 0:
                    out[z, 0] = y
                out[z, 1] = y
    return out
