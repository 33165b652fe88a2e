"""Spectral stages: normalisation, peaks, 1D Gaussian fits, line windows, merging of the horns of one line."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.deepfocus.spectral import (
    box_spectrum,
    find_lines,
    fit_line,
    level_window,
    merge_windows,
    normalize_spectra,
    window_iou,
)


def _gauss(n, mu, fwhm, amp=1.0):
    z = np.arange(n)
    return amp * np.exp(-0.5 * ((z - mu) / (fwhm / 2.3548)) ** 2)


def test_normalize_spectra_range_and_flat():
    s = np.vstack([_gauss(64, 20, 6) * 5 + 3, np.full(64, 7.0)])
    out = normalize_spectra(s)
    assert out.dtype == np.float32 and out.shape == (2, 64)
    assert out[0].min() == 0 and out[0].max() == pytest.approx(1) and out[0].argmax() == 20
    assert np.all(out[1] == 0)
    assert normalize_spectra(s[0]).shape == (64,)


def test_fit_line_recovers_centre_and_width():
    rng = np.random.default_rng(0)
    spec = _gauss(128, 57.3, 8.0) + rng.normal(0, 0.02, 128) + 0.1
    centre, fwhm, amp = fit_line(spec, 57)
    assert centre == pytest.approx(57.3, abs=0.2)
    assert fwhm == pytest.approx(8.0, rel=0.1)
    assert amp == pytest.approx(1.0, rel=0.1)


def test_fit_line_falls_back_on_failure():
    assert fit_line(np.zeros(128), 5) == (5.0, pytest.approx(3 * 2.3548, rel=1e-3), 0.0)


def test_find_lines_two_lines_brightest_first_with_windows():
    spec = _gauss(128, 30, 6, 0.5) + _gauss(128, 90, 10, 1.0)
    lines = find_lines(spec / spec.max())
    assert [line["peak"] for line in lines] == [90, 30]
    z0, z1 = lines[0]["window"]
    assert z0 == pytest.approx(80, abs=1) and z1 == pytest.approx(101, abs=1)  # +-1 FWHM, half-open
    assert lines[1]["fwhm"] == pytest.approx(6, rel=0.1)


def test_level_window_reaches_the_fraction_of_the_peak():
    spec = _gauss(128, 60, 10, 1.0)  # sigma = 10 / 2.3548 channels
    sigma = 10 / 2.3548
    half = sigma * np.sqrt(2 * np.log(10))  # where a Gaussian falls to 10 % of its peak
    z0, z1 = level_window(spec, (57, 64), 0.1)
    assert z0 == int(np.ceil(60 - half)) and z1 == int(np.floor(60 + half)) + 1
    assert level_window(spec, (57, 64), 0.6) == (56, 65)  # within 60 +- 4.2 channels
    assert level_window(spec, (50, 70), 0.5) == (50, 70)  # never narrower than the window
    line = find_lines(spec, window_fwhm=0.5, level=0.1)[0]  # window 60 +- 5 channels
    assert z0 < line["window"][0] and line["window"][1] < z1 and line["level_window"] == (z0, z1)


def test_find_lines_thresholds_are_keywords():
    spec = _gauss(128, 30, 6, 0.2) + _gauss(128, 90, 10, 1.0)
    assert len(find_lines(spec)) == 2
    assert len(find_lines(spec, height=0.3)) == 1
    assert find_lines(spec, max_fwhm=5) == []


def test_double_horned_line_is_one_window():
    spec = _gauss(128, 60, 6) + _gauss(128, 68, 6)  # two horns 8 channels apart, a shallow dip
    lines = find_lines(spec / spec.max(), distance=6)
    assert len(lines) == 1
    z0, z1 = lines[0]["window"]
    assert z0 <= 56 and z1 >= 72
    assert lines[0]["centre"] == pytest.approx(64, abs=0.5)
    # horns too far apart for their windows to overlap: merged through the valley only
    wide = _gauss(128, 55, 4) + _gauss(128, 75, 4) + 0.6 * _gauss(128, 65, 16)
    assert len(find_lines(wide / wide.max(), distance=6)) == 1
    assert len(find_lines(wide / wide.max(), distance=6, valley=0.99)) == 2


def test_merge_and_iou():
    a = {"window": (10, 20), "fwhm": 5.0, "centre": 15.0}
    b = {"window": (18, 30), "fwhm": 6.0, "centre": 24.0}
    c = {"window": (40, 50), "fwhm": 5.0, "centre": 45.0}
    merged = merge_windows([a, b, c])
    assert [m["window"] for m in merged] == [(10, 30), (40, 50)]
    assert window_iou((10, 20), (15, 25)) == pytest.approx(5 / 15)
    assert window_iou((0, 5), (5, 9)) == 0


def test_box_spectrum_sums_the_box():
    cube = np.zeros((4, 10, 10), np.float32)
    cube[2, 3:5, 6:8] = 1
    cube[1, 0, 0] = np.nan
    assert box_spectrum(cube, (3, 5, 6, 8)).tolist() == [0, 0, 4, 0]
    assert box_spectrum(cube, (0, 10, 0, 10)).tolist() == [0, 0, 4, 0]
    own = np.zeros((10, 10), bool)
    own[3, 6:8] = True  # only the blob's own pixels
    assert box_spectrum(cube, (0, 10, 0, 10), own).tolist() == [0, 0, 2, 0]


def test_max_window_keeps_lines_of_neighbours_apart_and_cuts_wide_fits():
    a = {"window": (10, 40), "fwhm": 20.0, "centre": 25.0}
    b = {"window": (35, 70), "fwhm": 20.0, "centre": 52.0}
    assert [m["window"] for m in merge_windows([dict(a), dict(b)])] == [(10, 70)]
    assert [m["window"] for m in merge_windows([dict(a), dict(b)], max_window=48)] == [(10, 40), (35, 70)]
    # two broad lines (FWHM 20) 30 channels apart: one window of 71 channels without the limit, two with it
    spec = _gauss(128, 45, 20) + _gauss(128, 75, 20)
    spec = spec / spec.max()
    assert [ln["window"] for ln in find_lines(spec, distance=6)] == [(25, 96)]
    lines = find_lines(spec, distance=6, max_window=48)
    assert [(ln["peak"], ln["window"]) for ln in lines] == [(45, (25, 66)), (75, (55, 96))]
