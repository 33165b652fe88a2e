"""Priority flood (watershed) of a 2D image from labelled markers, shared by the models that split blobs.

ConvoSource splits an island holding several network peaks along the
watershed of the data; DeepFocus splits touching Blobs Finder blobs at the
map's local maxima. Both grow their markers with `priority_flood`.
"""

import heapq

import numpy as np

__all__ = ["priority_flood"]


def priority_flood(values, markers, allowed):
    """Grow ``markers`` over the ``allowed`` pixels, highest ``values`` first, 8-connected.

    Parameters
    ----------
    values : (ny, nx) array
        The image whose ridges separate the labels (the brightest unlabelled
        neighbour of a labelled pixel is taken next).
    markers : (ny, nx) int array
        Seed labels (> 0); markers outside ``allowed`` are dropped.
    allowed : (ny, nx) bool array
        Pixels the labels may grow into.

    Returns
    -------
    labels : (ny, nx) int64 array
        Every ``allowed`` pixel connected to a marker carries that marker's
        label; the rest are 0.
    """
    ny, nx = values.shape
    out = np.where(allowed, markers, 0).astype(np.int64)
    heap = [(-float(values[y, x]), int(y), int(x)) for y, x in zip(*np.nonzero(out), strict=True)]
    heapq.heapify(heap)
    while heap:
        _, y, x = heapq.heappop(heap)
        lab = out[y, x]
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                yy, xx = y + dy, x + dx
                if 0 <= yy < ny and 0 <= xx < nx and allowed[yy, xx] and out[yy, xx] == 0:
                    out[yy, xx] = lab
                    heapq.heappush(heap, (-float(values[yy, xx]), yy, xx))
    return out
