"""Noise statistics as measured by SoFiA-2.

SoFiA-2 measures the noise of a cube (or of a smoothed copy of it) about
zero, not about the mean or median, and only on a strided sample of the
voxels.  The functions here reproduce its rules exactly, so that thresholds
(and therefore masks) agree voxel for voxel with the reference binary:

* **Sample.**  Every ``c``-th voxel of the flattened (C-order) array is used,
  starting at the *last* voxel and walking backwards; ``c`` comes from
  :func:`noise_stride` (about 10**6 samples).  For ``'mad'`` and ``'gauss'`` the
  first voxel (index 0) is never sampled, for ``'std'`` it can be.
* **Flux range.**  ``'negative'`` keeps ``x < 0``, ``'positive'`` keeps
  ``x > 0``, ``'full'`` keeps every finite value.  NaN always drops out.
* **Statistics.**  ``'mad'`` is ``1.4826 * median(|x|)`` over at most
  ``N / (2c)`` sampled values (``N / c`` for ``'full'``), taken in sampling
  order; an even count averages the two middle values.  ``'std'`` is
  ``sqrt(mean(x**2))``.  ``'gauss'`` fits a Gaussian to a 101-bin histogram of
  the sample (see :func:`measure_noise`).
"""

import math
import warnings

import numpy as np

from .exceptions import AstroMLFinderWarning

# The numba kernels (abs_finite_into, nth_element, gauss_fit) live in ._stats_kernels and load on first
# use (module __getattr__ below): the 'mad' and 'std' statistics are numpy, so measuring the noise of a
# small cube does not import numba.
_KERNELS = ("abs_finite_into", "nth_element", "gauss_fit")

__all__ = [
    "MAD_TO_STD",
    "NoiseFitWarning",
    "NOISE_SAMPLE_SIZE",
    "global_rms",
    "measure_noise",
    "noise_stride",
    "check_statistic",
    "check_flux_range",
    "sofia_median",
    "mad_about",
    "abs_finite_into",  # noqa: F822  (loaded on first use, see __getattr__)
    "nth_element",  # noqa: F822  (loaded on first use, see __getattr__)
    "gauss_fit",  # noqa: F822  (loaded on first use, see __getattr__)
]

#: Conversion factor from the median absolute deviation to the standard
#: deviation of a normal distribution (the value SoFiA-2 uses).
MAD_TO_STD = 1.482602218505602

#: SoFiA-2's target size of the strided noise sample.
NOISE_SAMPLE_SIZE = 999983

_STATISTICS = ("std", "mad", "gauss")
_RANGES = {"negative": -1, "full": 0, "positive": 1}


class NoiseFitWarning(AstroMLFinderWarning, RuntimeWarning):
    """The Gaussian noise fit could not be made (the noise is NaN)."""


def noise_stride(n_voxels, naxis1):
    """Stride of SoFiA-2's noise sample.

    Parameters
    ----------
    n_voxels : int
        Total number of voxels in the cube.
    naxis1 : int
        Size of the first FITS axis (the last numpy axis, x).

    Returns
    -------
    int
        ``n_voxels // 999983``; 1 if that is below 2; reduced by 1 if it is a
        multiple of ``naxis1`` (so that the sample does not run down a single
        column).
    """
    n_voxels = int(n_voxels)
    naxis1 = int(naxis1)
    if n_voxels < 0 or naxis1 < 1:
        raise ValueError(
            f"noise_stride needs n_voxels >= 0 and naxis1 >= 1, got {n_voxels} and {naxis1}."
        )
    cadence = n_voxels // NOISE_SAMPLE_SIZE
    if cadence < 2:
        return 1
    if cadence % naxis1 == 0:
        cadence -= 1
    return cadence


def check_statistic(statistic, name="statistic"):
    """Validate a noise statistic name and return it in lower case."""
    stat = str(statistic).lower()
    if stat not in _STATISTICS:
        raise ValueError(f"{name} must be one of {_STATISTICS}, got {statistic!r}.")
    return stat


def check_flux_range(flux_range, name="flux_range"):
    """Validate a flux range name; return SoFiA's code (-1, 0 or +1)."""
    key = str(flux_range).lower()
    if key not in _RANGES:
        raise ValueError(f"{name} must be one of {tuple(_RANGES)}, got {flux_range!r}.")
    return _RANGES[key]


def _select(values, code):
    if code < 0:
        return values[values < 0]
    if code > 0:
        return values[values > 0]
    return values[~np.isnan(values)]


def sofia_median(values):
    """Median as SoFiA-2 computes it (NaN for an empty array).

    For an even count the two middle values are added in the array's precision
    and halved, as in SoFiA-2's ``median_flt``.
    """
    values = np.asarray(values)
    n = values.size
    if n == 0:
        return values.dtype.type(np.nan)
    k = n // 2
    if n % 2:
        return np.partition(values, k)[k]
    part = np.partition(values, (k - 1, k))
    return (part[k] + part[k - 1]) / values.dtype.type(2)


def mad_about(values, value=0.0, cadence=1, code=0):
    """Median of ``|x - value|`` over SoFiA-2's strided sample.

    Walks backwards from the last element in steps of ``cadence``, never
    using element 0, keeps values in the flux range ``code`` and stops after
    ``len // cadence`` (``code == 0``) or ``len // (2 * cadence)`` accepted values.
    This is the plain MAD, not yet multiplied by :data:`MAD_TO_STD`.
    """
    flat = np.ravel(values)
    n = flat.size
    cadence = max(int(cadence), 1)
    cap = n // cadence if code == 0 else n // (2 * cadence)
    view = flat[n - cadence : 0 : -cadence]
    if value == 0 and view.size >= _BAND_MIN_SAMPLE and np.issubdtype(flat.dtype, np.floating):
        median = _median_abs_banded(view, code, cap)
        if median is not None:
            return median
    sample = _select(view, code)[:cap]
    dev = np.abs(sample - flat.dtype.type(value)) if value != 0 else np.abs(sample)
    return sofia_median(dev)


#: Samples at least this long take `_median_abs_banded`'s shortcut.
_BAND_MIN_SAMPLE = 1 << 15


def _median_abs_banded(view, code, cap):
    """`sofia_median` of ``|x|`` over the values of ``view`` in the flux range ``code``, or None.

    The same order statistics without extracting and partitioning the whole
    sample: ``d = max(-x, 0)`` (``'negative'``), ``max(x, 0)`` (``'positive'``)
    or ``|x|`` (``'full'``) puts the values that do not count at 0 (their
    number shifts the ranks) and NaN last; a strided sub-sample brackets the
    middle ranks by ``[lo, hi]``, counting the values below ``lo`` tells the
    ranks inside the band, and only the values in the band are partitioned.
    When more values qualify than ``cap``, the sample is the first ``cap`` of
    them in sampling order: ``view`` is cut after the ``cap``-th (found from
    the end, where the surplus lies). None (the caller then takes the plain
    path) when the bracket misses.
    """
    zero = view.dtype.type(0)
    # one array of the sample's size (temporaries of this size are what a noise measurement costs)
    d = np.negative(view) if code < 0 else np.abs(view) if code == 0 else np.array(view)
    n_nan = int(np.count_nonzero(np.isnan(d)))
    if code:
        np.maximum(d, zero, out=d)  # NaN stays NaN
        counts = d > zero
        m = int(np.count_nonzero(counts))
        if m > cap:  # only the first ``cap`` qualifying values are sampled
            d = d[: _prefix_holding(counts, m, cap)]
            n_nan, m = int(np.count_nonzero(np.isnan(d))), cap
        del counts
    else:
        m = d.size - n_nan
    if m < 2 or m > cap:
        return None
    shift = 0 if code == 0 else d.size - m - n_nan  # the zeros that do not count
    k = m // 2
    ranks = [k + shift] if m % 2 else [k - 1 + shift, k + shift]
    sub = d[:: max(1, d.size // 16384)]
    sub = sub[sub > zero] if code else sub[~np.isnan(sub)]
    if sub.size < 256:
        return None
    frac = k / m
    margin = 8.0 * math.sqrt(sub.size * frac * (1.0 - frac)) + 32.0
    lo_rank = int(frac * sub.size - margin)
    hi_rank = int(frac * sub.size + margin) + 1
    part = np.partition(sub, [r for r in (lo_rank, hi_rank) if 0 <= r < sub.size])
    lo = part[lo_rank] if lo_rank >= 0 else zero
    hi = part[hi_rank] if hi_rank < sub.size else d.dtype.type(np.inf)
    below = int(np.count_nonzero(d < lo))
    band = d[(d >= lo) & (d <= hi)]
    if not all(below <= r < below + band.size for r in ranks):
        return None
    part = np.partition(band, [r - below for r in ranks])
    if m % 2:
        return part[ranks[0] - below]
    return (part[ranks[1] - below] + part[ranks[0] - below]) / d.dtype.type(2)


def _prefix_holding(flags, total, keep, chunk=1 << 20):
    """Length of a prefix of ``flags`` (``total`` of them True) holding exactly ``keep`` True values.

    The surplus ``total - keep`` is dropped from the end, chunk by chunk, so
    only the tail is read when the surplus is small (a signed flux range's
    sample is usually cut close to its end).
    """
    surplus = total - keep
    end = flags.size
    while surplus > 0:
        start = max(0, end - chunk)
        count = int(np.count_nonzero(flags[start:end]))
        if count >= surplus:
            if count == surplus:
                return start
            return start + int(np.flatnonzero(flags[start:end])[count - surplus - 1]) + 1
        surplus -= count
        end = start
    return end


def _sum_squares(sample):
    """Sum of ``float64(x)**2`` added one after the other in sampling order (as SoFiA-2; not pairwise)."""
    squares = np.asarray(sample, dtype=np.float64) ** 2
    if squares.size == 0:
        return 0.0
    return float(np.add.accumulate(squares)[-1])  # an accumulation adds strictly in order


def _std_about_zero(flat, cadence, code):
    n = flat.size
    # std_dev_val: indices n - c, n - 2c, ..., down to and including 0
    sample = _select(flat[n - cadence :: -cadence], code) if n >= cadence else flat[:0]
    if sample.size == 0:
        return math.nan
    return math.sqrt(_sum_squares(sample) / sample.size)


def __getattr__(name):
    if name in _KERNELS:
        from . import _stats_kernels

        return getattr(_stats_kernels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _gauss_fit(flat, cadence, code):
    from ._stats_kernels import gauss_fit

    sigma, status = gauss_fit(flat, flat.size, cadence, code)
    if status:
        warnings.warn(
            "Gaussian noise fit: the data do not span zero; noise set to NaN.",
            NoiseFitWarning,
            stacklevel=3,
        )
    return float(sigma)


def measure_noise(data, statistic="mad", flux_range="negative", sample=True):
    """Noise level of an array, measured about zero as in SoFiA-2.

    Parameters
    ----------
    data : array_like
        Cube (z, y, x), image or any array of floats; NaN = blank.  It is not
        modified (a C-contiguous array is read without copying).
    statistic : {'mad', 'std', 'gauss'}
        ``'mad'``: 1.4826 x median absolute value; ``'std'``: root mean square
        about zero; ``'gauss'``: width of a Gaussian fitted to the flux
        histogram (SoFiA-2's ``gaufit``: 101 bins, range rescaled so that the
        second moment covers about 1/5 of it, linear fit of ln(h) against
        bin**2 without the end bins; NaN with a warning if the data do not
        span zero).
    flux_range : {'negative', 'positive', 'full'}
        Which voxels enter the measurement.
    sample : bool
        ``True`` (SoFiA's global measurement): the strided sample of about 10**6
        voxels of :func:`noise_stride`.  ``False``: every voxel (stride 1, as in
        SoFiA-2's per-channel noise scaling; element 0 is still skipped by the
        ``mad`` and ``gauss`` statistics, as in SoFiA-2).

    Returns
    -------
    float
        The noise level, or NaN if no voxel qualified.
    """
    stat = check_statistic(statistic)
    code = check_flux_range(flux_range)
    arr = np.asarray(data)
    if not np.issubdtype(arr.dtype, np.floating) or not arr.dtype.isnative:  # e.g. a big-endian FITS memmap
        arr = arr.astype(arr.dtype.newbyteorder("=") if np.issubdtype(arr.dtype, np.floating) else np.float32)
    flat = np.ravel(arr)
    if flat.size == 0:
        return math.nan
    naxis1 = arr.shape[-1] if arr.ndim else 1
    cadence = noise_stride(flat.size, naxis1) if sample else 1
    if stat == "mad":
        return MAD_TO_STD * float(mad_about(flat, 0.0, cadence, code))
    if stat == "std":
        return _std_about_zero(flat, cadence, code)
    return _gauss_fit(flat, cadence, code)


def global_rms(data):
    """SoFiA-2's "Global RMS": MAD of the negative voxels, strided sample.

    This value only normalises the linker's fluxes (reliability parameter
    space, ``min_snr``); the S+C finder measures its own noise per pass.

    Parameters
    ----------
    data : array_like
        The pre-conditioned cube (z, y, x).

    Returns
    -------
    float
        ``1.4826 * median(|x|)`` over the negative values of the sample.
    """
    return measure_noise(data, statistic="mad", flux_range="negative", sample=True)
