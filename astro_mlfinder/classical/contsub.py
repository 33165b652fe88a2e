"""Residual continuum subtraction along the spectral axis (SoFiA-2 ``contsub``).

For every spectrum SoFiA-2 subtracts a copy of the spectrum shifted by
``+shift`` channels from one shifted by ``-shift`` (which removes a smooth
continuum but keeps lines), measures a robust rms of that difference
(``1.4826 * median |d|``), and excludes every channel where ``|d|`` exceeds
``threshold`` times that rms, plus ``padding`` channels either side.  A
polynomial of order 0 (the mean) or 1 (a straight line) is fitted to the
remaining channels in double precision and subtracted from the spectrum.
"""

import math
import warnings

import numpy as np

from ..core._numba import njit, prange
from ..core.exceptions import AstroMLFinderWarning
from ..core.stats import MAD_TO_STD, abs_finite_into, nth_element

__all__ = ["continuum_subtract"]


@njit(cache=True, parallel=True)
def _contsub(cube, order, shift, padding, threshold):
    nz, ny, nx = cube.shape
    failed = np.zeros(ny, dtype=np.int64)
    for y in prange(ny):
        spec = np.empty(nz, dtype=np.float64)
        diff = np.empty(nz, dtype=np.float64)
        buf = np.empty(nz, dtype=np.float64)
        for x in range(nx):
            for i in range(nz):
                spec[i] = cube[i, y, x]
            for i in range(nz):
                if i < shift or i >= nz - shift:
                    diff[i] = np.nan
                else:
                    diff[i] = spec[i - shift] - spec[i + shift]
            # robust noise: 1.4826 x upper median of |diff| (NaN skipped)
            n = abs_finite_into(diff, buf)
            rms = np.nan
            if n > 0:
                rms = threshold * (MAD_TO_STD * nth_element(buf, n, n // 2))
            for i in range(nz):
                if abs(diff[i]) > rms:
                    j0 = i - padding if i > padding else 0
                    j1 = i + padding if i + padding < nz else nz - 1
                    for j in range(j0, j1 + 1):
                        spec[j] = np.nan
            x_mean = 0.0
            y_mean = 0.0
            cnt = 0
            for i in range(nz):
                if spec[i] == spec[i]:
                    x_mean += i
                    y_mean += spec[i]
                    cnt += 1
            if cnt == 0:
                continue
            x_mean /= cnt
            y_mean /= cnt
            if order:
                alpha = 0.0
                beta = 0.0
                for i in range(nz):
                    if spec[i] == spec[i]:
                        alpha += (x_mean - i) * (x_mean - i)
                        beta += (x_mean - i) * (y_mean - spec[i])
                if alpha == 0.0:
                    failed[y] += 1
                    continue
                beta /= alpha
                alpha = y_mean - beta * x_mean
                for i in range(nz):
                    cube[i, y, x] = np.float64(cube[i, y, x]) - (alpha + beta * i)
            else:
                for i in range(nz):
                    cube[i, y, x] = np.float64(cube[i, y, x]) - y_mean
    return failed.sum()


def continuum_subtract(data, *, order=0, threshold=2.0, shift=4, padding=3):
    """Subtract residual continuum from every spectrum, in place.

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x), float32 or float64; **changed in place**.
    order : {0, 1}
        Polynomial order (values above 1 are reduced to 1 with a warning).
    threshold : float
        Clip level for line channels, in units of the robust rms of the
        shifted difference (negative values are made positive with a warning).
    shift : int
        Shift in channels (>= 1; 0 is raised to 1 with a warning).  The cube
        needs more than ``5 * shift`` channels.
    padding : int
        Channels excluded either side of every clipped channel (>= 0).

    Returns
    -------
    ndarray
        ``data`` itself.
    """
    if not isinstance(data, np.ndarray) or data.dtype not in (np.float32, np.float64):
        raise ValueError("continuum_subtract needs a float32 or float64 numpy array (it is "
                         "changed in place).")
    if data.ndim != 3:
        raise ValueError(f"continuum_subtract needs a 3D (z, y, x) cube, got shape {data.shape}.")
    for name, v in (("order", order), ("shift", shift), ("padding", padding)):
        if int(v) != v or v < 0:
            raise ValueError(f"contsub {name} must be an integer >= 0, got {v!r}.")
    order, shift, padding = int(order), int(shift), int(padding)
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"contsub threshold must be finite, got {threshold}.")
    if order > 1:
        warnings.warn("Adjusting value of polynomial order to 1.", AstroMLFinderWarning, stacklevel=2)
        order = 1
    if shift < 1:
        warnings.warn("Adjusting value of shift to 1.", AstroMLFinderWarning, stacklevel=2)
        shift = 1
    if threshold < 0.0:
        warnings.warn("Adjusting threshold to be positive.", AstroMLFinderWarning, stacklevel=2)
        threshold = -threshold
    if data.shape[0] <= 5 * shift:
        raise ValueError(f"Continuum subtraction with shift {shift} needs a cube with more than "
                         f"{5 * shift} channels (z axis size {data.shape[0]}).")
    if not data.flags.writeable:
        raise ValueError("data is read-only; pass a writeable copy.")
    failed = _contsub(data, order, shift, padding, threshold)
    if failed:
        warnings.warn(f"Polynomial fit failed for {failed} spectra; they were left unchanged.",
                      AstroMLFinderWarning, stacklevel=2)
    return data
