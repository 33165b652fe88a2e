"""
SoFiA-2 compatible reliability filter.

The reliability of a positive detection is estimated from the local
density of positive and negative detections in a low-dimensional
parameter space (by default log10 of the peak, summed and mean flux in
units of the global noise), as in SoFiA-2 (2.5.1, ``LinkerPar_reliability``
and the final cut in ``sofia.c``):

* Negative detections (``f_sum < 0``) are the noise sample.  Their
  covariance matrix (normalised by N) times ``scale_kernel²`` is the
  covariance of a Gaussian kernel with unit amplitude.
* For a positive source, ``P`` is the sum of the kernels of all positive
  sources (itself included) at its position and ``N`` the same sum over
  the negative sources; ``rel = (P - N) / P`` if ``P > N``, else 0.
  Only sources with ``f_sum² / n_pix > (min_snr √Ω)²`` and
  ``n_pix > min_pixels`` are scored; all others have ``rel = 0``.
* A source is kept if ``rel >= threshold`` and
  ``f_sum / √n_pix > min_snr √Ω`` (Ω = beam area in pixels).
* The Skellam diagnostic ``S = (P - N) / √(P + N)`` is evaluated at the
  position of every negative source; with ``auto_kernel`` the kernel
  scale is increased from 0.1 until ``|median(S)| <= tolerance``.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core.exceptions import AstroMLFinderWarning

__all__ = ['ReliabilityError', 'ReliabilityResult', 'RELIABILITY_PARAMETERS',
           'reliability', 'reliability_parameters', 'relabel',
           'read_exclusion_catalog']

#: Parameters that can span the reliability parameter space, in SoFiA order.
RELIABILITY_PARAMETERS = ('peak', 'sum', 'mean', 'chan', 'pix', 'fill',
                          'std', 'skew', 'kurt')

_WARN_NEGATIVE = 50
# Above this many kernel evaluations the compiled loop is used.
_NUMBA_PAIRS = 4_000_000
_RELABEL_CHUNK = 1 << 22  # labels relabelled at a time


class ReliabilityError(ValueError):
    """Raised when the reliability cannot be measured."""


@dataclass
class ReliabilityResult:
    """
    Output of :func:`reliability`.

    Attributes
    ----------
    rel : `~numpy.ndarray`
        Reliability per source (indexed by ``id - 1``); 0 for negative
        sources and for sources not scored (below ``min_snr`` or
        ``min_pixels``).
    keep : `~numpy.ndarray` of bool
        Final selection: ``rel >= threshold`` and ``f_sum / √n_pix >
        min_snr √Ω``.
    covariance : `~numpy.ndarray`
        Kernel covariance matrix (negative-sample covariance times
        ``scale_kernel²``).
    scale_kernel : float
        Kernel scale factor actually used.
    skellam : `~numpy.ndarray`
        Skellam values ``(P - N) / √(P + N)``, one per negative source in
        ``neg_ids`` order (computed on first access unless the automatic
        kernel scaling already needed them; O(n_neg n_sources)).
    parameters : tuple of str
        Names of the parameter-space axes.
    par_pos, par_neg : `~numpy.ndarray`
        Parameter-space coordinates of the positive / negative sources,
        shape ``(n, dim)`` (log10 for peak, sum, mean, pix and fill).
    pos_ids, neg_ids : `~numpy.ndarray`
        Source ids of the rows of ``par_pos`` / ``par_neg``.
    threshold : float
        Reliability threshold.
    fmin : float
        ``min_snr √Ω``: the integrated-SNR limit in ``f_sum / √n_pix``.
    min_snr : float
        Integrated SNR limit.
    converged : bool or None
        Whether the automatic kernel scaling converged (`None` if it was
        not used).
    """

    rel: np.ndarray
    keep: np.ndarray
    covariance: np.ndarray
    scale_kernel: float
    parameters: tuple
    par_pos: np.ndarray
    par_neg: np.ndarray
    pos_ids: np.ndarray
    neg_ids: np.ndarray
    threshold: float
    fmin: float
    min_snr: float
    converged: object = None
    _skellam: np.ndarray = field(default=None, repr=False)

    @property
    def skellam(self):
        """Skellam values of the negative sources (see class docstring)."""
        if self._skellam is None:
            self._skellam = _skellam(self.par_pos, self.par_neg,
                                     self.covariance)
        return self._skellam

    @property
    def n_reliable(self):
        """Number of sources kept."""
        return int(np.count_nonzero(self.keep))

    def plot(self, path=None, *, skellam_path=None):
        """
        Diagnostic plots: the parameter space and the Skellam histogram.

        Calls `astro_mlfinder.visualization.reliability.plot_reliability`
        (needs matplotlib).

        Parameters
        ----------
        path : str or path-like, optional
            If given, save the parameter-space figure there.
        skellam_path : str or path-like, optional
            If given, save the Skellam figure there.

        Returns
        -------
        fig_rel, fig_skellam : `matplotlib.figure.Figure`
            The two figures.
        """
        from ..visualization.reliability import plot_reliability

        return plot_reliability(self, path, skellam_path=skellam_path)


def _source_stats(source):
    """Extract the linker statistics needed here from a result or dict."""
    names = ('f_min', 'f_max', 'f_sum', 'n_pix', 'fill', 'z_min', 'z_max',
             'x_min', 'x_max', 'y_min', 'y_max', 'std', 'skew', 'kurt')
    stats = {}
    for name in names:
        if isinstance(source, dict):
            value = source.get(name)
        else:
            value = getattr(source, name, None)
        stats[name] = None if value is None else np.asarray(value)
    for name in ('f_min', 'f_max', 'f_sum', 'n_pix'):
        if stats[name] is None:
            raise ValueError(f'linker result lacks the {name!r} column')
    return stats


def reliability_parameters(linker_result, parameters=('peak', 'sum', 'mean')):
    """
    Reliability parameter-space coordinates of all sources.

    Negative sources have their sign flipped (e.g. ``peak = -f_min``).
    peak, sum, mean, pix and fill enter as log10; chan, std, skew and
    kurt as they are.

    Parameters
    ----------
    linker_result : `~astro_mlfinder.classical.linker.LinkerResult` or dict
        Linker statistics (fluxes in units of the global rms).
    parameters : sequence of str, optional
        Names from `RELIABILITY_PARAMETERS`.

    Returns
    -------
    values : `~numpy.ndarray`
        Array of shape ``(n_sources, len(parameters))``; rows of sources
        with ``f_sum == 0`` are NaN.
    """
    parameters = _check_parameters(parameters)
    st = _source_stats(linker_result)
    f_sum = st['f_sum'].astype(np.float64)
    n_pix = st['n_pix'].astype(np.float64)
    neg = f_sum < 0
    sign = np.where(neg, -1.0, 1.0)
    out = np.empty((f_sum.size, len(parameters)), dtype=np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        for j, name in enumerate(parameters):
            if name == 'peak':
                val = np.log10(np.where(neg, -st['f_min'], st['f_max']))
            elif name == 'sum':
                val = np.log10(sign * f_sum)
            elif name == 'mean':
                val = np.log10(sign * f_sum / n_pix)
            elif name == 'chan':
                _require(st, 'z_min', 'z_max')
                val = (st['z_max'] - st['z_min'] + 1).astype(np.float64)
            elif name == 'pix':
                val = np.log10(n_pix)
            elif name == 'fill':
                _require(st, 'fill')
                val = np.log10(st['fill'].astype(np.float64))
            else:
                _require(st, name)
                val = st[name].astype(np.float64)
            out[:, j] = val
    out[f_sum == 0] = np.nan
    return out


def _require(stats, *names):
    for name in names:
        if stats[name] is None:
            raise ValueError(f'reliability parameter needs the {name!r} '
                             f'column, which the linker result lacks')


def _check_parameters(parameters):
    if isinstance(parameters, str):
        parameters = [p for p in parameters.replace(',', ' ').split() if p]
    parameters = tuple(str(p).strip().lower() for p in parameters)
    for p in parameters:
        if p not in RELIABILITY_PARAMETERS:
            raise ValueError(f'unknown reliability parameter {p!r}; choose '
                             f'from {RELIABILITY_PARAMETERS}')
    if len(parameters) < 2:
        raise ValueError('the reliability parameter space needs at least 2 '
                         f'dimensions, got {parameters}')
    return parameters


def _kernel_sums_numba(yq, yr, signs):
    """The compiled parallel kernel sums (``_reliability_kernels``; numba loads only for large problems)."""
    from ._reliability_kernels import kernel_sums

    return kernel_sums(yq, yr, signs)


def _kernel_sums(query, ref, whiten, chunk_elements=2_000_000):
    """
    Sum over ``ref`` of ``exp(-0.5 (r - q)^T C^-1 (r - q))`` for each query.

    ``whiten`` is a matrix W with ``W W^T = C^-1`` so that the quadratic
    form is ``|(r - q) W|²``.  The cost is O(n_query n_ref), as in SoFiA;
    large problems run in a compiled parallel loop.
    """
    nq = query.shape[0]
    out = np.zeros(nq, dtype=np.float64)
    if nq == 0 or ref.shape[0] == 0:
        return out
    whiten, signs = whiten if isinstance(whiten, tuple) else (whiten, None)
    yq = np.ascontiguousarray(query @ whiten)
    yr = np.ascontiguousarray(ref @ whiten)
    if nq * yr.shape[0] > _NUMBA_PAIRS:
        ones = np.ones(yr.shape[1]) if signs is None else np.asarray(signs, dtype=np.float64)
        return _kernel_sums_numba(yq, yr, ones)
    step = max(1, chunk_elements // max(1, ref.shape[0]))
    for start in range(0, nq, step):
        q = yq[start:start + step]
        d2 = np.zeros((q.shape[0], yr.shape[0]), dtype=np.float64)
        for k in range(yr.shape[1]):
            diff = yr[None, :, k] - q[:, k, None]
            if signs is None or signs[k] > 0:
                d2 += diff * diff
            else:
                d2 -= diff * diff
        d2 *= -0.5
        np.exp(d2, out=d2)
        out[start:start + step] = d2.sum(axis=1)
    return out


def _sofia_det(m):
    """SoFiA-2's analytic determinant of a matrix up to 3 x 3 (``Matrix_det``), term for term."""
    if len(m) == 1:
        return m[0, 0]
    if len(m) == 2:
        return m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    return (m[0, 0] * m[1, 1] * m[2, 2] + m[0, 1] * m[1, 2] * m[2, 0] + m[0, 2] * m[1, 0] * m[2, 1]
            - m[0, 2] * m[1, 1] * m[2, 0] - m[0, 1] * m[1, 0] * m[2, 2] - m[0, 0] * m[1, 2] * m[2, 1])


def _gauss_jordan(m):
    """The inverse by Gauss-Jordan elimination with partial pivoting (SoFiA-2's ``Matrix_invert`` above
    3 x 3), or None at an exactly zero pivot."""
    m = np.array(m, dtype=np.float64)
    n = m.shape[0]
    r = np.eye(n)
    for i in range(n):
        row = i + int(np.argmax(np.abs(m[i:, i])))
        if m[row, i] == 0.0:
            return None
        m[[i, row]] = m[[row, i]]
        r[[i, row]] = r[[row, i]]
        pivot = m[i, i]
        m[i] /= pivot
        r[i] /= pivot
        for j in range(n):
            if j != i:
                factor = m[j, i]
                m[j] -= factor * m[i]
                r[j] -= factor * r[i]
    return r


def sofia_is_singular(cov):
    """SoFiA-2's invertibility test (``Matrix_invert``): an exactly zero determinant.

    For up to 3 x 3 matrices the determinant is evaluated with SoFiA's
    analytic expansion and the matrix is singular only if it is exactly 0.0;
    larger matrices are singular if Gauss-Jordan elimination with partial
    pivoting meets an exactly zero pivot. Nearly singular matrices count as
    invertible, as in SoFiA-2, so both run (or stop) on the same inputs.
    """
    m = np.array(cov, dtype=np.float64)
    if m.shape[0] <= 3:
        return _sofia_det(m) == 0.0
    return _gauss_jordan(m) is None


def sofia_inverse(cov):
    """The inverse as SoFiA-2's ``Matrix_invert`` computes it (None where `sofia_is_singular`).

    Up to 3 x 3: the adjugate divided by SoFiA's analytic determinant;
    larger: Gauss-Jordan elimination with partial pivoting.
    """
    m = np.array(cov, dtype=np.float64)
    n = m.shape[0]
    if n > 3:
        return _gauss_jordan(m)
    det = _sofia_det(m)
    if det == 0.0:
        return None
    if n == 1:
        return np.array([[1.0]]) / det
    if n == 2:
        return np.array([[m[1, 1], -m[0, 1]], [-m[1, 0], m[0, 0]]]) / det
    (a, b, c), (d, e, f), (g, h, i) = m
    adj = np.array([[e * i - f * h, c * h - b * i, b * f - c * e],
                    [f * g - d * i, a * i - c * g, c * d - a * f],
                    [d * h - e * g, b * g - a * h, a * e - b * d]])
    return adj / det


def _whitening(cov):
    """``W`` with ``W W^T = C^-1`` (Cholesky); ``(W, signs)`` where ``C^-1`` is not positive definite.

    Singularity is decided by `sofia_is_singular`; a nearly singular
    covariance whose numerical inverse is indefinite keeps SoFiA-2's
    quadratic form ``d^T C^-1 d`` exactly through signed eigen-directions.
    """
    singular = ReliabilityError(
        'Covariance matrix is not invertible (zero determinant); cannot measure '
        'reliability. Ensure that there are enough negative detections and that no '
        'reliability parameter is constant or a copy of another.')
    if sofia_is_singular(cov):
        raise singular
    try:
        inv = np.linalg.inv(cov)
    except np.linalg.LinAlgError:
        # exactly singular in LAPACK's LU (a machine-dependent outcome for a covariance of rounding size)
        # though SoFiA's determinant test passed: invert as SoFiA does, so it runs as SoFiA-2 runs
        inv = sofia_inverse(cov)
    try:
        return np.linalg.cholesky(inv)
    except np.linalg.LinAlgError:
        inv = 0.5 * (inv + inv.T)
        w, v = np.linalg.eigh(inv)
        return v * np.sqrt(np.abs(w)), np.sign(w)


def _skellam(par_pos, par_neg, cov):
    whiten = _whitening(cov)
    p = _kernel_sums(par_neg, par_pos, whiten)
    n = _kernel_sums(par_neg, par_neg, whiten)
    return (p - n) / np.sqrt(p + n)


def reliability(linker_result, *, parameters=('peak', 'sum', 'mean'),
                threshold=0.9, scale_kernel=0.4, min_snr=3.0, min_pixels=0,
                auto_kernel=False, iterations=30, tolerance=0.05,
                beam_area=1.0, exclude=None):
    """
    Measure the reliability of linked sources (SoFiA-2 reliability filter).

    Parameters
    ----------
    linker_result : `~astro_mlfinder.classical.linker.LinkerResult` or dict
        Linker output with negative sources retained
        (``remove_negative=False``).  Fluxes must be in units of the
        global rms.
    parameters : sequence of str, optional
        Parameter-space axes (at least 2) from `RELIABILITY_PARAMETERS`.
    threshold : float, optional
        Minimum reliability of a kept source.
    scale_kernel : float, optional
        Kernel size relative to the covariance of the negative sources
        (non-positive values fall back to 0.4, as in SoFiA).
    min_snr : float, optional
        Minimum integrated SNR, ``f_sum / √(n_pix Ω)``.
    min_pixels : int, optional
        Only sources with more pixels are scored.
    auto_kernel : bool, optional
        Determine the kernel scale from the Skellam distribution.
    iterations : int, optional
        Maximum number of auto-kernel iterations.
    tolerance : float, optional
        Auto-kernel convergence limit on ``|median(S)|``.
    beam_area : float, optional
        Beam solid angle Ω in pixels (SoFiA: ``π BMAJ BMIN / (4 ln2
        CDELT1²)``; 1 if unknown).
    exclude : array_like, optional
        Pixel positions ``(x, y)``, shape ``(n, 2)``: negative sources
        whose (x, y) bounding box contains one of them are left out of
        the noise sample (SoFiA ``reliability.catalog``, converted to
        pixels by the caller).

    Returns
    -------
    result : `ReliabilityResult`

    Raises
    ------
    ReliabilityError
        If there are no negative (or no positive) sources, or the kernel
        covariance matrix is singular.
    """
    parameters = _check_parameters(parameters)
    st = _source_stats(linker_result)
    f_sum = st['f_sum'].astype(np.float64)
    n_pix = st['n_pix'].astype(np.float64)
    nsrc = f_sum.size
    if nsrc == 0:
        raise ReliabilityError('No sources left after linking; cannot '
                               'measure reliability')
    beam_area = float(beam_area)
    if not np.isfinite(beam_area) or beam_area <= 0:
        raise ValueError(f'beam_area must be positive and finite, got '
                         f'{beam_area}')
    scale_kernel = float(scale_kernel)
    if scale_kernel <= 0.0:
        warnings.warn('Kernel scale factor is non-positive; using default '
                      'of 0.4 instead.', AstroMLFinderWarning, stacklevel=2)
        scale_kernel = 0.4

    neg = f_sum < 0
    pos = f_sum > 0
    n_neg_all = int(neg.sum())
    if n_neg_all == 0:
        raise ReliabilityError('No negative sources found; cannot measure '
                               'reliability')
    if not pos.any():
        raise ReliabilityError('No positive sources found; cannot measure '
                               'reliability')

    if exclude is not None:
        exclude = np.atleast_2d(np.asarray(exclude, dtype=np.float64))
        if exclude.size and exclude.shape[1] != 2:
            raise ValueError(f'exclude must have shape (n, 2) with (x, y) '
                             f'pixel positions, got {exclude.shape}')
        _require(st, 'x_min', 'x_max', 'y_min', 'y_max')
        hit = np.zeros(nsrc, dtype=bool)
        for ex, ey in exclude:
            hit |= ((ex >= st['x_min']) & (ex <= st['x_max'])
                    & (ey >= st['y_min']) & (ey <= st['y_max']))
        neg &= ~hit
        n_excl = n_neg_all - int(neg.sum())
        if n_excl and not neg.any():
            raise ReliabilityError('No negative sources found; cannot '
                                   'measure reliability (all excluded)')
    n_neg = int(neg.sum())
    if n_neg < _WARN_NEGATIVE:
        warnings.warn(f'Only {n_neg} negative detection'
                      f'{"s" if n_neg != 1 else ""} found; reliability '
                      f'calculation may not be accurate.', AstroMLFinderWarning,
                      stacklevel=2)

    par_all = reliability_parameters(st, parameters)
    pos_ids = np.flatnonzero(pos)
    neg_ids = np.flatnonzero(neg)
    par_pos = par_all[pos_ids]
    par_neg = par_all[neg_ids]

    # Covariance of the negative sample, normalised by N
    centred = par_neg - par_neg.mean(axis=0)
    cov0 = centred.T @ centred / n_neg

    converged = None
    skellam = None
    if auto_kernel:
        scale = 0.1
        step = 0.02
        med = 1e5
        it = 0
        scale_old = scale
        while it < iterations and med > tolerance:
            skellam = _skellam(par_pos, par_neg, cov0 * scale ** 2)
            med = abs(float(np.median(skellam)))
            scale_old = scale
            if med < 10.0 * tolerance:
                scale += 2.0 * step
            elif med < 30.0 * tolerance:
                scale += 5.0 * step
            elif med < 50.0 * tolerance:
                scale += 10.0 * step
            else:
                scale += step
            it += 1
        converged = bool(med <= tolerance)
        if converged:
            scale_kernel = scale_old
        else:
            warnings.warn(f'Auto-kernel failed to converge, defaulting to '
                          f'kernel scale of {scale_kernel:.3f}.', AstroMLFinderWarning,
                          stacklevel=2)
            skellam = None

    cov = cov0 * scale_kernel ** 2
    whiten = _whitening(cov)

    fmin = float(min_snr) * np.sqrt(beam_area)
    scored = (f_sum[pos_ids] ** 2 / n_pix[pos_ids] > fmin ** 2) & \
        (n_pix[pos_ids] > min_pixels)
    rel = np.zeros(nsrc, dtype=np.float64)
    if scored.any():
        q = par_pos[scored]
        psum = _kernel_sums(q, par_pos, whiten)
        nsum = _kernel_sums(q, par_neg, whiten)
        with np.errstate(divide='ignore', invalid='ignore'):
            r = np.where(psum > nsum, (psum - nsum) / psum, 0.0)
        rel[pos_ids[scored]] = r

    with np.errstate(divide='ignore', invalid='ignore'):
        keep = (rel >= threshold) & (f_sum / np.sqrt(n_pix) > fmin)

    return ReliabilityResult(
        rel=rel, keep=keep, covariance=cov, scale_kernel=scale_kernel,
        parameters=parameters, par_pos=par_pos,
        par_neg=par_neg, pos_ids=pos_ids + 1, neg_ids=neg_ids + 1,
        threshold=float(threshold), fmin=fmin, min_snr=float(min_snr),
        converged=converged, _skellam=skellam)


def read_exclusion_catalog(path, wcs):
    """
    Read SoFiA's ``reliability.catalog`` and convert it to pixels.

    The file holds two columns, longitude and latitude in degrees in the
    cube's celestial frame, separated by spaces, tabs, commas or ``|``.
    Empty lines and lines starting with ``#`` are skipped.

    Parameters
    ----------
    path : str or path-like
        Catalogue file.
    wcs : `~astropy.wcs.WCS`
        WCS of the cube or image (its celestial part is used).

    Returns
    -------
    xy : `~numpy.ndarray`
        Array of shape ``(n, 2)`` with 0-based pixel ``(x, y)`` positions,
        for the ``exclude`` argument of :func:`reliability`.
    """
    import re

    if wcs is None:
        raise ValueError('a reliability catalogue needs a WCS to convert '
                         'positions to pixels')
    rows = []
    with open(path) as fh:
        for number, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith('#'):
                continue
            parts = [p for p in re.split(r'[\s,|]+', text) if p]
            if len(parts) < 2:
                raise ValueError(f'{path}, line {number}: expected 2 columns '
                                 f'(longitude, latitude), got {text!r}')
            try:
                rows.append((float(parts[0]), float(parts[1])))
            except ValueError:
                raise ValueError(f'{path}, line {number}: cannot read '
                                 f'longitude/latitude from {text!r}') from None
    if not rows:
        return np.zeros((0, 2))
    lonlat = np.array(rows, dtype=np.float64)
    celestial = wcs.celestial if hasattr(wcs, 'celestial') else wcs
    x, y = celestial.all_world2pix(lonlat[:, 0], lonlat[:, 1], 0)
    return np.column_stack([x, y])


def relabel(labels, keep, *, inplace=False):
    """
    Remove sources from a label array and renumber the survivors.

    Parameters
    ----------
    labels : `~numpy.ndarray` of int
        Label array with ids 1..N (0 = background).
    keep : array_like of bool
        Per-source selection indexed by ``id - 1`` (length N).
    inplace : bool, optional
        Modify ``labels`` in place instead of returning a new array.

    Returns
    -------
    labels : `~numpy.ndarray` of int32
        Survivors renumbered 1..M in their original order.
    """
    keep = np.asarray(keep, dtype=bool).ravel()
    lut = np.zeros(keep.size + 1, dtype=np.int32)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    if inplace:
        flat = labels.reshape(-1)
        if not np.shares_memory(flat, labels):
            raise ValueError('inplace relabelling needs a contiguous array')
    else:
        flat = np.array(labels, dtype=np.int32, copy=True).reshape(-1)
    # in chunks of 4 Mi labels: no temporary of the label cube's size
    chunks = [flat[i:i + _RELABEL_CHUNK] for i in range(0, flat.size, _RELABEL_CHUNK)]
    for part in chunks:
        if part.min() < 0 or part.max() > keep.size:
            raise ValueError(f'labels must lie in 0..{keep.size} (one keep entry '
                             f'per source)')
    for part in chunks:
        # only the labelled voxels are written (lut[0] = 0): the pages of a mostly
        # empty, lazily allocated label cube that hold no source stay untouched
        hit = np.flatnonzero(part)
        part[hit] = lut[part[hit]]
        del hit
    return labels if inplace else flat.reshape(np.shape(labels))
