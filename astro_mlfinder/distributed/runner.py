"""Tiled runs of any finder: global pass, ``segment`` per tile, border merging, one measurement.

`run` is what ``finder(data, tiles=..., max_memory=..., client=...)`` calls:

1. the data stay lazy (a FITS file memory-mapped, a dask or zarr-backed
   array, or an array in memory) and are read tile by tile
   (`~astro_mlfinder.distributed.reader.TileReader`);
2. the tiles (`~astro_mlfinder.distributed.plan.make_plan`) are cores that
   partition the data plus a halo of the finder's ``tile_halo`` (default its
   ``margin``), sized by ``tiles`` or ``max_memory``;
3. a finder with a global pass (``finder.tiled_hooks()``, e.g.
   `~astro_mlfinder.classical.tiled` for `~astro_mlfinder.ClassicalFinder`)
   computes what must be global first, tile by tile;
4. every tile is segmented as a Dask task (threads, processes, or a
   dask.distributed cluster); its labels come back as sparse voxels;
5. `~astro_mlfinder.distributed.merge.merge_tiles` keeps each voxel from the
   tile that owns it and joins sources cut by tile borders;
6. each merged source is read once on its bounding box: the finder's filters
   (size, reliability) and the SoFiA parameters
   (`~astro_mlfinder.distributed.measure`), and the
   `~astro_mlfinder.SourceCatalog` is built on the lazy input.

Peak memory: one tile per task in flight, the finder's global arrays (a
bit-packed mask for the classical finder: 1/32 of the cube), the sparse
labelled voxels, and the label cube, which is an unlinked file in ``scratch``
(the system's temporary folder by default; it disappears with the catalogue)
when ``max_memory`` is given and the labels would take over a quarter of it.
"""

import math
import os
import tempfile

import numpy as np

from ..core.finder import Finder
from ..core.inputs import ImageData
from .executor import TaskRunner
from .measure import measure_sources, source_columns
from .merge import merge_tiles
from .plan import make_plan, parse_memory
from .reader import TileReader

__all__ = ["run", "plan_for", "merge_tile_meta"]

#: Working memory per tile voxel of a finder without ``tiled_hooks`` (data, probabilities, labels).
DEFAULT_BYTES_PER_VOXEL = 32


def _hooks(finder):
    return finder.tiled_hooks() if hasattr(finder, "tiled_hooks") else None


def plan_for(finder, shape, *, tiles=None, max_memory=None, workers=1):
    """The `~astro_mlfinder.distributed.plan.TiledPlan` a tiled run of ``finder`` uses on data of ``shape``."""
    hooks = _hooks(finder)
    ndim = len(shape)
    halo = finder.tile_halo(ndim) if hasattr(finder, "tile_halo") else finder.margin_for(ndim)
    bpv = getattr(hooks, "BYTES_PER_VOXEL", DEFAULT_BYTES_PER_VOXEL)
    global_bytes = hooks.global_bytes(shape) if hooks is not None else 0
    if tiles is None and max_memory is None:
        max_memory = "4GB"
    return make_plan(shape, halo, tiles=tiles, max_memory=max_memory, bytes_per_voxel=bpv,
                     global_bytes=global_bytes, in_flight=workers)


def _segment_task(item):
    """Segment one tile; return its labels as sparse voxels and its per-source columns."""
    finder, reader, tile, mask_block, context, shape = item
    hooks = _hooks(finder)
    block = reader.read(tile.slices)
    if hooks is not None:
        block = hooks.transform(finder, block, mask_block)
        segmentation = hooks.segment_tile(finder, reader.tile_image(block, tile.slices), mask_block, context)
    else:
        segmentation = finder.segment(reader.tile_image(block, tile.slices), mask_block, False)
    labels = np.asarray(segmentation.labels)
    index = np.flatnonzero(labels)
    label = labels.reshape(-1)[index].astype(np.int64)
    coords = np.unravel_index(index, labels.shape)
    coords = tuple(c + s.start for c, s in zip(coords, tile.slices, strict=True))
    core = np.ones(index.size, dtype=bool)
    for c, s in zip(coords, tile.core, strict=True):
        core &= (c >= s.start) & (c < s.stop)
    ids = np.unique(label)
    columns = {k: np.asarray(v) for k, v in (segmentation.columns or {}).items()}
    return {"flat": np.ravel_multi_index(coords, shape).astype(np.int64), "label": label, "core": core,
            "ids": ids, "columns": columns, "meta": dict(segmentation.meta or {}),
            "physical": segmentation.physical, "name_prefix": segmentation.name_prefix}


def _label_array(shape, max_memory, scratch):
    """The label cube: in memory, or a file in ``scratch`` when a memory budget is set and it would not fit."""
    nbytes = math.prod(shape) * 4
    if max_memory is None or nbytes <= parse_memory(max_memory) // 4:
        return np.zeros(shape, dtype=np.int32), None
    folder = tempfile.mkdtemp(prefix="astro_mlfinder_labels_", dir=scratch)
    path = os.path.join(folder, "labels.npy")
    labels = np.lib.format.open_memmap(path, mode="w+", dtype=np.int32, shape=tuple(shape))
    # the mapping outlives the name: the file disappears with the catalogue, nothing is left behind
    os.unlink(path)
    os.rmdir(folder)
    return labels, folder


def run(finder, data, mask=None, wcs=None, *, tiles=None, max_memory=None, client=None, workers=1,
        scheduler="threads", progress=True, scratch=None):
    """Run ``finder`` tile by tile on ``data``; the catalogue equals the single pass's.

    Parameters
    ----------
    finder : `~astro_mlfinder.Finder`
        Any finder (configuration in its constructor).
    data : path, array-like, dask array or `~astro_mlfinder.core.inputs.ImageData`
        The data; a FITS path is read memory-mapped, tile by tile.
    mask : array-like of bool, optional
        Excluded voxels (True).
    wcs : `~astropy.wcs.WCS`, optional
        Overrides the data's WCS.
    tiles : int or tuple of int, optional
        Number of tiles along each axis.
    max_memory : str or int, optional
        Memory budget (``"4GB"``, ``"256MB"``); picks the tile size when
        ``tiles`` is not given (default ``"4GB"``).
    client : `distributed.Client` or str, optional
        Run the tile tasks on this dask.distributed cluster (or scheduler address).
    workers : int
        Tiles processed at the same time locally (the memory budget is shared).
    scheduler : {'threads', 'processes', 'synchronous'}
        Local Dask scheduler.
    progress : bool
        Progress bars over the tasks and the sources.
    scratch : str, optional
        Folder of the temporary label file (default: the system's temporary folder).

    Returns
    -------
    `~astro_mlfinder.SourceCatalog`
    """
    if not isinstance(finder, Finder):
        raise TypeError(f"run needs a Finder, got {type(finder).__name__}")
    if finder.untiled_reason:
        raise ValueError(finder.untiled_reason)
    reader = TileReader(data, wcs=wcs)
    image = reader.image
    finder.check_ndim(image)
    mask = finder.check_mask(mask, image.shape)
    shape = tuple(image.shape)
    runner = TaskRunner(client=client, workers=workers, scheduler=scheduler, progress=progress)
    plan = plan_for(finder, shape, tiles=tiles, max_memory=max_memory,
                    workers=1 if runner.client is not None else workers)
    hooks = _hooks(finder)
    context = hooks.setup(finder, reader, plan, mask, runner, progress) if hooks is not None else None

    def items():
        for tile in plan:
            tile_context = hooks.tile_context(context, tile) if hooks is not None else None
            mask_block = None if mask is None else mask[tile.slices]
            yield (finder, reader, tile, mask_block, tile_context, shape)

    pieces = runner.map(_segment_task, items(), desc="segment")
    flat, source, owner = merge_tiles(pieces)
    n_sources = owner.size
    labels, label_folder = _label_array(shape, max_memory, scratch)
    labels.reshape(-1)[flat] = (source + 1).astype(np.int32)

    # per-source steps on the merged labels, each source read once on its bounding box
    order = np.argsort(source, kind="stable")
    flat_by_source = np.split(flat[order], np.searchsorted(source[order], np.arange(1, n_sources)))
    if n_sources == 0:
        flat_by_source = []
    boxes = _bounding_boxes(flat_by_source, shape)
    transform = None
    if hooks is not None:
        transform = _Transform(finder, hooks, mask)
    columns, meta = {}, {}
    keep = np.ones(n_sources, dtype=bool)
    if hooks is not None:
        stats = source_columns(reader, labels, boxes, transform, hooks.source_pad(finder),
                               lambda d, lb, sid, origin: hooks.source_columns(finder, d, lb, sid, origin, shape,
                                                                               context), progress)
        keep, columns, meta = hooks.select(finder, stats, context, beam_area=image.beam_area, wcs=image.wcs)
    else:
        columns = _tile_columns(pieces, owner)
    # relabel: dropped sources to 0, the kept ones 1..N in the same order
    lut = np.zeros(n_sources + 1, dtype=np.int32)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    for sid in np.flatnonzero(~keep):
        labels.reshape(-1)[flat_by_source[sid]] = 0
    for sid in np.flatnonzero(keep):
        if lut[sid + 1] != sid + 1:
            labels.reshape(-1)[flat_by_source[sid]] = lut[sid + 1]
    kept_boxes = [boxes[i] for i in np.flatnonzero(keep)]
    first = pieces[0] if pieces else {"meta": {}, "physical": False, "name_prefix": "SoFiA"}
    physical = getattr(finder, "physical", first["physical"])
    params, flags = measure_sources(reader, labels, kept_boxes, transform, image, physical, progress)
    if "flag" not in columns:
        columns["flag"] = flags
    seg_meta = merge_tile_meta([piece["meta"] for piece in pieces])
    seg_meta.update(meta)
    seg_meta["tiled"] = {"tiles": len(plan), "halo": list(plan.halo), "max_tile_voxels": plan.max_tile_voxels,
                         "labels_on_disk": label_folder is not None}
    from ..core.catalog import SourceCatalog

    catalog = SourceCatalog(ImageData(image.data, image.wcs, image.header, image.unit, image.beam, image.filename),
                            labels, columns=columns, meta=seg_meta, physical=physical,
                            name_prefix=getattr(finder, "name_prefix", first["name_prefix"]), params=params)
    catalog.meta.setdefault("finder", finder.describe())
    return catalog


def merge_tile_meta(metas):
    """One metadata dict from the tiles' segmentation metadata.

    A value every tile agrees on is kept as it is; dicts are merged key by
    key the same way; a value that differs between tiles (e.g. a per-tile
    count of candidates) becomes the list of the tiles' values, in plan
    order, so no tile's record is silently dropped.

    Examples
    --------
    >>> merge_tile_meta([{"model": "m", "rel": {"thr": 0.7, "kept": 2}},
    ...                  {"model": "m", "rel": {"thr": 0.7, "kept": 1}}])
    {'model': 'm', 'rel': {'thr': 0.7, 'kept': [2, 1]}}
    """
    metas = [dict(m or {}) for m in metas]
    if not metas:
        return {}
    merged = {}
    keys = list(dict.fromkeys(k for m in metas for k in m))
    for key in keys:
        values = [m.get(key) for m in metas]
        if all(isinstance(v, dict) for v in values):
            merged[key] = merge_tile_meta(values)
        elif all(_same(v, values[0]) for v in values[1:]):
            merged[key] = values[0]
        else:
            merged[key] = values
    return merged


def _same(a, b):
    try:
        same = a == b
        return bool(same) if not isinstance(same, np.ndarray) else bool(same.all()) and np.shape(a) == np.shape(b)
    except (TypeError, ValueError):
        return False


class _Transform:
    """The finder's per-voxel preparation of a block read at ``slices`` (picklable)."""

    def __init__(self, finder, hooks, mask):
        self.finder, self.hooks, self.mask = finder, hooks, mask

    def __call__(self, block, slices):
        mask_block = None if self.mask is None else self.mask[slices]
        return self.hooks.transform(self.finder, block, mask_block)


def _bounding_boxes(flat_by_source, shape):
    boxes = []
    for flat in flat_by_source:
        coords = np.unravel_index(flat, shape)
        boxes.append(tuple(slice(int(c.min()), int(c.max()) + 1) for c in coords))
    return boxes


def _tile_columns(pieces, owner):
    """Per-source columns a finder's ``segment`` returned, taken from the tile that owns each source."""
    names = set()
    for piece in pieces:
        names |= set(piece["columns"])
    out = {}
    for name in sorted(names):
        parts = []
        for piece in pieces:
            values = piece["columns"].get(name)
            parts.append(np.full(piece["ids"].size, np.nan) if values is None else np.asarray(values))
        out[name] = np.concatenate(parts)[owner] if parts else np.zeros(0)
    return out
