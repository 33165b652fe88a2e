"""Peaks by non-maximum suppression and segments grown on the data."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.convosource.peaks import find_peaks, grow_segments


def _blob(shape, y, x, amp, sigma):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return amp * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / sigma**2)


def test_find_peaks_threshold_nms_and_mask():
    prob = _blob((40, 40), 10, 10, 0.9, 1.5) + _blob((40, 40), 10, 13, 0.7, 1.0) + _blob((40, 40), 30, 30, 0.4, 1.5)
    ys, xs, score = find_peaks(prob, threshold=0.3, radius=4)
    assert list(zip(ys, xs, strict=True)) == [(10, 10), (30, 30)]  # the 0.7 peak 3 px away is suppressed
    assert score[0] == pytest.approx(prob[10, 10])
    ys, xs, _ = find_peaks(prob, threshold=0.3, radius=1)
    assert len(ys) == 3
    ys, xs, _ = find_peaks(prob, threshold=0.5, radius=4)
    assert list(zip(ys, xs, strict=True)) == [(10, 10)]
    mask = np.zeros(prob.shape, bool)
    mask[25:35, 25:35] = True
    ys, xs, _ = find_peaks(prob, threshold=0.3, radius=4, mask=mask)
    assert (30, 30) not in list(zip(ys, xs, strict=True))
    # a flat plateau gives one peak
    flat = np.zeros((20, 20))
    flat[5:8, 5:8] = 0.8
    assert len(find_peaks(flat, 0.5, 2)[0]) == 1
    with pytest.raises(ValueError, match=r"\(y, x\)"):
        find_peaks(np.zeros((2, 3, 4)))


def test_grow_segments_islands_and_watershed():
    snr = _blob((60, 60), 20, 20, 30.0, 2.0) + _blob((60, 60), 20, 28, 15.0, 2.0) + _blob((60, 60), 45, 45, 10.0, 2.0)
    labels, ys, xs = grow_segments(snr, [20, 45, 20], [21, 44, 28], grow_snr=2.0, snap=1)
    assert (ys[0], xs[0]) == (20, 20)  # snapped onto the data peak
    assert (ys[1], xs[1]) == (45, 45)
    # the isolated source takes its whole island above 2 sigma
    island = snr > 2.0
    from scipy import ndimage

    lab, _ = ndimage.label(island, np.ones((3, 3)))
    assert np.array_equal(labels == 2, lab == lab[45, 45])
    # the pair shares one island, split between the two peaks at the saddle
    both = lab == lab[20, 20]
    assert np.array_equal((labels == 1) | (labels == 3), both)
    assert labels[20, 22] == 1 and labels[20, 26] == 3
    assert (labels == 1).sum() > (labels == 3).sum()


def test_faint_and_duplicate_peaks():
    snr = np.zeros((20, 20), np.float32)
    snr[10, 10] = 1.0
    snr[9, 10] = snr[11, 10] = snr[10, 9] = 0.5
    snr[10, 11] = -0.5
    labels, ys, xs = grow_segments(snr, [10, 10], [10, 10], grow_snr=2.0)
    # a peak below grow_snr keeps itself and its positive 4-neighbours; the duplicate gets nothing
    assert (labels == 1).sum() == 4 and (labels == 2).sum() == 0
    snr[10, 10] = np.nan
    labels, _, _ = grow_segments(snr, [10], [10], grow_snr=2.0, snap=0)
    assert labels.max() == 0  # a blank peak has no pixel


def test_dilate_segments_nearest_wins_and_mask():
    from astro_mlfinder.neural.models.convosource.peaks import dilate_segments

    labels = np.zeros((11, 21), np.int32)
    labels[5, 5] = 1
    labels[5, 13] = 2
    out = dilate_segments(labels, 3.0)
    assert (out == 1).sum() == 29 and (out == 2).sum() == 29  # disks of radius 3 (29 pixels)
    assert out[5, 8] == 1 and out[5, 10] == 2 and out[5, 9] == 0  # 4 px from both
    mask = np.zeros_like(labels, bool)
    mask[:, 6:] = True
    out = dilate_segments(labels, 3.0, mask=mask)
    assert out[5, 13] == 2 and (out == 2).sum() == 1  # masked pixels never join
    assert np.array_equal(dilate_segments(labels, 0), labels)
    with pytest.raises(ValueError, match="radius must be >= 0"):
        dilate_segments(labels, -1)


def test_confirm_peaks_uses_the_brightest_pixel_nearby():
    from astro_mlfinder.neural.models.convosource.peaks import confirm_peaks

    snr = np.zeros((20, 20), dtype=np.float32)
    snr[5, 5], snr[10, 11], snr[15, 15] = 6.0, 4.5, 3.0
    snr[2, 18] = np.nan
    ys, xs = np.array([5, 10, 15, 2]), np.array([5, 10, 15, 18])
    assert confirm_peaks(snr, ys, xs, 4.0).tolist() == [True, True, False, False]   # (10, 10) snaps to 4.5
    assert confirm_peaks(snr, ys, xs, 4.0, snap=0).tolist() == [True, False, False, False]
    mask = np.zeros_like(snr, dtype=bool)
    mask[5, 5] = True
    assert confirm_peaks(snr, ys, xs, 4.0, mask=mask).tolist() == [False, True, False, False]
