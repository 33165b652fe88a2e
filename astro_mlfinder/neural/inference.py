"""Running a segmentation network over an image or cube: normalisation, tiling, blending, post-processing.

The pieces of the neural models' predict steps (see
`astro_mlfinder.neural.models.unet3d.model` for the ``unet3d`` pipeline):

* `robust_noise`, `normalize_cube` -- the input normalisation recorded with
  the weights (noise units, clipped and mapped to [0, 1]);
* `predict_tiled` -- any per-tile prediction over overlapping tiles of a 2D
  image or 3D cube, planned by `astro_mlfinder.core.tiling.plan_tiles` and
  blended with its partition-of-unity windows;
* `predict_probability` -- the probability cube of a (spectrally rebinned)
  segmentation network, with optional test-time augmentation;
* `segment_probability`, `filter_sizes` -- threshold, morphology, connected
  components, minimum size.
"""

import math

import numpy as np
from scipy import ndimage

from ..core.progress import progress_bar
from ..core.stats import MAD_TO_STD
from ..core.tiling import as_tuple, plan_tiles
from ._torch import require_torch, resolve_device

__all__ = [
    "DEFAULT_NORMALIZATION",
    "robust_noise",
    "normalize_cube",
    "predict_tiled",
    "predict_probability",
    "segment_probability",
    "filter_sizes",
]

#: Default input normalisation (recorded with every set of weights).
DEFAULT_NORMALIZATION = {"statistic": "mad", "per_channel": True, "clip": [-5.0, 15.0]}

_MAX_SAMPLES = 250_000


def _subsample(values, max_samples=_MAX_SAMPLES):
    step = max(1, int(math.ceil(values.size / max_samples)))
    return values[::step]


def _mad(values):
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.nan
    values = _subsample(values).astype(np.float64)
    med = np.median(values)
    return MAD_TO_STD * float(np.median(np.abs(values - med)))


def _map_channels(func, n):
    """``[func(k) for k in range(n)]`` on two threads (numpy's medians release the GIL)."""
    import os

    threads = min(2, os.cpu_count() or 1, n)
    if threads < 2:
        return [func(k) for k in range(n)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(func, range(n)))


def robust_noise(cube, per_channel=True):
    """Robust noise of a cube: ``1.4826 * median(|x - median(x)|)`` of the finite values.

    Parameters
    ----------
    cube : `~numpy.ndarray`
        (z, y, x) array; NaN are ignored.
    per_channel : bool
        One value per channel (shape (z, 1, 1)) instead of one for the cube.
        Channels without finite values, or with zero MAD, get the median of
        the other channels.

    Returns
    -------
    `~numpy.ndarray`
        Shape (z, 1, 1) or (1, 1, 1), float32, positive.

    Raises
    ------
    ValueError
        If the cube has no finite value or a zero MAD everywhere.
    """
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise ValueError(f"robust_noise expects a (z, y, x) cube, got shape {cube.shape}")
    if per_channel:
        sigma = np.array(_map_channels(lambda k: _mad(cube[k].ravel()), cube.shape[0]), dtype=np.float64)
        good = np.isfinite(sigma) & (sigma > 0)
        if not good.any():
            total = _mad(cube.ravel())
            if not np.isfinite(total) or total <= 0:
                raise ValueError("cannot estimate the noise: the cube has no finite values or zero MAD")
            sigma[:] = total
        else:
            sigma[~good] = np.median(sigma[good])
        return sigma.astype(np.float32).reshape(-1, 1, 1)
    total = _mad(cube.ravel())
    if not np.isfinite(total) or total <= 0:
        raise ValueError("cannot estimate the noise: the cube has no finite values or zero MAD")
    return np.full((1, 1, 1), total, dtype=np.float32)


def normalize_cube(cube, normalization=None, noise=None):
    """Map a cube to the network's input range [0, 1].

    ``out = (clip(cube / noise, lo, hi) - lo) / (hi - lo)``, NaN -> 0 (the
    low value).

    Parameters
    ----------
    cube : `~numpy.ndarray`
        (z, y, x) cube (already rebinned for ``unet3d``), any flux unit.
    normalization : dict, optional
        ``{'statistic': 'mad', 'per_channel': bool, 'clip': [lo, hi]}``
        (default `DEFAULT_NORMALIZATION`).
    noise : `~numpy.ndarray`, optional
        Precomputed noise (broadcastable to the cube); estimated with
        `robust_noise` if not given.

    Returns
    -------
    `~numpy.ndarray`
        float32 array of the cube's shape with values in [0, 1].
    """
    norm = dict(DEFAULT_NORMALIZATION)
    norm.update(normalization or {})
    if norm.get("statistic", "mad") != "mad":
        raise ValueError(f"unknown normalisation statistic {norm['statistic']!r}; only 'mad' is supported")
    lo, hi = (float(v) for v in norm["clip"])
    if not hi > lo:
        raise ValueError(f"normalisation clip range must have hi > lo, got {norm['clip']}")
    cube = np.asarray(cube, dtype=np.float32)
    if noise is None:
        noise = robust_noise(cube, per_channel=bool(norm.get("per_channel", True)))
    out = cube / np.asarray(noise, dtype=np.float32)
    np.clip(out, lo, hi, out=out)
    out -= lo
    out /= hi - lo
    out[~np.isfinite(out)] = 0.0
    return out


def predict_tiled(
    volume,
    predict_fn,
    tile_shape,
    overlap,
    *,
    batch_size=1,
    divisor=16,
    progress=False,
    desc="tiles",
):
    """Apply ``predict_fn`` to overlapping tiles of ``volume`` and blend the results.

    Parameters
    ----------
    volume : `~numpy.ndarray`
        (y, x) image or (z, y, x) cube of float32 network input.
    predict_fn : callable
        ``predict_fn(batch)`` with ``batch`` of shape ``(n, *tile)`` returns an
        array of the same shape (e.g. probabilities).
    tile_shape, overlap : int or tuple of int
        Tile size and overlap per axis, in pixels of ``volume``; both are
        rounded up to multiples of ``divisor`` (overlap stays below the tile),
        see `astro_mlfinder.core.tiling.plan_tiles` (``balanced=True``: as
        few tiles as the requested size allows, shrunk and spread evenly).
    batch_size : int
        Tiles per call of ``predict_fn``.
    divisor : int
        Tile sizes and tile origins are multiples of this.
    progress : bool
        Show a progress bar.
    desc : str
        Label of the progress bar.

    Returns
    -------
    `~numpy.ndarray`
        float32 array of ``volume.shape``.

    Notes
    -----
    The volume is mirror-padded at its high ends to a multiple of
    ``divisor``; a volume smaller than a tile is processed as one tile. The
    tiles are blended with `~astro_mlfinder.core.tiling.blend_window` weights.
    """
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim not in (2, 3):
        raise ValueError(f"predict_tiled expects a (y, x) image or a (z, y, x) volume, got shape {volume.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    # balanced: each voxel is processed about once plus the overlap (flush-end tiles: up to 2x per axis)
    plan = plan_tiles(volume.shape, tile_shape, overlap, divisor, balanced=True)
    pad = plan.pad_width
    work = np.pad(volume, pad, mode="symmetric") if any(b for _, b in pad) else volume
    total = np.zeros(plan.padded, dtype=np.float32)
    weight = np.zeros(plan.padded, dtype=np.float32)
    jobs = list(plan)
    crop = tuple(slice(0, n) for n in volume.shape)
    if len(jobs) == 1:  # one tile covers the volume: its window is 1 everywhere, nothing to blend
        bar = progress_bar(total=1, desc=desc, unit="tile", enabled=progress)
        try:
            out = np.asarray(predict_fn(work[None]), dtype=np.float32)
            if out.shape != (1,) + work.shape:
                raise ValueError(f"predict_fn returned shape {out.shape} for a batch of shape {(1,) + work.shape}")
            bar.update(1)
        finally:
            bar.close()
        return out[(0,) + crop]
    bar = progress_bar(total=len(jobs), desc=desc, unit="tile", enabled=progress)
    try:
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            slices = [plan.slices(org) for org in chunk]
            batch = np.stack([work[s] for s in slices])
            out = np.asarray(predict_fn(batch), dtype=np.float32)
            if out.shape != batch.shape:
                raise ValueError(f"predict_fn returned shape {out.shape} for a batch of shape {batch.shape}")
            for org, s, pred in zip(chunk, slices, out, strict=True):
                w = plan.window(org)
                total[s] += pred * w
                weight[s] += w
            bar.update(len(chunk))
    finally:
        bar.close()
    return total[crop] / weight[crop]


def _autocast(torch, device):
    import contextlib

    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def predict_probability(
    model,
    cube,
    *,
    normalization=None,
    tile_shape=(256, 128, 128),
    overlap=(64, 32, 32),
    batch_size=1,
    device="auto",
    rebin=(6, 4),
    progress=False,
    tta=False,
):
    """Probability cube of a spectrally rebinned segmentation network.

    Parameters
    ----------
    model : `torch.nn.Module`
        Maps (n, 1, z, y, x) inputs (sizes multiple of 16) to logits of the
        same shape, e.g. `~astro_mlfinder.neural.models.unet3d.UNet3D`.
    cube : `~numpy.ndarray`
        (z, y, x) data in any flux unit; NaN = blank.
    normalization : dict, optional
        Input normalisation recorded with the weights (see `normalize_cube`).
    tile_shape, overlap : int or tuple of int
        Tile size and overlap in *native* voxels (z is divided by the rebin
        stride internally).
    batch_size : int
        Tiles per forward pass.
    device : str or `torch.device`
        ``'auto'`` (CUDA if available, else CPU), ``'cpu'``, ``'cuda'``...
    rebin : tuple of int
        (kernel, stride) of the spectral average pool; ``None`` for no rebin.
    progress : bool
        Show a progress bar over tiles.
    tta : bool
        Test-time augmentation: average the probabilities of the cube and of
        its flips along z, y and x (four passes).

    Returns
    -------
    `~numpy.ndarray`
        float32 probabilities of the cube's shape; 0 on NaN voxels.
    """
    torch = require_torch("neural inference")
    from .models.unet3d.network import spectral_rebin

    cube = np.asarray(cube, dtype=np.float32)
    if cube.ndim != 3:
        raise ValueError(f"predict_probability expects a (z, y, x) cube, got shape {cube.shape}")
    device = resolve_device(device)
    tile_shape = as_tuple(tile_shape, 3, "tile_shape", minimum=1)
    overlap = as_tuple(overlap, 3, "overlap")
    nz = cube.shape[0]
    if rebin:
        kernel, stride = (int(v) for v in rebin)
        with torch.inference_mode():
            small = spectral_rebin(torch.from_numpy(cube)[None, None], kernel, stride)[0, 0].numpy()
        tile_shape = (max(1, tile_shape[0] // stride),) + tile_shape[1:]
        overlap = (overlap[0] // stride,) + overlap[1:]
    else:
        small, stride = cube, 1
    net_input = normalize_cube(small, normalization)
    divisor = int(getattr(model, "divisor", 16))
    was_training = model.training
    model.eval()
    model.to(device)
    # the network's inference form (BatchNorm folded, channels_last_3d...) when it has one: same logits
    net = model.for_inference() if hasattr(model, "for_inference") else model

    def predict_fn(batch):
        with torch.inference_mode(), _autocast(torch, device):
            x = torch.from_numpy(np.ascontiguousarray(batch[:, None])).to(device)
            prob = torch.sigmoid_(net(x).float())
        return prob[:, 0].cpu().numpy()

    flips = [(), (0,), (1,), (2,)] if tta else [()]
    prob_small = np.zeros(net_input.shape, np.float32)
    try:
        for axes in flips:
            view = np.ascontiguousarray(np.flip(net_input, axes)) if axes else net_input
            pred = predict_tiled(
                view,
                predict_fn,
                tile_shape,
                overlap,
                batch_size=batch_size,
                divisor=divisor,
                progress=progress,
                desc="unet3d",
            )
            prob_small += np.flip(pred, axes) if axes else pred
    finally:
        model.train(was_training)
    prob_small /= len(flips)
    if rebin:  # back to the native channels, 0 on blank voxels, in one parallel pass
        return _upsample_z(prob_small, nz, stride, blank_from=cube)
    prob = np.ascontiguousarray(prob_small, dtype=np.float32)
    prob[~np.isfinite(cube)] = 0.0
    return prob


def _upsample_z(small, n_channels, stride, blank_from=None):
    """`~astro_mlfinder.neural.models.unet3d.network.spectral_upsample` of a (z, y, x) array, plane by plane.

    The same float32 arithmetic (``lo * (1 - w) + hi * w``) without the
    gathered cube-sized temporaries of the tensor version, which spent more
    time than the network's largest layer on a 512 x 256 x 256 cube. With
    ``blank_from`` (the native cube) the voxels where it is not finite are 0.
    """
    from ._kernels import announce, upsample_z_into

    announce(upsample_z_into)
    from .models.unet3d.network import rebinned_length

    n_in = small.shape[0]
    if n_in != rebinned_length(n_channels, stride):
        raise ValueError(f"a cube of {n_channels} channels rebins to {rebinned_length(n_channels, stride)} "
                         f"channels, but the array has {n_in}")
    pos = np.clip((np.arange(n_channels, dtype=np.float64) + 0.5) / stride - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (pos - lo).astype(np.float32)
    out = np.empty((n_channels,) + small.shape[1:], dtype=np.float32)
    if blank_from is None:
        blank_from = np.zeros((n_channels,) + (1,) * (small.ndim - 1), dtype=np.float32)
    blank_from = np.broadcast_to(blank_from, out.shape)
    upsample_z_into(np.ascontiguousarray(small, dtype=np.float32), lo, hi, w, blank_from, out)
    return out


def filter_sizes(labels, min_size):
    """Drop components with fewer than ``min_size`` voxels and renumber the rest 1..N in order (int32)."""
    labels = np.array(labels, dtype=np.int32)
    _filter_in_place(labels, min_size)
    return labels


#: Above this many components the per-component work of `_filter_in_place` runs vectorised over the array.
_MAX_LOOPED = 4000


def _filter_in_place(labels, min_size, prob=None):
    """`filter_sizes` in place on an int32 array with ids 1..n; also the mean of ``prob`` per kept component.

    Each component is visited inside its bounding box (`scipy.ndimage.find_objects`),
    so the work is one pass over the array plus the components' boxes, without
    the cube-sized temporaries of a bincount and remap. Returns ``(n_keep, score)``
    (``score`` is None without ``prob``); the means add the float32 values in
    float64 in raster order.
    """
    from scipy import ndimage

    objects = ndimage.find_objects(labels)
    n = len(objects)
    if n > _MAX_LOOPED:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= max(int(min_size), 1)
        keep[0] = False
        n_keep = int(keep.sum())
        if n_keep < n:
            remap = np.zeros(sizes.size, dtype=np.int32)
            remap[keep] = np.arange(1, n_keep + 1, dtype=np.int32)
            labels[...] = remap[labels]
        if prob is None:
            return n_keep, None
        idx = np.flatnonzero(labels)
        lab = labels.ravel()[idx]
        sums = np.bincount(lab, weights=prob.ravel()[idx], minlength=n_keep + 1)[1:]
        return n_keep, (sums / np.bincount(lab, minlength=n_keep + 1)[1:]).astype(np.float32)
    new_id = 0
    score = []
    for old_id, box in enumerate(objects, start=1):
        if box is None:
            continue
        sub = labels[box]
        member = sub == old_id
        size = int(np.count_nonzero(member))
        if size < max(int(min_size), 1):
            sub[member] = 0
            continue
        new_id += 1
        if new_id != old_id:  # every smaller id is already renumbered to less than new_id or removed
            sub[member] = new_id
        if prob is not None:
            values = prob[box][member]
            # sequential float64 sum in raster order (as a bincount with weights)
            total = np.bincount(np.zeros(values.size, dtype=np.intp), weights=values, minlength=1)[0]
            score.append(total / size)
    return new_id, (np.asarray(score, dtype=np.float32) if prob is not None else None)


def segment_probability(prob, threshold=0.5, min_size=16, *, closing=True, opening=True, mask=None):
    """Turn a probability image or cube into labels and per-source scores.

    Parameters
    ----------
    prob : `~numpy.ndarray`
        Probabilities (z, y, x) or (y, x).
    threshold : float
        Voxels with ``prob > threshold`` are foreground.
    min_size : int
        Components with fewer voxels are removed.
    closing, opening : bool
        Binary closing then opening with the 6-connected (cross) structuring
        element, which fills pinholes and removes one-voxel spurs.
    mask : `~numpy.ndarray` of bool, optional
        Voxels that can never be foreground (True = excluded).

    Returns
    -------
    labels : `~numpy.ndarray` of int32
        0 = background, sources 1..N numbered in raster (C) order of their
        first voxel (deterministic).
    score : `~numpy.ndarray`
        Mean probability of each source (length N).
    """
    prob = np.asarray(prob, dtype=np.float32)
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    fg = prob > threshold
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        fg &= ~mask
    regions = _regions(fg)
    if regions is None:
        # one region: work inside the box of the foreground plus two voxels (the morphology reaches one
        # voxel out and the ring beyond stays empty), which gives the same labels as the whole array
        box = _foreground_box(fg, margin=2)
        if box is None:
            return np.zeros(prob.shape, dtype=np.int32), np.zeros(0, np.float32)
        crop = _label_region(fg[box], None if mask is None else mask[box], closing, opening)
        # sizes and mean probabilities visit each component's box only (no cube-sized bincount or remap)
        _, score = _filter_in_place(crop, min_size, prob[box])
        if all(b.start == 0 and b.stop == n for b, n in zip(box, prob.shape, strict=True)):
            return crop, score
        labels = np.zeros(prob.shape, dtype=np.int32)
        labels[box] = crop
        return labels, score
    # separate regions: each is labelled on its own box; the sources are numbered in raster order of
    # their first voxel over the whole array, as one labelling of the whole array numbers them
    found = []
    for box, member in regions:
        sub = fg[box] if member is None else fg[box] & member
        crop = _label_region(sub, None if mask is None else mask[box], closing, opening)
        for i, obj in enumerate(ndimage.find_objects(crop), start=1):
            inside = crop[obj] == i
            size = int(np.count_nonzero(inside))
            if size < max(int(min_size), 1):
                continue
            first = np.unravel_index(int(np.argmax(inside)), inside.shape)
            first = tuple(int(f) + o.start + b.start for f, o, b in zip(first, obj, box, strict=True))
            values = prob[box][obj][inside]
            total = np.bincount(np.zeros(values.size, dtype=np.intp), weights=values, minlength=1)[0]
            found.append((first, box, obj, inside, total / size))
    found.sort(key=lambda item: item[0])
    labels = np.zeros(prob.shape, dtype=np.int32)
    for new_id, (_, box, obj, inside, _) in enumerate(found, start=1):
        labels[box][obj][inside] = new_id
    return labels, np.array([item[4] for item in found], dtype=np.float32)


#: Block edge of the coarse grid on which `_regions` separates the foreground.
_BLOCK = 8
#: At most this many regions are labelled one by one (else the foreground's box is labelled whole).
_MAX_REGIONS = 256


def _label_region(fg, mask, closing, opening):
    """Closing, opening (cross, outside = background), blanks removed, 26- (8-) connected labels (int32)."""
    if closing:  # = ndimage.binary_closing with the cross and border_value=0, by array shifts (faster)
        fg = _cross_erode(_cross_dilate(fg))
    if opening:  # = ndimage.binary_opening with the cross
        fg = _cross_dilate(_cross_erode(fg))
    if mask is not None:
        fg &= ~mask
    labels, _ = ndimage.label(fg, structure=np.ones((3,) * fg.ndim, dtype=bool), output=np.int32)
    return labels


def _regions(fg):
    """Boxes that hold separate parts of the foreground, or None when there are not several.

    The foreground is reduced to a grid of `_BLOCK`-voxel blocks (a block is
    on if any voxel is), grown by one block and labelled; each label is one
    region, whose box is the bounding box of its grown blocks. Foreground in
    two regions is at least two blocks apart, far beyond the one or two
    voxels the closing and opening reach, and each box reaches one block
    beyond its foreground, so labelling the regions one by one gives the
    components of the whole array. Returns a list of ``(box, member)``, where
    ``member`` is None or the voxels of the box that belong to the region
    (when another region's blocks fall inside its box).
    """
    from ._kernels import announce, block_any

    announce(block_any)

    cube = fg if fg.ndim == 3 else fg.reshape((1,) * (3 - fg.ndim) + fg.shape)
    coarse = block_any(cube.view(np.uint8), _BLOCK).astype(bool).reshape(
        tuple(-(-n // _BLOCK) for n in fg.shape))
    if not coarse.any():
        return None
    full = np.ones((3,) * fg.ndim, dtype=bool)
    grown = ndimage.binary_dilation(coarse, structure=full)
    blocks, n = ndimage.label(grown, structure=full)
    if n < 2 or n > _MAX_REGIONS:
        return None
    regions = []
    for k, obj in enumerate(ndimage.find_objects(blocks), start=1):
        box = tuple(slice(o.start * _BLOCK, min(o.stop * _BLOCK, size)) for o, size in zip(obj, fg.shape, strict=True))
        own = blocks[obj]
        member = None
        if np.any((own != k) & (own != 0)):
            member = own == k
            for axis in range(fg.ndim):
                member = np.repeat(member, _BLOCK, axis=axis)
            member = member[tuple(slice(0, b.stop - b.start) for b in box)]
        regions.append((box, member))
    return regions


def _shifted(axis, start, stop):
    return (slice(None),) * axis + (slice(start, stop),)


def _cross_dilate(fg):
    """Binary dilation with the 6- (4-) connected cross; outside the array counts as background."""
    out = fg.copy()
    for axis in range(fg.ndim):
        out[_shifted(axis, 1, None)] |= fg[_shifted(axis, None, -1)]
        out[_shifted(axis, None, -1)] |= fg[_shifted(axis, 1, None)]
    return out


def _cross_erode(fg):
    """Binary erosion with the cross; outside the array counts as background (``border_value=0``)."""
    out = fg.copy()
    for axis in range(fg.ndim):
        out[_shifted(axis, 1, None)] &= fg[_shifted(axis, None, -1)]
        out[_shifted(axis, None, -1)] &= fg[_shifted(axis, 1, None)]
        out[_shifted(axis, 0, 1)] = False
        out[_shifted(axis, -1, None)] = False
    return out


def _foreground_box(fg, margin):
    """Slices of the bounding box of ``fg`` grown by ``margin``; None when ``fg`` is empty."""
    box = []
    for axis in range(fg.ndim):
        other = tuple(a for a in range(fg.ndim) if a != axis)
        hit = np.flatnonzero(fg.any(axis=other))
        if hit.size == 0:
            return None
        box.append(slice(max(int(hit[0]) - margin, 0), min(int(hit[-1]) + margin + 1, fg.shape[axis])))
    return tuple(box)
