"""Per-source steps of a tiled run, each source read once on its bounding box.

`measure_sources` gives exactly the columns of
`astro_mlfinder.core.measure.parameterise` on the whole data (the same
per-source measurement, `astro_mlfinder.core.measure._measure`, on the same
bounding box), and the SoFiA flags of `~astro_mlfinder.SourceCatalog`;
`source_columns` runs a finder's own per-source statistics (e.g. the linker's)
on the box padded by what they need. Only the box of one source is in memory
at a time.
"""

import math

import numpy as np

from ..core.progress import progress_bar

__all__ = ["measure_sources", "source_columns"]


def _read(reader, slices, transform):
    block = reader.read(slices)
    if transform is not None:
        block = transform(block, slices)
    return block


def _padded(box, pad, shape):
    return tuple(slice(max(0, s.start - p), min(n, s.stop + p)) for s, p, n in zip(box, pad, shape, strict=True))


def source_columns(reader, labels, boxes, transform, pad, func, progress=True):
    """``func(data_box, label_box, sid, origin)`` for every source, on its box padded by ``pad``.

    Returns
    -------
    dict of `~numpy.ndarray`
        The values ``func`` returned (a dict per source), one array per key.
    """
    shape = labels.shape
    rows = []
    for k in progress_bar(range(len(boxes)), desc="sources", enabled=progress, unit="src"):
        box = _padded(boxes[k], pad, shape)
        data = _read(reader, box, transform)
        rows.append(func(data, np.asarray(labels[box]), k + 1, tuple(s.start for s in box)))
    if not rows:
        return {}
    return {key: np.asarray([row[key] for row in rows]) for key in rows[0]}


def _physical_ok(image, physical):
    import astropy.units as u

    return bool(physical) and image.unit == u.Jy / u.beam and image.beam is not None and image.has_spectral


def measure_sources(reader, labels, boxes, transform, image, physical=False, progress=True):
    """The SoFiA parameters and flags of the sources ``1..len(boxes)`` of ``labels``.

    Parameters
    ----------
    reader : `~astro_mlfinder.distributed.reader.TileReader`
        The data.
    labels : `~numpy.ndarray` of int32
        Final labels (memory-mapped or in memory).
    boxes : list of tuple of slice
        Bounding box of source ``k + 1``.
    transform : callable or None
        ``transform(block, slices)``: the finder's per-voxel preparation.
    image : `~astro_mlfinder.core.inputs.ImageData`
        For the units, beam and spectral axis (``physical``).
    physical : bool
        SoFiA's ``parameter.physical`` conversion, where the data allow it.

    Returns
    -------
    params : dict of `~numpy.ndarray`
        As `~astro_mlfinder.core.measure.parameterise`.
    flags : `~numpy.ndarray` of int64
        1 spatial edge, 2 spectral edge, 4 blank pixel adjacent (as `~astro_mlfinder.SourceCatalog`).
    """
    from scipy import ndimage

    from ..core.measure import _INT_COLUMNS, COLUMNS_2D, COLUMNS_3D, _measure

    shape = labels.shape
    is3d = len(shape) == 3
    names = COLUMNS_3D if is3d else COLUMNS_2D
    nsrc = len(boxes)
    cols = {name: np.zeros(nsrc, dtype=np.int64 if name in _INT_COLUMNS else np.float64) for name in names}
    cols["id"] = np.arange(1, nsrc + 1, dtype=np.int64)
    flags = np.zeros(nsrc, dtype=np.int64)
    for k in progress_bar(range(nsrc), desc="measure", enabled=progress, unit="src"):
        sid = k + 1
        box = boxes[k]
        padded = _padded(box, (1,) * len(shape), shape)
        data_p = _read(reader, padded, transform)
        lab_p = np.asarray(labels[padded])
        inner = tuple(slice(b.start - p.start, b.stop - p.start) for b, p in zip(box, padded, strict=True))
        data = data_p[inner]
        lab = lab_p[inner]
        data3 = data if is3d else data[None]
        lab3 = lab if is3d else lab[None]
        box3 = box if is3d else (slice(0, 1),) + tuple(box)
        origin = tuple(s.start for s in box3)
        res = _measure(data3.astype(np.float64), lab3, sid, origin, None, is3d)
        cols["x_min"][k], cols["x_max"][k] = box3[2].start, box3[2].stop - 1
        cols["y_min"][k], cols["y_max"][k] = box3[1].start, box3[1].stop - 1
        if is3d:
            cols["z_min"][k], cols["z_max"][k] = box3[0].start, box3[0].stop - 1
        for name, value in res.items():
            if name in cols:
                cols[name][k] = value
        if box[-1].start == 0 or box[-1].stop == shape[-1] or box[-2].start == 0 or box[-2].stop == shape[-2]:
            flags[k] |= 1
        if is3d and (box[0].start == 0 or box[0].stop == shape[0]):
            flags[k] |= 2
        blank = ~np.isfinite(data_p)
        if blank.any() and (ndimage.binary_dilation(blank) & (lab_p == sid)).any():
            flags[k] |= 4
    if _physical_ok(image, physical):
        chan = abs(float(image.spectral_cdelt)) if is3d else 1.0
        omega = 1.0 if image.beam_area is None else float(image.beam_area)
        cols["f_sum"] = cols["f_sum"] * chan / omega
        cols["err_f_sum"] = cols["err_f_sum"] * chan / math.sqrt(omega)
        for name in ("err_x", "err_y", "err_z") if is3d else ("err_x", "err_y"):
            cols[name] = cols[name] * math.sqrt(omega)
        if is3d:
            for name in ("w20", "w50", "wm50"):
                cols[name] = cols[name] * chan
    return cols, flags
