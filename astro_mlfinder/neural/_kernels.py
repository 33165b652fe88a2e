"""Numba kernels of `astro_mlfinder.neural.inference`: one parallel pass where numpy needs several."""

import numpy as np

from ..core._numba import njit, prange

__all__ = ["upsample_z_into", "block_any", "announce"]


def announce(*dispatchers):
    """Say once per process, on stderr, that the neural kernels are compiling (first run after installation).

    Parameters
    ----------
    *dispatchers : numba dispatchers
        The kernels about to run; nothing is printed when all are cached.
    """
    from ..core._jit import announce_compilation

    return announce_compilation(dispatchers, "the neural finder's numba kernels")


@njit(cache=True, parallel=True)
def upsample_z_into(small, lo, hi, w, cube, out):
    """``out[i] = small[lo[i]] * (1 - w[i]) + small[hi[i]] * w[i]`` in float32, 0 where ``cube[i]`` is not finite.

    The same float32 operations, in the same order, as the numpy version
    (no fused multiply-add), so the result is bit for bit the same.
    """
    nz, ny, nx = out.shape
    for i in prange(nz):
        b = w[i]
        a = np.float32(1) - b
        s0 = small[lo[i]]
        s1 = small[hi[i]]
        for y in range(ny):
            for x in range(nx):
                if np.isfinite(cube[i, y, x]):
                    out[i, y, x] = s0[y, x] * a + s1[y, x] * b
                else:
                    out[i, y, x] = 0.0


@njit(cache=True, parallel=True)
def block_any(fg, block):
    """(z, y, x) uint8 array -> uint8 grid of ``block``-voxel blocks, 1 where any voxel of the block is nonzero.

    Along an axis shorter than ``block`` (a 2D image as a cube of one plane) the block is the axis.
    """
    nz, ny, nx = fg.shape
    bz = min(block, nz)
    gz, gy, gx = -(-nz // bz), -(-ny // block), -(-nx // block)
    out = np.zeros((gz, gy, gx), np.uint8)
    for g in prange(gz):
        for z in range(g * bz, min((g + 1) * bz, nz)):
            for y in range(ny):
                row = out[g, y // block]
                for x in range(nx):
                    if fg[z, y, x]:
                        row[x // block] = 1
    return out
