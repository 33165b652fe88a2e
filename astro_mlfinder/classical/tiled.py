"""`ClassicalFinder` in a tiled run (``astro_mlfinder.distributed``): what must be global is computed globally.

SoFiA-2's smooth-and-clip finder measures the noise of *every smoothed cube*
on a strided sample of the whole cube, and each pass replaces the voxels the
earlier passes detected. A tiled run therefore makes one detection pass over
the cube per kernel pair, in SoFiA-2's order, block by block:

1. the cube is smoothed exactly as the single pass does it, bit for bit:
   SoFiA's running-sum boxcars accumulate along whole lines, so the spatial
   stage works on slabs of whole planes and the spectral stage on blocks of
   whole spectra (the spatially smoothed slabs go through a scratch cube on
   disk), with the global detection mask of the earlier passes;
2. every block returns its values at the global sample positions (every
   ``c``-th voxel of the flattened cube, counted from the end:
   `~astro_mlfinder.core.stats.noise_stride`) and, as clip candidates, its
   voxels above 0.8 times its own estimate of the clip level;
3. the samples, put back in sampling order, give the noise of that pass with
   exactly SoFiA-2's statistic (`noise_from_sample`), bounded in memory by the
   sample size (about 10**6 values);
4. the candidates above ``threshold`` times that noise are set in the global
   bit-packed mask (1/32 of the cube); a block whose candidates could miss a
   voxel (its estimate was too high) is smoothed again and clipped.

Then each tile (core plus halo, `~astro_mlfinder.distributed.plan`) links its
part of the global mask (size filters off); the runner joins the pieces of
sources cut by tile borders and measures each source once on its bounding
box: the linker statistics (`source_columns`) and the filters, the
reliability filter and SoFiA's numbering (`select`) follow on the merged
sources, exactly as `~astro_mlfinder.classical.linker.link` and
`~astro_mlfinder.classical.reliability.reliability` do on a single pass. The
mask, the noise of every pass, the labels and the catalogue equal the single
pass's.

Supported: the smooth-and-clip finder with the ``mad`` or ``std`` statistic,
the linker, the reliability filter, a user mask, ``invert``. Other options
(flagging, noise/weights cubes, continuum subtraction, noise scaling, ripple
filter, the threshold finder, dilation, ``region``) raise a `ValueError`
naming the option: run those single-pass. The scratch cube (float32, the
cube's size) lives in the system's temporary folder (``TMPDIR``), which the
workers of a dask.distributed cluster must share.
"""

import math
import os
import tempfile

import numpy as np

from ..core.segmentation import Segmentation
from ..core.stats import (
    MAD_TO_STD,
    _select,
    _sum_squares,
    check_flux_range,
    check_statistic,
    noise_stride,
    sofia_median,
)

__all__ = ["check_supported", "tile_halo", "noise_from_sample", "setup", "tile_context", "transform",
           "segment_tile", "source_columns", "select"]

#: Working memory of one tile per tile voxel: the data, one smoothed copy, labels and linker arrays.
BYTES_PER_VOXEL = 24


def check_supported(finder):
    """Raise `ValueError` naming the first option a tiled run does not reproduce."""
    unsupported = [
        ("region", finder.region is not None), ("flag_regions", bool(finder.flag_regions)),
        ("flag_catalog", finder.flag_catalog is not None), ("flag_auto", bool(finder.flag_auto)),
        ("noise", finder.noise is not None), ("weights", finder.weights is not None),
        ("contsub", bool(finder.contsub)), ("scale_noise", finder.scale_noise is not None),
        ("ripple_filter", bool(finder.ripple_filter)), ("threshold_finder", bool(finder.threshold_finder)),
        ("dilation", bool(finder.dilation)), ("scfind=False", not finder.scfind), ("link=False", not finder.link),
        (f"statistic={finder.statistic!r}", str(finder.statistic).lower() == "gauss"),
        (f"reliability={finder.reliability!r}", isinstance(finder.reliability, str)),
    ]
    for name, active in unsupported:
        if active:
            raise ValueError(f"ClassicalFinder({name}) is not supported by a tiled run (tiles/max_memory/client); "
                             "run it single-pass")


def _kernel_plan(finder, shape):
    from . import smooth_clip as _sc

    return _sc._check_kernels(finder.kernels_xy, finder.kernels_z, shape)


def tile_halo(finder, ndim):
    """Halo (z, y, x) of the linking tiles: the smoothing kernels' support plus the linker radius (generous)."""
    from .smooth_clip import optimal_filter_size

    support_xy = 0
    for k in finder.kernels_xy:
        if float(k) > 0:
            n_iter, radius = optimal_filter_size(k)
            support_xy = max(support_xy, n_iter * radius)
    support_z = max((int(k) // 2 for k in finder.kernels_z), default=0)
    halo = (support_z + int(finder.radius_z) + 1, support_xy + int(finder.radius_xy) + 1,
            support_xy + int(finder.radius_xy) + 1)
    return halo[-ndim:]


def global_bytes(shape):
    """Memory a tiled run keeps for the whole cube: two bit-packed masks and the noise sample."""
    n = math.prod(shape)
    return 2 * n // 8 + 16 * min(n, 10**6)  # the sample: flat index, value and sorting copies


# --------------------------------------------------------------------------- noise from a sample
def sample_positions(core, shape, cadence):
    """Flat indices and core-local coordinates of SoFiA's noise sample inside ``core``.

    The sample holds the flat indices ``n - cadence, n - 2 cadence, ...``,
    i.e. those congruent to ``n`` modulo ``cadence``.
    """
    n = math.prod(shape)
    residue = n % cadence
    starts = [s.start for s in core]
    stops = [s.stop for s in core]
    x0, x1 = starts[-1], stops[-1]
    rows = np.ravel_multi_index(np.meshgrid(*[np.arange(a, b) for a, b in zip(starts[:-1], stops[:-1], strict=True)],
                                            indexing="ij"), shape[:-1]).ravel().astype(np.int64) * shape[-1] + x0
    first = (residue - rows) % cadence
    flats, locs = [], []
    for k in range(0, x1 - x0, cadence):
        dx = first + k
        ok = dx < (x1 - x0)
        flats.append(rows[ok] + dx[ok])
        locs.append(np.flatnonzero(ok) * (x1 - x0) + dx[ok])
    flat = np.concatenate(flats) if flats else np.zeros(0, np.int64)
    local = np.concatenate(locs) if locs else np.zeros(0, np.int64)
    return flat, local


def noise_from_sample(flat, values, n, cadence, statistic="mad", flux_range="negative", order=None):
    """SoFiA-2's strided noise of a cube from the sampled values alone.

    Parameters
    ----------
    flat : `~numpy.ndarray` of int
        Flat indices of the samples (every one congruent to ``n`` modulo ``cadence``), in any order.
    values : `~numpy.ndarray`
        The cube's values there.
    n, cadence : int
        Size of the cube and the sampling stride (`~astro_mlfinder.core.stats.noise_stride`).
    statistic : {'mad', 'std'}
    flux_range : {'negative', 'positive', 'full'}
    order : `~numpy.ndarray` of int, optional
        ``argsort(-flat)`` when known (the same tiles give the same sample positions on every pass).

    Returns
    -------
    float
        Exactly `~astro_mlfinder.core.stats.measure_noise` ``(cube, statistic, flux_range, sample=True)``.
    """
    stat = check_statistic(statistic)
    code = check_flux_range(flux_range)
    if order is None:
        order = np.argsort(-np.asarray(flat), kind="stable")  # sampling order: from the end of the cube
    flat = np.asarray(flat)[order]
    values = np.asarray(values)[order]
    if stat == "mad":
        values = values[flat > 0]  # SoFiA's MAD never uses element 0
        cap = n // cadence if code == 0 else n // (2 * cadence)
        sample = _select(values, code)[:cap]
        return MAD_TO_STD * float(sofia_median(np.abs(sample)))
    if stat == "std":
        sample = _select(values, code)
        if sample.size == 0:
            return math.nan
        return math.sqrt(_sum_squares(sample) / sample.size)
    raise ValueError("a tiled run measures the noise with the 'mad' or 'std' statistic, not 'gauss'")


# --------------------------------------------------------------------------- tile tasks
def transform(finder, block, mask_block):
    """What `~astro_mlfinder.classical.pipeline.prepare` does voxel by voxel: Inf -> NaN, the mask, ``invert``."""
    block[np.isinf(block)] = np.nan
    if mask_block is not None:
        block[mask_block] = np.nan
    if finder.invert:
        np.negative(block, out=block)
    return block


def _packed_x(sl):
    return slice(sl.start // 8, -(-sl.stop // 8))


#: A tile keeps the voxels above this fraction of its own estimate of a pass's clip level as candidates, so
#: that the clip at the global level rarely needs the tile smoothed a second time.
CANDIDATE_FACTOR = 0.8
#: At most this fraction of a core's voxels is kept as candidates (else the tile is smoothed again to clip).
CANDIDATE_FRACTION = 0.05


def _candidates(core, sample, threshold):
    """Voxels of ``core`` whose ``|x|`` exceeds a lower bound of the clip level, and that bound."""
    finite = np.abs(sample[np.isfinite(sample)])
    if not finite.size:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), math.inf
    estimate = MAD_TO_STD * float(np.median(finite))
    bound = CANDIDATE_FACTOR * threshold * estimate
    if not (math.isfinite(bound) and bound > 0):
        return np.zeros(0, np.int64), np.zeros(0, np.float32), math.inf
    flat = np.ascontiguousarray(core).reshape(-1)
    # a float32 comparison a little below the bound: a superset, filtered exactly (in float64) when clipping
    index = np.flatnonzero(np.abs(flat) > np.float32(bound * (1.0 - 1e-5)))
    if index.size > CANDIDATE_FRACTION * flat.size:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), math.inf
    return index, flat[index], bound


def _finish(work, block, shape, cadence, threshold, clip, bits):
    """The noise sample and clip candidates of a smoothed block, or (``clip`` given) its clipped mask bits."""
    from . import _boxcar

    if clip is None:
        flat, local = sample_positions(block, shape, cadence)
        sample = work.reshape(-1)[local]
        return (flat, sample) + _candidates(work, sample, threshold)
    block_bits = np.array(bits)
    n_new = int(_boxcar.clip_bits(work, block_bits, clip))
    return block_bits, n_new


def _spatial_task(item):
    """Replace and smooth every plane of a slab of whole planes (SoFiA's spatial boxcars).

    Planes are smoothed independently, so the result is bit for bit the
    single pass's. The last stage of a pass returns `_finish`; otherwise the
    slab goes to the scratch cube for the spectral stage.
    """
    import numba

    from . import _boxcar
    from .smooth_clip import optimal_filter_size

    (finder, reader, block, mask_block, bits, kernel, rv, use_repl, final, scratch, shape, cadence, threshold,
     clip) = item
    cube = np.ascontiguousarray(transform(finder, reader.read(block), mask_block), dtype=np.float32)
    n_iter, radius = optimal_filter_size(kernel[0])
    work = np.empty_like(cube)
    _boxcar.spatial_pass(work, cube, np.ascontiguousarray(bits), rv, use_repl, n_iter, radius, final,
                         4 * numba.get_num_threads())
    if final:
        return _finish(work, block, shape, cadence, threshold, clip, bits)
    out = np.memmap(scratch, dtype=np.float32, mode="r+", shape=shape)
    out[block] = work
    out.flush()
    del out
    return None


def _spectral_task(item):
    """The spectral stage of a pass on a block of whole spectra (all channels, whole x rows).

    Spectra are filtered independently, so the result is bit for bit the
    single pass's: the spectral boxcar of the scratch cube (after the spatial
    stage), or replacement and spectral boxcar of the data, or (kernel pair
    (0, 0)) the data themselves.
    """
    import numba

    from . import _boxcar

    (finder, reader, block, mask_block, bits, kernel, rv, use_repl, _, scratch, shape, cadence, threshold,
     clip) = item
    cube = np.ascontiguousarray(transform(finder, reader.read(block), mask_block), dtype=np.float32)
    k_xy, k_z = kernel
    radius_z = k_z // 2
    nchunk = 4 * numba.get_num_threads()
    bits_c = np.ascontiguousarray(bits)
    if k_xy == 0.0 and k_z == 0:
        work = cube
    elif k_xy > 0.0:
        work = np.array(np.memmap(scratch, dtype=np.float32, mode="r", shape=shape)[block])
        _boxcar.spectral_pass_inplace(work, cube, radius_z, nchunk)
    elif radius_z > 0:
        work = np.empty_like(cube)
        _boxcar.spectral_pass_from(work, cube, bits_c, rv, use_repl, radius_z, nchunk)
    else:
        work = np.empty_like(cube)
        _boxcar.replace_pass(work, cube, bits_c, rv, use_repl)
    return _finish(work, block, shape, cadence, threshold, clip, bits)


def _clip_candidates(core_bits, core_shape, index, values, level):
    """Set the bits of the candidates with ``|x| > level`` (as ``clip_bits`` compares); return the new count."""
    index = index[np.abs(values.astype(np.float64)) > level]
    if not index.size:
        return 0
    z, y, x = np.unravel_index(index, core_shape)
    bit = (np.uint8(1) << (x & 7).astype(np.uint8)).astype(np.uint8)
    n_new = int(np.count_nonzero((core_bits[z, y, x >> 3] & bit) == 0))
    np.bitwise_or.at(core_bits, (z, y, x >> 3), bit)
    return n_new


def setup(finder, reader, plan, mask, runner, progress=True):
    """The global detection pass, tile by tile; returns the context of the tiled run.

    Returns
    -------
    dict
        ``bits`` (the bit-packed global raw mask), ``global_rms`` (SoFiA's
        global rms, for the linker), ``passes`` (kernel, rms and new voxels
        of every pass, as `~astro_mlfinder.classical.smooth_clip.smooth_clip`),
        ``shape``.
    """
    check_supported(finder)
    shape = tuple(reader.shape)
    if len(shape) != 3:
        raise ValueError(f"a tiled ClassicalFinder run needs a 3D cube, got shape {shape}")
    kxy, kz = _kernel_plan(finder, shape)
    n = math.prod(shape)
    cadence = noise_stride(n, shape[-1])
    bits = np.zeros(shape[:-1] + (-(-shape[-1] // 8),), dtype=np.uint8)
    threshold = float(finder.threshold)
    replacement = float(finder.replacement)
    use_repl = replacement >= 0.0

    # Exact smoothing: slabs of whole planes (spatial stage) and blocks of whole spectra (spectral stage), as
    # SoFiA's running sums need whole lines; at most a tile's voxels each (one plane, one row of spectra at least).
    max_voxels = max(plan.max_tile_voxels, 1)
    nz, ny, nx = shape
    step_z = max(1, max_voxels // (ny * nx))
    step_y = max(1, max_voxels // (nz * nx))
    slabs = [(slice(a, min(nz, a + step_z)), slice(0, ny), slice(0, nx)) for a in range(0, nz, step_z)]
    rows = [(slice(0, nz), slice(a, min(ny, a + step_y)), slice(0, nx)) for a in range(0, ny, step_y)]
    scratch = None
    if any(float(k) > 0 for k in kxy) and any(int(k) // 2 > 0 for k in kz):
        fd, scratch = tempfile.mkstemp(prefix="astro_mlfinder_smoothed_", suffix=".f32")
        os.close(fd)
        np.memmap(scratch, dtype=np.float32, mode="w+", shape=shape).flush()

    def items(blocks, kernel, rv, final, clip):
        for block in blocks:
            mask_block = None if mask is None else mask[block]
            yield (finder, reader, block, mask_block, bits[block[:2]], kernel, rv, use_repl, final, scratch, shape,
                   cadence, threshold, clip)

    def last_stage(kernel):
        return "spatial" if kernel[0] > 0.0 and kernel[1] // 2 == 0 else "spectral"

    def sweep(kernel, rv, clip=None, blocks=None, desc="S+C"):
        """Run the last stage of the pass ``kernel`` (after its spatial stage, when it has one)."""
        if last_stage(kernel) == "spatial":
            return runner.map(_spatial_task, items(blocks or slabs, kernel, rv, True, clip), desc=desc)
        return runner.map(_spectral_task, items(blocks or rows, kernel, rv, False, clip), desc=desc)

    sample_order = []

    def noise(kernel, rv, statistic, flux_range, desc):
        if kernel[0] > 0.0 and kernel[1] // 2 > 0:  # the spatial stage into the scratch cube first
            runner.map(_spatial_task, items(slabs, kernel, rv, False, None), desc=desc + " xy")
        results = sweep(kernel, rv, desc=desc)
        flat = np.concatenate([r[0] for r in results])
        values = np.concatenate([r[1] for r in results])
        if not sample_order:
            sample_order.append(np.argsort(-flat, kind="stable"))
        rms = noise_from_sample(flat, values, n, cadence, statistic, flux_range, order=sample_order[0])
        return rms, (flat, values), results

    try:
        rms0, raw_sample, raw_results = noise((0.0, 0), 0.0, finder.statistic, finder.flux_range, "noise")
        global_rms = noise_from_sample(*raw_sample, n, cadence, "mad", "negative", order=sample_order[0])
        del raw_sample
        if not (math.isfinite(rms0) and rms0 > 0):
            raise ValueError(f"could not measure a positive noise level in the cube (got {rms0})")
        rv = float(np.float32(replacement * rms0)) if use_repl else 0.0
        passes = []
        for k_xy in kxy:
            for k_z in kz:
                kernel = (float(k_xy), int(k_z))
                if k_xy == 0.0 and k_z == 0:
                    rms, results = rms0, raw_results
                else:
                    rms, _, results = noise(kernel, rv, finder.statistic, finder.flux_range, f"S+C {k_xy:g},{k_z}")
                    if not (math.isfinite(rms) and rms > 0):
                        raise ValueError(f"could not measure a positive noise level in the cube smoothed with "
                                         f"kernel ({k_xy:g}, {k_z}) (got {rms})")
                blocks = slabs if last_stage(kernel) == "spatial" else rows
                level = threshold * rms
                new = np.empty_like(bits)
                n_new = 0
                redo = []
                for block, result in zip(blocks, results, strict=True):
                    index, values, bound = result[2], result[3], result[4]
                    if level >= bound:  # every voxel above the level is a candidate: clip without smoothing again
                        block_bits = bits[block[:2]].copy()
                        n_new += _clip_candidates(block_bits, tuple(s.stop - s.start for s in block), index,
                                                  values, level)
                        new[block[:2]] = block_bits
                    else:
                        redo.append(block)
                del results
                if redo:
                    again = sweep(kernel, rv, clip=level, blocks=redo, desc=f"S+C clip {k_xy:g},{k_z}")
                    for block, (block_bits, count) in zip(redo, again, strict=True):
                        new[block[:2]] = block_bits
                        n_new += count
                bits = new
                passes.append({"kernel_xy": float(k_xy), "kernel_z": int(k_z), "rms": rms, "n_new": n_new,
                               "tiles_smoothed_again": len(redo)})
        raw_results = None
    finally:
        if scratch is not None:
            os.remove(scratch)
    return {"bits": bits, "global_rms": global_rms, "passes": passes, "shape": shape}


def tile_context(context, tile):
    """The part of the run's context the tile needs: its part of the mask and the global rms."""
    return {"bits": context["bits"][tile.slices[:-1] + (_packed_x(tile.slices[-1]),)].copy(),
            "global_rms": context["global_rms"]}


def segment_tile(finder, image, mask, context):
    """Link the tile's part of the global raw mask (no size filters: they apply to the merged sources)."""
    from .linker import link
    from .packed_mask import PackedMask

    data = image.read()
    raw = PackedMask(context["bits"], data.shape)
    linked = link(raw, data, radius_xy=finder.radius_xy, radius_z=finder.radius_z, min_size_xy=0, min_size_z=0,
                  max_size_xy=0, max_size_z=0, min_pixels=0, max_pixels=0, min_fill=0.0, max_fill=0.0,
                  positivity=finder.positivity, remove_negative=False, global_rms=context["global_rms"])
    return Segmentation(linked.labels)


def source_pad(finder):
    """Padding (z, y, x) of the box `source_columns` reads around a source: the linker radius."""
    return (int(finder.radius_z), int(finder.radius_xy), int(finder.radius_xy))


def source_columns(finder, data_box, label_box, sid, origin, shape, context):
    """The linker statistics of one merged source, as `~astro_mlfinder.classical.linker.link` measures them.

    ``data_box`` and ``label_box`` cover the source's bounding box padded by
    `source_pad` (clipped to the cube); ``origin`` is the box's first voxel.
    """
    from ._link_numpy import blank_neighbour
    from .linker import linker_structure

    src = label_box == sid
    coords = np.nonzero(src)  # raster order = ascending flat index, as the linker
    values = data_box[src].astype(np.float64) / context["global_rms"]
    n_pix = values.size
    index = np.zeros(n_pix, dtype=np.intp)
    f_sum = float(np.bincount(index, weights=values, minlength=1)[0])
    mean = f_sum / max(n_pix, 1)
    dev = values - mean
    dev2 = dev * dev
    m2 = float(np.bincount(index, weights=dev2, minlength=1)[0])
    m3 = float(np.bincount(index, weights=dev2 * dev, minlength=1)[0])
    m4 = float(np.bincount(index, weights=dev2 * dev2, minlength=1)[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.sqrt(np.float64(m2) / (n_pix - 1.0))
        skew = np.sqrt(np.float64(n_pix)) * m3 / np.float64(m2) ** 1.5
        kurt = n_pix * m4 / (np.float64(m2) * m2) - 3.0
    lo = [int(c.min()) + o for c, o in zip(coords, origin, strict=True)]
    hi = [int(c.max()) + o for c, o in zip(coords, origin, strict=True)]
    nz, ny, nx = shape
    flag = 0
    if lo[2] == 0 or hi[2] == nx - 1 or lo[1] == 0 or hi[1] == ny - 1:
        flag |= 1
    if lo[0] == 0 or hi[0] == nz - 1:
        flag |= 2
    if not np.isfinite(data_box).all():
        structure = linker_structure(int(finder.radius_xy), int(finder.radius_z), ndim=3)
        if blank_neighbour(data_box, coords, data_box.shape, structure).any():
            flag |= 4
    size = [h - lw + 1 for lw, h in zip(lo, hi, strict=True)]
    return {"z_min": lo[0], "z_max": hi[0], "y_min": lo[1], "y_max": hi[1], "x_min": lo[2], "x_max": hi[2],
            "n_pix": n_pix, "f_min": float(values.min()), "f_max": float(values.max()), "f_sum": f_sum,
            "fill": n_pix / float(size[0] * size[1] * size[2]), "mean": mean, "std": std, "skew": skew,
            "kurt": kurt, "m2": m2, "flag": flag}


def select(finder, columns, context, beam_area=1.0, wcs=None):
    """The linker's filters and the reliability filter on the merged sources (in SoFiA's order).

    Parameters
    ----------
    columns : dict of array
        `source_columns` of every merged source, in SoFiA's order.

    Returns
    -------
    keep : `~numpy.ndarray` of bool
    columns : dict of array
        ``rel``, ``flag``, ``fill``, ``mean``, ``std``, ``skew``, ``kurt`` of the kept sources.
    meta : dict
        ``global_rms``, ``scfind_passes`` and (when run) ``reliability``.
    """
    import warnings

    from ..core.exceptions import AstroMLFinderWarning

    if not columns:  # no source was linked
        columns = {k: np.zeros(0, dtype=np.int64 if k in ("flag", "n_pix") or k[1:] in ("_min", "_max") else float)
                   for k in ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "n_pix", "f_min", "f_max",
                             "f_sum", "fill", "mean", "std", "skew", "kurt", "m2", "flag")}
    size_x = columns["x_max"] - columns["x_min"] + 1
    size_y = columns["y_max"] - columns["y_min"] + 1
    size_z = columns["z_max"] - columns["z_min"] + 1
    n_pix, fill = columns["n_pix"], columns["fill"]
    bad = (size_x < finder.min_size_xy) | (size_y < finder.min_size_xy) | (size_z < finder.min_size_z)
    if finder.max_size_xy:
        bad |= (size_x > finder.max_size_xy) | (size_y > finder.max_size_xy)
    if finder.max_size_z:
        bad |= size_z > finder.max_size_z
    bad |= n_pix < finder.min_pixels
    if finder.max_pixels:
        bad |= n_pix > finder.max_pixels
    if finder.min_fill > 0.0:
        bad |= fill < finder.min_fill
    if finder.max_fill > 0.0:
        bad |= fill > finder.max_fill
    if not (finder.reliability is True or finder.keep_negative):
        bad |= columns["f_sum"] < 0.0
    linked = {k: np.asarray(v)[~bad] for k, v in columns.items()}
    keep = ~bad
    rel = np.zeros(int(keep.sum()))
    meta = {"global_rms": context["global_rms"], "scfind_passes": context["passes"], "offset": None}
    if finder.reliability:
        from . import reliability as _reliability

        if not len(linked["n_pix"]):
            warnings.warn("no sources were linked; reliability was not measured", AstroMLFinderWarning,
                          stacklevel=3)
        else:
            exclude = None
            if finder.reliability_catalog is not None:
                exclude = _reliability.read_exclusion_catalog(finder.reliability_catalog, wcs)
            result = _reliability.reliability(
                linked, parameters=finder.reliability_parameters, threshold=finder.reliability_threshold,
                scale_kernel=finder.reliability_scale_kernel, min_snr=finder.reliability_min_snr,
                min_pixels=finder.reliability_min_pixels, auto_kernel=finder.reliability_auto_kernel,
                iterations=finder.reliability_iterations, tolerance=finder.reliability_tolerance,
                beam_area=beam_area, exclude=exclude,
            )
            kept = np.asarray(result.keep, dtype=bool)
            meta["reliability"] = result
            rel = np.asarray(result.rel, dtype=float)[kept]
            linked = {k: v[kept] for k, v in linked.items()}
            keep[np.flatnonzero(keep)[~kept]] = False
    out = {"rel": rel, "flag": np.asarray(linked["flag"]).astype(np.int64)}
    for key in ("fill", "mean", "std", "skew", "kurt"):
        out[key] = np.asarray(linked[key], dtype=float)
    return keep, out, meta
