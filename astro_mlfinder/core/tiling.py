"""Tile plans, overlaps and blending windows for 2D images and 3D cubes.

One planner serves every finder that cuts its data into overlapping tiles:
the sliding-window inference of the neural models (`plan_tiles` with a
divisor, so that a U-Net sees every tile on the same sub-sampling grid) and
tiled runs of any finder over data larger than memory. Along each axis the
data are (conceptually) padded to a multiple of the divisor, cut into tiles
of a size rounded to the divisor, overlapping by an overlap rounded to the
divisor; the last tile ends flush with the padded size.

`blend_window` gives the separable weights with which overlapping tile
predictions are averaged: they form a partition of unity over the tiles of a
plan. `as_tuple` turns an ``int`` or a per-axis sequence into a tuple of the
right length, the one parser of every per-axis parameter (``tile_shape``,
``overlap``, ``crop_shape``, ``margin``...).

Numpy only; arrays are ordered (z, y, x) or (y, x).
"""

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["as_tuple", "round_up", "tile_origins", "balanced_origins", "TilePlan", "plan_tiles", "blend_window"]

_AXES = {1: "(n,)", 2: "(y, x)", 3: "(z, y, x)"}


def _axes(ndim):
    return _AXES.get(ndim, f"{ndim}-tuple")


def as_tuple(value, ndim, name, *, minimum=0):
    """Return ``value`` as a tuple of ``ndim`` ints, one per axis.

    Parameters
    ----------
    value : int, sequence of int or str
        One value for every axis, one value per axis, or a string
        ``'z,y,x'`` (or ``'128x64x64'``, as typed on a command line).
    ndim : int
        Number of axes (2 for images, 3 for cubes).
    name : str
        Parameter name used in the error message.
    minimum : int
        Smallest accepted value (0: non-negative, 1: positive).

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        If ``value`` has the wrong length, is not integral, or holds a value
        below ``minimum``; the message names the parameter and the axes.

    Examples
    --------
    >>> as_tuple(16, 3, "overlap")
    (16, 16, 16)
    >>> as_tuple("128,64,64", 3, "crop_shape")
    (128, 64, 64)
    """
    ndim = int(ndim)
    what = f"{name} must be an int or a {_axes(ndim)} sequence of {ndim} ints"
    if value is None:
        raise ValueError(f"{what}, got None")
    if isinstance(value, str):
        text = value.strip().lower().replace("x", ",")
        try:
            value = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"{what}, got {value!r}") from None
    if np.ndim(value) == 0:
        value = (value,) * ndim
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"{what}, got {value!r}") from None
    out = []
    for v in items:
        try:
            integral = not isinstance(v, bool | np.bool_) and float(v).is_integer()
        except (TypeError, ValueError):
            integral = False
        if not integral:
            raise ValueError(f"{what}, got {tuple(items)!r}")
        out.append(int(v))
    out = tuple(out)
    if len(out) != ndim:
        raise ValueError(f"{what}, got {out!r} ({len(out)} values)")
    if any(v < minimum for v in out):
        bound = "non-negative" if minimum == 0 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {out!r}")
    return out


def round_up(n, m):
    """Smallest multiple of ``m`` that is >= ``n``."""
    return int(math.ceil(n / m) * m)


def tile_origins(size, tile, step):
    """Origins of tiles of length ``tile`` covering ``[0, size)`` with the given ``step``.

    The last tile ends flush with ``size`` (it may overlap its neighbour by
    more than ``tile - step``). ``size <= tile`` gives the single origin 0.
    """
    if tile <= 0 or step <= 0:
        raise ValueError(f"tile ({tile}) and step ({step}) must be positive")
    if size <= tile:
        return [0]
    origins = list(range(0, size - tile, step))
    origins.append(size - tile)
    return origins


def balanced_origins(size, tile, overlap, divisor=1):
    """Fewest tiles of at most ``tile`` covering ``[0, size)`` with neighbours overlapping by >= ``overlap``.

    The number of tiles is that of the flush-end plan of `tile_origins`; the
    tile is then shrunk to the smallest multiple of ``divisor`` for which
    that many tiles still overlap by ``overlap`` and the origins are spread
    evenly (steps differing by at most ``divisor``), so the tiles cover
    ``size + (n - 1) * overlap`` voxels plus less than ``n * divisor``
    instead of up to twice ``size``.

    Parameters
    ----------
    size, tile, overlap, divisor : int
        Axis length, largest tile, least overlap and the multiple that
        ``size``, ``tile`` and ``overlap`` are (and the result will be) of.

    Returns
    -------
    tile : int
        The tile length used.
    origins : list of int
        Tile origins; the first is 0 and the last ends at ``size``.

    Examples
    --------
    >>> balanced_origins(256, 128, 32, 16)   # flush-end: 0, 96, 128 with tiles of 128
    (112, [0, 80, 144])
    """
    if size <= tile:
        return size, [0]
    n = math.ceil((size - overlap) / (tile - overlap))
    tile = min(tile, round_up(math.ceil((size + (n - 1) * overlap) / n), divisor))
    units, steps = (size - tile) // divisor, n - 1
    origins = [0]
    for i in range(steps):  # the first ``units % steps`` steps are one divisor longer
        origins.append(origins[-1] + divisor * (units // steps + (1 if i < units % steps else 0)))
    return tile, origins


@dataclass(frozen=True)
class TilePlan:
    """How an array of ``shape`` is cut into overlapping tiles (see `plan_tiles`).

    Attributes
    ----------
    shape : tuple of int
        Shape of the data.
    padded : tuple of int
        Shape after padding each axis to a multiple of the divisor; tiles
        cover ``[0, padded)``.
    tiles : tuple of int
        Tile size per axis (every tile has this shape).
    overlaps : tuple of int
        Nominal overlap of neighbouring tiles per axis (0 along an axis cut
        into a single tile); the blending ramps span it.
    origins : tuple of tuple of int
        Tile origins along each axis.
    """

    shape: tuple
    padded: tuple
    tiles: tuple
    overlaps: tuple
    origins: tuple
    _windows: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def ndim(self):
        """Number of axes."""
        return len(self.shape)

    @property
    def n_tiles(self):
        """Total number of tiles."""
        return math.prod(len(o) for o in self.origins)

    @property
    def pad_width(self):
        """``[(0, padded - size), ...]``: padding at the high end of each axis (for `numpy.pad`)."""
        return [(0, p - n) for p, n in zip(self.padded, self.shape, strict=True)]

    def __len__(self):
        return self.n_tiles

    def __iter__(self):
        """Tile origins (one tuple per tile) in raster (C) order: the last axis varies fastest."""
        return itertools.product(*self.origins)

    def slices(self, origin):
        """Slices of the tile at ``origin`` in the padded array."""
        return tuple(slice(o, o + t) for o, t in zip(origin, self.tiles, strict=True))

    def neighbours(self, origin):
        """``(low, high)``: per axis, whether the tile at ``origin`` has a neighbour before/after it."""
        low = tuple(o > 0 for o in origin)
        high = tuple(o + t < p for o, t, p in zip(origin, self.tiles, self.padded, strict=True))
        return low, high

    def window(self, origin):
        """Blending weights of the tile at ``origin`` (`blend_window`; cached per border configuration)."""
        key = self.neighbours(origin)
        if key not in self._windows:
            self._windows[key] = blend_window(self.tiles, self.overlaps, *key)
        return self._windows[key]


def plan_tiles(shape, tile_shape, overlap, divisor=1, *, balanced=False):
    """Plan overlapping tiles of an array of ``shape`` (2D, 3D or any ndim).

    Along each axis the size is padded to a multiple of ``divisor``; the tile
    size is rounded up to a multiple of ``divisor`` (at least ``divisor``);
    when one tile covers the padded axis, the tile is the padded size, the
    overlap 0 and the single origin 0; otherwise the overlap is rounded up to
    a multiple of ``divisor`` and kept at most ``tile - divisor``, the tiles
    step by ``tile - overlap`` and the last one ends flush with the padded
    size (`tile_origins`). Every origin and tile size is therefore a
    multiple of ``divisor``.

    With ``balanced=True`` each axis keeps the same (smallest) number of
    tiles, but the tiles shrink to the smallest multiple of ``divisor`` that
    still gives every pair of neighbours at least the overlap, and are spread
    evenly instead of ending flush: each voxel is then covered about once
    plus the overlap (`balanced_origins`), where the flush-end plan can
    process up to twice the axis.

    Parameters
    ----------
    shape : tuple of int
        Shape of the data.
    tile_shape, overlap : int or tuple of int
        Requested tile size and overlap per axis (an int applies to every axis).
    divisor : int
        Tile sizes, overlaps and origins are multiples of this (16 for a
        four-level U-Net; 1 for no constraint).
    balanced : bool
        Shrink and spread the tiles evenly (see above).

    Returns
    -------
    `TilePlan`

    Examples
    --------
    >>> plan = plan_tiles((100, 70), (64, 32), (16, 16), divisor=16)
    >>> plan.padded, plan.tiles, plan.overlaps, plan.origins
    ((112, 80), (64, 32), (16, 16), ((0, 48), (0, 16, 32, 48)))
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    if ndim == 0 or any(n < 1 for n in shape):
        raise ValueError(f"cannot tile an array of shape {shape}")
    divisor = int(divisor)
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor}")
    tile_shape = as_tuple(tile_shape, ndim, "tile_shape", minimum=1)
    overlap = as_tuple(overlap, ndim, "overlap")
    padded, tiles, overlaps, origins = [], [], [], []
    for n, t, o in zip(shape, tile_shape, overlap, strict=True):
        p = round_up(n, divisor)
        t = max(divisor, round_up(t, divisor))
        if p <= t:
            t, o, orig = p, 0, [0]
        else:
            o = min(round_up(o, divisor) if o > 0 else 0, t - divisor)
            if balanced:
                t, orig = balanced_origins(p, t, o, divisor)
            else:
                orig = tile_origins(p, t, t - o)
        padded.append(p)
        tiles.append(t)
        overlaps.append(o)
        origins.append(tuple(orig))
    return TilePlan(shape, tuple(padded), tuple(tiles), tuple(overlaps), tuple(origins))


def _window_1d(length, overlap, low, high):
    w = np.ones(length, dtype=np.float64)
    if overlap <= 0:
        return w
    margin = overlap // 4 if overlap >= 4 else 0
    ramp_len = overlap - 2 * margin
    k = np.arange(ramp_len, dtype=np.float64)
    ramp = np.sin(0.5 * np.pi * (k + 0.5) / ramp_len) ** 2  # rises from ~0 to ~1
    if low:
        w[:margin] = 0.0
        w[margin : margin + ramp_len] = np.minimum(w[margin : margin + ramp_len], ramp)
    if high:
        end = length - margin
        w[end:] = 0.0
        w[end - ramp_len : end] = np.minimum(w[end - ramp_len : end], ramp[::-1])
    return w


def blend_window(tile_shape, overlap, low=None, high=None):
    """Separable blending weights of one tile.

    Along an axis where the tile has a neighbour on the low (high) side, the
    weight is 0 over the outer ``overlap // 4`` pixels, rises as ``sin^2``
    across the next ``overlap - 2 * (overlap // 4)`` pixels and is 1 beyond.
    Two neighbours offset by ``tile - overlap`` therefore have weights
    summing exactly to 1 in their overlap (a partition of unity), and pixels
    next to a tile's inner edge, where padding distorts a prediction, do not
    contribute. Edges on the data border keep weight 1.

    Parameters
    ----------
    tile_shape : tuple of int
        Tile size per axis (any number of axes).
    overlap : tuple of int
        Overlap with the neighbours per axis (0 = no blending along that axis).
    low, high : tuple of bool, optional
        Whether the tile has a neighbour before/after it along each axis
        (default: on both sides along every axis).

    Returns
    -------
    `~numpy.ndarray`
        float32 weights of shape ``tile_shape``.
    """
    n = len(tile_shape)
    low = (True,) * n if low is None else tuple(low)
    high = (True,) * n if high is None else tuple(high)
    if not (len(overlap) == len(low) == len(high) == n):
        raise ValueError("tile_shape, overlap, low and high must have the same length")
    w = np.ones((), dtype=np.float64)
    for length, ov, lo_, hi_ in zip(tile_shape, overlap, low, high, strict=True):
        if ov >= length:
            raise ValueError(f"overlap {ov} must be smaller than the tile size {length}")
        w = np.multiply.outer(w, _window_1d(length, ov, lo_, hi_))
    return w.astype(np.float32)
