"""Iterating the profile fit: sharper centres and the sources the heatmap missed.

The heatmap of the small PAIS network places a centre to within about a
pixel and shows a close, fainter neighbour only as a shoulder. Both cost
flux accuracy: a profile fitted at a misplaced centre takes light from its
neighbours, and a missed source's light goes to the detected ones. After the
first profile fit (`~astro_mlfinder.neural.models.pais.profiles`):

* `windowed_centroids` -- every centre moves to the Gaussian-windowed
  centroid of its own deblended image (``attribution * data``, as
  SExtractor's ``XWIN``), and the fit is repeated (`refine_centres`); with
  the true centres instead of the network's, the median flux error of the
  profile split falls from 0.082 to 0.056 on the tuning seeds, and two such
  iterations give 0.061;
* `residual_peaks` -- as DAOPHOT's and CLEAN's iterative detection: peaks
  of the smoothed residual ``data - model`` that stand ``snr`` times its
  noise and ``contrast`` times the smoothed model above zero, where the
  network's heatmap is at least ``min_heatmap`` and at least
  ``min_separation`` pixels from every centre; with ``symmetric`` the
  residual is first made `asymmetric_residual` (less its positive part
  mirrored through the centre of the source that dominates each pixel:
  what a point-symmetric galaxy's model misses of the galaxy itself is
  point-symmetric, a missed neighbour is not); `add_residual_sources`
  adds each one (strongest first) whose source lowers the fit's chi-square
  by more than ``chi2_gain``, refines the centres again, and repeats up to
  ``rounds`` times;
* `prune_sources` -- the backward step of the stepwise selection: the
  source whose removal raises the chi-square of its island's fit least
  is dropped while that rise stays below a threshold (a galaxy split
  into two centres, a centre on a residual of the model).

The thresholds were chosen on the tuning seeds of benchmarks/deblending.py
(docs/performance.rst). Numpy and SciPy only.
"""

import numpy as np
from scipy import ndimage

from .profiles import (
    MAX_JOINT_SOURCES,
    fit_profiles,
    footprint_islands,
    nearest_pixels,
    profile_attribution,
    profile_reach,
)

__all__ = ["windowed_centroids", "refine_centres", "asymmetric_residual", "residual_peaks", "add_residual_sources",
           "prune_sources", "RESIDUAL_DEFAULTS"]

#: Settings of `add_residual_sources` (chosen on the tuning seeds of benchmarks/deblending.py).
RESIDUAL_DEFAULTS = {"snr": 3.0, "contrast": 0.0, "smooth": 1.2, "min_heatmap": 0.01, "min_separation": 3.0,
                     "rounds": 2, "relax": 2.0, "symmetric": True}


def windowed_centroids(images, centres, sigma=1.0, max_shift=2.0, iterations=5):
    """Gaussian-windowed centroid of each source's own image, iterated from its centre.

    Parameters
    ----------
    images : `~numpy.ndarray`
        ``(n, y, x)`` per-source images (negative pixels count as 0).
    centres : `~numpy.ndarray`
        ``(n, 2)`` starting ``(y, x)``.
    sigma : float
        Window width (pixels).
    max_shift : float
        A centroid farther than this from its start is not taken (the
        start is kept).
    iterations : int
        Window re-centring steps.

    Returns
    -------
    `~numpy.ndarray`
        ``(n, 2)`` float64.
    """
    images = np.asarray(images, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    if images.shape[0] != len(centres):
        raise ValueError(f"images holds {images.shape[0]} sources but centres {len(centres)}")
    out = centres.copy()
    if not len(centres):
        return out
    ny, nx = images.shape[1:]
    gy = np.arange(ny, dtype=np.float64)
    gx = np.arange(nx, dtype=np.float64)
    for i, (y0, x0) in enumerate(centres):
        light = np.clip(np.nan_to_num(images[i]), 0, None)
        y, x = y0, x0
        for _ in range(int(iterations)):
            w = np.exp(-0.5 * (gy - y) ** 2 / sigma**2)[:, None] * np.exp(-0.5 * (gx - x) ** 2 / sigma**2)[None, :]
            w = w * light
            total = w.sum()
            if not total > 0:
                break
            y, x = float(w.sum(axis=1) @ gy / total), float(w.sum(axis=0) @ gx / total)
        if np.hypot(y - y0, x - x0) <= max_shift:
            out[i] = (y, x)
    return out


def refine_centres(data, centres, footprint_of, sigma, *, iterations=2, basis=None, window=1.0, max_shift=2.0,
                   relax=1.0):
    """Fit, split, move every centre to its deblended image's windowed centroid; ``iterations`` times.

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(y, x)`` background-subtracted image, blank pixels 0.
    centres : `~numpy.ndarray`
        ``(n, 2)`` ``(y, x)``.
    footprint_of : callable
        ``footprint_of(centres)`` -> boolean ``(y, x)`` footprint.
    sigma : `~numpy.ndarray`
        Per-pixel uncertainty (`~astro_mlfinder.neural.models.pais.profiles.pixel_sigma`).
    iterations : int
        Refinement steps (0: ``centres`` unchanged).
    basis : dict, optional
        Profile basis of the fits.
    window, max_shift : float
        `windowed_centroids`.
    relax : float
        Each step moves a centre ``relax`` times the way to its windowed
        centroid (> 1: over-relaxation; the split of a misplaced centre
        pulls its centroid towards it, so plain steps converge slowly).

    Returns
    -------
    `~numpy.ndarray`
        ``(n, 2)`` refined centres.
    """
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    for _ in range(int(iterations)):
        if not len(centres):
            break
        fp = footprint_of(centres)
        models = fit_profiles(data, centres, fp, basis=basis, sigma=sigma)
        attr = profile_attribution(models, np.zeros_like(models), fp)
        centres = centres + relax * (windowed_centroids(attr * data, centres, window, max_shift) - centres)
    return centres


def asymmetric_residual(residual, models, centres):
    """The residual less its positive part mirrored through the centre of each pixel's host source.

    Galaxies and stars are close to point-symmetric about their centres, and
    so is a profile model of one: what the model misses of the source
    itself (a wing the basis does not follow, a bulge) leaves a
    point-symmetric residual, a missed neighbour leaves light on one side
    only. A pixel's host is the source whose model is largest there; pixels
    that no model reaches, or whose mirror image falls outside the image,
    keep their residual.

    Parameters
    ----------
    residual : `~numpy.ndarray`
        ``(y, x)`` residual ``data - model`` (smoothed or not).
    models : `~numpy.ndarray`
        ``(n, y, x)`` per-source models.
    centres : `~numpy.ndarray`
        ``(n, 2)`` ``(y, x)`` centres of ``models``.

    Returns
    -------
    `~numpy.ndarray`
        ``(y, x)`` float64.
    """
    residual = np.asarray(residual, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    if not len(centres):
        return residual.copy()
    models = np.asarray(models)
    if models.shape != (len(centres), *residual.shape):
        raise ValueError(f"models has shape {models.shape}; expected {(len(centres), *residual.shape)} "
                         "(one model per centre, each the residual's shape)")
    host = np.argmax(models, axis=0)
    hosted = np.take_along_axis(models, host[None], axis=0)[0] > 0
    gy, gx = np.indices(residual.shape, dtype=np.float64)
    mirror = ndimage.map_coordinates(residual, [2.0 * centres[host, 0] - gy, 2.0 * centres[host, 1] - gx], order=1,
                                     mode="constant", cval=np.nan)
    use = hosted & np.isfinite(mirror)
    return np.where(use, residual - np.clip(np.nan_to_num(mirror), 0.0, None), residual)


def residual_peaks(residual, model, noise, allowed, *, snr=3.0, contrast=0.2, smooth=1.2, symmetric=None):
    """Positive peaks of the smoothed residual, strongest first.

    A peak is a local maximum (5x5) of the residual smoothed by a Gaussian of
    ``smooth`` pixels that exceeds ``snr`` times the smoothed white noise and
    ``contrast`` times the equally smoothed model, inside ``allowed``. With
    ``symmetric=(models, centres)`` the smoothed residual is made
    `asymmetric_residual` first.

    Returns
    -------
    `~numpy.ndarray`
        ``(m, 2)`` integer-valued ``(y, x)`` positions as floats.
    """
    rs = ndimage.gaussian_filter(np.asarray(residual, dtype=np.float64), smooth)
    if symmetric is not None:
        rs = asymmetric_residual(rs, *symmetric)
    ms = ndimage.gaussian_filter(np.asarray(model, dtype=np.float64), smooth)
    ns = np.asarray(noise, dtype=np.float64) / (2.0 * np.sqrt(np.pi) * smooth)
    peak = (rs == ndimage.maximum_filter(rs, 5)) & (rs > snr * ns) & (rs >= contrast * ms) & allowed
    ys, xs = np.nonzero(peak)
    order = np.argsort(-rs[ys, xs], kind="stable")
    return np.column_stack([ys[order], xs[order]]).astype(np.float64)


def _chi2(data, models, fp, sigma):
    r = (data - models.sum(axis=0)) / sigma
    return float(np.sum(r[fp] ** 2))


def _fit_chi2(data, rows, inside, sigma, basis):
    """Chi-square over ``inside`` of the profile fit of sources at ``rows`` to ``data`` (one island's box)."""
    return _chi2(data, fit_profiles(data, rows, inside, basis=basis, sigma=sigma), inside, sigma)


def _local_gain(data, models, centres, in_island, lab, k, sigma, candidate, basis):
    """Chi-square gain of a candidate in a crowded island, fitted locally.

    The island's sources within twice the broadest profile's width of the
    candidate are refitted with and without it over the island's pixels in
    that reach, against the data less the other sources' current models
    (``models``: the round's fit, one per row of ``centres``; sources added
    in this round have none and count as near when they are). ``lab == k``
    is the island.
    """
    reach = profile_reach(basis)
    y, x = candidate
    lo = np.maximum(np.array([int(y), int(x)]) - reach, 0)
    hi = np.minimum(np.array([int(y), int(x)]) + reach + 1, lab.shape)
    box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
    inside = lab[box] == k
    near = in_island & (np.hypot(centres[:, 0] - y, centres[:, 1] - x) <= reach)
    fitted = np.flatnonzero(in_island & ~near)
    fitted = fitted[fitted < len(models)]
    target = data[box] - models[:, box[0], box[1]][fitted].sum(axis=0)
    origin = lo.astype(np.float64)
    chi2 = [_fit_chi2(target, c - origin, inside, sigma[box], basis)
            for c in (centres[near], np.vstack([centres[near], [[y, x]]]))]
    return chi2[0] - chi2[1]


def add_residual_sources(data, centres, footprint_of, sigma, noise, heatmap, *, chi2_gain=10.0, refine=2,
                         basis=None, snr=3.0, contrast=0.1, smooth=1.2, min_heatmap=0.05, min_separation=3.0,
                         rounds=2, relax=1.0, symmetric=False):
    """Add the sources the residual of the profile fit shows, refining all centres after each round.

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(y, x)`` background-subtracted image, blank pixels 0.
    centres : `~numpy.ndarray`
        ``(n, 2)`` detected centres.
    footprint_of : callable
        ``footprint_of(centres)`` -> boolean footprint.
    sigma : float or `~numpy.ndarray`
        Per-pixel uncertainty of the fit.
    noise : float or `~numpy.ndarray`
        Background noise.
    heatmap : `~numpy.ndarray`
        The network's heatmap (a candidate needs ``min_heatmap`` there).
    chi2_gain : float
        A candidate is kept when its source lowers the chi-square of the
        fit by more than this (0: no sources added, only refinement).
    refine : int
        `refine_centres` iterations before and after every round.
    basis : dict, optional
        Profile basis.
    snr, contrast, smooth
        `residual_peaks`.
    symmetric : bool
        Candidates from the `asymmetric_residual` (`residual_peaks`).
    min_heatmap, min_separation : float
        Candidate conditions.
    rounds : int
        Detection rounds (each ends early when nothing is added).
    relax : float
        `refine_centres`.

    Returns
    -------
    centres : `~numpy.ndarray`
        ``(m, 2)``, the input's (refined) first, then the added ones.
    added : int
        Number of sources added.
    """
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), np.shape(data))
    centres = refine_centres(data, centres, footprint_of, sigma, iterations=refine, basis=basis, relax=relax)
    n_added = 0
    heatmap = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    for _ in range(int(rounds) if chi2_gain > 0 else 0):
        if not len(centres):
            break
        fp = footprint_of(centres)
        models = fit_profiles(data, centres, fp, basis=basis, sigma=sigma)
        model = models.sum(axis=0)
        cands = residual_peaks(data - model, model, noise, fp & (heatmap >= min_heatmap), snr=snr,
                               contrast=contrast, smooth=smooth, symmetric=(models, centres) if symmetric else None)
        lab, boxes, _ = footprint_islands(fp, centres)
        island_chi2 = {}
        added = 0
        for y, x in cands:  # each candidate is tried on its own footprint island (the islands are fitted apart)
            if np.min(np.hypot(centres[:, 0] - y, centres[:, 1] - x)) < min_separation:
                continue
            k = lab[int(y), int(x)]
            iy, ix = nearest_pixels(centres, fp.shape)
            in_island = lab[iy, ix] == k
            if np.count_nonzero(in_island) > MAX_JOINT_SOURCES:  # crowded island: a local trial
                gain = _local_gain(data, models, centres, in_island, lab, k, sigma, (y, x), basis)
                if gain > chi2_gain:
                    centres = np.vstack([centres, [[y, x]]])
                    added += 1
                continue
            box = boxes[k - 1]
            inside = lab[box] == k
            origin = np.array([box[0].start, box[1].start], dtype=np.float64)
            members = centres[in_island] - origin
            if k not in island_chi2:
                island_chi2[k] = _fit_chi2(data[box], members, inside, sigma[box], basis)
            trial_chi2 = _fit_chi2(data[box], np.vstack([members, [[y, x] - origin]]), inside, sigma[box], basis)
            if island_chi2[k] - trial_chi2 > chi2_gain:
                centres = np.vstack([centres, [[y, x]]])
                island_chi2[k], added = trial_chi2, added + 1
        if not added:
            break
        n_added += added
        centres = refine_centres(data, centres, footprint_of, sigma, iterations=refine, basis=basis, relax=relax)
    return centres, n_added


def prune_sources(data, centres, footprint_of, sigma, chi2_loss, *, basis=None):
    """Backward step of the selection: drop sources whose removal raises the chi-square by less than ``chi2_loss``.

    Every source of a footprint island of 2 to `MAX_JOINT_SOURCES` sources
    is tried: the island is fitted without it, and the source whose removal
    raises the island's chi-square least is dropped while that rise is
    below ``chi2_loss``; the footprint is then recomputed and the search
    repeated (islands whose sources and pixels did not change keep their
    trials). A source alone in its island, and the sources of crowded
    islands, are kept.

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(y, x)`` background-subtracted image, blank pixels 0.
    centres : `~numpy.ndarray`
        ``(n, 2)`` ``(y, x)``.
    footprint_of : callable
        ``footprint_of(centres)`` -> boolean footprint.
    sigma : float or `~numpy.ndarray`
        Per-pixel uncertainty of the fit.
    chi2_loss : float
        Threshold (0: nothing dropped).
    basis : dict, optional
        Profile basis.

    Returns
    -------
    `~numpy.ndarray`
        Indices of the kept rows of ``centres``, ascending.
    """
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), np.shape(data))
    keep = np.arange(len(centres))
    tried = {}  # (sources, box, pixels) of an island -> (least rise, source)
    while chi2_loss > 0 and len(keep) > 1:
        c = centres[keep]
        lab, boxes, island = footprint_islands(footprint_of(c), c)
        least, drop = np.inf, -1
        for k in np.unique(island[island > 0]):
            members = np.flatnonzero(island == k)
            if not 2 <= len(members) <= MAX_JOINT_SOURCES:
                continue
            box = boxes[k - 1]
            inside = lab[box] == k
            key = (tuple(keep[members]), box[0].start, box[0].stop, box[1].start, box[1].stop, inside.tobytes())
            if key not in tried:
                local = c[members] - [box[0].start, box[1].start]
                full = _fit_chi2(data[box], local, inside, sigma[box], basis)
                rises = [_fit_chi2(data[box], np.delete(local, j, axis=0), inside, sigma[box], basis) - full
                         for j in range(len(members))]
                j = int(np.argmin(rises))
                tried[key] = (rises[j], int(keep[members[j]]))
            rise, source = tried[key]
            if rise < least:
                least, drop = rise, source
        if drop < 0 or least >= chi2_loss:
            break
        keep = keep[keep != drop]
    return keep
