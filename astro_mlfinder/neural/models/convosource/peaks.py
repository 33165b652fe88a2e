"""From a ConvoSource probability map to sources: peaks by non-maximum suppression, segments grown on the data.

* `find_peaks` -- local maxima of the probability above a threshold, with
  greedy non-maximum suppression (a brighter peak suppresses every other
  within ``radius`` pixels);
* `grow_segments` -- each peak is moved onto the brightest data pixel next
  to it and grown into a segment: the pixels connected to it whose
  signal-to-noise exceeds ``grow_snr``; neighbouring peaks that share an
  island of emission split it along the watershed of the data;
* `dilate_segments` -- every segment then grows by a fixed distance (each
  background pixel within it joins the nearest segment), which takes in the
  wings of the sources below the flood level without the upward bias of a
  lower flood level (that would pick the positive noise pixels only).

Numpy and scipy only; arrays are (y, x).
"""

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .._flood import priority_flood

__all__ = ["confirm_peaks", "find_peaks", "grow_segments", "dilate_segments"]


def find_peaks(prob, threshold=0.5, radius=3, mask=None):
    """Peaks of a probability map by non-maximum suppression.

    Parameters
    ----------
    prob : `~numpy.ndarray`
        (y, x) probabilities.
    threshold : float
        Only peaks with ``prob >= threshold`` are kept.
    radius : float
        Suppression radius in pixels: of two peaks closer than this, the
        lower one is dropped.
    mask : `~numpy.ndarray` of bool, optional
        Excluded pixels (True), never peaks.

    Returns
    -------
    y, x : `~numpy.ndarray` of int
        Peak positions, by decreasing probability.
    score : `~numpy.ndarray`
        The probability at each peak.
    """
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 2:
        raise ValueError(f"find_peaks expects a (y, x) probability map, got shape {prob.shape}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    work = np.where(np.isfinite(prob), prob, -np.inf)
    if mask is not None:
        work[np.asarray(mask, dtype=bool)] = -np.inf
    size = 2 * int(np.ceil(radius)) + 1 if radius >= 1 else 3
    local = (work == ndimage.maximum_filter(work, size=size, mode="constant", cval=-np.inf)) & (work >= threshold)
    # a plateau of equal maxima is one peak: its first pixel in raster order
    plateaus, n = ndimage.label(local, structure=np.ones((3, 3), bool))
    if n == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0, dtype=np.float32)
    flat = plateaus.ravel()
    idx = np.flatnonzero(flat)
    _, first = np.unique(flat[idx], return_index=True)
    ys, xs = np.unravel_index(idx[first], prob.shape)
    score = work[ys, xs]
    order = np.lexsort((xs, ys, -score))  # by decreasing score, ties in raster order
    ys, xs, score = ys[order], xs[order], score[order]
    if ys.size > 1 and radius > 0:
        tree = cKDTree(np.column_stack([ys, xs]))
        keep = np.ones(ys.size, dtype=bool)
        for i in range(ys.size):  # greedy NMS: plateaus and close pairs keep their first (highest) peak
            if keep[i]:
                near = tree.query_ball_point([ys[i], xs[i]], r=radius)
                for j in near:
                    if j > i:
                        keep[j] = False
        ys, xs, score = ys[keep], xs[keep], score[keep]
    return ys.astype(np.intp), xs.astype(np.intp), score.astype(np.float32)


def confirm_peaks(snr, ys, xs, min_snr, *, snap=1, mask=None):
    """Which peaks reach ``min_snr`` on the data at their brightest pixel within ``snap`` pixels.

    Parameters
    ----------
    snr : `~numpy.ndarray`
        (y, x) data divided by the noise (NaN = blank).
    ys, xs : array-like of int
        Peak positions (``find_peaks``).
    min_snr : float
        S/N the brightest data pixel near a peak must reach.
    snap : int
        Search window half-width in pixels, as in `grow_segments`.
    mask : `~numpy.ndarray` of bool, optional
        Excluded pixels (True).

    Returns
    -------
    keep : `~numpy.ndarray` of bool
        One per peak.
    """
    snr = np.asarray(snr, dtype=np.float32)
    ys = np.asarray(ys, dtype=np.intp)
    xs = np.asarray(xs, dtype=np.intp)
    finite = np.isfinite(snr)
    if mask is not None:
        finite &= ~np.asarray(mask, dtype=bool)
    work = np.where(finite, snr, np.nan)
    sy, sx = _snap(work, ys, xs, int(snap))
    with np.errstate(invalid="ignore"):
        return work[sy, sx] >= float(min_snr)


def _snap(snr, ys, xs, snap):
    """Move every peak to the highest finite ``snr`` pixel within ``snap`` pixels (a square window)."""
    if snap <= 0 or ys.size == 0:
        return ys, xs
    ny, nx = snr.shape
    out_y, out_x = ys.copy(), xs.copy()
    for k, (y, x) in enumerate(zip(ys, xs, strict=True)):
        y0, y1 = max(y - snap, 0), min(y + snap + 1, ny)
        x0, x1 = max(x - snap, 0), min(x + snap + 1, nx)
        win = snr[y0:y1, x0:x1]
        if np.isfinite(win).any():
            j = int(np.nanargmax(win))
            out_y[k], out_x[k] = y0 + j // win.shape[1], x0 + j % win.shape[1]
    return out_y, out_x


def grow_segments(snr, ys, xs, *, grow_snr=2.0, snap=1, mask=None):
    """Grow each peak into a segment on the data.

    Parameters
    ----------
    snr : `~numpy.ndarray`
        (y, x) data divided by the noise (NaN = blank).
    ys, xs : array-like of int
        Peak positions (``find_peaks``); peak ``i`` becomes label ``i + 1``.
    grow_snr : float
        Pixels connected to a peak with ``snr > grow_snr`` join it.
    snap : int
        First move each peak to the brightest data pixel within this many
        pixels (the network marks the source, the data its brightest pixel).
    mask : `~numpy.ndarray` of bool, optional
        Excluded pixels (True).

    Returns
    -------
    labels : `~numpy.ndarray` of int32
        0 = background, ``i + 1`` = the segment of peak ``i``. Peaks that
        two network maxima snapped onto the same data pixel, or whose
        pixel was blank, get no pixels; every other peak keeps at least its
        own pixel and its 4-neighbours above zero.
    ys, xs : `~numpy.ndarray` of int
        The snapped peak positions.
    """
    snr = np.asarray(snr, dtype=np.float32)
    ys = np.asarray(ys, dtype=np.intp)
    xs = np.asarray(xs, dtype=np.intp)
    if snr.ndim != 2:
        raise ValueError(f"grow_segments expects a (y, x) map, got shape {snr.shape}")
    finite = np.isfinite(snr)
    if mask is not None:
        finite &= ~np.asarray(mask, dtype=bool)
    work = np.where(finite, snr, -np.inf).astype(np.float32)
    ys, xs = _snap(np.where(finite, snr, np.nan), ys, xs, int(snap))
    fg = work > grow_snr
    markers = np.zeros(snr.shape, dtype=np.int32)
    seen = set()
    for i, (y, x) in enumerate(zip(ys, xs, strict=True)):
        if not finite[y, x] or (y, x) in seen:
            continue
        seen.add((y, x))
        markers[y, x] = i + 1
        # a faint peak keeps a minimal footprint: itself and its positive 4-neighbours
        fg[y, x] = True
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            yy, xx = y + dy, x + dx
            if 0 <= yy < snr.shape[0] and 0 <= xx < snr.shape[1] and work[yy, xx] > 0:
                fg[yy, xx] = True
    if not markers.any():
        return np.zeros(snr.shape, dtype=np.int32), ys, xs
    # islands of emission; those holding no peak stay background
    islands, _ = ndimage.label(fg, structure=np.ones((3, 3), bool))
    labels = np.zeros(snr.shape, dtype=np.int32)
    objects = ndimage.find_objects(islands)
    for k, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        own = islands[sl] == k
        ids = np.unique(markers[sl][own])
        ids = ids[ids > 0]
        if ids.size == 1:  # one peak: the whole island
            labels[sl][own] = ids[0]
        elif ids.size > 1:  # several: split along the watershed of the data
            labels[sl][own] = priority_flood(work[sl], markers[sl], own)[own]
    return labels, ys, xs


def dilate_segments(labels, radius, mask=None):
    """Grow every segment by ``radius`` pixels into the background (nearest segment wins).

    Parameters
    ----------
    labels : `~numpy.ndarray` of int
        (y, x) segments, 0 = background.
    radius : float
        Distance in pixels; 0 leaves the labels unchanged.
    mask : `~numpy.ndarray` of bool, optional
        Pixels that never join (blank or excluded).

    Returns
    -------
    `~numpy.ndarray` of int32
    """
    labels = np.asarray(labels, dtype=np.int32)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0 or not labels.any():
        return labels.copy()
    dist, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    out = labels.copy()
    grow = (labels == 0) & (dist <= radius)
    if mask is not None:
        grow &= ~np.asarray(mask, dtype=bool)
    out[grow] = labels[iy[grow], ix[grow]]
    return out
