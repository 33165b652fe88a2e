"""Tile plans of a tiled run: cores that partition the data, tiles that add a halo.

`core.tiling.plan_tiles` places overlapping tiles; a tiled run needs, in
addition, a partition of the data into *cores* (every voxel is owned by one
tile) and, around each core, a halo wide enough that whatever the finder
decides inside the core depends only on data inside the tile. The core
boundary between two neighbouring tiles of the plan lies in the middle of
their overlap; along x it is rounded down to a multiple of 8 so that packed
bit masks (one bit per voxel along x) of cores and tiles stay byte-aligned.

The tile size comes from the number of tiles per axis (``tiles``) or from a
memory budget (``max_memory``): the largest tile whose working memory
(``bytes_per_voxel`` per tile voxel, times the number of tiles in flight)
fits in the budget left after the arrays a run keeps for the whole data.
"""

import math
import re
from dataclasses import dataclass

from ..core.tiling import as_tuple, plan_tiles

__all__ = ["Tile", "TiledPlan", "parse_memory", "make_plan"]

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_memory(value):
    """Bytes of a memory size: an int, or a string such as ``"4GB"``, ``"256MB"``, ``"1GiB"``.

    Raises
    ------
    ValueError
        For anything else, naming the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"max_memory must be a size such as '4GB', '256MB' or a number of bytes, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(f"max_memory must be a size such as '4GB', '256MB' or a number of bytes, got {value!r}")
        number = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not number > 0:
        raise ValueError(f"max_memory must be positive, got {value!r}")
    return int(number)


@dataclass(frozen=True)
class Tile:
    """One tile of a `TiledPlan`.

    Attributes
    ----------
    index : int
        Position in the plan (raster order).
    slices : tuple of slice
        The tile (core plus halo, clipped to the data) in the data.
    core : tuple of slice
        The core (the voxels this tile owns) in the data.
    """

    index: int
    slices: tuple
    core: tuple

    @property
    def shape(self):
        """Shape of the tile."""
        return tuple(s.stop - s.start for s in self.slices)

    @property
    def core_local(self):
        """The core as slices of the tile."""
        return tuple(slice(c.start - s.start, c.stop - s.start) for c, s in zip(self.core, self.slices, strict=True))


@dataclass(frozen=True)
class TiledPlan:
    """The tiles of a tiled run.

    Attributes
    ----------
    shape : tuple of int
        Shape of the data.
    halo : tuple of int
        Halo around every core, per axis (x rounded up to a multiple of 8).
    tiles : tuple of `Tile`
        The tiles, in raster order.
    plan : `~astro_mlfinder.core.tiling.TilePlan`
        The planner's tiling the cores were derived from.
    """

    shape: tuple
    halo: tuple
    tiles: tuple
    plan: object

    def __len__(self):
        return len(self.tiles)

    def __iter__(self):
        return iter(self.tiles)

    @property
    def max_tile_voxels(self):
        """Voxels of the largest tile."""
        return max(math.prod(t.shape) for t in self.tiles)


def _boundaries(n, origins, tile, align):
    """Core boundaries along one axis: the middle of each overlap (rounded down to ``align``)."""
    cuts = []
    for a, b in zip(origins[:-1], origins[1:], strict=True):
        cut = (b + min(a + tile, n)) // 2
        cut = (cut // align) * align
        if 0 < cut < n and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    return [0] + cuts + [n]


def _tile_shape_for(shape, halo, max_voxels):
    """The largest core (halving the longest axis) whose tile (core + 2 halo) has at most ``max_voxels``."""
    core = list(shape)
    while math.prod(min(c + 2 * h, n) for c, h, n in zip(core, halo, shape, strict=True)) > max_voxels:
        # halve the axis whose halving shrinks the tile most, keeping cores at least 8 voxels
        candidates = [i for i, c in enumerate(core) if c > 8]
        if not candidates:
            return None
        i = max(candidates, key=lambda k: core[k] / max(halo[k], 1))
        core[i] = max(8, math.ceil(core[i] / 2))
    return tuple(core)


def make_plan(shape, halo, *, tiles=None, max_memory=None, bytes_per_voxel=32, global_bytes=0, in_flight=1):
    """Plan the tiles of a tiled run of data of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the data.
    halo : tuple of int
        Halo each core needs on every side (the finder's ``margin`` or tile halo).
    tiles : int or tuple of int, optional
        Number of tiles along each axis.
    max_memory : str or int, optional
        Memory budget of the run (`parse_memory`); picks the tile size when
        ``tiles`` is not given.
    bytes_per_voxel : float
        Working memory of one tile per tile voxel.
    global_bytes : int
        Memory the run keeps for the whole data (e.g. a packed mask), taken
        from the budget first.
    in_flight : int
        Tiles processed at the same time.

    Returns
    -------
    `TiledPlan`

    Raises
    ------
    ValueError
        When the budget cannot hold one tile larger than its halo; the
        message gives the smallest budget that works.
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    halo = list(as_tuple(halo, ndim, "margin"))
    halo[-1] = -(-halo[-1] // 8) * 8  # x halos keep packed masks byte-aligned
    halo = tuple(min(h, n) for h, n in zip(halo, shape, strict=True))
    if tiles is not None:
        counts = as_tuple(tiles, ndim, "tiles", minimum=1)
        core = tuple(max(1, math.ceil(n / k)) for n, k in zip(shape, counts, strict=True))
    else:
        budget = parse_memory(max_memory if max_memory is not None else "4GB")
        per_tile = (budget - int(global_bytes)) / max(int(in_flight), 1)
        max_voxels = per_tile / float(bytes_per_voxel)
        core = _tile_shape_for(shape, halo, max_voxels) if per_tile > 0 else None
        if core is None:
            need = math.prod(min(8 + 2 * h, n) for h, n in zip(halo, shape, strict=True)) * bytes_per_voxel
            need = need * max(int(in_flight), 1) + int(global_bytes)
            raise ValueError(f"max_memory={max_memory!r} cannot hold one tile of this {shape} array with its "
                             f"{halo} halo; give at least {need / 1e6:.0f}MB")
    tile_shape = tuple(min(c + 2 * h, n) for c, h, n in zip(core, halo, shape, strict=True))
    plan = plan_tiles(shape, tile_shape, tuple(min(2 * h, t - 1) if t < n else 0
                                              for h, t, n in zip(halo, tile_shape, shape, strict=True)))
    bounds = []
    for axis, n in enumerate(shape):
        origins = plan.origins[axis]
        if tiles is not None:  # exactly the requested number of cores
            k = len(range(0, n, core[axis]))
            cuts = [min(n, i * core[axis]) for i in range(k)] + [n]
            if axis == ndim - 1:
                cuts = sorted({(c // 8) * 8 if 0 < c < n else c for c in cuts})
            bounds.append(cuts)
        else:
            bounds.append(_boundaries(n, origins, plan.tiles[axis], 8 if axis == ndim - 1 else 1))
    out = []
    for index, cell in enumerate(_product([list(zip(b[:-1], b[1:], strict=True)) for b in bounds])):
        core_sl = tuple(slice(a, b) for a, b in cell)
        tile_sl = tuple(slice(max(0, a - h), min(n, b + h)) for (a, b), h, n in zip(cell, halo, shape, strict=True))
        out.append(Tile(index, tile_sl, core_sl))
    return TiledPlan(shape, halo, tuple(out), plan)


def _product(axes):
    import itertools

    return itertools.product(*axes)
