"""PAIS network outputs for an image of any size: normalisation and tiled, blended inference.

* `sky_and_noise` -- a robust global sky level and noise of an optical image
  (3-sigma clipped median and standard deviation; the sky estimate is
  SExtractor's mode ``2.5 median - 1.5 mean`` when the clipped
  distribution is skewed by sources);
* `normalize` -- the network input: ``asinh((data - sky) / noise)``, blank
  pixels 0 (the recipe is stored with the weights);
* `predict_outputs` -- the heatmap, claim vectors and claim-map logits of the
  whole image, from overlapping tiles of the training cut-out size (the fast
  attention mixes a whole tile, so tiles keep the context the network was
  trained on) planned with the nD `~astro_mlfinder.core.tiling.plan_tiles`
  and blended with `~astro_mlfinder.core.tiling.blend_window`. The claim
  vectors are offsets relative to their pixel, so blending neighbouring tiles
  is blending the same quantity.
"""

import numpy as np

from ....core.progress import progress_bar
from ....core.tiling import as_tuple, plan_tiles

__all__ = ["DEFAULT_NORMALIZATION", "sky_and_noise", "normalize", "predict_outputs"]

#: Input normalisation recorded with the weights.
DEFAULT_NORMALIZATION = {"sky": "clipped mode", "noise": "clipped std", "scale": "asinh", "clip_sigma": 3.0}

_MAX_SAMPLES = 1_000_000


def sky_and_noise(data, clip_sigma=3.0, iterations=10):
    """Robust sky level and noise of an image (sigma-clipped).

    Parameters
    ----------
    data : `~numpy.ndarray`
        Image; NaN pixels are ignored.
    clip_sigma : float
        Clipping threshold.
    iterations : int
        Clipping passes.

    Returns
    -------
    sky, noise : float
        ``noise`` > 0 (raises `ValueError` for an image without finite
        pixels or without any variation).
    """
    values = np.asarray(data, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("the image has no finite pixel; cannot estimate its sky and noise")
    if values.size > _MAX_SAMPLES:
        values = values[:: int(np.ceil(values.size / _MAX_SAMPLES))]
    keep = values
    for _ in range(int(iterations)):
        med = np.median(keep)
        std = keep.std()
        new = keep[np.abs(keep - med) <= clip_sigma * std] if std > 0 else keep
        if new.size == keep.size or new.size < 10:
            break
        keep = new
    med, mean, std = float(np.median(keep)), float(keep.mean()), float(keep.std())
    # SExtractor's sky: the mode estimate unless the clipped histogram is too skewed for it
    sky = 2.5 * med - 1.5 * mean if std > 0 and abs(mean - med) / std < 0.3 else med
    if not std > 0:
        raise ValueError("the image has no noise (all pixels equal after clipping); PAIS needs a noisy image")
    return sky, std


def normalize(data, sky, noise):
    """Network input ``asinh((data - sky) / noise)`` as float32, blank pixels 0."""
    x = (np.asarray(data, dtype=np.float64) - sky) / noise
    x = np.arcsinh(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0))
    return x.astype(np.float32)


def _dihedral_outputs(network, batch, torch):
    """Stacked outputs averaged over the 8 flips/transposes of ``batch`` (test-time augmentation).

    Each transformed batch's outputs are transformed back: the maps spatially,
    the claim vectors also in their components (a flip negates its axis'
    component, a transpose swaps them). The claims stay ordered nearest
    first under every transform, so the averages are of like with like.
    """
    k = network.k
    total = None
    for fy in (False, True):
        for fx in (False, True):
            for tr in (False, True):
                t = batch
                if fy:
                    t = torch.flip(t, (-2,))
                if fx:
                    t = torch.flip(t, (-1,))
                if tr:
                    t = t.transpose(-1, -2)
                out = network.stacked(t).float()
                com, vec, maps = type(network).split(out, k)
                vec = vec.clone()
                if tr:
                    com, vec, maps = com.transpose(-1, -2), vec.transpose(-1, -2).flip(-3), maps.transpose(-1, -2)
                if fx:
                    com, vec, maps = com.flip(-1), vec.flip(-1), maps.flip(-1)
                    vec[..., 1, :, :] *= -1
                if fy:
                    com, vec, maps = com.flip(-2), vec.flip(-2), maps.flip(-2)
                    vec[..., 0, :, :] *= -1
                n, _, h, w = com.shape
                out = torch.cat([torch.sigmoid(com), vec.reshape(n, 2 * k, h, w), maps], dim=1)
                total = out if total is None else total + out
    total = total / 8.0
    p = total[:, :1].clamp(1e-6, 1 - 1e-6)
    return torch.cat([torch.log(p / (1 - p)), total[:, 1:]], dim=1)  # the heatmap back to logits


def predict_outputs(network, x, *, tile_shape=(64, 64), overlap=(16, 16), batch_size=8, device="cpu",
                    progress=False, tta=False):
    """Network outputs of a normalised image of any size, tiled and blended.

    Parameters
    ----------
    network : `~astro_mlfinder.neural.models.pais.network.PAISNet`
    x : `~numpy.ndarray`
        ``(y, x)`` normalised image (`normalize`).
    tile_shape, overlap : int or tuple of int
        Tiles (rounded up to the network's divisor) and their overlap.
    batch_size : int
        Tiles per forward pass.
    device : str or `torch.device`
    progress : bool
        Show a progress bar over tiles.
    tta : bool
        Average the outputs over the 8 flips and transposes of every tile
        (8 times slower; `_dihedral_outputs`).

    Returns
    -------
    heatmap : `~numpy.ndarray`
        float32 ``(y, x)`` in [0, 1].
    vectors : `~numpy.ndarray`
        float32 ``(k, 2, y, x)``.
    claim_logits : `~numpy.ndarray`
        float32 ``(k, y, x)``.
    """
    from ..._torch import require_torch, resolve_device

    torch = require_torch("PAIS inference")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"predict_outputs expects a (y, x) image, got shape {x.shape}")
    tile_shape = as_tuple(tile_shape, 2, "tile_shape", minimum=1)
    overlap = as_tuple(overlap, 2, "overlap")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    k = network.k
    channels = 1 + 3 * k
    plan = plan_tiles(x.shape, tile_shape, overlap, network.divisor, balanced=True)
    # zero padding (the normalised sky): mirrored padding would mirror sources next to the border
    work = np.pad(x, plan.pad_width, mode="constant") if any(b for _, b in plan.pad_width) else x
    total = np.zeros((channels, *plan.padded), dtype=np.float32)
    weight = np.zeros(plan.padded, dtype=np.float32)
    dev = resolve_device(device)
    was_training = network.training
    network.eval()
    network.to(dev)
    jobs = list(plan)
    bar = progress_bar(total=len(jobs), desc="pais", unit="tile", enabled=progress)
    try:
        for start in range(0, len(jobs), int(batch_size)):
            chunk = jobs[start : start + int(batch_size)]
            slices = [plan.slices(org) for org in chunk]
            batch = np.stack([work[s] for s in slices])[:, None]
            with torch.inference_mode():
                tb = torch.from_numpy(np.ascontiguousarray(batch)).to(dev)
                out = (_dihedral_outputs(network, tb, torch) if tta else network.stacked(tb).float()).cpu().numpy()
            for org, s, pred in zip(chunk, slices, out, strict=True):
                w = plan.window(org)
                total[(slice(None), *s)] += pred * w
                weight[s] += w
            bar.update(len(chunk))
    finally:
        bar.close()
        network.train(was_training)
    ny, nx = x.shape
    out = total[:, :ny, :nx] / weight[:ny, :nx]
    com, vec, maps = type(network).split(out, k)
    heatmap = 1.0 / (1.0 + np.exp(-com[0].astype(np.float64)))
    return heatmap.astype(np.float32), np.ascontiguousarray(vec), np.ascontiguousarray(maps)
