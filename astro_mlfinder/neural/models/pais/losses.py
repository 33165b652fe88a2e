"""The PAIS losses: heatmap MSE, claim-vector MAE, claim-map cross-entropy and an entropy regulariser.

As Hausen & Robertson (2022) and ../shared/reference/seed_models.md section 5.3:

``total = w_vec * MAE(claim vectors) + w_map * CE(claim maps) + w_com * MSE(heatmap) + w_ent * entropy``

* heatmap: mean squared error of ``sigmoid(logits)`` against the PCR heatmap,
  over every valid pixel;
* claim vectors: mean absolute error over the ``(dy, dx)`` of the ``k`` claims,
  in pixels;
* claim maps: cross-entropy of ``softmax(logits)`` over the ``k`` claims
  against the PCR fractions (soft targets);
* entropy: mean Shannon entropy of ``softmax(logits)`` (rewards confident
  attribution).

The published weights are 0.06, 4, 15 and 1 (`PAPER_WEIGHTS`). Two choices of
this package (`DEFAULT_WEIGHTS`, `source_weight`): the claim terms are
averaged over the pixels that carry source flux (the claim of a pixel
without flux is meaningless and its vectors to far centres are large), and
the entropy term is weighted 0.1, because here the targets are exact
fractions from noise-free source images rather than a scarlet fit, and a
strong pull towards one-hot claims biases the flux split of overlapping
sources. Every term is averaged per image over its weighted pixels, then
over the batch.
"""

__all__ = ["PAPER_WEIGHTS", "DEFAULT_WEIGHTS", "pais_loss", "source_weight"]

#: Loss weights of the published model (claim vectors, claim maps, heatmap, entropy).
PAPER_WEIGHTS = {"vectors": 0.06, "maps": 4.0, "com": 15.0, "entropy": 1.0}
#: Loss weights used here (see the module docstring).
DEFAULT_WEIGHTS = {"vectors": 0.06, "maps": 4.0, "com": 15.0, "entropy": 0.1}


def source_weight(total_model, noise, floor=0.5):
    """Pixels whose claims are trained: noise-free total flux above ``floor`` times the noise (float 0/1).

    Parameters
    ----------
    total_model : array-like
        ``(..., y, x)`` sum of the noise-free source images.
    noise : float or array-like
        Noise per pixel (same units), broadcastable.
    floor : float
        Threshold in units of the noise.
    """
    import numpy as np

    return (np.asarray(total_model) > float(floor) * np.asarray(noise)).astype(np.float32)


def _weighted_mean(values, weight):
    # per image mean over weighted pixels, then the batch mean (images without weight contribute 0)
    dims = tuple(range(1, values.dim()))
    num = (values * weight).sum(dim=dims)
    den = weight.sum(dim=dims).clamp_min(1e-6)
    return (num / den).mean()


def pais_loss(outputs, targets, *, valid=None, claim_weight=None, weights=None):
    """The PAIS training loss of a batch.

    Parameters
    ----------
    outputs : tuple of `torch.Tensor`
        ``(com_logits (n, 1, y, x), vectors (n, k, 2, y, x), claim_logits (n, k, y, x))``
        from `~astro_mlfinder.neural.models.pais.network.PAISNet`.
    targets : dict of `torch.Tensor`
        ``center_of_mass`` ``(n, y, x)``, ``claim_vectors`` ``(n, k, 2, y, x)``,
        ``claim_maps`` ``(n, k, y, x)`` (the PCR, `~astro_mlfinder.neural.models.pais.pcr.encode_pcr`).
    valid : `torch.Tensor`, optional
        ``(n, y, x)`` 1 for pixels that count (0: padding); default all.
    claim_weight : `torch.Tensor`, optional
        ``(n, y, x)`` weight of the claim terms (`source_weight`); default ``valid``.
    weights : dict, optional
        Term weights (default `DEFAULT_WEIGHTS`); keys ``vectors``, ``maps``, ``com``, ``entropy``.

    Returns
    -------
    total : `torch.Tensor`
        Scalar loss.
    parts : dict
        The unweighted terms as floats.
    """
    import torch
    from torch.nn import functional as F

    w = dict(DEFAULT_WEIGHTS, **(weights or {}))
    unknown = set(w) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown loss weight(s) {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}")
    com_logits, vectors, claim_logits = outputs
    com_t = targets["center_of_mass"]
    vec_t = targets["claim_vectors"]
    map_t = targets["claim_maps"]
    if valid is None:
        valid = torch.ones_like(com_t)
    cw = valid if claim_weight is None else claim_weight * valid
    com = _weighted_mean((torch.sigmoid(com_logits[:, 0]) - com_t) ** 2, valid)
    vec = _weighted_mean((vectors - vec_t).abs().mean(dim=(1, 2)), cw)
    logp = F.log_softmax(claim_logits, dim=1)
    ce = _weighted_mean(-(map_t * logp).sum(dim=1), cw)
    ent = _weighted_mean(-(logp.exp() * logp).sum(dim=1), cw)
    total = w["vectors"] * vec + w["maps"] * ce + w["com"] * com + w["entropy"] * ent
    parts = {"com": float(com.detach()), "vectors": float(vec.detach()), "maps": float(ce.detach()),
             "entropy": float(ent.detach())}
    return total, parts
