"""The Partial Contribution Representation (PCR) of PAIS, computed exactly from per-source images.

Hausen & Robertson (2022, arXiv:2201.04714) encode the deblending of an image
into ``n_src`` overlapping sources, ``image = sum_i A_i * image`` with
per-pixel attribution fractions ``A_i``, in three fixed-size tensors:

* the **centre-of-mass heatmap** ``(y, x)``: a Gaussian of width ``sigma``
  at every source's centre, overlapping Gaussians combined by the pixel-wise
  maximum (`center_of_mass_map`);
* the **claim vectors** ``(k, 2, y, x)``: for every pixel, the offsets
  ``(dy, dx)`` from the pixel to its ``k`` nearest source centres, the list
  padded by repeating the last when there are fewer than ``k`` sources
  (`claim_vectors`);
* the **claim maps** ``(k, y, x)``: the fraction of the pixel's flux due to
  each of those ``k`` sources, ``max(model, 0)`` over their sum (uniform when
  all are zero), a padded duplicate sharing its source's fraction equally
  with the original (`claim_maps`).

`encode_pcr` builds all three from the noise-free image of every source
(``(n_src, y, x)``, as `astro_mlfinder.simulate.blends` keeps them);
`truth_attribution` is the exact attribution ``A_i = model_i / sum model``
and `attribution_from_claims` the inverse of the representation: each
pixel's claim fractions go to the centre nearest to the end of each claim
vector. For at most ``k`` sources the round trip is exact.

Numpy only (the network and the losses live elsewhere). Arrays are (y, x).
"""

import numpy as np

__all__ = [
    "DEFAULT_K",
    "DEFAULT_SIGMA",
    "source_centres",
    "center_of_mass_map",
    "nearest_centres",
    "claim_vectors",
    "claim_maps",
    "encode_pcr",
    "truth_attribution",
    "attribution_from_claims",
]

#: Number of nearest sources each pixel's claim vectors and maps describe (3 in PAIS v8/v9).
DEFAULT_K = 3
#: Width (pixels) of the Gaussian marking a centre in the heatmap. PAIS used 8 pixels of 60 mas on
#: HST crops; the blends here are a few pixels apart, and the 5x5 non-maximum suppression must
#: separate them, so the default is narrower.
DEFAULT_SIGMA = 2.0


def _check_models(models):
    models = np.asarray(models, dtype=np.float64)
    if models.ndim != 3:
        raise ValueError(f"models must be an (n_src, y, x) array of per-source images, got shape {models.shape}")
    if models.shape[0] < 1:
        raise ValueError("models holds no source; the PCR needs at least one source image")
    if not np.all(np.isfinite(models)):
        raise ValueError("models must be finite (noise-free per-source images)")
    return models


def source_centres(models):
    """Flux-weighted centre of every source image (``max(model, 0)`` weights).

    Parameters
    ----------
    models : `~numpy.ndarray`
        ``(n_src, y, x)`` noise-free per-source images.

    Returns
    -------
    `~numpy.ndarray`
        ``(n_src, 2)`` float centres ``(y, x)`` in pixels (0-based). A source
        with no positive flux raises `ValueError`.
    """
    models = np.clip(_check_models(models), 0, None)
    total = models.sum(axis=(1, 2))
    if np.any(total <= 0):
        bad = int(np.flatnonzero(total <= 0)[0])
        raise ValueError(f"source {bad} has no positive flux in models; its centre is undefined (pass centres)")
    ny, nx = models.shape[1:]
    yy = np.arange(ny, dtype=np.float64)
    xx = np.arange(nx, dtype=np.float64)
    cy = (models.sum(axis=2) @ yy) / total
    cx = (models.sum(axis=1) @ xx) / total
    return np.column_stack([cy, cx])


def _check_centres(centres):
    centres = np.asarray(centres, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise ValueError(f"centres must be an (n_src, 2) array of (y, x) positions, got shape {centres.shape}")
    return centres


def center_of_mass_map(centres, shape, sigma=DEFAULT_SIGMA):
    """The centre-of-mass heatmap: ``max_i exp(-r_i^2 / 2 sigma^2)``.

    Parameters
    ----------
    centres : array-like
        ``(n_src, 2)`` centres ``(y, x)`` (sub-pixel allowed; they may lie off the image).
    shape : tuple of int
        ``(y, x)`` shape of the map.
    sigma : float
        Gaussian width in pixels.

    Returns
    -------
    `~numpy.ndarray`
        float32 map in [0, 1]; 1 exactly on a centre that falls on a pixel.
    """
    centres = _check_centres(centres)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    ny, nx = (int(n) for n in shape)
    out = np.zeros((ny, nx), dtype=np.float64)
    yy = np.arange(ny, dtype=np.float64)[:, None]
    xx = np.arange(nx, dtype=np.float64)[None, :]
    for cy, cx in centres:
        np.maximum(out, np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2.0 * sigma**2)), out=out)
    return out.astype(np.float32)


def nearest_centres(centres, shape, k=DEFAULT_K):
    """Indices of the ``k`` nearest centres of every pixel, padded by repeating the last.

    Returns
    -------
    `~numpy.ndarray`
        int ``(k, y, x)``; ties are broken by the source order.
    """
    centres = _check_centres(centres)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ny, nx = (int(n) for n in shape)
    yy = np.arange(ny, dtype=np.float64)[None, :, None]
    xx = np.arange(nx, dtype=np.float64)[None, None, :]
    d2 = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2
    order = np.argsort(d2, axis=0, kind="stable")[:k]
    if order.shape[0] < k:
        order = np.concatenate([order, np.repeat(order[-1:], k - order.shape[0], axis=0)])
    return order


def claim_vectors(centres, shape, k=DEFAULT_K):
    """Offsets ``(dy, dx)`` from every pixel to its ``k`` nearest centres.

    Returns
    -------
    vectors : `~numpy.ndarray`
        float32 ``(k, 2, y, x)``.
    index : `~numpy.ndarray`
        int ``(k, y, x)``: the source each vector points at (`nearest_centres`).
    """
    centres = _check_centres(centres)
    index = nearest_centres(centres, shape, k)
    ny, nx = index.shape[1:]
    yy = np.arange(ny, dtype=np.float64)[None, :, None]
    xx = np.arange(nx, dtype=np.float64)[None, None, :]
    vec = np.stack([centres[index, 0] - yy, centres[index, 1] - xx], axis=1)
    return vec.astype(np.float32), index


def claim_maps(models, index):
    """Fraction of every pixel's flux due to each of its ``k`` nearest sources.

    ``max(model, 0)`` of the ``k`` distinct nearest sources over their sum;
    uniform over them where all are zero; a source listed ``m`` times (the
    padding of `nearest_centres`) has its fraction split equally among its
    ``m`` entries, so every pixel's claim maps sum to 1.

    Parameters
    ----------
    models : `~numpy.ndarray`
        ``(n_src, y, x)`` noise-free per-source images.
    index : `~numpy.ndarray`
        ``(k, y, x)`` from `nearest_centres`.

    Returns
    -------
    `~numpy.ndarray`
        float32 ``(k, y, x)``.
    """
    models = np.clip(_check_models(models), 0, None)
    index = np.asarray(index)
    if index.ndim != 3 or index.shape[1:] != models.shape[1:]:
        raise ValueError(f"index must be (k, y, x) with the models' (y, x) {models.shape[1:]}, got {index.shape}")
    k = index.shape[0]
    picked = np.take_along_axis(models, index, axis=0)  # (k, y, x)
    # multiplicity of each entry's source among the k entries of its pixel
    mult = np.zeros(index.shape, dtype=np.float64)
    for a in range(k):
        for b in range(k):
            mult[a] += index[a] == index[b]
    distinct = picked / mult  # a duplicated source counted once in the sum
    total = distinct.sum(axis=0)
    n_distinct = (1.0 / mult).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total > 0, picked / total, 1.0 / n_distinct) / mult
    return frac.astype(np.float32)


def encode_pcr(models, centres=None, *, k=DEFAULT_K, sigma=DEFAULT_SIGMA):
    """The PCR of a blend from its per-source noise-free images.

    Parameters
    ----------
    models : array-like
        ``(n_src, y, x)`` noise-free image of every source.
    centres : array-like, optional
        ``(n_src, 2)`` centres ``(y, x)``; default: the flux-weighted centre
        of each source image (`source_centres`).
    k : int
        Nearest sources per pixel.
    sigma : float
        Heatmap Gaussian width in pixels.

    Returns
    -------
    dict
        ``center_of_mass`` (float32 ``(y, x)``), ``claim_vectors`` (float32
        ``(k, 2, y, x)``), ``claim_maps`` (float32 ``(k, y, x)``), ``index``
        (int ``(k, y, x)``: the source of each claim) and ``centres``
        (``(n_src, 2)``).
    """
    models = _check_models(models)
    centres = source_centres(models) if centres is None else _check_centres(centres)
    if centres.shape[0] != models.shape[0]:
        raise ValueError(f"centres has {centres.shape[0]} rows for {models.shape[0]} source images")
    shape = models.shape[1:]
    vectors, index = claim_vectors(centres, shape, k)
    return {
        "center_of_mass": center_of_mass_map(centres, shape, sigma),
        "claim_vectors": vectors,
        "claim_maps": claim_maps(models, index),
        "index": index,
        "centres": centres,
    }


def truth_attribution(models):
    """Exact attribution ``max(model_i, 0) / sum_j max(model_j, 0)`` (0 where no source has flux).

    Returns
    -------
    `~numpy.ndarray`
        float64 ``(n_src, y, x)``; sums to 1 where any source has flux, else 0.
    """
    models = np.clip(_check_models(models), 0, None)
    total = models.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, models / np.where(total > 0, total, 1.0), 0.0)


def attribution_from_claims(centres, vectors, fractions, *, max_distance=None, footprint=None):
    """Decode claim vectors and fractions into per-source attribution (the inverse of the PCR).

    Every pixel's claim ``j`` ends at ``pixel + vectors[j]``; its fraction
    goes to the centre nearest to that end (Euclidean). Fractions of claims
    ending farther than ``max_distance`` from every centre, and every pixel
    outside ``footprint``, are attributed to no source, so the attribution of
    a pixel sums to at most the sum of its fractions (1 for softmax or PCR
    claim maps).

    Parameters
    ----------
    centres : array-like
        ``(n_src, 2)`` centres ``(y, x)`` of the detected sources.
    vectors : `~numpy.ndarray`
        ``(k, 2, y, x)`` claim vectors.
    fractions : `~numpy.ndarray`
        ``(k, y, x)`` claim fractions (non-negative, summing to <= 1 per pixel).
    max_distance : float, optional
        Largest distance (pixels) between a claim's end and its centre.
    footprint : `~numpy.ndarray` of bool, optional
        ``(y, x)``: pixels that are attributed at all (default: every pixel).

    Returns
    -------
    `~numpy.ndarray`
        float32 ``(n_src, y, x)``.
    """
    centres = _check_centres(centres)
    vectors = np.asarray(vectors, dtype=np.float64)
    fractions = np.asarray(fractions, dtype=np.float64)
    if vectors.ndim != 4 or vectors.shape[1] != 2:
        raise ValueError(f"vectors must be (k, 2, y, x), got shape {vectors.shape}")
    k, _, ny, nx = vectors.shape
    if fractions.shape != (k, ny, nx):
        raise ValueError(f"fractions must be (k, y, x) = {(k, ny, nx)}, got shape {fractions.shape}")
    n = centres.shape[0]
    out = np.zeros((n, ny, nx), dtype=np.float64)
    if n == 0:
        return out.astype(np.float32)
    if footprint is None:
        sel = np.ones((ny, nx), dtype=bool)
    else:
        sel = np.asarray(footprint, dtype=bool)
        if sel.shape != (ny, nx):
            raise ValueError(f"footprint must have shape {(ny, nx)}, got {sel.shape}")
    py, px = np.nonzero(sel)
    if py.size == 0:
        return out.astype(np.float32)
    flat = out.reshape(n, -1)
    lin = py * nx + px
    for j in range(k):
        ey = py + vectors[j, 0, py, px]
        ex = px + vectors[j, 1, py, px]
        d2 = (ey[:, None] - centres[None, :, 0]) ** 2 + (ex[:, None] - centres[None, :, 1]) ** 2
        best = np.argmin(d2, axis=1)
        frac = np.clip(fractions[j, py, px], 0, None)
        if max_distance is not None:
            frac = np.where(d2[np.arange(best.size), best] <= float(max_distance) ** 2, frac, 0.0)
        np.add.at(flat, (best, lin), frac)
    return out.astype(np.float32)
