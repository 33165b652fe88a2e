"""The reliability filter's compiled kernel sums (private; imported when a problem is large).

`astro_mlfinder.classical.reliability` sums the Gaussian kernels in numpy for
up to ``_NUMBA_PAIRS`` query-reference pairs and calls `kernel_sums` above
that, so that a small cube's reliability filter does not load numba.
"""

import numpy as np

from ..core._numba import njit, prange

__all__ = ["kernel_sums"]


@njit(parallel=True, cache=True)
def kernel_sums(yq, yr, signs):  # pragma: no cover - compiled
    nq = yq.shape[0]
    nr = yr.shape[0]
    dim = yq.shape[1]
    out = np.zeros(nq)
    for i in prange(nq):
        total = 0.0
        for j in range(nr):
            d2 = 0.0
            for k in range(dim):
                diff = yr[j, k] - yq[i, k]
                d2 += signs[k] * diff * diff
            total += np.exp(-0.5 * d2)
        out[i] = total
    return out
