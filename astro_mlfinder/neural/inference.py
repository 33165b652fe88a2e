"""Running a segmentation network over a cube: normalisation, tiling, blending, post-processing.

The pipeline of `run_segmentation` (used by ``NeuralFinder('unet3d')``):

1. **Rebin** the cube along frequency (average pool 6/4, NaN-aware; see
   `~astro_mlfinder.neural.models.unet3d.spectral_rebin`).
2. **Normalise** (`normalize_cube`): divide by a robust noise estimate
   (1.4826 x MAD, per channel or for the whole cube), clip to
   ``[lo, hi]`` noise units and map to [0, 1] as HISF does; NaN become the low
   value. The recipe is stored with the weights, so a cube in any flux unit
   gives the same network input.
3. **Tile** (`predict_tiled`): the rebinned cube is padded (mirror) to
   multiples of 16 and cut into overlapping tiles whose origins are multiples
   of 16 (the U-Net is then shift-equivariant between tiles); tiles run in
   batches under `torch.inference_mode` (bf16/fp16 autocast on GPUs) and are
   blended with smooth weights that form a partition of unity
   (`blend_window`).
4. **Upsample** the probability back to the native channel count.
5. **Segment** (`segment_probability`): threshold, binary closing then
   opening, connected components (26-connectivity), minimum size, ids
   1..N in raster order of each source's first voxel.
"""

import math
import time

import numpy as np
from scipy import ndimage

from ..core.stats import MAD_TO_STD
from ._torch import require_torch, resolve_device

__all__ = [
    "DEFAULT_NORMALIZATION",
    "robust_noise",
    "normalize_cube",
    "tile_origins",
    "blend_window",
    "predict_tiled",
    "predict_probability",
    "segment_probability",
    "filter_sizes",
    "run_segmentation",
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
        sigma = np.array([_mad(cube[k].ravel()) for k in range(cube.shape[0])], dtype=np.float64)
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


def blend_window(tile_shape, overlap, low=(True, True, True), high=(True, True, True)):
    """Separable blending weights of one tile.

    Along an axis where the tile has a neighbour on the low (high) side, the
    weight is 0 over the outer ``overlap // 4`` voxels, rises as
    ``sin^2`` across the next ``overlap - 2 * (overlap // 4)`` voxels and is 1
    beyond. Two neighbours offset by ``tile - overlap`` therefore have weights
    summing exactly to 1 in their overlap (a partition of unity), and voxels
    next to a tile's inner edge, where zero padding distorts the prediction,
    do not contribute. Edges on the cube border keep weight 1.

    Parameters
    ----------
    tile_shape : tuple of int
        Tile size per axis.
    overlap : tuple of int
        Overlap with the neighbours per axis (0 = no blending along that axis).
    low, high : tuple of bool
        Whether the tile has a neighbour before/after it along each axis.

    Returns
    -------
    `~numpy.ndarray`
        float32 weights of shape ``tile_shape``.
    """
    if not (len(tile_shape) == len(overlap) == len(low) == len(high)):
        raise ValueError("tile_shape, overlap, low and high must have the same length")
    w = np.ones((), dtype=np.float64)
    for length, ov, lo_, hi_ in zip(tile_shape, overlap, low, high, strict=True):
        if ov >= length:
            raise ValueError(f"overlap {ov} must be smaller than the tile size {length}")
        w = np.multiply.outer(w, _window_1d(length, ov, lo_, hi_))
    return w.astype(np.float32)


def _round_up(n, m):
    return int(math.ceil(n / m) * m)


def _as_triple(value, name):
    if np.isscalar(value):
        value = (value,) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3:
        raise ValueError(f"{name} must be an int or a (z, y, x) triple, got {value}")
    if any(v < 0 for v in value):
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def _plan_tiles(shape, tile_shape, overlap, divisor):
    """Per-axis padded size, tile size, overlap and origins (all multiples of ``divisor``)."""
    padded, tiles, overlaps, origins = [], [], [], []
    for n, t, o in zip(shape, tile_shape, overlap, strict=True):
        p = _round_up(n, divisor)
        t = max(divisor, _round_up(t, divisor))
        if p <= t:
            t, o, orig = p, 0, [0]
        else:
            o = min(_round_up(o, divisor) if o > 0 else 0, t - divisor)
            orig = tile_origins(p, t, t - o)
        padded.append(p)
        tiles.append(t)
        overlaps.append(o)
        origins.append(orig)
    return tuple(padded), tuple(tiles), tuple(overlaps), origins


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
        (z, y, x) float32 network input.
    predict_fn : callable
        ``predict_fn(batch)`` with ``batch`` of shape (n, z, y, x) returns an
        array of the same shape (e.g. probabilities).
    tile_shape, overlap : tuple of int
        Tile size and overlap per axis, in voxels of ``volume``; both are
        rounded up to multiples of ``divisor`` (overlap stays below the tile).
    batch_size : int
        Tiles per call of ``predict_fn``.
    divisor : int
        Tile sizes and tile origins are multiples of this.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    `~numpy.ndarray`
        float32 array of ``volume.shape``.

    Notes
    -----
    The volume is mirror-padded at its high ends to a multiple of
    ``divisor``; a volume smaller than a tile is processed as one tile.
    """
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise ValueError(f"predict_tiled expects a (z, y, x) volume, got shape {volume.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tile_shape = _as_triple(tile_shape, "tile_shape")
    overlap = _as_triple(overlap, "overlap")
    padded, tiles, overlaps, origins = _plan_tiles(volume.shape, tile_shape, overlap, divisor)
    pad = [(0, p - n) for p, n in zip(padded, volume.shape, strict=True)]
    work = np.pad(volume, pad, mode="symmetric") if any(b for _, b in pad) else volume
    total = np.zeros(padded, dtype=np.float32)
    weight = np.zeros(padded, dtype=np.float32)
    jobs = [(z, y, x) for z in origins[0] for y in origins[1] for x in origins[2]]
    windows = {}

    def window_for(origin):
        key = tuple((o > 0, o + t < p) for o, t, p in zip(origin, tiles, padded, strict=True))
        if key not in windows:
            windows[key] = blend_window(tiles, overlaps, [k[0] for k in key], [k[1] for k in key])
        return windows[key]

    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc=desc, unit="tile", disable=not progress, leave=False)
    try:
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            slices = [tuple(slice(o, o + t) for o, t in zip(org, tiles, strict=True)) for org in chunk]
            batch = np.stack([work[s] for s in slices])
            out = np.asarray(predict_fn(batch), dtype=np.float32)
            if out.shape != batch.shape:
                raise ValueError(f"predict_fn returned shape {out.shape} for a batch of shape {batch.shape}")
            for org, s, pred in zip(chunk, slices, out, strict=True):
                w = window_for(org)
                total[s] += pred * w
                weight[s] += w
            bar.update(len(chunk))
    finally:
        bar.close()
    crop = tuple(slice(0, n) for n in volume.shape)
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
    from .models.unet3d import spectral_rebin, spectral_upsample

    cube = np.asarray(cube, dtype=np.float32)
    if cube.ndim != 3:
        raise ValueError(f"predict_probability expects a (z, y, x) cube, got shape {cube.shape}")
    device = resolve_device(device)
    tile_shape = _as_triple(tile_shape, "tile_shape")
    overlap = _as_triple(overlap, "overlap")
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

    def predict_fn(batch):
        with torch.inference_mode(), _autocast(torch, device):
            x = torch.from_numpy(np.ascontiguousarray(batch[:, None])).to(device)
            prob = torch.sigmoid(model(x).float())
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
    if rebin:
        with torch.inference_mode():
            prob = spectral_upsample(torch.from_numpy(prob_small)[None, None], nz, stride)[0, 0].numpy()
    else:
        prob = prob_small
    prob = np.ascontiguousarray(prob, dtype=np.float32)
    prob[~np.isfinite(cube)] = 0.0
    return prob


def filter_sizes(labels, min_size):
    """Drop components with fewer than ``min_size`` voxels and renumber the rest 1..N in order (int32)."""
    sizes = np.bincount(labels.ravel())
    keep = sizes >= max(int(min_size), 1)
    keep[0] = False
    remap = np.zeros(sizes.size, dtype=np.int32)
    remap[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return remap[labels]


def segment_probability(prob, threshold=0.5, min_size=16, *, closing=True, opening=True, mask=None):
    """Turn a probability cube into a label cube and per-source scores.

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
    score_max : `~numpy.ndarray`
        Peak probability of each source (length N).
    """
    prob = np.asarray(prob, dtype=np.float32)
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    fg = prob > threshold
    if mask is not None:
        fg &= ~np.asarray(mask, dtype=bool)
    cross = ndimage.generate_binary_structure(prob.ndim, 1)
    if closing:
        fg = ndimage.binary_closing(fg, structure=cross, border_value=0)
    if opening:
        fg = ndimage.binary_opening(fg, structure=cross)
    if mask is not None:
        fg &= ~np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(fg, structure=np.ones((3,) * prob.ndim, dtype=bool))
    if n == 0:
        return labels.astype(np.int32), np.zeros(0, np.float32), np.zeros(0, np.float32)
    labels = filter_sizes(labels, min_size)
    n_keep = int(labels.max())
    if n_keep == 0:
        return labels, np.zeros(0, np.float32), np.zeros(0, np.float32)
    index = np.arange(1, n_keep + 1)
    score = np.asarray(ndimage.mean(prob, labels, index), dtype=np.float32)
    score_max = np.asarray(ndimage.maximum(prob, labels, index), dtype=np.float32)
    return labels, score, score_max


def run_segmentation(finder, image, mask, progress):
    """Runner of segmentation models (``unet3d``): ImageData -> SourceCatalog.

    Parameters
    ----------
    finder : `~astro_mlfinder.NeuralFinder`
        Supplies the loaded model, its metadata and the inference parameters.
    image : `~astro_mlfinder.core.inputs.ImageData`
        The cube.
    mask : `~numpy.ndarray` of bool or None
        Excluded voxels (treated as blank).
    progress : bool
        Show progress bars.

    Returns
    -------
    `~astro_mlfinder.core.catalog.SourceCatalog`
        With ``columns={'score': mean probability}`` and
        ``products={'probability': probability cube}``.
    """
    from ..core.catalog import SourceCatalog

    t0 = time.perf_counter()
    model, info = finder.load_model()
    t_load = time.perf_counter() - t0
    data = image.data
    if mask is not None:
        data = np.where(mask, np.float32(np.nan), data)
    params = finder.inference_params()
    rebin = info.get("rebin", [6, 4])
    t1 = time.perf_counter()
    prob = predict_probability(
        model,
        data,
        normalization=info.get("normalization"),
        tile_shape=params["tile_shape"],
        overlap=params["overlap"],
        batch_size=params["batch_size"],
        device=finder.device,
        rebin=rebin,
        progress=progress,
        tta=params["tta"],
    )
    t_net = time.perf_counter() - t1
    labels, score, _ = segment_probability(prob, params["threshold"], params["min_size"], mask=~np.isfinite(data))
    meta = {
        "model": finder.model,
        "weights": info.get("weights", {}),
        "threshold": params["threshold"],
        "min_size": params["min_size"],
        "tta": params["tta"],
        "device": str(resolve_device(finder.device)),
        "normalization": info.get("normalization"),
        "timing": {
            "load_s": round(t_load, 3),
            "network_s": round(t_net, 3),
            "total_s": round(time.perf_counter() - t0, 3),
        },
    }
    return SourceCatalog(image, labels, columns={"score": score}, products={"probability": prob}, meta=meta)
