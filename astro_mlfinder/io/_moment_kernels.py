"""Numba kernels of `astro_mlfinder.io.moments.moment_maps`: both passes in one sweep, row by row.

For every image row ``y`` the first pass accumulates moment 0, the channel
count, the flux-weighted spectral sum and the positive flux from the highest
channel down, moment 1 of the row is formed, and the second pass accumulates
the dispersion about it. The arithmetic is SoFiA-2's, as in the numpy
reference: every increment is computed in double precision, rounded to
float32 and added in float32; divisions in double precision. Only mask voxels
read the data; no temporary is made. `moment_passes` runs the rows in
parallel (a cube), `moment_passes_serial` in one thread (a cubelet, where
starting threads costs more than it gains).
"""

import numpy as np

from ..core._numba import njit, prange

__all__ = ["moment_passes", "moment_passes_serial"]


@njit(cache=True, inline="always")
def _row(y, data, labels, spectral, threshold, mom0, mom1, mom2, sum_pos, chan):  # pragma: no cover - jit
    nz, _, nx = data.shape
    hit = np.zeros(nz, dtype=np.bool_)
    for z in range(nz - 1, -1, -1):
        row = labels[z, y]
        any_set = False
        for x in range(nx):  # an OR reduction: vectorised; most rows of a label cube are empty
            any_set |= row[x] != 0
        if not any_set:
            continue
        hit[z] = True
        s = spectral[z]
        for x in range(nx):
            if row[x] != 0:
                f = np.float64(data[z, y, x])
                if np.isfinite(f):
                    mom0[y, x] += np.float32(f)
                    chan[y, x] += 1
                    if f > threshold:
                        mom1[y, x] += np.float32(f * s)
                        sum_pos[y, x] += np.float32(f)
    for x in range(nx):
        if sum_pos[y, x] > 0:
            mom1[y, x] = np.float32(np.float64(mom1[y, x]) / np.float64(sum_pos[y, x]))
        else:
            mom1[y, x] = np.nan
    for z in range(nz - 1, -1, -1):
        if not hit[z]:
            continue
        s = spectral[z]
        for x in range(nx):
            if labels[z, y, x] != 0:
                f = np.float64(data[z, y, x])
                if np.isfinite(f) and f > threshold:
                    velo = np.float64(mom1[y, x]) - s
                    mom2[y, x] += np.float32(velo * velo * f)


@njit(cache=True, parallel=True)
def moment_passes(data, labels, spectral, threshold, mom0, mom1, mom2, sum_pos, chan):  # pragma: no cover - jit
    """Fill ``mom0``, ``mom1`` (final), ``mom2`` (sum of weighted squares), ``sum_pos`` and ``chan``.

    ``mom1`` is NaN where ``sum_pos`` is not positive; ``mom2`` still needs
    ``sqrt(mom2 / sum_pos)`` (done by the caller on the 2-D maps).
    """
    for y in prange(data.shape[1]):
        _row(y, data, labels, spectral, threshold, mom0, mom1, mom2, sum_pos, chan)


@njit(cache=True)
def moment_passes_serial(data, labels, spectral, threshold, mom0, mom1, mom2, sum_pos, chan):  # pragma: no cover
    """`moment_passes` in one thread."""
    for y in range(data.shape[1]):
        _row(y, data, labels, spectral, threshold, mom0, mom1, mom2, sum_pos, chan)
