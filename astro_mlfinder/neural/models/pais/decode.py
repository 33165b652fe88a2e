"""Decoding the PAIS outputs: centres by non-maximum suppression, then per-pixel flux attribution.

1. `find_centres` -- the heatmap (optionally sharpened, `sharpen_heatmap`, so
   that the shoulder of a faint neighbour is a peak) is set to 0 below ``threshold`` and a pixel
   is a centre where it equals the maximum of its ``(2 radius + 1)^2``
   neighbourhood (PAIS: threshold 0.1, a 7x7 window); a flat top of several
   equal pixels gives one centre, and every centre is refined to the
   heatmap-weighted centroid of its 3x3 neighbourhood.
2. `source_footprint` -- the pixels whose flux is attributed at all: the
   image smoothed with a Gaussian of ``smooth`` pixels, above ``snr`` times
   its own noise, the connected parts holding a centre, grown by ``dilate``
   pixels (within the grown part of those islands' neighbourhood).
3. `decode_outputs` -- every footprint pixel's ``k`` claim fractions
   (softmax of the claim-map logits) go to the detected centre nearest to the
   end of the matching claim vector
   (`~astro_mlfinder.neural.models.pais.pcr.attribution_from_claims`); with
   ``attribution='profiles'`` the pixel is instead split in proportion to
   Moffat-sum models of the sources fitted to the image at those centres
   (`~astro_mlfinder.neural.models.pais.profiles`; the claim split where all
   models are 0), which cuts the median flux error of the small shipped
   network by a third on the benchmark (docs/performance.rst); with
   ``refine`` and ``residual_gain`` the centres are first refined by the fit
   and the sources its residual shows added
   (`~astro_mlfinder.neural.models.pais.iterate`). The
   attribution of a pixel therefore sums to 1 inside the footprint and 0
   outside, and the deblended images ``attribution * data`` of all sources
   add up to the data inside the footprint. Each footprint pixel is labelled
   with its largest-attribution source. A detection left without a pixel,
   or whose deblended flux or segment sum is not positive (a noise peak), is
   dropped and the remaining ones decoded again, so the invariants hold for
   the sources kept.
"""

import numpy as np
from scipy import ndimage

from .iterate import RESIDUAL_DEFAULTS, add_residual_sources, prune_sources
from .pcr import attribution_from_claims
from .profiles import fit_profiles, nearest_pixels, pixel_sigma, profile_attribution

__all__ = ["sharpen_heatmap", "find_centres", "source_footprint", "softmax", "decode_outputs"]


def softmax(logits, axis=0):
    """Numerically safe softmax along ``axis``."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def sharpen_heatmap(heatmap, amount=1.0, scale=1.0):
    """``heatmap - amount * LoG(heatmap)``, clipped to [0, 1]: a shoulder becomes a peak.

    The centre-of-mass heatmap of two close sources is one blob with a
    shoulder where the fainter one sits; subtracting the Laplacian of
    Gaussian (``scale`` pixels) raises the blob's curved parts, so that
    non-maximum suppression finds the shoulder as a peak of its own.
    ``amount`` 0 returns the heatmap unchanged.
    """
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64), nan=0.0)
    if not amount:
        return h
    return np.clip(h - float(amount) * ndimage.gaussian_laplace(h, float(scale), mode="constant"), 0.0, 1.0)


def find_centres(heatmap, threshold=0.1, radius=3, mask=None, sharpen=0.0):
    """Source centres: local maxima of the heatmap above ``threshold`` (non-maximum suppression).

    Parameters
    ----------
    heatmap : `~numpy.ndarray`
        ``(y, x)`` centre-of-mass heatmap in [0, 1].
    threshold : float
        Smallest heatmap value of a centre.
    radius : int
        Half-width of the suppression window (3: 7x7, as PAIS).
    mask : `~numpy.ndarray` of bool, optional
        Pixels that cannot hold a centre.
    sharpen : float
        Peaks are searched in `sharpen_heatmap` ``(heatmap, sharpen)``
        (0: in the heatmap itself).

    Returns
    -------
    centres : `~numpy.ndarray`
        ``(n, 2)`` float ``(y, x)`` (3x3 centroid of the searched map), brightest first.
    score : `~numpy.ndarray`
        ``(n,)`` value of the searched map at each peak.
    """
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64), nan=0.0)
    if h.ndim != 2:
        raise ValueError(f"heatmap must be a (y, x) array, got shape {h.shape}")
    h = sharpen_heatmap(h, sharpen)
    radius = int(radius)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    h = np.where(h >= float(threshold), h, 0.0)
    if mask is not None:
        h[np.asarray(mask, dtype=bool)] = 0.0
    peak = (h > 0) & (h == ndimage.maximum_filter(h, size=2 * radius + 1, mode="constant", cval=0.0))
    if not peak.any():
        return np.zeros((0, 2)), np.zeros(0)
    lab, n = ndimage.label(peak, structure=np.ones((3, 3)))  # a flat top is one centre
    idx = np.arange(1, n + 1)
    pos = np.array(ndimage.center_of_mass(peak, lab, idx), dtype=np.float64).reshape(-1, 2)
    score = np.asarray(ndimage.maximum(h, lab, idx), dtype=np.float64)
    centres = np.empty_like(pos)
    ny, nx = h.shape
    for i, (cy, cx) in enumerate(pos):
        iy, ix = int(round(cy)), int(round(cx))
        y0, y1, x0, x1 = max(iy - 1, 0), min(iy + 2, ny), max(ix - 1, 0), min(ix + 2, nx)
        w = h[y0:y1, x0:x1]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        centres[i] = (np.sum(w * yy) / w.sum(), np.sum(w * xx) / w.sum())
    order = np.argsort(-score, kind="stable")
    return centres[order], score[order]


def source_footprint(data, noise, centres, *, snr=2.0, smooth=1.0, dilate=2, mask=None):
    """Pixels whose flux is attributed: the smoothed image above the noise, islands holding a centre.

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(y, x)`` background-subtracted image (NaN = blank).
    noise : float or `~numpy.ndarray`
        Per-pixel noise of ``data``.
    centres : `~numpy.ndarray`
        ``(n, 2)`` detected centres ``(y, x)``.
    snr : float
        Threshold of the smoothed image in units of its noise.
    smooth : float
        Gaussian sigma (pixels) of the smoothing (0: none).
    dilate : int
        Pixels the kept islands grow by.
    mask : `~numpy.ndarray` of bool, optional
        Excluded pixels (never in the footprint).

    Returns
    -------
    `~numpy.ndarray` of bool
        ``(y, x)``.
    """
    data = np.asarray(data, dtype=np.float64)
    blank = ~np.isfinite(data)
    if mask is not None:
        blank |= np.asarray(mask, dtype=bool)
    d = np.where(blank, 0.0, data)
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), d.shape)
    if smooth and smooth > 0:
        d = ndimage.gaussian_filter(d, float(smooth), mode="constant")
        # white noise through a unit-sum Gaussian: sigma / (2 sqrt(pi) s)
        noise = noise / (2.0 * np.sqrt(np.pi) * float(smooth))
    fp = (d > float(snr) * noise) & ~blank
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    ny, nx = fp.shape
    iy, ix = nearest_pixels(centres, (ny, nx))
    fp[iy, ix] |= ~blank[iy, ix]  # a detected centre is always in its own footprint
    lab, _ = ndimage.label(fp, structure=np.ones((3, 3)))
    keep = np.unique(lab[iy, ix])
    fp = np.isin(lab, keep[keep > 0])
    if dilate and int(dilate) > 0:
        fp = ndimage.binary_dilation(fp, structure=np.ones((3, 3)), iterations=int(dilate))
    return fp & ~blank


def decode_outputs(heatmap, vectors, claim_logits, data, noise, *, threshold=0.1, radius=3, footprint_snr=2.0,
                   smooth=1.0, dilate=2, max_distance=None, mask=None, attribution="claims", sharpen=0.0, refine=0,
                   residual_gain=0.0, prune=0.0):
    """Detected sources, their attribution, labels and deblended fluxes from the network outputs.

    Parameters
    ----------
    heatmap : `~numpy.ndarray`
        ``(y, x)`` heatmap (sigmoid of the network's logits).
    vectors : `~numpy.ndarray`
        ``(k, 2, y, x)`` claim vectors.
    claim_logits : `~numpy.ndarray`
        ``(k, y, x)`` claim-map logits.
    data : `~numpy.ndarray`
        ``(y, x)`` background-subtracted image in its own units.
    noise : float or `~numpy.ndarray`
        Its noise.
    threshold, radius, sharpen
        `find_centres`.
    footprint_snr, smooth, dilate
        `source_footprint`.
    max_distance : float, optional
        Claims ending farther than this from every centre go to no source.
    mask : `~numpy.ndarray` of bool, optional
        Excluded pixels.
    attribution : {'claims', 'profiles'}
        ``'claims'``: each pixel split by the claim maps (PAIS);
        ``'profiles'``: split in proportion to Moffat-sum models of the
        sources fitted to the image at the detected centres
        (`~astro_mlfinder.neural.models.pais.profiles`), the claim maps'
        split where every model is 0.
    refine : int
        With ``'profiles'``: move every centre to the windowed centroid of
        its deblended image and refit, this many times
        (`~astro_mlfinder.neural.models.pais.iterate.refine_centres`).
    residual_gain : float
        With ``'profiles'`` and > 0: add the sources that the residual of the
        fit shows and whose profile lowers the fit's chi-square by more than
        this (`~astro_mlfinder.neural.models.pais.iterate.add_residual_sources`;
        their ``score`` is the heatmap at their centre).
    prune : float
        With ``'profiles'`` and > 0: then drop, one at a time, the sources
        whose removal raises the chi-square of their island's fit by less
        than this (`~astro_mlfinder.neural.models.pais.iterate.prune_sources`;
        a galaxy split in two, a centre on the model's residual).

    Returns
    -------
    dict
        ``centres`` ``(n, 2)``, ``score`` ``(n,)``, ``attribution`` float32
        ``(n, y, x)``, ``labels`` int32 ``(y, x)`` (0 = background, source
        ``i`` is label ``i + 1``), ``footprint`` bool ``(y, x)`` and ``flux``
        ``(n,)`` (sum of ``attribution * data``).
    """
    if attribution not in ("claims", "profiles"):
        raise ValueError(f"attribution must be 'claims' or 'profiles', got {attribution!r}")
    data = np.asarray(data, dtype=np.float64)
    blank = ~np.isfinite(data)
    if mask is not None:
        blank |= np.asarray(mask, dtype=bool)
    centres, score = find_centres(heatmap, threshold, radius, mask=blank, sharpen=sharpen)
    clean = np.where(blank, 0.0, data)
    fractions = softmax(claim_logits, axis=0)
    if attribution == "profiles" and len(centres) and (int(refine) > 0 or residual_gain > 0 or prune > 0):
        def footprint_of(c):
            return source_footprint(data, noise, c, snr=footprint_snr, smooth=smooth, dilate=dilate, mask=blank)

        n0 = len(centres)
        sigma = pixel_sigma(clean, noise)
        centres, _ = add_residual_sources(clean, centres, footprint_of, sigma, noise, heatmap,
                                          chi2_gain=float(residual_gain), refine=int(refine), **RESIDUAL_DEFAULTS)
        h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
        score = np.concatenate([score, h[nearest_pixels(centres[n0:], h.shape)]])
        if prune > 0:
            keep = prune_sources(clean, centres, footprint_of, sigma, float(prune))
            centres, score = centres[keep], score[keep]
    while True:  # decode; drop sources without pixels or flux; decode again with the others (ends: n shrinks)
        footprint = source_footprint(data, noise, centres, snr=footprint_snr, smooth=smooth, dilate=dilate,
                                     mask=blank)
        attr = attribution_from_claims(centres, vectors, fractions, max_distance=max_distance,
                                       footprint=footprint)
        if attribution == "profiles" and len(centres):
            models = fit_profiles(clean, centres, footprint, sigma=pixel_sigma(clean, noise))
            attr = profile_attribution(models, attr, footprint)
        labels = np.zeros(data.shape, dtype=np.int32)
        if not len(centres):
            break
        best = np.argmax(attr, axis=0)
        has = footprint & (attr.max(axis=0) > 0)
        labels[has] = best[has] + 1
        flux = np.einsum("nyx,yx->n", attr.astype(np.float64), clean)
        segment_sum = np.bincount(labels.ravel(), weights=clean.ravel(), minlength=len(centres) + 1)[1:]
        n_pix = np.bincount(labels.ravel(), minlength=len(centres) + 1)[1:]
        keep = (n_pix > 0) & (flux > 0) & (segment_sum > 0)
        if keep.all():
            break
        centres, score = centres[keep], score[keep]
    flux = np.einsum("nyx,yx->n", attr.astype(np.float64), clean) if len(centres) else np.zeros(0)
    return {"centres": centres, "score": score, "attribution": attr, "labels": labels,
            "footprint": footprint, "flux": flux}
