"""Spectral focusing: line images of a candidate, their noise and S/N, the source's pixels, ResNet inputs.

A candidate (a Blobs Finder box and a Deep GRU line window) is *focused* by
summing the cube over the line window in a square cut-out centred on the
box (64x64 in DeepFocus). The continuum under the line -- the median of
the channels away from the line, times the number of line channels -- is
subtracted, so that a continuum source does not pass for a line. The
reference image is the same cut-out summed over all channels (as the
Blobs Finder saw it). Pure NumPy/SciPy.
"""

import numpy as np
from scipy import ndimage

__all__ = ["cutout_slices", "line_image", "reference_image", "image_noise", "mad_noise", "box_snr", "source_pixels",
           "resnet_input", "integrate", "peak_image", "blobs_input", "PEAK_SMOOTH", "PEAK_CLIP"]

#: Channels of the running mean before the maximum of the ``'peak'`` input.
PEAK_SMOOTH = 5
#: The ``'peak'`` input is its S/N clipped to [-5, PEAK_CLIP] over PEAK_CLIP.
PEAK_CLIP = 50.0


def integrate(cube):
    """Sum over channels (NaN as 0) and min-max normalise to [0, 1]: the Blobs Finder input (float32)."""
    img = np.nansum(np.asarray(cube, dtype=np.float32), axis=0)
    lo, hi = float(img.min()), float(img.max())
    return ((img - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32)


def peak_image(cube, smooth=PEAK_SMOOTH, clip=PEAK_CLIP):
    """Maximum over channels of the cube smoothed by a ``smooth``-channel running mean, in noise units, in [-0.1, 1].

    The noise is 1.4826 x MAD of the image about its median; the S/N is
    clipped to [-5, ``clip``] and divided by ``clip``.
    """
    c = np.nan_to_num(np.asarray(cube, dtype=np.float32), nan=0.0)
    if smooth > 1:
        c = ndimage.uniform_filter1d(c, int(smooth), axis=0, mode="nearest")
    img = c.max(axis=0)
    med = float(np.median(img))
    mad = 1.4826 * float(np.median(np.abs(img - med)))
    z = (img - med) / (mad if mad > 0 else 1.0)
    return (np.clip(z, -5.0, clip) / clip).astype(np.float32)


def blobs_input(cube, inputs=("sum",)):
    """The Blobs Finder input ``(len(inputs), y, x)``: ``'sum'`` (`integrate`) and/or ``'peak'`` (`peak_image`)."""
    make = {"sum": integrate, "peak": peak_image}
    unknown = [i for i in inputs if i not in make]
    if unknown:
        raise ValueError(f"unknown Blobs Finder input {unknown[0]!r}; known: 'sum', 'peak'")
    return np.stack([make[i](cube) for i in inputs]).astype(np.float32)


def cutout_slices(center, size, shape):
    """Slices of a ``size`` x ``size`` cut-out centred on ``center = (y, x)`` in an image of ``shape`` (y, x).

    Returns ``(source slices, target slices)``: the part inside the image and
    where it goes in the cut-out (the rest of the cut-out is zero).
    """
    size = int(size)
    out_src, out_dst = [], []
    for c, n in zip(center, shape, strict=True):
        start = int(np.floor(c + 0.5)) - size // 2
        a, b = max(start, 0), min(start + size, n)
        out_src.append(slice(a, max(a, b)))
        out_dst.append(slice(a - start, a - start + max(0, b - a)))
    return tuple(out_src), tuple(out_dst)


def line_image(cube, center, window, size=64, *, continuum_gap=2):
    """Continuum-subtracted line image of a ``size`` x ``size`` cut-out centred on ``center`` (y, x).

    Parameters
    ----------
    cube : array (z, y, x)
        The dirty cube.
    center : tuple of float
        Cut-out centre (y, x), pixels.
    window : tuple of int
        Line channels ``(z0, z1)`` (half-open).
    size : int
        Cut-out side.
    continuum_gap : int
        Channels left out on either side of the window when estimating the
        continuum (the line's wings).

    Returns
    -------
    `~numpy.ndarray`
        float32 (size, size): sum over the window minus ``(z1 - z0)`` times
        the per-pixel median of the other channels (no subtraction when
        fewer than 8 remain).
    """
    src, dst = cutout_slices(center, size, cube.shape[1:])
    z0, z1 = int(window[0]), int(window[1])
    out = np.zeros((size, size), dtype=np.float32)
    sub = np.asarray(cube[:, src[0], src[1]], dtype=np.float32)
    img = np.nansum(sub[z0:z1], axis=0)
    off = np.ones(sub.shape[0], dtype=bool)
    off[max(0, z0 - continuum_gap) : z1 + continuum_gap] = False
    if off.sum() >= 8:
        img = img - (z1 - z0) * np.nanmedian(sub[off], axis=0)
    out[dst] = np.where(np.isfinite(img), img, 0.0)
    return out


def reference_image(cube, center, size=64):
    """The same cut-out summed over all channels (float32)."""
    src, dst = cutout_slices(center, size, cube.shape[1:])
    out = np.zeros((size, size), dtype=np.float32)
    out[dst] = np.nansum(np.asarray(cube[:, src[0], src[1]], dtype=np.float32), axis=0)
    return out


def mad_noise(values, axis=None):
    """1.4826 x the median absolute deviation about the median, over ``axis`` (None: all values)."""
    med = np.median(values, axis=axis, keepdims=True)
    return 1.4826 * np.median(np.abs(values - med), axis=axis)


def image_noise(img, exclude=None):
    """Robust noise of a line image: `mad_noise` of its non-zero pixels outside ``exclude`` (a bool mask)."""
    keep = img != 0
    if exclude is not None:
        keep &= ~exclude
    vals = img[keep]
    if vals.size < 16:
        vals = img[img != 0]
    if vals.size == 0:
        return 0.0
    return float(mad_noise(vals))


def _box_mask(shape, box, pad=0):
    """Bool mask of the box ``(y0, y1, x0, x1)`` (cut-out coordinates), grown by ``pad`` pixels."""
    m = np.zeros(shape, dtype=bool)
    y0, y1, x0, x1 = box
    m[max(0, y0 - pad) : max(0, y1 + pad), max(0, x0 - pad) : max(0, x1 + pad)] = True
    return m


def box_snr(img, box, pad=4):
    """Peak S/N of ``img`` inside ``box`` (cut-out coordinates) and the noise outside the box grown by ``pad``.

    Returns
    -------
    snr, noise, (y, x) : float, float, tuple
        The brightest pixel in the box over the robust noise of the rest of
        the cut-out, the noise, and where that pixel is.
    """
    inside = _box_mask(img.shape, box)
    noise = image_noise(img, _box_mask(img.shape, box, pad))
    vals = np.where(inside, img, -np.inf)
    peak = np.unravel_index(int(np.argmax(vals)), img.shape)
    value = float(vals[peak])
    snr = value / noise if noise > 0 else (np.inf if value > 0 else 0.0)
    return float(snr), float(noise), (int(peak[0]), int(peak[1]))


def source_pixels(img, noise, peak, *, grow_snr=2.0, box=None):
    """The source's pixels in a line image: the connected pixels above ``grow_snr`` x ``noise`` holding ``peak``.

    Restricted to ``box`` (cut-out coordinates, ``(y0, y1, x0, x1)``) when
    given. Returns a bool mask of the cut-out (just ``peak`` when it is
    below the threshold).
    """
    above = img > grow_snr * noise
    if box is not None:
        above &= _box_mask(img.shape, box)
    labels, _ = ndimage.label(above, structure=np.ones((3, 3), dtype=bool))
    out = np.zeros(img.shape, dtype=bool)
    lab = labels[peak]
    if lab:
        out = labels == lab
    else:
        out[peak] = True
    return out


def resnet_input(img, box):
    """The ResNet input of a line image and its scale: the image over its peak inside ``box``, clipped to [-1, 1.5].

    Returns
    -------
    x, scale : `~numpy.ndarray`, float
        float32 image and the peak value it was divided by (the flux
        network regresses the log of flux over ``scale``).
    """
    inside = _box_mask(img.shape, box)
    scale = float(np.max(img[inside])) if inside.any() else float(np.max(img))
    if not scale > 0:
        scale = float(np.max(np.abs(img))) or 1.0
    return np.clip(img / scale, -1.0, 1.5).astype(np.float32), scale
