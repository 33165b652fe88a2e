"""Input preparation of the ``convosource`` model: local noise and normalisation (numpy only).

ConvoSource multiplied the SDC1 maps by 1e7 (Jy/beam to 0.1 uJy/beam), which
ties the network to one survey's noise level. Here the image is divided by
its *local* robust noise (1.4826 x MAD about the median in boxes, bilinearly
interpolated), so the same weights serve any flux scale and primary-beam
corrected mosaics whose noise rises towards the edges, and the dynamic range
is compressed with ``asinh`` (linear below ~1 sigma, logarithmic for bright
sources). Blank (NaN) pixels become 0, the value of empty sky.
"""

import numpy as np
from scipy import ndimage

from ....core.stats import MAD_TO_STD

__all__ = ["DEFAULT_NORMALIZATION", "local_background", "local_noise", "normalize_image"]

#: Normalisation recorded with the weights (``box``: local-noise box in pixels, 0 = one global value).
DEFAULT_NORMALIZATION = {"statistic": "mad", "box": 64, "scale": "asinh", "clip": [-10.0, 1000.0]}


def _mad(values):
    values = values[np.isfinite(values)]
    if values.size < 16:
        return np.nan
    med = np.median(values)
    return MAD_TO_STD * float(np.median(np.abs(values - med)))


def _grid_map(image, box, stat, total):
    """``stat`` of the finite pixels in boxes of ``box`` pixels, bilinearly interpolated to every pixel."""
    ny, nx = image.shape
    if box <= 0 or ny < 2 * box or nx < 2 * box:
        return np.full(image.shape, total, dtype=np.float32)
    gy, gx = ny // box, nx // box
    ey, ex = np.linspace(0, ny, gy + 1).astype(int), np.linspace(0, nx, gx + 1).astype(int)
    grid = np.array([[stat(image[ey[i] : ey[i + 1], ex[j] : ex[j + 1]].ravel()) for j in range(gx)]
                     for i in range(gy)])
    bad = ~np.isfinite(grid)
    if bad.all():
        return np.full(image.shape, total, dtype=np.float32)
    if bad.any():  # boxes that are (mostly) blank take their nearest measured neighbour
        idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
        grid = grid[tuple(idx)]
    if gy >= 3 and gx >= 3:
        grid = ndimage.median_filter(grid, size=3, mode="nearest")
    cy = (ey[:-1] + ey[1:] - 1) / 2.0
    cx = (ex[:-1] + ex[1:] - 1) / 2.0
    fy = np.interp(np.arange(ny), cy, np.arange(gy))
    fx = np.interp(np.arange(nx), cx, np.arange(gx))
    yy, xx = np.meshgrid(fy, fx, indexing="ij")
    return ndimage.map_coordinates(grid, [yy, xx], order=1, mode="nearest").astype(np.float32)


def _check_image(image, what):
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"{what} expects a (y, x) image, got shape {image.shape}")
    return image


def local_noise(image, box=64):
    """Robust local noise of a 2D image.

    Parameters
    ----------
    image : `~numpy.ndarray`
        (y, x) image; NaN pixels are ignored.
    box : int
        Box side in pixels; 1.4826 x MAD is measured on a grid of boxes and
        bilinearly interpolated to every pixel (0 or an image smaller than
        two boxes: one global value).

    Returns
    -------
    noise : `~numpy.ndarray`
        float32 (y, x) map of positive values.

    Raises
    ------
    ValueError
        If the image has no finite value or zero noise.
    """
    image = _check_image(image, "local_noise")
    total = _mad(image.ravel())
    if not np.isfinite(total) or total <= 0:
        raise ValueError("cannot estimate the noise of the image: it has (almost) no finite values or zero MAD")

    def stat(values):
        value = _mad(values)
        return value if value > 0 else np.nan

    return _grid_map(image, int(box), stat, total)


def local_background(image, box=64):
    """Local background of a 2D image: the median of the finite pixels in boxes, interpolated.

    Parameters
    ----------
    image : `~numpy.ndarray`
        (y, x) image; NaN pixels are ignored.
    box : int
        Box side in pixels (0 or an image smaller than two boxes: the global median).

    Returns
    -------
    background : `~numpy.ndarray`
        float32 (y, x) map.
    """
    image = _check_image(image, "local_background")
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        raise ValueError("cannot estimate the background of the image: it has no finite values")

    def stat(values):
        values = values[np.isfinite(values)]
        return float(np.median(values)) if values.size >= 16 else np.nan

    return _grid_map(image, int(box), stat, float(np.median(finite)))


def normalize_image(image, normalization=None, noise=None):
    """The network input of an image: ``asinh(clip(image / noise))``, NaN -> 0.

    Parameters
    ----------
    image : `~numpy.ndarray`
        (y, x) image in any flux unit.
    normalization : dict, optional
        Recorded with the weights (default `DEFAULT_NORMALIZATION`).
    noise : `~numpy.ndarray` or float, optional
        Noise (map); measured with `local_noise` when not given.

    Returns
    -------
    x : `~numpy.ndarray`
        float32 network input.
    noise : `~numpy.ndarray`
        The noise map used.
    """
    norm = dict(DEFAULT_NORMALIZATION, **(normalization or {}))
    if norm.get("statistic", "mad") != "mad":
        raise ValueError(f"unknown normalisation statistic {norm['statistic']!r}; only 'mad' is supported")
    image = np.asarray(image, dtype=np.float32)
    if noise is None:
        noise = local_noise(image, norm.get("box", 64))
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float32), image.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = image / noise
    lo, hi = (float(v) for v in norm.get("clip", (-10.0, 1000.0)))
    np.clip(x, lo, hi, out=x)
    if norm.get("scale", "asinh") == "asinh":
        np.arcsinh(x, out=x)
    elif norm["scale"] != "linear":
        raise ValueError(f"unknown normalisation scale {norm['scale']!r}; use 'asinh' or 'linear'")
    x[~np.isfinite(x)] = 0.0
    return x, np.ascontiguousarray(noise)
