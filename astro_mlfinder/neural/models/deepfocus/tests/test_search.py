"""The direct searches beyond the Deep GRU and the Blobs Finder: boxcar line windows and peak S/N boxes."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.deepfocus.search import peak_boxes, search_lines


def _cube(lines, shape=(96, 72, 72), noise=0.02, seed=0):
    """Beam-like correlated noise plus Gaussian sources (sigma 2 px) with Gaussian lines: ``(y, x, zc, sz, amp)``."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    cube = ndimage.gaussian_filter(rng.normal(0, 1, shape), (0, 1.5, 1.5))
    cube *= noise / cube.std()
    yy, xx = np.mgrid[:ny, :nx]
    z = np.arange(nz)[:, None, None]
    for y, x, zc, sz, amp in lines:
        cube += amp * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / 4.0) * np.exp(-0.5 * (z - zc) ** 2 / sz**2)
    return cube.astype(np.float32)


def test_search_finds_a_faint_line_outside_the_taken_window_and_nothing_in_noise():
    cube = _cube([(36, 36, 20, 3.0, 1.0), (36, 37, 70, 1.5, 0.15)])
    box = (30, 43, 30, 43)
    # the bright line's channels are taken: the faint one (peak S/N 11 in its best boxcar) is found
    lines = search_lines(cube, box, [(12, 29)], snr=6.0)
    assert len(lines) == 1
    z0, z1 = lines[0]["window"]
    assert z0 <= 70 < z1 and 3 <= z1 - z0 <= 6 and lines[0]["searched"]
    lw = lines[0]["level_window"]
    assert lw[0] < z0 and lw[1] > z1
    assert lines[0]["snr"] == pytest.approx(11.0, abs=0.5)
    # nothing new when everything is taken or the threshold is above the line
    assert search_lines(cube, box, [(0, 96)], snr=6.0) == []
    assert search_lines(cube, box, [(12, 29)], snr=50.0) == []
    # pure noise: the best of ~400 correlated boxcar windows reaches S/N 3.8-4.3 (seeds 0-5)
    for seed in range(3):
        assert search_lines(_cube([], seed=seed), box, [], snr=5.0) == []


def test_search_respects_max_new_and_orders_by_snr():
    cube = _cube([(36, 36, 20, 2.0, 0.08), (36, 36, 60, 2.0, 0.15)])
    lines = search_lines(cube, (30, 43, 30, 43), [], snr=6.0)
    assert [ln["window"][0] <= 60 < ln["window"][1] for ln in lines] == [True, False]
    assert lines[0]["snr"] > lines[1]["snr"]
    one = search_lines(cube, (30, 43, 30, 43), [], snr=6.0, max_new=1)
    assert len(one) == 1 and one[0]["window"] == lines[0]["window"]


def test_search_handles_a_blob_larger_than_the_cutout():
    cube = _cube([(36, 36, 40, 2.0, 0.2)], shape=(64, 150, 150))
    lines = search_lines(cube, (2, 80, 2, 80), [], snr=6.0, size=64)
    assert len(lines) >= 1 and lines[0]["window"][0] <= 40 < lines[0]["window"][1]


def test_peak_boxes_adds_only_components_outside_the_blobs():
    peak = np.zeros((40, 40), np.float32)
    peak[5:8, 5:8] = 20.0
    peak[6, 6] = 30.0
    peak[25:27, 30:32] = 16.0
    peak[30, 5] = 11.0  # below the threshold
    covered = np.zeros((40, 40), bool)
    boxes, scores, masks = peak_boxes(peak, covered, threshold=15.0, dilation=0)
    assert boxes == [(5, 8, 5, 8), (25, 27, 30, 32)] and scores == [30.0, 16.0]
    assert all(m.all() for m in masks)
    covered[6, 6] = True  # the brighter component's maximum lies in a blob already found
    boxes, scores, masks = peak_boxes(peak, covered, threshold=15.0, dilation=1)
    assert boxes == [(24, 28, 29, 33)] and masks[0].shape == (4, 4) and masks[0].sum() == 16
    blank = np.zeros((40, 40), bool)
    blank[20:] = True
    assert peak_boxes(peak, np.zeros((40, 40), bool), threshold=15.0, blank=blank)[0] == [(4, 9, 4, 9)]
    assert peak_boxes(peak, covered, threshold=100.0) == ([], [], [])


@pytest.mark.parametrize("search_snr", [0.0, 8.0])
def test_pipeline_keywords_validate(search_snr):
    from astro_mlfinder.neural.models.deepfocus.model import DeepFocusModel

    assert DeepFocusModel.keywords["search_snr"](search_snr, "search_snr", 3) == search_snr
    with pytest.raises(ValueError, match="peak_snr"):
        DeepFocusModel.keywords["peak_snr"](-1.0, "peak_snr", 3)
