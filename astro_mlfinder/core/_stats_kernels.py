"""The numba kernels of `astro_mlfinder.core.stats` (private; loaded on first use).

`abs_finite_into` and `nth_element` serve the per-channel and per-pixel
statistics of flagging, continuum subtraction and noise scaling; `gauss_fit`
is SoFiA-2's Gaussian noise fit. They are re-exported by
`astro_mlfinder.core.stats`, which imports this module only when one of them
is used, so that the numpy statistics ('mad', 'std') never load numba.
"""

import numpy as np

from ._numba import njit

__all__ = ["abs_finite_into", "gauss_fit", "nth_element"]


@njit(cache=True)
def abs_finite_into(values, buf):
    """Copy ``|v|`` of the non-NaN entries of the 1D ``values``, last to first, into ``buf``; return the count."""
    n = 0
    for i in range(values.size - 1, -1, -1):
        v = values[i]
        if v < 0.0:
            buf[n] = -v
            n += 1
        elif v >= 0.0:
            buf[n] = v
            n += 1
    return n


@njit(cache=True)
def nth_element(a, n, k):
    """k-th smallest of ``a[:n]`` (0-based); reorders ``a[:n]`` in place.

    Hoare-style selection as in SoFiA-2's ``nth_element``; the elements
    ``a[:k]`` end up <= the result.  ``a`` must not contain NaN.
    """
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = a[k]
        i = lo
        j = hi
        while True:
            while a[i] < pivot:
                i += 1
            while pivot < a[j]:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
            if i > j:
                break
        if j < k:
            lo = i
        if k < i:
            hi = j
    return a[k]


@njit(cache=True)
def _histogram(flat, n, cadence, n_bins, dmin, dmax):
    # create_histogram_flt: float32 bin arithmetic, element 0 never used.
    hist = np.zeros(n_bins, dtype=np.int64)
    slope = np.float32(np.float32(n_bins - 1) / np.float32(dmax - dmin))
    tmp = np.float32(0.5 - np.float64(np.float32(slope * dmin)))
    i = n - cadence
    while i > 0:
        v = np.float32(flat[i])
        if v >= dmin and v <= dmax:
            hist[np.int64(np.float32(np.float32(slope * v) + tmp))] += 1
        i -= cadence
    return hist


@njit(cache=True)
def gauss_fit(flat, n, cadence, code):
    """SoFiA-2's ``gaufit_flt`` on ``flat[:n]`` (float32 arithmetic).

    Returns ``(sigma, status)``; ``status`` is 0 on success and 1 when the
    data do not span zero (``sigma`` is then NaN).
    """
    f32 = np.float32
    dmin = f32(np.nan)
    dmax = f32(np.nan)
    for i in range(n - 1, -1, -1):
        v = f32(flat[i])
        if v == v:
            if dmin != dmin:
                dmin = v
                dmax = v
            elif v < dmin:
                dmin = v
            elif v > dmax:
                dmax = v
    if dmin != dmin:
        return np.nan, 1
    if dmin >= 0.0 or dmax <= 0.0:
        return np.nan, 1
    if code < 0:
        dmax = f32(0.0)
    elif code > 0:
        dmin = f32(0.0)
    else:
        limit = min(abs(dmin), abs(dmax))
        dmin = f32(-limit)
        dmax = f32(limit)
    n_bins = 101
    origin = n_bins // 2
    if code < 0:
        origin = n_bins - 1
    elif code > 0:
        origin = 0
    inv_opt = f32(5.0 / n_bins)
    hist = _histogram(flat, n, cadence, n_bins, dmin, dmax)
    mom0 = f32(0.0)
    mom1 = f32(0.0)
    for i in range(n_bins - 1, -1, -1):
        mom0 = f32(mom0 + f32(hist[i]))
        mom1 = f32(mom1 + f32(f32(hist[i]) * f32(i)))
    mom1 = f32(mom1 / mom0)
    mom2 = f32(0.0)
    for i in range(n_bins - 1, -1, -1):
        d = f32(mom1 - f32(i))
        mom2 = f32(mom2 + f32(f32(f32(hist[i]) * d) * d))
    mom2 = f32(np.sqrt(np.float64(mom2 / mom0)))
    scale = f32(mom2 * inv_opt)
    if code < 0:
        dmin = f32(dmin * scale)
    elif code > 0:
        dmax = f32(dmax * scale)
    else:
        dmin = f32(dmin * scale)
        dmax = f32(dmax * scale)
    hist = _histogram(flat, n, cadence, n_bins, dmin, dmax)
    mean_x = f32(0.0)
    mean_y = f32(0.0)
    counter = 0
    for i in range(n_bins - 2, 0, -1):
        if hist[i]:
            ii = i - origin
            mean_x = f32(mean_x + f32(ii * ii))
            mean_y = f32(np.float64(mean_y) + np.log(np.float64(f32(hist[i]))))
            counter += 1
    if counter == 0:
        return np.nan, 0
    mean_x = f32(mean_x / f32(counter))
    mean_y = f32(mean_y / f32(counter))
    upper = f32(0.0)
    lower = f32(0.0)
    for i in range(n_bins - 2, 0, -1):
        if hist[i]:
            ii = i - origin
            x = f32(ii * ii)
            y = f32(np.log(np.float64(f32(hist[i]))))
            upper = f32(upper + f32(f32(x - mean_x) * f32(y - mean_y)))
            lower = f32(lower + f32(f32(x - mean_x) * f32(x - mean_x)))
    ratio = -0.5 * np.float64(lower) / np.float64(upper)
    if not ratio >= 0.0:
        return np.nan, 0
    return np.float64(f32(np.sqrt(ratio) * np.float64(f32(dmax - dmin)) / (n_bins - 1))), 0
