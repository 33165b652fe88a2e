"""Bounding boxes of the labels of a label cube: `scipy.ndimage.find_objects` at memory speed.

`find_objects` returns what `scipy.ndimage.find_objects` returns for a
non-negative integer label array (one tuple of slices per label 1..max, None
for absent labels) from one numba sweep that skips every all-zero row with a
vectorised test (a label cube is mostly empty), and also the smallest label,
so that a caller checking for negative labels needs no second pass.
"""

import numpy as np

from ._numba import njit

__all__ = ["find_objects"]


@njit(cache=True)
def _boxes(lab):  # pragma: no cover - jit
    nz, ny, nx = lab.shape
    cap = 64
    box = np.full((cap, 6), -1, dtype=np.int64)
    lowest = 0
    top = 0
    for z in range(nz):
        for y in range(ny):
            row = lab[z, y]
            lo = row[0]
            hi = row[0]
            for x in range(nx):  # min/max reduction: vectorised, no branch
                v = row[x]
                lo = min(lo, v)
                hi = max(hi, v)
            if lo < lowest:
                lowest = lo
            if hi <= 0:
                continue
            for x in range(nx):
                v = row[x]
                if v > 0:
                    if v > cap:
                        while cap < v:
                            cap *= 2
                        grown = np.full((cap, 6), -1, dtype=np.int64)
                        grown[: box.shape[0]] = box
                        box = grown
                    b = box[v - 1]
                    if b[0] < 0:
                        b[0], b[1], b[2], b[3], b[4], b[5] = z, z, y, y, x, x
                        if v > top:
                            top = v
                    else:
                        b[1] = z  # z only grows
                        b[2] = min(b[2], y)
                        b[3] = max(b[3], y)
                        b[4] = min(b[4], x)
                        b[5] = max(b[5], x)
    return box[:top], lowest


def find_objects(labels):
    """`scipy.ndimage.find_objects` of a 3-D integer label array, and its smallest value.

    Parameters
    ----------
    labels : `~numpy.ndarray` of int, shape (z, y, x)
        0 is background.

    Returns
    -------
    objects : list
        For each label ``1 .. labels.max()`` the tuple of slices of its
        bounding box, or None when the label is absent.
    lowest : int
        The smallest value of ``labels`` (0 or less; negative values are
        not labels and have no box).
    """
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.size == 0 or not labels.dtype.isnative or labels.dtype.kind not in "iu":
        from scipy import ndimage

        lowest = int(labels.min()) if labels.size else 0
        return ndimage.find_objects(np.where(labels < 0, 0, labels) if lowest < 0 else labels), min(lowest, 0)
    box, lowest = _boxes(labels)
    objects = [None if b[0] < 0 else (slice(b[0], b[1] + 1), slice(b[2], b[3] + 1), slice(b[4], b[5] + 1))
               for b in box.tolist()]
    return objects, min(int(lowest), 0)
