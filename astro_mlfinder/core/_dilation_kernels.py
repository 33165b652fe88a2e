"""Numba kernel of `astro_mlfinder.core.dilation`: squared in-channel distances to a source, up to a radius."""

import numpy as np

from ._numba import njit

__all__ = ["disc_distance2"]


@njit(cache=True)
def disc_distance2(src, radius):  # pragma: no cover - jit
    """Squared distance of every pixel of ``src`` (z, y, x bool) to the nearest True pixel of its own
    channel, where that is at most ``radius**2``; ``radius**2 + 1`` elsewhere.

    The same integers as ``rint(distance_transform_edt(~src, sampling=(big, 1, 1))**2)`` wherever those
    are at most ``radius**2`` (channels kept apart by a large z sampling): each source pixel on the
    boundary stamps the disc of offsets ``dy**2 + dx**2 <= radius**2`` around it, keeping the smallest
    value. (The nearest source pixel of a background pixel is on the boundary: from any other, the step
    towards it along its longer axis lands on a source pixel closer to it.)
    """
    nz, ny, nx = src.shape
    r2 = radius * radius
    out = np.full((nz, ny, nx), r2 + 1, dtype=np.int64)
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if not src[z, y, x]:
                    continue
                out[z, y, x] = 0
                if ((y == 0 or src[z, y - 1, x]) and (y == ny - 1 or src[z, y + 1, x])
                        and (x == 0 or src[z, y, x - 1]) and (x == nx - 1 or src[z, y, x + 1])):
                    continue  # interior: its disc adds nothing nearer
                for dy in range(-radius, radius + 1):
                    yy = y + dy
                    if yy < 0 or yy >= ny:
                        continue
                    for dx in range(-radius, radius + 1):
                        xx = x + dx
                        d2 = dy * dy + dx * dx
                        if xx < 0 or xx >= nx or d2 > r2:
                            continue
                        if d2 < out[z, yy, xx]:
                            out[z, yy, xx] = d2
    return out
