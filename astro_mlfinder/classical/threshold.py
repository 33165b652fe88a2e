"""Simple threshold finder (SoFiA-2 ``threshold.*``)."""

import math

import numpy as np

from ..core.stats import check_flux_range, check_statistic, measure_noise
from . import _boxcar

__all__ = ["threshold_find"]


def threshold_find(data, threshold, *, mode="relative", statistic="mad", flux_range="negative",
                   mask=None):
    """Clip the unsmoothed data at a single threshold.

    Voxels with ``|x| > threshold`` (strict, both signs) are detected, as in
    SoFiA-2's ``DataCube_run_threshold``.

    Parameters
    ----------
    data : array_like
        Cube (z, y, x) or image (y, x); NaN = blank.  Not modified.
    threshold : float
        Clip level (> 0): in data units (``mode='absolute'``) or in units of
        the noise (``mode='relative'``).
    mode : {'relative', 'absolute'}
        How ``threshold`` is interpreted.
    statistic : {'mad', 'std', 'gauss'}
        Noise statistic for the relative mode (strided sample, about zero).
    flux_range : {'negative', 'positive', 'full'}
        Voxels used in the noise measurement.
    mask : array_like, optional
        Existing detections to include (non-zero = detected); not modified.

    Returns
    -------
    ndarray of uint8
        Mask of the shape of ``data``, 1 = detected.
    """
    threshold = float(threshold)
    if not (math.isfinite(threshold) and threshold > 0.0):
        raise ValueError(f"threshold must be > 0, got {threshold}.")
    mode = str(mode).lower()
    if mode not in ("relative", "absolute"):
        raise ValueError(f"mode must be 'relative' or 'absolute', got {mode!r}.")
    stat = check_statistic(statistic)
    check_flux_range(flux_range)
    arr = np.asarray(data)
    if arr.ndim not in (2, 3):
        raise ValueError(f"threshold_find needs a 2D or 3D array, got shape {arr.shape}.")
    shape = arr.shape
    cube = np.ascontiguousarray(arr, dtype=np.float32).reshape((-1,) + shape[-2:])
    if mask is None:
        out = np.zeros(cube.shape, dtype=np.uint8)
    else:
        m = np.asarray(mask)
        if m.shape != shape:
            raise ValueError(f"mask has shape {m.shape}, data have shape {shape}.")
        out = np.ascontiguousarray((m != 0).reshape(cube.shape), dtype=np.uint8)
    level = threshold
    if mode == "relative":
        rms = measure_noise(cube, stat, flux_range, sample=True)
        if not (math.isfinite(rms) and rms > 0.0):
            raise ValueError(f"Could not measure a positive noise level (got {rms}); check the "
                             "data and flux_range.")
        level = threshold * rms
    _boxcar.clip_pass(cube, out, level)
    return out.reshape(shape)
