import warnings

import numpy as np
import pytest

from astro_mlfinder.classical import reliability as relmod
from astro_mlfinder.classical.linker import link
from astro_mlfinder.classical.reliability import (
    ReliabilityError,
    read_exclusion_catalog,
    relabel,
    reliability,
    reliability_parameters,
)


def _fake_sources(n_neg=80, n_noise=80, n_real=10, seed=0):
    """Linker-like statistics: noise peaks of both signs plus bright sources."""
    rng = np.random.default_rng(seed)

    def noise(n, sign):
        n_pix = rng.integers(20, 200, size=n)
        mean = rng.normal(0.9, 0.1, size=n)
        peak = mean * rng.uniform(2.5, 3.5, size=n)
        f_sum = mean * n_pix
        return sign * f_sum, n_pix, sign * peak

    fs_n, np_n, pk_n = noise(n_neg, -1)
    fs_p, np_p, pk_p = noise(n_noise, 1)
    n_pix_r = rng.integers(300, 1000, size=n_real)
    mean_r = rng.uniform(2.5, 4.0, size=n_real)
    fs_r = mean_r * n_pix_r
    pk_r = mean_r * 5
    f_sum = np.concatenate([fs_n, fs_p, fs_r])
    n_pix = np.concatenate([np_n, np_p, n_pix_r])
    peak = np.concatenate([pk_n, pk_p, pk_r])
    f_min = np.where(f_sum < 0, peak, -0.5)
    f_max = np.where(f_sum > 0, peak, 0.5)
    order = rng.permutation(f_sum.size)
    return {'f_sum': f_sum[order], 'n_pix': n_pix[order], 'f_min': f_min[order],
            'f_max': f_max[order], 'fill': np.full(f_sum.size, 0.5),
            'z_min': np.zeros(f_sum.size, int), 'z_max': n_pix[order] // 10,
            'x_min': np.zeros(f_sum.size, int), 'x_max': np.full(f_sum.size, 5),
            'y_min': np.arange(f_sum.size) * 10, 'y_max': np.arange(f_sum.size) * 10 + 5}


def _brute_force_rel(src, params, scale, fmin, min_pixels=0):
    """Direct transcription of the KDE formula with an explicit inverse."""
    par = reliability_parameters(src, params)
    neg = src['f_sum'] < 0
    pos = src['f_sum'] > 0
    pn = par[neg]
    mean = pn.mean(axis=0)
    cov = sum(np.outer(v - mean, v - mean) for v in pn) / len(pn) * scale ** 2
    inv = np.linalg.inv(cov)
    rel = np.zeros(len(par))
    for i in np.flatnonzero(pos):
        if not (src['f_sum'][i] ** 2 / src['n_pix'][i] > fmin ** 2
                and src['n_pix'][i] > min_pixels):
            continue
        P = sum(np.exp(-0.5 * (v - par[i]) @ inv @ (v - par[i])) for v in par[pos])
        N = sum(np.exp(-0.5 * (v - par[i]) @ inv @ (v - par[i])) for v in pn)
        rel[i] = (P - N) / P if P > N else 0.0
    return rel, cov


def test_matches_brute_force_kde():
    src = _fake_sources()
    res = reliability(src, scale_kernel=0.4, min_snr=3.0, beam_area=4.0,
                      threshold=0.9)
    fmin = 3.0 * 2.0
    rel, cov = _brute_force_rel(src, ('peak', 'sum', 'mean'), 0.4, fmin)
    np.testing.assert_allclose(res.rel, rel, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(res.covariance, cov, rtol=1e-10)
    assert res.fmin == pytest.approx(fmin)
    expected_keep = (rel >= 0.9) & (src['f_sum'] / np.sqrt(src['n_pix']) > fmin)
    np.testing.assert_array_equal(res.keep, expected_keep)
    # the bright sources are reliable, the negatives never
    assert res.keep.sum() >= 8
    assert np.all(res.rel[src['f_sum'] < 0] == 0)
    assert res.n_reliable == res.keep.sum()
    assert res.par_pos.shape == ((src['f_sum'] > 0).sum(), 3)
    np.testing.assert_array_equal(res.neg_ids, np.flatnonzero(src['f_sum'] < 0) + 1)


def test_other_parameters_and_min_pixels():
    src = _fake_sources(seed=1)
    params = ('sum', 'fill', 'chan')
    src['fill'] = np.random.default_rng(2).uniform(0.1, 0.9, src['f_sum'].size)
    res = reliability(src, parameters=params, min_pixels=150, min_snr=2.0)
    rel, _ = _brute_force_rel(src, params, 0.4, 2.0, min_pixels=150)
    np.testing.assert_allclose(res.rel, rel, rtol=1e-10, atol=1e-13)
    assert np.all(res.rel[src['n_pix'] <= 150] == 0)


def test_compiled_and_numpy_kernel_sums_agree(monkeypatch):
    rng = np.random.default_rng(3)
    q = rng.normal(size=(300, 3))
    r = rng.normal(size=(400, 3))
    w = np.linalg.cholesky(np.linalg.inv(np.diag([0.3, 0.5, 0.2])))
    monkeypatch.setattr(relmod, '_NUMBA_PAIRS', 10 ** 12)
    a = relmod._kernel_sums(q, r, w)
    monkeypatch.setattr(relmod, '_NUMBA_PAIRS', 0)
    b = relmod._kernel_sums(q, r, w)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_skellam_and_auto_kernel():
    # positives and negatives drawn from the same distribution: the Skellam
    # median goes to ~0 for a large enough kernel
    src = _fake_sources(n_neg=150, n_noise=150, n_real=0, seed=4)
    res = reliability(src, auto_kernel=True, tolerance=0.05, iterations=50)
    assert res.converged is True
    assert abs(np.median(res.skellam)) <= 0.05
    assert 0.1 <= res.scale_kernel < 2.0
    np.testing.assert_allclose(np.diag(res.covariance) / res.scale_kernel ** 2,
                               np.var(res.par_neg, axis=0), rtol=1e-10)
    # skellam by definition at the negative positions
    whiten = np.linalg.cholesky(np.linalg.inv(res.covariance))
    p = relmod._kernel_sums(res.par_neg, res.par_pos, whiten)
    n = relmod._kernel_sums(res.par_neg, res.par_neg, whiten)
    np.testing.assert_allclose(res.skellam, (p - n) / np.sqrt(p + n))
    # not converging -> falls back to scale_kernel with a warning
    with pytest.warns(UserWarning, match='Auto-kernel failed'):
        res = reliability(src, auto_kernel=True, iterations=1, scale_kernel=0.33)
    assert res.converged is False and res.scale_kernel == 0.33
    assert res.skellam.shape == (150,)


def test_errors_and_warnings():
    src = _fake_sources(n_neg=10)
    with pytest.warns(UserWarning, match='Only 10 negative'):
        reliability(src)
    pos_only = {k: v[src['f_sum'] > 0] for k, v in src.items()}
    with pytest.raises(ReliabilityError, match='No negative sources found'):
        reliability(pos_only)
    neg_only = {k: v[src['f_sum'] < 0] for k, v in src.items()}
    with pytest.raises(ReliabilityError, match='No positive sources'):
        reliability(neg_only)
    with pytest.raises(ValueError, match='at least 2'):
        reliability(src, parameters=('peak',))
    with pytest.raises(ValueError, match='unknown reliability parameter'):
        reliability(src, parameters=('peak', 'flux'))
    with pytest.raises(ValueError, match='beam_area'):
        reliability(src, beam_area=0)
    # singular as SoFiA-2 decides it (Matrix_invert: determinant exactly 0): a constant parameter
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(ReliabilityError, match='not invertible'):
            reliability(src, parameters=('fill', 'sum', 'mean'))
        # log pix = log sum - log mean only up to rounding: SoFiA's determinant is not 0, so it
        # runs (a numpy-version-dependent LinAlgError used to stop it here)
        assert len(reliability(src, parameters=('sum', 'mean', 'pix')).rel) == len(src['f_sum'])
        with pytest.warns(UserWarning, match='non-positive'):
            reliability(src, scale_kernel=0)


def test_exclude_negative_sources():
    src = _fake_sources(n_neg=60)
    neg = np.flatnonzero(src['f_sum'] < 0)
    # exclude the first 5 negatives by a position inside their bounding box
    xy = np.column_stack([np.full(5, 2.0), src['y_min'][neg[:5]] + 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        res = reliability(src, exclude=xy)
    assert res.par_neg.shape[0] == 55
    assert not np.isin(neg[:5] + 1, res.neg_ids).any()
    with pytest.raises(ValueError, match='shape'):
        reliability(src, exclude=np.zeros((2, 3)))
    xy_all = np.column_stack([np.full(neg.size, 2.0), src['y_min'][neg] + 1.0])
    with pytest.raises(ReliabilityError, match='all excluded'):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            reliability(src, exclude=xy_all)


def test_with_linker_result_and_relabel():
    from scipy import ndimage
    rng = np.random.default_rng(11)
    data = ndimage.gaussian_filter(rng.normal(size=(40, 60, 60)), 1.2)
    data = (data / data.std()).astype(np.float32)
    zz, yy, xx = np.mgrid[:40, :60, :60]
    data += 8 * np.exp(-((xx - 30) ** 2 + (yy - 30) ** 2) / 12 - (zz - 20) ** 2 / 30)
    mask = np.abs(data) > 2.5
    lr = link(mask, data, min_size_xy=2, min_size_z=2, remove_negative=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        res = reliability(lr, min_snr=2.0)
    assert res.rel.shape == (lr.n_sources,)
    new = relabel(lr.labels, res.keep)
    assert new.max() == res.keep.sum()
    # the injected source survives and keeps its pixels
    sid = lr.labels[20, 30, 30]
    assert res.keep[sid - 1]
    np.testing.assert_array_equal(new > 0, np.isin(lr.labels, np.flatnonzero(res.keep) + 1))


def test_relabel_order_and_inplace():
    labels = np.array([[0, 1, 2], [3, 3, 0], [4, 2, 1]], dtype=np.int32)
    keep = np.array([True, False, True, True])
    out = relabel(labels, keep)
    np.testing.assert_array_equal(out, [[0, 1, 0], [2, 2, 0], [3, 0, 1]])
    assert labels[0, 2] == 2  # input untouched
    relabel(labels, keep, inplace=True)
    np.testing.assert_array_equal(labels, out)
    with pytest.raises(ValueError, match='labels must lie'):
        relabel(np.array([5]), keep)


def test_read_exclusion_catalog(tmp_path):
    from astropy.wcs import WCS
    w = WCS(naxis=3)
    w.wcs.ctype = ['RA---SIN', 'DEC--SIN', 'FREQ']
    w.wcs.crval = [150.0, -30.0, 1.4e9]
    w.wcs.crpix = [65, 65, 1]
    w.wcs.cdelt = [-1 / 600, 1 / 600, 1e4]
    path = tmp_path / 'art.txt'
    path.write_text('# lon lat\n150.0, -30.0\n\n150.01 | -29.99\n')
    xy = read_exclusion_catalog(path, w)
    assert xy.shape == (2, 2)
    np.testing.assert_allclose(xy[0], [64, 64], atol=1e-9)
    assert xy[1, 0] < 64 and xy[1, 1] > 64
    path.write_text('150.0\n')
    with pytest.raises(ValueError, match='2 columns'):
        read_exclusion_catalog(path, w)
    with pytest.raises(ValueError, match='WCS'):
        read_exclusion_catalog(path, None)


def test_result_plot(tmp_path):
    # the plotting itself is tested in astro_mlfinder/visualization/tests
    pytest.importorskip('matplotlib')
    src = _fake_sources()
    res = reliability(src)
    fig, fig2 = res.plot(tmp_path / 'rel.png', skellam_path=tmp_path / 'sk.png')
    assert (tmp_path / 'rel.png').stat().st_size > 0
    assert (tmp_path / 'sk.png').stat().st_size > 0
    assert len(fig.axes) == 4  # 3 projections + colour bar
    assert len(fig2.axes) == 1


def test_singularity_is_decided_as_sofia_does():
    from astro_mlfinder.classical.reliability import sofia_is_singular

    assert sofia_is_singular(np.zeros((2, 2)))
    assert sofia_is_singular(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]]))
    assert not sofia_is_singular(np.array([[1.0, 1.0], [1.0, 1.0 + 1e-12]]))
    assert not sofia_is_singular(np.eye(4))
    four = np.eye(4)
    four[3] = four[2]
    assert sofia_is_singular(four)


def test_sofia_inverse_is_the_inverse_and_none_where_sofia_finds_it_singular():
    from astro_mlfinder.classical.reliability import sofia_inverse

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 5):
        a = rng.normal(size=(n, n))
        cov = a @ a.T + n * np.eye(n)
        np.testing.assert_allclose(sofia_inverse(cov), np.linalg.inv(cov), rtol=1e-12, atol=1e-14)
    assert sofia_inverse(np.zeros((2, 2))) is None
    four = np.eye(4)
    four[3] = four[2]
    assert sofia_inverse(four) is None


def test_covariance_that_passes_sofias_test_but_not_lapacks_is_inverted_as_sofia_does():
    # SoFiA's analytic 3x3 determinant rounds to a non-zero value here, but LAPACK's LU meets an
    # exactly zero pivot: SoFiA-2 inverts it (adjugate / determinant) and runs, and so does the filter,
    # whatever the machine's LAPACK decides; its quadratic form is that of SoFiA's inverse
    from astro_mlfinder.classical.reliability import _whitening, sofia_inverse, sofia_is_singular

    cov = np.array([[0.1, 0.2, 0.3], [0.2, 0.4, 0.6], [0.1, 0.1, 0.1]])
    assert not sofia_is_singular(cov)
    try:  # LAPACK's outcome depends on the machine; where it does invert, its inverse is the one used
        inv = np.linalg.inv(cov)
    except np.linalg.LinAlgError:
        inv = sofia_inverse(cov)
    assert np.all(np.isfinite(inv))
    out = _whitening(cov)
    w, signs = out if isinstance(out, tuple) else (out, np.ones(3))
    d = np.random.default_rng(0).normal(size=(5, 3))
    form = np.einsum("ni,ij,nj->n", d, 0.5 * (inv + inv.T), d)
    np.testing.assert_allclose(np.einsum("nk,k->n", (d @ w) ** 2, signs), form, rtol=1e-6)
