"""Flux attribution by fitting per-source profiles: the network's centres, the image's own light.

The claim maps of the small PAIS network split blended pixels with a median
error of about 15 percent of a source's flux even at the true centres
(docs/performance.rst, the oracle study of the deblending section). This
module replaces that split by a forward model of the image at the detected
centres:

* every source is a non-negative sum of Moffat profiles of fixed widths
  `DEFAULT_FWHMS` and indices `DEFAULT_BETA` centred on its (sub-pixel)
  centre: narrow ones with the wings of a seeing-limited PSF (``beta`` 2.5)
  for point sources and cores, broad ones falling faster (``beta`` 4) for
  the discs of galaxies, whose light ends where the PSF's wings do not; the
  default basis (`DEFAULT_BASIS`, `elliptical_basis`) adds, for every width
  from the PSF's up, elongated copies (axis ratio 0.5) at six position
  angles, so that a non-negative sum of them follows an inclined disc
  (chosen on the tuning seeds of benchmarks/deblending.py: with the true
  centres, the median flux error falls from 0.071 with circular profiles to
  0.045);
* the amplitudes of all sources of one footprint island are fitted together
  by non-negative least squares to the island's pixels (`fit_profiles`),
  each pixel weighted by a Poisson-like uncertainty (`pixel_sigma`: the
  background noise, growing with the square root of the source light); the
  islands are independent, so a large image costs the sum of small fits
  (an island of more than `MAX_JOINT_SOURCES` sources is fitted in spatial
  groups, block Gauss-Seidel, so that its cost grows linearly with them);
* every pixel's flux is then split in proportion to the fitted models
  (`profile_attribution`): ``A_i = model_i / sum_j model_j``. The fractions
  still sum to 1 inside the footprint and 0 outside, so the deblended images
  of all sources add up to the observed image (the fit only decides the
  split, never the total).

Numpy and SciPy only.
"""

import numpy as np
from scipy import ndimage
from scipy.optimize import nnls

__all__ = ["DEFAULT_FWHMS", "DEFAULT_BETA", "DEFAULT_BASIS", "CIRCULAR_BASIS", "moffat_basis", "elliptical_basis",
           "basis_profiles", "pixel_sigma", "fit_profiles", "MAX_JOINT_SOURCES", "GROUP_SWEEPS", "profile_attribution",
           "nearest_pixels", "footprint_islands", "profile_reach"]

#: Widths (FWHM, pixels) of the Moffat profiles every source is built from.
DEFAULT_FWHMS = (2.0, 3.0, 3.5, 4.5, 6.0, 9.0, 14.0)
#: Moffat index of each profile of `DEFAULT_FWHMS`: PSF-like wings for the narrow ones, steeper broad ones
#: (chosen among a few bases on the tuning seeds of benchmarks/deblending.py: median flux error 0.078
#: against 0.085 with beta 2.5 throughout and 0.077 with the true PSF convolved with Gaussians).
DEFAULT_BETA = (2.5, 2.5, 2.5, 4.0, 4.0, 4.0, 4.0)


def nearest_pixels(centres, shape):
    """``(iy, ix)`` integer arrays: the pixel of ``shape`` nearest each ``(y, x)`` centre (clipped to the image)."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    iy = np.clip(np.round(centres[:, 0]).astype(int), 0, shape[0] - 1)
    ix = np.clip(np.round(centres[:, 1]).astype(int), 0, shape[1] - 1)
    return iy, ix


def footprint_islands(footprint, centres):
    """The 8-connected islands of ``footprint`` and the island of every centre.

    Returns
    -------
    labels : `~numpy.ndarray`
        int ``(y, x)`` island labels (0 outside the footprint).
    boxes : list of tuple of slice
        Bounding box of island ``k`` at ``boxes[k - 1]``.
    owner : `~numpy.ndarray`
        ``(n,)`` island of each centre's nearest pixel (0: none).
    """
    labels, _ = ndimage.label(footprint, structure=np.ones((3, 3)))
    return labels, ndimage.find_objects(labels), labels[nearest_pixels(centres, labels.shape)]


def moffat_basis(centre, shape, fwhms=DEFAULT_FWHMS, beta=DEFAULT_BETA, origin=(0, 0), axis_ratio=1.0, angle=0.0):
    """Moffat profiles (circular by default) at ``centre`` over an array of ``shape``.

    Parameters
    ----------
    centre : tuple of float
        ``(y, x)`` centre in the coordinates of the full image.
    shape : tuple of int
        ``(y, x)`` shape of the region evaluated.
    fwhms : sequence of float
        Full widths at half maximum, pixels.
    beta : float or sequence of float
        Moffat index, one for all or one per width.
    origin : tuple of int
        ``(y, x)`` of the region's first pixel in the full image.
    axis_ratio : float or sequence of float
        Minor over major axis, in (0, 1], one for all or one per width
        (``fwhms`` is the major axis' width).
    angle : float or sequence of float
        Position angle of the major axis, radians from the x axis towards
        y, one for all or one per width.

    Returns
    -------
    `~numpy.ndarray`
        ``(len(fwhms), y, x)``, each profile normalised to unit sum over an
        unbounded plane (so the amplitudes are total fluxes).
    """
    fwhms = np.asarray(fwhms, dtype=np.float64)
    if fwhms.ndim != 1 or fwhms.size == 0 or np.any(fwhms <= 0):
        raise ValueError(f"fwhms must be a non-empty sequence of positive widths, got {fwhms}")
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), fwhms.shape) if np.ndim(beta) == 0 else \
        np.asarray(beta, dtype=np.float64)
    if beta.shape != fwhms.shape or not np.all(beta > 1):
        raise ValueError(f"beta must be > 1 (a finite total flux), one value or one per width, got {beta}")
    q = np.broadcast_to(np.asarray(axis_ratio, dtype=np.float64), fwhms.shape)
    if not np.all((q > 0) & (q <= 1)):
        raise ValueError(f"axis_ratio must be in (0, 1], one value or one per width, got {axis_ratio}")
    theta = np.broadcast_to(np.asarray(angle, dtype=np.float64), fwhms.shape)
    ny, nx = (int(n) for n in shape)
    yy = np.arange(ny, dtype=np.float64)[None, :, None] + origin[0] - centre[0]
    xx = np.arange(nx, dtype=np.float64)[None, None, :] + origin[1] - centre[1]
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = xx * cos + yy * sin  # along the major axis
    v = (yy * cos - xx * sin) / q[:, None, None]
    alpha = fwhms / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    norm = (beta - 1.0) / (np.pi * alpha**2 * q)  # integral of (1 + r^2/alpha^2)^-beta over the plane
    return norm[:, None, None] * (1.0 + (u**2 + v**2) / alpha[:, None, None] ** 2) ** (-beta[:, None, None])


def elliptical_basis(fwhms=DEFAULT_FWHMS, beta=DEFAULT_BETA, axis_ratio=0.5, n_angles=6, min_fwhm=3.5):
    """A basis of circular Moffat profiles plus elongated copies of the broader ones at ``n_angles`` angles.

    Parameters
    ----------
    fwhms, beta : sequence of float
        Widths and indices of the circular profiles (`moffat_basis`).
    axis_ratio : float
        Axis ratio of the elongated copies (0 < ``axis_ratio`` <= 1).
    n_angles : int
        Position angles ``pi k / n_angles`` of the copies (0: circular only).
    min_fwhm : float
        Only widths >= this get elongated copies (narrower profiles are the
        PSF's, round).

    Returns
    -------
    dict
        ``fwhms``, ``beta``, ``axis_ratio``, ``angle``: equal-length float
        arrays, one entry per basis profile (the keywords of `moffat_basis`).
    """
    fwhms = np.asarray(fwhms, dtype=np.float64)
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), fwhms.shape)
    if int(n_angles) < 0:
        raise ValueError(f"n_angles must be >= 0, got {n_angles}")
    rows = [(f, b, 1.0, 0.0) for f, b in zip(fwhms, beta, strict=True)]
    for f, b in zip(fwhms, beta, strict=True):
        if f >= min_fwhm:
            rows += [(f, b, float(axis_ratio), np.pi * k / int(n_angles)) for k in range(int(n_angles))]
    f, b, q, a = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    return {"fwhms": f, "beta": b, "axis_ratio": q, "angle": a}


#: The basis of `fit_profiles`: `DEFAULT_FWHMS` round, the widths from 3.5 px up also elongated (axis ratio 0.5)
#: at 6 position angles (37 profiles per source).
DEFAULT_BASIS = elliptical_basis()
#: The round profiles alone (the basis of pais 0.2.0's first decoding).
CIRCULAR_BASIS = elliptical_basis(n_angles=0)


def basis_profiles(centre, shape, basis=None, origin=(0, 0)):
    """The profiles of ``basis`` (`elliptical_basis`; default `DEFAULT_BASIS`) at ``centre``: ``(n, y, x)``."""
    basis = DEFAULT_BASIS if basis is None else basis
    return moffat_basis(centre, shape, basis["fwhms"], basis["beta"], origin, basis["axis_ratio"], basis["angle"])


def pixel_sigma(data, noise, smooth=1.0):
    """Poisson-like per-pixel uncertainty ``noise * sqrt(1 + max(S, 0) / noise)``.

    ``S`` is ``data`` smoothed by a Gaussian of ``smooth`` pixels (non-finite
    pixels as 0). The weighting keeps bright cores from dominating the fit of
    the faint wings and neighbours; the scale (light equal to the noise
    doubles the variance) was chosen on the tuning seeds of
    benchmarks/deblending.py.

    Returns
    -------
    `~numpy.ndarray`
        float64 ``(y, x)``, > 0 where ``noise`` is.
    """
    d = np.nan_to_num(np.asarray(data, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if smooth and smooth > 0:
        d = ndimage.gaussian_filter(d, float(smooth))
    noise = np.asarray(noise, dtype=np.float64)
    return noise * np.sqrt(1.0 + np.clip(d, 0, None) / noise)


#: Largest number of sources fitted jointly: a footprint island holding more is fitted in spatial groups of at
#: most this many (`fit_profiles`; the cost of one joint fit grows about as the cube of its sources).
MAX_JOINT_SOURCES = 12
#: Gauss-Seidel passes over the groups of a crowded island.
GROUP_SWEEPS = 3


def profile_reach(basis=None):
    """Pixels from its centre beyond which a source's profiles are cut in a crowded island: twice the broadest FWHM."""
    basis = DEFAULT_BASIS if basis is None else basis
    return int(np.ceil(2.0 * np.max(basis["fwhms"])))


def _nnls(design, target):
    """Non-negative amplitudes of the columns of ``design`` (rescaled to unit norm for the solver), or None."""
    scale = np.sqrt(np.sum(design**2, axis=0))
    scale[scale == 0] = 1.0
    try:
        amp, _ = nnls(design / scale, target, maxiter=50 * design.shape[1])
    except RuntimeError:  # nnls hit its iteration limit
        return None
    return amp / scale


def _split_groups(points, size, turn=False):
    """Index arrays of ``points`` (``(m, 2)``), bisected at the median of the wider axis until <= ``size`` each.

    ``turn``: the first cut is along the narrower axis instead (other group boundaries, for alternate sweeps).
    """
    stack, groups = [np.arange(len(points))], []
    while stack:
        idx = stack.pop()
        if idx.size <= size:
            groups.append(idx)
            continue
        p = points[idx]
        axis = int(np.argmax(p.max(axis=0) - p.min(axis=0)))
        if turn and idx.size == len(points):
            axis = 1 - axis
        order = idx[np.argsort(p[:, axis], kind="stable")]
        stack += [order[: idx.size // 2], order[idx.size // 2:]]
    return sorted(groups, key=lambda g: int(g.min()))


def _fit_island(data, inside, centres, origin, w, basis, max_sources, sweeps):
    """Models ``(m, y, x)`` over one island's box (``origin`` its first pixel in the image) of its ``m`` sources.

    ``data`` and ``w`` (the rows' weights) are the box's; ``inside`` marks the island's pixels. None when the
    joint fit does not converge.
    """
    m = len(centres)
    if m <= max_sources:  # one joint fit
        basis_i = np.concatenate([basis_profiles(c, inside.shape, basis, origin) for c in centres])
        amp = _nnls(basis_i[:, inside].T * w[inside][:, None], data[inside] * w[inside])
        if amp is None:
            return None
        return np.einsum("mb,mbyx->myx", amp.reshape(m, -1), basis_i.reshape(m, -1, *inside.shape)) * inside
    # Crowded: groups of nearby sources fitted in turn to the data less the other groups' models, each on the
    # island's pixels within `reach` of its sources' box (its profiles are cut there), `sweeps` times.
    models = np.zeros((m, *inside.shape), dtype=np.float64)
    local = centres - np.asarray(origin, dtype=np.float64)
    reach = profile_reach(basis)
    total = np.zeros(inside.shape, dtype=np.float64)
    for sweep in range(int(sweeps)):
        for g in _split_groups(local, max_sources, turn=sweep % 2 == 1):
            lo = np.maximum(np.floor(local[g].min(axis=0)).astype(int) - reach, 0)
            hi = np.minimum(np.ceil(local[g].max(axis=0)).astype(int) + reach + 1, inside.shape)
            box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
            sub = inside[box]
            total -= models[g].sum(axis=0)  # the group's own models, wherever the last sweep's groups put them
            basis_g = np.concatenate([basis_profiles(c, sub.shape, basis, lo + origin) for c in centres[g]])
            amp = _nnls(basis_g[:, sub].T * w[box][sub][:, None], (data[box][sub] - total[box][sub]) * w[box][sub])
            if amp is not None:
                models[g] = 0.0
                models[g, box[0], box[1]] = np.einsum("mb,mbyx->myx", amp.reshape(g.size, -1),
                                                      basis_g.reshape(g.size, -1, *sub.shape)) * sub
            total += models[g].sum(axis=0)
    return models


def fit_profiles(data, centres, footprint, *, basis=None, sigma=None, max_sources=MAX_JOINT_SOURCES,
                 sweeps=GROUP_SWEEPS):
    """Non-negative Moffat-sum model of every source, fitted island by island.

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(y, x)`` background-subtracted image (non-finite pixels are left out).
    centres : `~numpy.ndarray`
        ``(n, 2)`` source centres ``(y, x)``.
    footprint : `~numpy.ndarray` of bool
        ``(y, x)`` pixels fitted; every connected (8-neighbour) island is
        fitted with the centres whose nearest pixel lies in it.
    basis : dict, optional
        The profiles of every source (`elliptical_basis`; default
        `DEFAULT_BASIS`).
    sigma : float or `~numpy.ndarray`, optional
        Per-pixel uncertainty of ``data`` (rows weighted by ``1 / sigma``;
        default: equal weights).
    max_sources : int
        An island with up to this many sources is fitted jointly by one
        non-negative least-squares solve. A crowded one (whose joint solve
        would cost about the cube of its sources in time and their number
        times its pixels times the basis in memory) is split into spatial
        groups of at most ``max_sources`` (median bisection), fitted in turn
        to the data less the other groups' models over the island's pixels
        within twice the broadest profile's width of the group (the group's
        profiles are cut there), ``sweeps`` times over (block Gauss-Seidel:
        the cost grows linearly with the sources).
    sweeps : int
        Passes over the groups of a crowded island.

    Returns
    -------
    `~numpy.ndarray`
        float64 ``(n, y, x)``: each source's fitted model inside its island,
        0 elsewhere (and everywhere for a source whose centre is in no island,
        whose amplitudes are all 0, or whose island's fit did not converge:
        `profile_attribution` then uses its fallback there).
    """
    if int(max_sources) < 1 or int(sweeps) < 1:
        raise ValueError(f"max_sources and sweeps must be >= 1, got {max_sources} and {sweeps}")
    data = np.asarray(data, dtype=np.float64)
    footprint = np.asarray(footprint, dtype=bool) & np.isfinite(data)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    n = len(centres)
    ny, nx = data.shape
    models = np.zeros((n, ny, nx), dtype=np.float64)
    if n == 0 or not footprint.any():
        return models
    inv = np.ones_like(data)
    if sigma is not None:
        inv = 1.0 / np.broadcast_to(np.asarray(sigma, dtype=np.float64), data.shape)
    lab, boxes, owner = footprint_islands(footprint, centres)
    for island in range(1, len(boxes) + 1):
        members = np.flatnonzero(owner == island)
        if members.size == 0:
            continue
        box = boxes[island - 1]
        inside = lab[box] == island
        model = _fit_island(data[box], inside, centres[members], (box[0].start, box[1].start), inv[box], basis,
                            int(max_sources), int(sweeps))
        if model is None:  # the joint fit did not converge: no model here, `profile_attribution` falls back
            continue
        models[members[:, None, None], np.arange(box[0].start, box[0].stop)[None, :, None],
               np.arange(box[1].start, box[1].stop)[None, None, :]] = model
    return models


def profile_attribution(models, fallback, footprint):
    """Split every footprint pixel in proportion to the fitted models.

    Parameters
    ----------
    models : `~numpy.ndarray`
        ``(n, y, x)`` non-negative source models (`fit_profiles`).
    fallback : `~numpy.ndarray`
        ``(n, y, x)`` attribution used where every model is 0 (the claim maps').
    footprint : `~numpy.ndarray` of bool
        ``(y, x)`` attributed pixels.

    Returns
    -------
    `~numpy.ndarray`
        float32 ``(n, y, x)``, summing to 1 where the models (or else the
        fallback) do inside the footprint, 0 outside it.
    """
    models = np.clip(np.asarray(models, dtype=np.float64), 0, None)
    total = models.sum(axis=0)
    has = total > 0
    out = np.where(has, models / np.where(has, total, 1.0), np.asarray(fallback, dtype=np.float64))
    return (out * np.asarray(footprint, dtype=bool)).astype(np.float32)
