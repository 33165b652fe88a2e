# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Data augmentation for training finders on simulated cubes.
"""

import numpy as np

__all__ = ['cutmix']


def cutmix(background, source_cube, labels, scale=1.0, *,
           background_labels=None, offset=None, percentile=None, noise=None,
           label_threshold=None, rng=None):
    """
    Insert sources into another background at a chosen intensity.

    This is the "cut-mix" (foreground mix-up) augmentation of HISF: a
    sub-cube holding sources (typically a noiseless model such as
    ``HISimulation.model``, or a cut-out of one) is scaled and added to a
    background cube (noise, or another simulation), and its labels are
    merged into the background labels.

    Parameters
    ----------
    background : array_like
        Background cube ``(z, y, x)`` (or image ``(y, x)``).
    source_cube : array_like
        Sources to insert, same number of dimensions; it may be smaller or
        larger than the background (parts falling outside are dropped).
    labels : array_like of int
        Label array of ``source_cube`` (0 = background).
    scale : float or tuple of 2 float, optional
        Intensity factor applied to ``source_cube``; a ``(low, high)``
        pair draws it uniformly with ``rng``.
    background_labels : array_like of int, optional
        Labels already present in the background.  Inserted labels are
        renumbered to follow its maximum; where both are labelled the
        background label is kept.
    offset : tuple of int, optional
        Index in ``background`` of the first voxel of ``source_cube``.  By
        default it is drawn with ``rng`` so that the centre of the
        labelled region falls inside the background.
    percentile, noise : float, optional
        If both are given, the source cube is first normalised so that the
        given percentile of its labelled voxels equals ``noise`` (HISF
        draws the percentile in 92-97 and uses the noise rms), and then
        multiplied by ``scale``.
    label_threshold : float, optional
        If given, an inserted voxel keeps its label only where the scaled
        source exceeds this absolute value, so faint inserted sources get
        correspondingly smaller masks.
    rng : `numpy.random.Generator`, int or None, optional
        Random generator or seed for ``scale`` and ``offset``.

    Returns
    -------
    data : `~numpy.ndarray`
        float32 background plus the scaled sources.
    new_labels : `~numpy.ndarray`
        int32 merged labels.
    """
    rng = np.random.default_rng(rng)
    background = np.asarray(background, dtype=np.float32)
    source_cube = np.asarray(source_cube, dtype=np.float64)
    labels = np.asarray(labels)
    if source_cube.shape != labels.shape:
        raise ValueError(f'source_cube shape {source_cube.shape} and labels '
                         f'shape {labels.shape} differ')
    if source_cube.ndim != background.ndim:
        raise ValueError(f'source_cube has {source_cube.ndim} dimensions but '
                         f'the background has {background.ndim}')
    if background_labels is None:
        background_labels = np.zeros(background.shape, dtype=np.int32)
    else:
        background_labels = np.asarray(background_labels)
        if background_labels.shape != background.shape:
            raise ValueError(f'background_labels shape '
                             f'{background_labels.shape} differs from the '
                             f'background shape {background.shape}')

    if np.ndim(scale) == 0:
        factor = float(scale)
    else:
        lo, hi = (float(v) for v in scale)
        factor = float(rng.uniform(lo, hi))
    if (percentile is None) != (noise is None):
        raise ValueError('percentile and noise must be given together')
    if percentile is not None:
        inside = source_cube[labels > 0]
        if inside.size == 0:
            raise ValueError('labels select no voxel, cannot normalise by '
                             'percentile')
        level = np.percentile(inside, percentile)
        if level <= 0:
            raise ValueError(f'the {percentile} percentile of the labelled '
                             'source voxels is not positive')
        factor *= float(noise) / level

    if offset is None:
        if np.any(labels > 0):
            idx = np.nonzero(labels > 0)
            centre = [0.5 * (i.min() + i.max()) for i in idx]
        else:
            centre = [0.5 * (n - 1) for n in source_cube.shape]
        offset = [int(rng.integers(0, nb)) - int(round(c))
                  for nb, c in zip(background.shape, centre, strict=True)]
    offset = [int(o) for o in offset]
    if len(offset) != background.ndim:
        raise ValueError(f'offset must have {background.ndim} values, got '
                         f'{len(offset)}')

    dst, src = [], []
    for o, ns, nb in zip(offset, source_cube.shape, background.shape, strict=True):
        lo_b, hi_b = max(o, 0), min(o + ns, nb)
        if hi_b <= lo_b:
            return background.copy(), background_labels.astype(np.int32)
        dst.append(slice(lo_b, hi_b))
        src.append(slice(lo_b - o, hi_b - o))
    dst, src = tuple(dst), tuple(src)

    data = background.copy()
    scaled = factor * source_cube[src]
    data[dst] += scaled.astype(np.float32)

    new_labels = background_labels.astype(np.int32, copy=True)
    ins = labels[src].astype(np.int64)
    if label_threshold is not None:
        ins = np.where(scaled > float(label_threshold), ins, 0)
    shift = int(background_labels.max()) if background_labels.size else 0
    region = new_labels[dst]
    put = (ins > 0) & (region == 0)
    region[put] = (ins[put] + shift).astype(np.int32)
    return data, new_labels
