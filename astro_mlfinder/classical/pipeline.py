"""`ClassicalFinder`'s pipeline as named stages: prepare, detect, link, reliability, dilate.

Each stage reads and extends one `PipelineState`; `run` calls them in
SoFiA-2's order and `segmentation` hands the result to the measurement layer.
A tiled run (``astro_mlfinder.distributed``) can call the stages around tiles:
`prepare` and `detect` per tile, `link` on the merged mask, and `reliability`
and `dilate` once, on the whole catalogue.

================  ==============================================================
stage             SoFiA-2 steps
================  ==============================================================
``prepare``       ``input.region`` cut, Inf -> NaN, user mask, flagging (regions,
                  catalogue, auto), inversion, noise/weights cubes, continuum
                  subtraction, noise scaling, ripple filter, global rms
``detect``        smooth-and-clip and/or threshold finder -> raw (bit-packed) mask
``link``          linker: labels, size/fill/pixel cuts, linker statistics
``reliability``   negative-source KDE reliability filter and relabelling
``dilate``        mask dilation
================  ==============================================================
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core.exceptions import AstroMLFinderWarning
from ..core.inputs import ImageData, load_image
from ..core.segmentation import Segmentation

# The stage modules hold numba kernels: they are imported by the stages that use them, so that
# importing the package stays light (numba and scipy load on the first search).

__all__ = ["STAGES", "PipelineState", "prepare", "detect", "link", "reliability", "dilate", "run", "segmentation"]

#: The stage names in SoFiA-2's order.
STAGES = ("prepare", "detect", "link", "reliability", "dilate")


@dataclass
class PipelineState:
    """What the stages of one `ClassicalFinder` run hand to each other.

    Attributes
    ----------
    image : `~astro_mlfinder.core.inputs.ImageData`
        The searched image (the ``region`` sub-cube when one is set).
    offset : tuple of int
        ``(x0, y0, z0)`` of ``image`` in the input.
    base : `~numpy.ndarray`
        The flagged data in the input's units (what the catalogue measures
        when noise/weights cubes or noise scaling change ``work``).
    work : `~numpy.ndarray`
        The data the finders search (``base`` itself unless preconditioning
        made a copy).
    reload : bool
        SoFiA-2's "reload the data for parameterisation" case.
    scale_noise_fn : callable or None
        Noise scaling applied to every smoothed cube (``scaleNoise.scfind``).
    products, meta : dict
        Arrays and provenance for the catalogue.
    raw : `~astro_mlfinder.classical.packed_mask.PackedMask` or None
        The raw mask of `detect`.
    linked : `~astro_mlfinder.classical.linker.LinkerResult` or None
        The linker's result.
    labels : `~numpy.ndarray` or None
        The current label cube.
    keep : `~numpy.ndarray` of bool or None
        Which linked sources survive the reliability filter.
    columns : dict
        Per-source columns of the kept sources (``rel``, ``flag`` and the
        linker statistics).
    """

    image: ImageData
    offset: tuple
    base: np.ndarray
    work: np.ndarray
    reload: bool = False
    scale_noise_fn: object = None
    products: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    raw: object = None
    linked: object = None
    labels: np.ndarray | None = None
    keep: np.ndarray | None = None
    columns: dict = field(default_factory=dict)


def prepare(finder, image, mask=None):
    """Cut, flag, normalise and precondition the data; measure the global rms.

    Parameters
    ----------
    finder : `~astro_mlfinder.ClassicalFinder`
        Supplies the settings.
    image : `~astro_mlfinder.core.inputs.ImageData`
        The input (read here into memory as float32).
    mask : `~numpy.ndarray` of bool, optional
        Excluded voxels (blanked).

    Returns
    -------
    state : `PipelineState`
    """
    from ..core.stats import global_rms

    # flagging, contsub and noise_scaling hold numba kernels: imported only by the steps that run
    if finder.flag_regions or finder.flag_catalog is not None or finder.flag_auto:
        from . import flagging as _flagging
    if finder.ripple_filter:
        from . import noise_scaling as _noise_scaling

    offset = (0, 0, 0)
    if finder.region is not None:
        image, offset = _cut_region(image, finder.region)
        if mask is not None:
            x1, x2, y1, y2, z1, z2 = finder.region
            mask = mask[z1 : z2 + 1, y1 : y2 + 1, x1 : x2 + 1]
    finder._check_kernels(image.shape)
    data = image.read()

    # ``base`` holds what the parameters are measured on; never the caller's array when modified.
    base = data
    owned = data is not image.data  # read() made a new array: ours to change

    def own():
        nonlocal base, owned
        if not owned:
            base = base.copy()
            owned = True

    if any(np.isinf(plane).any() for plane in base):  # plane by plane: no cube-sized temporary
        own()
        for plane in base:
            plane[np.isinf(plane)] = np.nan
    if mask is not None:
        own()
        base[mask] = np.nan
    if finder.flag_regions:
        own()
        _flagging.flag_regions(base, finder.flag_regions)
    if finder.flag_catalog is not None:
        own()
        _flagging.flag_catalog(base, image.wcs, finder.flag_catalog, finder.flag_radius)
    if finder.invert:
        own()
        np.negative(base, out=base)

    reload = finder.noise is not None or finder.weights is not None or finder.scale_noise is not None
    precondition = reload or finder.contsub or finder.flag_auto or finder.ripple_filter
    work = base.copy() if precondition else base
    state = PipelineState(image=image, offset=offset, base=base, work=work, reload=reload)
    if finder.noise is not None:
        noise_cube = _aux_cube(finder.noise, work.shape, "noise", finder.region)
        with np.errstate(divide="ignore", invalid="ignore"):
            work /= noise_cube
        work[~np.isfinite(work)] = np.nan
    if finder.weights is not None:
        weights_cube = _aux_cube(finder.weights, work.shape, "weights", finder.region)
        with np.errstate(invalid="ignore"):
            work *= np.sqrt(weights_cube)
    if finder.contsub:
        from .contsub import continuum_subtract

        continuum_subtract(work, order=finder.contsub_order, threshold=finder.contsub_threshold,
                           shift=finder.contsub_shift, padding=finder.contsub_padding)
    _scale_noise(finder, state)
    if finder.flag_auto:
        mode = "true" if finder.flag_auto is True else finder.flag_auto
        flags = _flagging.auto_flag(work, mode, finder.flag_threshold)
        state.products["flag_log"] = flags
        if reload:
            _flagging.apply_flags(base, flags)
    if finder.ripple_filter:
        _noise_scaling.ripple_filter(work, statistic=finder.ripple_statistic, window_xy=finder.ripple_window_xy,
                                     window_z=finder.ripple_window_z, grid_xy=finder.ripple_grid_xy,
                                     grid_z=finder.ripple_grid_z, interpolate=finder.ripple_interpolate)
    if precondition:
        state.products["filtered"] = work
    state.meta.update(global_rms=global_rms(work), scfind_passes=[], offset=offset if finder.offset else None)
    return state


def _scale_noise(finder, state):
    """Noise scaling of ``state.work`` (spectral or local), and the per-pass function for S+C."""
    if finder.scale_noise is None:
        return
    from . import noise_scaling as _noise_scaling

    common = dict(statistic=finder.scale_noise_statistic, flux_range=finder.scale_noise_flux_range)
    if finder.scale_noise == "spectral":
        function, kw = _noise_scaling.scale_noise_spectral, common
    elif finder.scale_noise == "local":
        function = _noise_scaling.scale_noise_local
        kw = dict(window_xy=finder.scale_noise_window_xy, window_z=finder.scale_noise_window_z,
                  grid_xy=finder.scale_noise_grid_xy, grid_z=finder.scale_noise_grid_z,
                  interpolate=finder.scale_noise_interpolate, **common)  # fmt: skip
    else:
        return
    state.products["noise"] = function(state.work, **kw)
    if finder.scale_noise_scfind:
        def scale_noise_fn(cube):
            function(cube, **kw)

        state.scale_noise_fn = scale_noise_fn


def detect(finder, state, progress=True):
    """Smooth-and-clip and/or threshold finder: set ``state.raw`` (bit-packed raw mask)."""
    from . import smooth_clip as _smooth_clip
    from .packed_mask import PackedMask

    raw = None
    if finder.scfind:
        result = _smooth_clip.smooth_clip(
            state.work, kernels_xy=finder.kernels_xy, kernels_z=finder.kernels_z, threshold=float(finder.threshold),
            replacement=finder.replacement, statistic=finder.statistic, flux_range=finder.flux_range,
            scale_noise=state.scale_noise_fn, progress=progress,
        )
        # one bit per voxel (1/32 of the cube); the linker reads it slab by slab and
        # np.asarray(cat.products["mask_raw"]) gives the uint8 0/1 mask back
        raw = result.packed
        state.meta["scfind_passes"] = result.passes
        del result
    if finder.threshold_finder:
        from . import threshold as _threshold  # numba kernels: imported when the threshold finder runs

        raw = PackedMask.from_array(_threshold.threshold_find(
            state.work, finder.threshold_finder_threshold, mode=finder.threshold_finder_mode,
            statistic=finder.threshold_finder_statistic, flux_range=finder.threshold_finder_flux_range,
            mask=None if raw is None else np.asarray(raw),
        ))
    state.raw = raw
    state.products["mask_raw"] = raw
    return state


def link(finder, state):
    """Link the raw mask into sources: set ``state.linked``, ``labels``, ``keep`` and ``columns``."""
    from . import linker as _linker

    if not finder.link:
        raise ValueError("link=False stops after the raw mask; use link=True to get a catalogue "
                         "(the raw mask is in cat.products['mask_raw'])")
    linked = _linker.link(
        state.raw, state.work, radius_xy=finder.radius_xy, radius_z=finder.radius_z,
        min_size_xy=finder.min_size_xy, min_size_z=finder.min_size_z, max_size_xy=finder.max_size_xy,
        max_size_z=finder.max_size_z, min_pixels=finder.min_pixels, max_pixels=finder.max_pixels,
        min_fill=finder.min_fill, max_fill=finder.max_fill, positivity=finder.positivity,
        remove_negative=not (finder.reliability is True or finder.keep_negative), global_rms=state.meta["global_rms"],
        # with reliability on, the label cube is made after the filter, for the kept sources only: the
        # many noise peaks of a low threshold would touch most of its pages (about 1x the cube resident)
        dense=not finder.reliability,
    )
    state.linked = linked
    state.labels = linked.labels  # None until _label_cube when linked sparsely
    state.keep = np.ones(len(linked.n_pix), dtype=bool)
    state.columns = _linker_columns(linked, state.keep, np.zeros(len(linked.n_pix)))
    return state


def _label_cube(state):
    """``state.labels``, made from the linker's voxel list for the ``state.keep`` sources if not yet made."""
    if state.labels is None:
        keep = state.keep if state.keep is not None and not state.keep.all() else None
        state.labels = state.linked.label_cube(keep)
    return state.labels


def _linker_columns(linked, keep, rel):
    columns = {"rel": rel[keep], "flag": np.asarray(linked.flag)[keep].astype(np.int64)}
    for key in ("fill", "mean", "std", "skew", "kurt"):
        columns[key] = np.asarray(getattr(linked, key))[keep]
    return columns


def _score_candidates(finder, state, progress):
    """Reliability by a registered candidate scorer (``reliability='neural'``): ``rel`` = its score."""
    from . import reliability as _reliability

    scorer = finder._scorer
    n = len(state.linked.n_pix)
    scores = np.asarray(scorer(state.work, _label_cube(state), n, progress=progress), dtype=float)
    if scores.shape != (n,):
        raise RuntimeError(f"candidate scorer {finder.reliability!r} returned {scores.shape} scores for {n} candidates")
    threshold = float(scorer.threshold)
    state.keep = scores >= threshold
    state.meta["reliability"] = {**getattr(scorer, "params", {"scorer": finder.reliability}), "threshold": threshold,
                                 "n_candidates": n, "n_kept": int(state.keep.sum())}
    state.labels = _reliability.relabel(state.labels, state.keep, inplace=True)
    state.columns = _linker_columns(state.linked, state.keep, scores)
    return state


def reliability(finder, state, progress=False):
    """Reliability filter (when enabled): measure ``rel``, drop unreliable sources and relabel.

    ``finder.reliability`` True runs SoFiA-2's filter; a scorer name (``'neural'``) scores every
    candidate with the scorer created by the finder (`astro_mlfinder.core.scorers`).
    """
    if not finder.reliability:
        return state
    from . import reliability as _reliability  # numba kernels: imported when the filter runs

    linked = state.linked
    if not len(linked.n_pix):
        warnings.warn("no sources were linked; reliability was not measured", AstroMLFinderWarning, stacklevel=3)
        _label_cube(state)
        return state
    if isinstance(finder.reliability, str):
        return _score_candidates(finder, state, progress)
    exclude = None
    if finder.reliability_catalog is not None:
        exclude = _reliability.read_exclusion_catalog(finder.reliability_catalog, state.image.wcs)
    result = _reliability.reliability(
        linked, parameters=finder.reliability_parameters, threshold=finder.reliability_threshold,
        scale_kernel=finder.reliability_scale_kernel, min_snr=finder.reliability_min_snr,
        min_pixels=finder.reliability_min_pixels, auto_kernel=finder.reliability_auto_kernel,
        iterations=finder.reliability_iterations, tolerance=finder.reliability_tolerance,
        beam_area=state.image.beam_area, exclude=exclude,
    )
    state.keep = np.asarray(result.keep, dtype=bool)
    state.meta["reliability"] = result
    # the label cube of the kept sources, renumbered (linked sparsely: only their voxels are written);
    # a dense one is relabelled in place (a copy would hold two label cubes)
    if state.labels is None:
        state.labels = linked.label_cube(state.keep)
    else:
        state.labels = _reliability.relabel(state.labels, state.keep, inplace=True)
    state.columns = _linker_columns(linked, state.keep, np.asarray(result.rel, dtype=float))
    return state


def dilate(finder, state):
    """Mask dilation (when enabled), adding SoFiA's flag 8 where a source touched another."""
    if state.linked is not None:
        _label_cube(state)
    if not (finder.dilation and state.keep is not None and state.keep.any()):
        return state
    from ..core import dilation as _dilation  # imported when masks are dilated

    linked = state.linked
    # the kept sources' boxes from the linker (the label cube holds exactly their voxels): no pass over it
    boxes = np.stack([np.asarray(getattr(linked, name))[state.keep] for name in
                      ("z_min", "z_max", "y_min", "y_max", "x_min", "x_max")], axis=1)
    state.labels, flags_added = _dilation.dilate_mask(
        state.labels, state.work, np.asarray(linked.f_sum)[state.keep],
        iterations_xy=finder.dilation_iterations_xy, iterations_z=finder.dilation_iterations_z,
        threshold=finder.dilation_threshold, inplace=True,  # the stages' own label cube: no copy
        boxes=boxes,
    )
    state.columns["flag"] = state.columns["flag"] | np.asarray(flags_added, dtype=np.int64)
    return state


def segmentation(finder, state):
    """The `~astro_mlfinder.core.segmentation.Segmentation` of a finished run.

    The catalogue is measured, as in SoFiA-2, on the searched data, or on the
    flagged input (divided by ``gain``) where noise normalisation changed the
    searched data.
    """
    image = state.image
    if state.linked is not None:
        _label_cube(state)
    measure = state.base if state.reload else state.work
    if state.reload and finder.gain is not None:
        measure = measure / np.float32(finder.gain)
    wcs = image.wcs if finder.wcs_columns else None
    measured = ImageData(measure, wcs, image.header, image.unit, image.beam, image.filename)
    return Segmentation(
        state.labels, columns=state.columns, products=state.products, meta=state.meta, image=measured,
        physical=finder.physical, name_prefix=finder.name_prefix,
        pixel_offset=state.offset if finder.offset else None,
    )


def run(finder, image, mask=None, progress=True):
    """All stages in SoFiA-2's order; returns the `~astro_mlfinder.core.segmentation.Segmentation`."""
    state = prepare(finder, image, mask)
    detect(finder, state, progress)
    link(finder, state)
    reliability(finder, state, progress)
    dilate(finder, state)
    return segmentation(finder, state)


def _cut_region(image, region):
    """Sub-cube for ``input.region`` (x1, x2, y1, y2, z1, z2 inclusive), with its WCS."""
    x1, x2, y1, y2, z1, z2 = region
    nz, ny, nx = image.shape
    if not (0 <= x1 <= x2 < nx and 0 <= y1 <= y2 < ny and 0 <= z1 <= z2 < nz):
        raise ValueError(f"region {region} lies outside the cube (x 0-{nx - 1}, y 0-{ny - 1}, z 0-{nz - 1})")
    slices = (slice(z1, z2 + 1), slice(y1, y2 + 1), slice(x1, x2 + 1))
    wcs = image.wcs.slice(slices) if image.wcs is not None else None
    header = image.header
    if header is not None:  # products take their WCS from the header: describe the sub-cube
        header = header.copy()
        for axis, (start, length) in enumerate(((x1, x2 - x1 + 1), (y1, y2 - y1 + 1), (z1, z2 - z1 + 1)), 1):
            if f"CRPIX{axis}" in header:
                header[f"CRPIX{axis}"] = float(header[f"CRPIX{axis}"]) - start
            header[f"NAXIS{axis}"] = length
    sub = ImageData(image.data[slices], wcs, header, image.unit, image.beam, image.filename)
    return sub, (x1, y1, z1)


def _aux_cube(value, shape, what, region):
    """Load a noise or weights cube given as array or path, cut to ``region``."""
    cube = load_image(value)
    slices = None
    if region is not None and cube.shape != shape:
        x1, x2, y1, y2, z1, z2 = region
        slices = (slice(z1, z2 + 1), slice(y1, y2 + 1), slice(x1, x2 + 1))
        cut = tuple(len(range(*s.indices(n))) for s, n in zip(slices, cube.shape, strict=True))
        if cut != tuple(shape):
            raise ValueError(f"the {what} cube has shape {cube.shape} but the data have {shape} after the region "
                             f"cut {region}; pass a {what} cube of the full input's shape")
    elif cube.shape != shape:
        raise ValueError(f"the {what} cube has shape {cube.shape} but the data have {shape}")
    return cube.read(slices)
