"""Cut-outs and scalar features of classical candidates, the input of the ``hi_reliability`` network.

Each candidate (a label of a `~astro_mlfinder.ClassicalFinder` label cube) becomes

* a cut-out of ``CUTOUT`` (z, y, x) = 24 x 24 x 24 voxels with three channels:

  0. the data in units of the noise of each channel (per-channel robust
     rms, 1.4826 x median absolute value), clipped to [-8, 30];
  1. the candidate's mask (1 inside, 0 outside; other candidates are 0);
  2. the noise of each channel relative to the cube's median channel noise
     (flags noisy channels and RFI-raised noise);

  centred on the candidate's bounding box and twice as large as the box
  (at least 24 voxels per axis). A box larger than 12 voxels along an axis
  is block-averaged by the integer factor that brings the cut-out to 24; the
  data channel is multiplied by the square root of the block volume so that
  it stays in units of the (block-summed) noise. Outside the cube and on
  blank voxels the channels are 0.

* ``N_SCALARS`` scalar features: log2 of the three block factors, log10 of
  the box sizes (z, y, x) and of the voxel count, the integrated S/N
  ``sum / sqrt(n_pix)``, the peak and the mean in noise units, and whether
  the box touches a cube edge.

Everything here is numpy only: no PyTorch.
"""

import numpy as np

__all__ = ["CUTOUT", "N_CHANNELS", "N_SCALARS", "channel_noise", "candidate_boxes", "candidate_features"]

#: Cut-out shape (z, y, x) seen by the network.
CUTOUT = (24, 24, 24)
#: Channels of a cut-out: data / noise, candidate mask, relative channel noise.
N_CHANNELS = 3
#: Scalar features per candidate.
N_SCALARS = 11
_CLIP = (-8.0, 30.0)
_MAD_TO_STD = 1.482602218505602


def channel_noise(data):
    """Robust noise of every channel: 1.4826 x median(abs(x)) over the finite voxels.

    Parameters
    ----------
    data : `~numpy.ndarray`
        Cube (z, y, x); NaN = blank.

    Returns
    -------
    rms : `~numpy.ndarray` of float64, shape (z,)
        Channels without finite voxels (or with zero noise) get the median of
        the others; a cube without any gets 1.
    """
    data = np.asarray(data)
    rms = np.empty(data.shape[0])
    for k, plane in enumerate(data):
        values = np.abs(plane[np.isfinite(plane)])
        rms[k] = _MAD_TO_STD * np.median(values) if values.size else np.nan
    good = np.isfinite(rms) & (rms > 0)
    fill = float(np.median(rms[good])) if good.any() else 1.0
    rms[~good] = fill
    return rms


def candidate_boxes(labels, n_candidates):
    """Inclusive bounding boxes ``(n, 6)``: z_min, z_max, y_min, y_max, x_min, x_max of labels 1..n.

    Labels without voxels get the box ``(0, -1, ...)`` (empty).
    """
    from scipy import ndimage

    boxes = np.zeros((int(n_candidates), 6), dtype=np.int64)
    boxes[:, 1::2] = -1
    for k, sl in enumerate(ndimage.find_objects(np.asarray(labels), max_label=int(n_candidates))):
        if sl is not None:
            boxes[k] = [sl[0].start, sl[0].stop - 1, sl[1].start, sl[1].stop - 1, sl[2].start, sl[2].stop - 1]
    return boxes


def _block_mean(block, factors):
    shape = []
    for n, f in zip(block.shape, factors, strict=True):
        shape += [n // f, f]
    return block.reshape(shape).mean(axis=(1, 3, 5))


def candidate_features(data, labels, n_candidates, *, rms=None, boxes=None):
    """Cut-outs and scalar features of candidates 1..n of ``labels``.

    Parameters
    ----------
    data : `~numpy.ndarray`
        The searched cube (z, y, x); NaN = blank.
    labels : `~numpy.ndarray` of int
        Candidate labels 1..n (0 = background), same shape.
    n_candidates : int
        Number of candidates.
    rms : `~numpy.ndarray`, optional
        Per-channel noise (`channel_noise` of ``data`` if omitted).
    boxes : `~numpy.ndarray`, optional
        `candidate_boxes` of ``labels`` (computed if omitted).

    Returns
    -------
    cutouts : `~numpy.ndarray` of float32, shape ``(n, N_CHANNELS, *CUTOUT)``
    scalars : `~numpy.ndarray` of float32, shape (n, N_SCALARS)
    """
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.ndim != 3 or labels.shape != data.shape:
        raise ValueError(f"candidate features need a cube and a label cube of the same shape, got data "
                         f"{data.shape} and labels {labels.shape}")
    n = int(n_candidates)
    rms = channel_noise(data) if rms is None else np.asarray(rms, dtype=float)
    boxes = candidate_boxes(labels, n) if boxes is None else np.asarray(boxes)
    rel_noise = (rms / np.median(rms)).astype(np.float32)
    cutouts = np.zeros((n, N_CHANNELS, *CUTOUT), dtype=np.float32)
    scalars = np.zeros((n, N_SCALARS), dtype=np.float32)
    inv = (1.0 / rms).astype(np.float32)[:, None, None]
    for k in range(n):
        z0, z1, y0, y1, x0, x1 = (int(v) for v in boxes[k])
        if z1 < z0:
            continue
        ext = np.array([z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1])
        factors = tuple(int(max(1, np.ceil(2 * e / t))) for e, t in zip(ext, CUTOUT, strict=True))
        centre = ((z0 + z1 + 1) / 2, (y0 + y1 + 1) / 2, (x0 + x1 + 1) / 2)
        size = [t * f for t, f in zip(CUTOUT, factors, strict=True)]
        lo = [int(round(c - s / 2)) for c, s in zip(centre, size, strict=True)]
        src = tuple(slice(max(a, 0), min(a + s, n_ax)) for a, s, n_ax in zip(lo, size, data.shape, strict=True))
        dst = tuple(slice(sl.start - a, sl.stop - a) for sl, a in zip(src, lo, strict=True))
        sub = data[src] * inv[src[0]]
        member = labels[src] == k + 1
        vals = sub[member]
        vals = vals[np.isfinite(vals)]
        block = np.zeros((N_CHANNELS, *size), dtype=np.float32)
        block[(0, *dst)] = np.nan_to_num(np.clip(sub, *_CLIP), nan=0.0)
        block[(1, *dst)] = member
        block[(2, *dst)] = rel_noise[src[0]][:, None, None]
        volume = float(np.prod(factors))
        for c in range(N_CHANNELS):
            cutouts[k, c] = _block_mean(block[c], factors)
        cutouts[k, 0] *= np.float32(np.sqrt(volume))
        n_pix = max(vals.size, 1)
        total = float(vals.sum()) if vals.size else 0.0
        edge = float(z0 == 0 or y0 == 0 or x0 == 0 or z1 == data.shape[0] - 1 or y1 == data.shape[1] - 1
                     or x1 == data.shape[2] - 1)
        scalars[k] = [
            *np.log2(factors), *np.log10(ext), np.log10(n_pix), total / np.sqrt(n_pix),
            float(vals.max()) if vals.size else 0.0, total / n_pix, edge,
        ]
    return cutouts, scalars
