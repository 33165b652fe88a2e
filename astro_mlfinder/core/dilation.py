"""
SoFiA-2 compatible mask dilation, shared by every finder that grows its masks.

`ClassicalFinder` dilates its masks with it (``dilation=True``), and
``NeuralFinder('unet3d', dilate=...)`` grows the network's masks to the faint
outskirts of a source the same way.

Sources are grown iteratively as in SoFiA-2 (2.5.1,
``DataCube_dilate_mask_z`` and ``DataCube_dilate_mask_xy``), one source
after the other in id order, spectral dilation of all sources first:

* **Spectral.**  Each iteration adds the empty, finite pixels directly
  above and below every source pixel (within the source's x/y bounding
  box).  The step is kept while the added flux ``df`` satisfies
  ``df > threshold * f_sum`` (``<`` for negative sources), where ``f_sum``
  is the running total; at most ``iterations_z`` steps.
* **Spatial.**  Each source pixel is grown by a disc of radius r in its own
  channel, r = 1, 2, ... ``iterations_xy``; the first radius whose flux
  gain over radius r - 1 is not above ``threshold`` times the flux at
  r - 1 stops the search and the last radius that passed is applied.  A
  negative threshold dilates by the maximum number of iterations without
  any test.
* Flags: 1 spatial edge (the disc box of a source pixel leaves the
  image), 2 spectral edge, 4 blank pixel met, 8 other source met.  As in
  SoFiA, spectral flags are collected in every iteration including the
  one that is rejected; spatial flags only from the dilation finally
  applied.

SoFiA compares flux increments measured on the data with the catalogue
``f_sum``, which at this point is still the linker value in units of the
global rms.  On data in physical units (rms << 1) the increments are
therefore far too small and the masks hardly grow.  Pass the linker
``f_sum`` (global-rms units) to reproduce SoFiA, or ``f_sum=None`` to use
the flux measured on ``data`` instead (consistent units).
"""

import numpy as np

from . import _small

__all__ = ['dilate_mask']


def _check_iter(value, name):
    if isinstance(value, (bool, np.bool_)) or int(value) != value or value < 0:
        raise ValueError(f'{name} must be a non-negative integer, got {value!r}')
    return int(value)


def dilate_mask(labels, data, f_sum, *, iterations_xy=10, iterations_z=5,
                threshold=0.001, inplace=False, boxes=None):
    """
    Dilate source masks as SoFiA-2 does.

    Parameters
    ----------
    labels : `~numpy.ndarray` of int
        Label array (z, y, x) or (y, x), sources 1..N, 0 = background.
    data : `~numpy.ndarray`
        Data with the same shape (NaN = blank).
    f_sum : array_like or None
        Summed flux of each source (indexed by ``id - 1``) that the
        stopping rule compares increments with.  SoFiA passes the linker
        value in global-rms units (the scale-dependent quirk, reproduced
        by passing ``LinkerResult.f_sum``).  `None` uses the sum of
        ``data`` over each source.
    iterations_xy : int, optional
        Maximum disc radius (spatial iterations).
    iterations_z : int, optional
        Maximum number of spectral iterations (ignored for 2D input).
    threshold : float or array_like, optional
        Minimum relative flux gain for a step to be accepted; negative
        values dilate by the maximum without testing.  An array gives one
        threshold per source (indexed by ``id - 1``).
    inplace : bool, optional
        Modify ``labels`` in place (it must then be a writeable int32 or
        int64 array).
    boxes : array_like of int, optional
        ``(N, 6)`` inclusive bounding boxes ``(z0, z1, y0, y1, x0, x1)`` of
        the sources 1..N (``z0 = z1 = 0`` for 2D input), when the caller
        has them (a linker does): saves a pass over ``labels``.

    Returns
    -------
    labels : `~numpy.ndarray` of int32
        The dilated label array.
    flags_added : `~numpy.ndarray` of int64
        Flag bits raised by the dilation for each source (to be OR-ed
        with the linker flags).
    """
    labels_in = labels
    data = np.asarray(data)
    if np.shape(labels) != data.shape:
        raise ValueError(f'labels and data have different shapes: '
                         f'{np.shape(labels)} vs {data.shape}')
    if data.ndim not in (2, 3):
        raise ValueError(f'data must be 2D (y, x) or 3D (z, y, x), got '
                         f'{data.ndim} dimensions')
    iterations_xy = _check_iter(iterations_xy, 'iterations_xy')
    iterations_z = _check_iter(iterations_z, 'iterations_z')
    is2d = data.ndim == 2
    if inplace:
        lab = np.asarray(labels)
        if not np.issubdtype(lab.dtype, np.signedinteger):
            raise ValueError('inplace dilation needs a signed integer label '
                             'array')
    else:
        lab = np.array(labels, dtype=np.int32, copy=True)
    lab3 = lab.reshape((1,) + lab.shape) if is2d else lab
    data3 = data.reshape((1,) + data.shape) if is2d else data
    nz, ny, nx = lab3.shape

    if not is2d and iterations_z >= nz:
        raise ValueError(f'iterations_z ({iterations_z}) must be smaller '
                         f'than the spectral axis size ({nz})')
    if iterations_xy >= nx and iterations_xy >= ny:
        raise ValueError(f'iterations_xy ({iterations_xy}) exceeds the '
                         f'spatial axis sizes ({nx}, {ny})')

    if boxes is None:
        objects = _small.label_boxes(lab3)[0]  # numba above the small-cube limit: ~15x scipy's speed
        # Bounding boxes as [z0, z1, y0, y1, x0, x1] (inclusive)
        bbox = np.full((len(objects), 6), -1, dtype=np.int64)
        for i, sl in enumerate(objects):
            if sl is not None:
                bbox[i] = (sl[0].start, sl[0].stop - 1, sl[1].start,
                           sl[1].stop - 1, sl[2].start, sl[2].stop - 1)
    else:
        bbox = np.array(boxes, dtype=np.int64).reshape(-1, 6)
    nsrc = len(bbox)
    if f_sum is None:
        from scipy import ndimage

        finite = np.where(np.isfinite(data3), data3, 0)
        f_sum = ndimage.sum_labels(finite.astype(np.float64), lab3,
                                   index=np.arange(1, nsrc + 1))
    f_sum = np.asarray(f_sum, dtype=np.float64).ravel().copy()
    if f_sum.size < nsrc:
        raise ValueError(f'f_sum has {f_sum.size} entries but the label '
                         f'array contains ids up to {nsrc}')
    flags = np.zeros(f_sum.size, dtype=np.int64)
    negative = f_sum < 0.0
    thresholds = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (max(f_sum.size, nsrc),))
    if np.ndim(threshold) and np.size(threshold) < nsrc:
        raise ValueError(f'threshold has {np.size(threshold)} entries but the label array contains ids up '
                         f'to {nsrc}')

    if not is2d and iterations_z > 0:
        for i in range(nsrc):
            if bbox[i, 0] < 0:
                continue
            _dilate_z(lab3, data3, i + 1, bbox[i], f_sum, negative, flags,
                      iterations_z, float(thresholds[i]))

    if iterations_xy > 0:
        for i in range(nsrc):
            if bbox[i, 0] < 0:
                continue
            _dilate_xy(lab3, data3, i + 1, bbox[i], f_sum, negative, flags,
                       iterations_xy, float(thresholds[i]))

    if inplace:
        return labels_in, flags
    return lab, flags


def _dilate_z(lab, data, sid, box, f_sum, negative, flags, iter_max,
              threshold):
    """Spectral dilation of one source (updates lab, box, f_sum, flags)."""
    nz = lab.shape[0]
    i = sid - 1
    z0, z1, y0, y1, x0, x1 = box
    # Work window: the source's x/y box, z range grown by iter_max
    wz0 = max(0, z0 - iter_max)
    wz1 = min(nz - 1, z1 + iter_max)
    win = lab[wz0:wz1 + 1, y0:y1 + 1, x0:x1 + 1]
    dwin = data[wz0:wz1 + 1, y0:y1 + 1, x0:x1 + 1]
    flag = 0
    for _ in range(iter_max):
        src = win == sid
        new = np.zeros_like(src)
        last = src.shape[0] - 1
        # (source pixels, candidate slice, window index at the cube edge)
        for srcs, cand, edge in (
                (src[1:], slice(0, last), 0 if wz0 == 0 else None),
                (src[:-1], slice(1, last + 1),
                 last if wz1 == nz - 1 else None)):
            if edge is not None and src[edge].any():
                flag |= 2
            cand_lab = win[cand]
            empty = srcs & (cand_lab == 0)
            finite = np.isfinite(dwin[cand])
            if np.any(empty & ~finite):
                flag |= 4
            if np.any(srcs & (cand_lab > 0) & (cand_lab != sid)):
                flag |= 8
            new[cand] |= empty & finite
        df = float(np.sum(dwin[new], dtype=np.float64))
        if (threshold < 0.0 or (negative[i] and df < threshold * f_sum[i])
                or (not negative[i] and df > threshold * f_sum[i])):
            f_sum[i] += df
            win[new] = sid
            zs = np.flatnonzero(new.any(axis=(1, 2)))
            if zs.size:
                z0 = min(z0, wz0 + int(zs[0]))
                z1 = max(z1, wz0 + int(zs[-1]))
        else:
            break
    box[0], box[1] = z0, z1
    flags[i] |= flag


def _dilate_xy(lab, data, sid, box, f_sum, negative, flags, iter_max,
               threshold):
    """Spatial (disc) dilation of one source (updates lab, box, flags)."""
    nz, ny, nx = lab.shape
    i = sid - 1
    z0, z1, y0, y1, x0, x1 = box
    wy0, wy1 = max(0, y0 - iter_max), min(ny - 1, y1 + iter_max)
    wx0, wx1 = max(0, x0 - iter_max), min(nx - 1, x1 + iter_max)
    win = lab[z0:z1 + 1, wy0:wy1 + 1, wx0:wx1 + 1]
    dwin = data[z0:z1 + 1, wy0:wy1 + 1, wx0:wx1 + 1]
    src = win == sid
    # Squared distance of every pixel to the nearest source pixel in the
    # same channel, where at most iter_max**2 (numba: each source pixel
    # stamps its disc; the integers of a per-channel Euclidean distance
    # transform, which the larger values need not be)
    if _small.is_small(lab.size):
        # a small cube: scipy's exact transform, no numba import (the same integers up to iter_max**2)
        from scipy import ndimage

        big = float(4 * (src.shape[1] + src.shape[2]) + 10)
        dist = ndimage.distance_transform_edt(~src, sampling=(big, 1.0, 1.0))
        dist2 = np.rint(dist * dist)
    else:
        from ._dilation_kernels import disc_distance2

        dist2 = disc_distance2(src, int(iter_max))
    empty = win == 0
    finite = np.isfinite(dwin)
    grow_ok = empty & finite
    other = (win > 0) & (win != sid)
    vals = np.where(grow_ok, dwin, 0).astype(np.float64)
    # source pixel extent (for the edge flag)
    ys = np.flatnonzero(src.any(axis=(0, 2))) + wy0
    xs = np.flatnonzero(src.any(axis=(0, 1))) + wx0

    def added_flux(radius):
        disc = dist2 <= radius * radius
        return float(np.sum(vals[disc & grow_ok], dtype=np.float64))

    if threshold < 0.0:
        radius = iter_max
    else:
        it = 1
        f_old = f_sum[i]
        while it <= iter_max:
            f_new = f_sum[i] + added_flux(it)
            if ((negative[i] and (f_new - f_old) < threshold * f_old)
                    or (not negative[i] and (f_new - f_old) > threshold * f_old)):
                f_old = f_new
                it += 1
            else:
                break
        radius = it - 1
    if radius < 1:
        return
    disc = dist2 <= radius * radius
    add = disc & grow_ok
    flag = 0
    if (xs[0] < radius or xs[-1] + radius >= nx or ys[0] < radius
            or ys[-1] + radius >= ny):
        flag |= 1
    if np.any(disc & empty & ~finite):
        flag |= 4
    if np.any(disc & other):
        flag |= 8
    f_sum[i] += float(np.sum(vals[add], dtype=np.float64))
    win[add] = sid
    if add.any():
        yy = np.flatnonzero(add.any(axis=(0, 2))) + wy0
        xx = np.flatnonzero(add.any(axis=(0, 1))) + wx0
        box[2], box[3] = min(y0, yy[0]), max(y1, yy[-1])
        box[4], box[5] = min(x0, xx[0]), max(x1, xx[-1])
    flags[i] |= flag
