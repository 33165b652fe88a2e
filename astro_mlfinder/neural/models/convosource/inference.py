"""The ConvoSource probability map of an image of any size (tiled, blended)."""

import numpy as np

from ....core.tiling import as_tuple
from ...inference import predict_tiled
from .preprocess import normalize_image

__all__ = ["probability_map"]


def probability_map(network, image, *, normalization=None, tile_shape=(256, 256), overlap=(32, 32), batch_size=8,
                    device="auto", progress=False, tta=False):
    """Per-pixel source probability of a 2D image.

    Parameters
    ----------
    network : `torch.nn.Module`
        A `~astro_mlfinder.neural.models.convosource.network.ConvoSourceNet`
        (logits out).
    image : `~numpy.ndarray`
        (y, x) image in any flux unit; NaN = blank.
    normalization : dict, optional
        Recorded with the weights (see `normalize_image`).
    tile_shape, overlap : int or tuple of int
        Tiles and their overlap in pixels (`~astro_mlfinder.core.tiling.plan_tiles`).
    batch_size : int
        Tiles per forward pass.
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda'``...
    progress : bool
        Show a progress bar over tiles.
    tta : bool
        Test-time augmentation: average the probabilities of the eight
        flips and 90-degree rotations of the image (each mapped back), eight
        times the network time for a map that no longer depends on the
        image's orientation.

    Returns
    -------
    prob : `~numpy.ndarray`
        float32 probabilities, 0 on blank pixels.
    noise : `~numpy.ndarray`
        The local noise map used to normalise the image.
    """
    from ..._torch import require_torch, resolve_device

    torch = require_torch("convosource inference")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"probability_map expects a (y, x) image, got shape {image.shape}")
    tile_shape = as_tuple(tile_shape, 2, "tile_shape", minimum=1)
    overlap = as_tuple(overlap, 2, "overlap")
    x, noise = normalize_image(image, normalization)
    device = resolve_device(device)
    was_training = network.training
    network.eval()
    network.to(device)

    def predict_fn(batch):
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(batch[:, None])).to(device)
            return torch.sigmoid(network(t).float())[:, 0].cpu().numpy()

    try:
        prob = None
        for k, flip in _transforms(tta):
            xt = np.rot90(x[:, ::-1] if flip else x, k)
            p = predict_tiled(np.ascontiguousarray(xt), predict_fn, tile_shape, overlap, batch_size=batch_size,
                              divisor=1, progress=progress, desc="convosource")
            p = np.rot90(p, -k)
            p = p[:, ::-1] if flip else p
            prob = p.astype(np.float32) if prob is None else prob + p
        prob = np.ascontiguousarray(prob / len(_transforms(tta)), dtype=np.float32)
    finally:
        network.train(was_training)
    prob[~np.isfinite(image)] = 0.0
    return prob, noise


def _transforms(tta):
    """(quarter turns, flip) pairs: the identity, or the eight symmetries of the square when ``tta``."""
    if not tta:
        return [(0, False)]
    return [(k, flip) for flip in (False, True) for k in range(4)]
