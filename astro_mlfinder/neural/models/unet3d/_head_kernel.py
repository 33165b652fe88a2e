"""Numba kernel of the unet3d output convolution (see `astro_mlfinder.neural.models.unet3d.fused`)."""

import numpy as np

from ....core._numba import njit, prange

__all__ = ["head_conv"]


@njit(cache=True)
def _load(x, u, zi, plane):
    """Plane ``zi`` of ``[x, u]`` into ``plane`` (channel, y + 1, x + 1); zeros outside the cube."""
    nz, ny, nx, nc = u.shape
    if zi < 0 or zi >= nz:
        plane[:] = 0.0
        return
    for y in range(ny):
        for i in range(nx):
            plane[0, y + 1, i + 1] = x[zi, y, i]
        for i in range(nx):
            for c in range(nc):
                plane[c + 1, y + 1, i + 1] = u[zi, y, i, c]


@njit(cache=True, parallel=True)
def head_conv(x, u, w, bias, out):
    """``out[z, y, x] = bias + sum w[c, kz, ky, kx] * [x, u][c, z + kz - 1, y + ky - 1, x + kx - 1]``."""
    nz, ny, nx, nc = u.shape
    nch = nc + 1
    nblocks = min(nz, 32)
    for blk in prange(nblocks):
        z0 = blk * nz // nblocks
        z1 = (blk + 1) * nz // nblocks
        ring = np.zeros((3, nch, ny + 2, nx + 2), np.float32)  # input planes z - 1, z, z + 1 by z % 3
        _load(x, u, z0 - 1, ring[(z0 + 2) % 3])
        _load(x, u, z0, ring[z0 % 3])
        for z in range(z0, z1):
            _load(x, u, z + 1, ring[(z + 1) % 3])
            for y in range(ny):
                acc = out[z, y]
                acc[:] = bias
                for kz in range(3):
                    plane = ring[(z + kz + 2) % 3]
                    for ky in range(3):
                        for c in range(nch):
                            row = plane[c, y + ky]
                            w0 = w[c, kz, ky, 0]
                            w1 = w[c, kz, ky, 1]
                            w2 = w[c, kz, ky, 2]
                            for i in range(nx):  # the three x taps at once: one load and store of acc
                                acc[i] += w0 * row[i] + w1 * row[i + 1] + w2 * row[i + 2]
