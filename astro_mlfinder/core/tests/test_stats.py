import math
from pathlib import Path

import numpy as np
import pytest

from astro_mlfinder.core.stats import (
    MAD_TO_STD,
    global_rms,
    mad_about,
    measure_noise,
    noise_stride,
    nth_element,
    sofia_median,
)

FIXTURES = Path("/work/shared/fixtures/sofia2-2.5.1-small")


def _brute_mad(values, cadence, code):
    """SoFiA's mad_val_flt written as a plain loop."""
    flat = np.ravel(values)
    n = flat.size
    cap = n // cadence if code == 0 else n // (2 * cadence)
    picked = []
    i = n - cadence
    while i > 0 and len(picked) < cap:
        v = flat[i]
        if (code < 0 and v < 0) or (code > 0 and v > 0) or (code == 0 and v == v):
            picked.append(abs(v))
        i -= cadence
    picked = np.sort(np.array(picked, dtype=flat.dtype))
    m = len(picked)
    med = picked[m // 2] if m % 2 else (picked[m // 2] + picked[m // 2 - 1]) / flat.dtype.type(2)
    return MAD_TO_STD * float(med)


def _brute_std(values, cadence, code):
    flat = np.ravel(values)
    total, count = 0.0, 0
    i = flat.size
    while i > cadence - 1:
        i -= cadence
        v = flat[i]
        if (code < 0 and v < 0) or (code > 0 and v > 0) or (code == 0 and v == v):
            total += float(v) * float(v)
            count += 1
    return math.sqrt(total / count)


@pytest.mark.parametrize(("n", "naxis1", "expected"), [
    (128 * 128 * 256, 128, 4),          # the small fixture cube ("stride of 4")
    (512**3, 512, 134),                 # the 512^3 benchmark cube ("stride of 134")
    (1000, 10, 1),
    (999983 * 3 - 1, 10, 2),
    (999983 * 256, 128, 255),           # a multiple of NAXIS1 is reduced by one
    (0, 5, 1),
])
def test_noise_stride(n, naxis1, expected):
    assert noise_stride(n, naxis1) == expected


def test_noise_stride_invalid():
    with pytest.raises(ValueError, match="naxis1"):
        noise_stride(100, 0)


def test_first_element_never_sampled():
    data = np.array([-100.0, -1.0, -3.0], dtype=np.float32)
    # indices 2 and 1 only: median(|-3|, |-1|) = 2
    assert measure_noise(data, "mad", "full", sample=False) == pytest.approx(2 * MAD_TO_STD)
    # std includes element 0 when the walk reaches it
    assert measure_noise(data, "std", "full", sample=False) == pytest.approx(
        math.sqrt((100.0**2 + 1 + 9) / 3))


def test_sample_cap_for_signed_range():
    # 4 values, negative range: at most 4 // 2 = 2 values, taken from the end
    data = np.array([0.5, -9.0, -8.0, -1.0, -2.0], dtype=np.float32)
    # walk: -2, -1 (cap 2 reached) -> median 1.5
    assert measure_noise(data, "mad", "negative", sample=False) == pytest.approx(1.5 * MAD_TO_STD)


@pytest.mark.parametrize("flux_range", ["negative", "positive", "full"])
def test_strided_mad_and_std_match_brute_force(flux_range):
    rng = np.random.default_rng(11)
    cube = rng.normal(0.0, 2.0, (130, 128, 128)).astype(np.float32)   # stride 2
    cube[:5] = np.nan
    code = {"negative": -1, "full": 0, "positive": 1}[flux_range]
    assert noise_stride(cube.size, 128) == 2
    assert measure_noise(cube, "mad", flux_range) == _brute_mad(cube, 2, code)
    assert measure_noise(cube, "std", flux_range) == pytest.approx(
        _brute_std(cube, 2, code), rel=1e-12)


@pytest.mark.parametrize("statistic", ["mad", "std", "gauss"])
@pytest.mark.parametrize("flux_range", ["negative", "positive", "full"])
def test_gaussian_noise_level(statistic, flux_range):
    rng = np.random.default_rng(1)
    data = rng.normal(0.0, 3.0, (40, 50, 60)).astype(np.float32)
    assert measure_noise(data, statistic, flux_range) == pytest.approx(3.0, rel=0.03)


def test_mad_is_about_zero():
    rng = np.random.default_rng(2)
    data = (rng.normal(0.0, 1.0, 100000) + 5.0).astype(np.float32)
    # about zero, not about the median: the offset dominates
    assert measure_noise(data, "mad", "full") == pytest.approx(5.0 * MAD_TO_STD, rel=0.03)


def test_float64_and_integer_input():
    rng = np.random.default_rng(3)
    data = rng.normal(0.0, 1.0, (20, 30, 40))
    assert measure_noise(data) == pytest.approx(measure_noise(data.astype(np.float32)), rel=1e-6)
    assert measure_noise(np.arange(-50, 50).reshape(10, 10)) > 0


def test_empty_and_all_nan():
    assert math.isnan(measure_noise(np.full((4, 4), np.nan, np.float32)))
    assert math.isnan(measure_noise(np.ones((4, 4), np.float32), "mad", "negative"))
    assert math.isnan(measure_noise(np.zeros((0,), np.float32)))


def test_gauss_not_spanning_zero_warns():
    with pytest.warns(RuntimeWarning, match="span zero"):
        assert math.isnan(measure_noise(np.ones((10, 10), np.float32), "gauss"))


def test_invalid_names():
    data = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="statistic"):
        measure_noise(data, "median")
    with pytest.raises(ValueError, match="flux_range"):
        measure_noise(data, "mad", "all")


def test_sofia_median_even_and_odd():
    assert sofia_median(np.array([3, 1, 2], np.float32)) == 2
    assert sofia_median(np.array([4, 1, 3, 2], np.float32)) == np.float32(2.5)
    assert np.isnan(sofia_median(np.array([], np.float32)))


def test_mad_about_value():
    vals = np.array([9.0, 1.0, 2.0, 3.0, 4.0], np.float32)
    # element 0 skipped; |x - 2| of 4, 3, 2, 1 -> 2, 1, 0, 1 -> median 1
    assert mad_about(vals, 2.0, 1, 0) == 1.0


def test_global_rms_matches_sofia_log():
    fits = pytest.importorskip("astropy.io.fits")
    if not FIXTURES.exists():
        pytest.skip("SoFiA-2 fixtures not available")
    cube = fits.getdata(FIXTURES / "small_cube.fits.gz").astype(np.float32)
    assert f"{global_rms(cube):.3e}" == "1.004e-03"
    assert global_rms(cube) == measure_noise(cube, "mad", "negative", sample=True)


@pytest.mark.parametrize("n", [1, 2, 5, 50, 501])
def test_nth_element(n):
    rng = np.random.default_rng(n)
    vals = rng.integers(0, 10, n).astype(np.float32)   # many ties
    ordered = np.sort(vals)
    for k in {0, n // 2, n - 1}:
        work = vals.copy()
        assert nth_element(work, n, k) == ordered[k]
        assert np.all(work[:k] <= ordered[k])
        assert np.array_equal(np.sort(work), ordered)


def test_measure_noise_of_big_endian_data():
    """A FITS memmap is big-endian: every statistic gives the native result."""
    from astro_mlfinder.core.stats import measure_noise

    data = np.random.default_rng(5).normal(0.0, 2.0, (20, 30, 30)).astype(">f4")
    for statistic in ("std", "mad", "gauss"):
        assert measure_noise(data, statistic) == measure_noise(data.astype(np.float32), statistic)


def _plain_mad(values, cadence, code):
    from astro_mlfinder.core.stats import _select, sofia_median

    flat = values.ravel()
    n = flat.size
    cap = n // cadence if code == 0 else n // (2 * cadence)
    return sofia_median(np.abs(_select(flat[n - cadence : 0 : -cadence], code)[:cap]))


KINDS = ["normal", "nan", "ties", "inf", "offset", "float64", "negative"]


@pytest.mark.parametrize("kind", KINDS)
def test_banded_mad_equals_the_plain_median(kind):
    from astro_mlfinder.core.stats import mad_about

    rng = np.random.default_rng(KINDS.index(kind))
    for n in (70_001, 200_000):
        x = rng.standard_normal(n).astype(np.float64 if kind == "float64" else np.float32)
        if kind == "nan":
            x[rng.random(n) < 0.2] = np.nan
        elif kind == "ties":
            x = np.round(x * 3) / 3
        elif kind == "inf":
            x[rng.random(n) < 0.6] = -np.inf  # the median itself is infinite for the negative range
        elif kind == "offset":
            x = x + x.dtype.type(0.3)
        elif kind == "negative":  # more negative values than the signed sample's cap: the first cap count
            x = x - x.dtype.type(0.05)
        for code in (-1, 0, 1):
            for cadence in (1, 2, 3):
                expected = _plain_mad(x, cadence, code)
                got = mad_about(x, 0.0, cadence, code)
                assert type(got) is type(expected)
                assert got == expected or (np.isnan(got) and np.isnan(expected)), (n, code, cadence)


@pytest.mark.parametrize("chunk", [7, 1000, 1 << 20])
def test_banded_mad_takes_the_first_cap_values_of_a_signed_range(chunk, monkeypatch):
    from astro_mlfinder.core import stats

    rng = np.random.default_rng(11)
    x = (rng.standard_normal(300_001) - 0.1).astype(np.float32)  # 54% negative: over the cap of n/2
    monkeypatch.setattr(stats._prefix_holding, "__defaults__", (chunk,))
    for cadence in (1, 2, 3):
        view = x[x.size - cadence : 0 : -cadence]
        assert np.count_nonzero(view < 0) > x.size // (2 * cadence)
        got = stats._median_abs_banded(view, -1, x.size // (2 * cadence))
        assert got is not None and got == _plain_mad(x, cadence, -1)  # the shortcut, and the same value
    flags = rng.random(5000) < 0.5
    for keep in (0, 1, 17, int(flags.sum())):
        cut = stats._prefix_holding(flags, int(flags.sum()), keep, chunk=64)
        assert np.count_nonzero(flags[:cut]) == keep
