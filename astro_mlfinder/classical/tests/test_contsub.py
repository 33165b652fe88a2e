import numpy as np
import pytest
from numpy.testing import assert_array_equal

from astro_mlfinder.classical.contsub import continuum_subtract


def _ref_spectrum(spec, order, threshold, shift, padding):
    """SoFiA-2's contsub for one spectrum, written with numpy."""
    spec = spec.astype(np.float64)
    nz = spec.size
    diff = np.full(nz, np.nan)
    diff[shift:nz - shift] = spec[:nz - 2 * shift] - spec[2 * shift:]
    vals = np.abs(diff[~np.isnan(diff)])
    rms = threshold * 1.482602218505602 * np.sort(vals)[vals.size // 2] if vals.size else np.nan
    work = spec.copy()
    for i in np.flatnonzero(np.abs(diff) > rms):
        work[max(i - padding, 0):min(i + padding, nz - 1) + 1] = np.nan
    good = ~np.isnan(work)
    idx = np.arange(nz, dtype=np.float64)[good]
    xm, ym = idx.mean(), work[good].mean()
    if order == 0:
        return (spec - ym).astype(np.float32)
    beta = np.sum((xm - idx) * (ym - work[good])) / np.sum((xm - idx) ** 2)
    alpha = ym - beta * xm
    return (spec - (alpha + beta * np.arange(nz))).astype(np.float32)


def _cube(seed=0, shape=(80, 6, 5)):
    rng = np.random.default_rng(seed)
    cube = rng.normal(0.0, 1.0, shape).astype(np.float32)
    z = np.arange(shape[0], dtype=np.float32)[:, None, None]
    cube += 10.0 + 0.05 * z                                  # continuum with a slope
    cube[30:40, 2, 2] += 8.0 * np.hanning(10).astype(np.float32)   # a line
    return cube


@pytest.mark.parametrize("order", [0, 1])
def test_matches_reference(order):
    cube = _cube()
    orig = cube.copy()
    out = continuum_subtract(cube, order=order, threshold=2.0, shift=4, padding=3)
    assert out is cube
    for y, x in ((0, 0), (2, 2), (5, 4)):
        ref = _ref_spectrum(orig[:, y, x], order, 2.0, 4, 3)
        np.testing.assert_allclose(cube[:, y, x], ref, rtol=0, atol=2e-6)


def test_order1_removes_slope_and_keeps_line():
    cube = _cube(shape=(120, 8, 8))
    orig = cube.copy()
    continuum_subtract(cube, order=1)
    off = np.delete(cube, np.s_[28:42], axis=0)
    assert abs(float(off.mean())) < 0.1
    # the line survives (it was excluded from the fit): only the continuum is gone
    z = np.arange(30, 40, dtype=np.float32)
    np.testing.assert_allclose(cube[30:40, 2, 2], orig[30:40, 2, 2] - (10.0 + 0.05 * z), atol=0.7)
    # with order 0 the slope remains
    cube0 = _cube(shape=(120, 8, 8))
    continuum_subtract(cube0, order=0)
    assert float(cube0[-10:].mean() - cube0[:10].mean()) > 4.0


def test_nan_spectra_and_values():
    cube = _cube()
    cube[:, 1, 1] = np.nan
    cube[5, 0, 0] = np.nan
    continuum_subtract(cube)
    assert np.isnan(cube[:, 1, 1]).all()
    assert np.isnan(cube[5, 0, 0]) and np.isfinite(np.delete(cube[:, 0, 0], 5)).all()


def test_float64_cube():
    cube = _cube().astype(np.float64)
    continuum_subtract(cube, order=1)
    assert abs(float(cube[:, 0, 0].mean())) < 0.5


def test_adjustments_warn():
    cube = _cube()
    ref = cube.copy()
    continuum_subtract(ref, order=1, threshold=2.0, shift=1)
    with pytest.warns(UserWarning) as record:
        continuum_subtract(cube, order=3, threshold=-2.0, shift=0)
    messages = " ".join(str(w.message) for w in record)
    assert "order to 1" in messages and "shift to 1" in messages and "positive" in messages
    assert_array_equal(cube, ref)


def test_validation():
    with pytest.raises(ValueError, match="more than 20 channels"):
        continuum_subtract(np.zeros((20, 3, 3), np.float32), shift=4)
    with pytest.raises(ValueError, match="float32 or float64"):
        continuum_subtract(np.zeros((30, 3, 3), np.int32))
    with pytest.raises(ValueError, match="3D"):
        continuum_subtract(np.zeros((30, 3), np.float32))
    with pytest.raises(ValueError, match="padding"):
        continuum_subtract(np.zeros((30, 3, 3), np.float32), padding=-1)
