import numpy as np
import pytest

from astro_mlfinder.core.dilation import dilate_mask


def _blob(shape=(21, 41, 41), sigma=(2.0, 4.0, 4.0)):
    zz, yy, xx = np.indices(shape, dtype=float)
    c = [(n - 1) / 2 for n in shape]
    return np.exp(-0.5 * sum(((a - ci) / s) ** 2 for a, ci, s in zip((zz, yy, xx), c, sigma, strict=True)))


def test_growth_recovers_the_flux_of_a_core_mask():
    data = _blob()
    core = (data > 0.5).astype(np.int32)
    total = data.sum()
    assert data[core > 0].sum() < 0.35 * total
    grown, flags = dilate_mask(core, data, None, iterations_xy=10, iterations_z=5, threshold=0.001)
    # spectral growth first (up to 5 channels), then discs in every channel: almost all the flux
    assert data[grown > 0].sum() > 0.98 * total
    assert np.all(grown[core > 0] == 1) and flags[0] == 0
    # a stricter stopping rule grows less
    some, _ = dilate_mask(core, data, None, iterations_xy=10, iterations_z=5, threshold=0.05)
    assert core.sum() < (some > 0).sum() < (grown > 0).sum()


def test_negative_threshold_dilates_by_the_maximum_and_nan_is_not_grown():
    data = _blob()
    data[:, :, :18] = np.nan
    core = np.zeros(data.shape, dtype=np.int32)
    core[10, 20, 20] = 1
    grown, flags = dilate_mask(core, data, None, iterations_xy=2, iterations_z=1, threshold=-1)
    # one channel either side, then a disc of radius 2 (13 pixels) in each of the 3 channels
    assert (grown > 0).sum() == 3 * 13
    data2 = _blob()
    data2[:, :, :19] = np.nan
    grown2, flags2 = dilate_mask(core, data2, None, iterations_xy=2, iterations_z=1, threshold=-1)
    assert (grown2 > 0).sum() == 3 * 13 - 3 * 1 and flags2[0] & 4  # the blank column is met, not filled


def test_bad_input():
    with pytest.raises(ValueError, match='different shapes'):
        dilate_mask(np.zeros((3, 4, 4), int), np.zeros((3, 4, 5)), None)
    with pytest.raises(ValueError, match='iterations_z'):
        dilate_mask(np.zeros((3, 8, 8), int), np.zeros((3, 8, 8)), None, iterations_z=3)


def test_one_threshold_per_source():
    data = np.ones((9, 30, 30))
    labels = np.zeros(data.shape, dtype=np.int32)
    labels[4, 8, 8] = 1
    labels[4, 22, 22] = 2
    grown, _ = dilate_mask(labels, data, None, iterations_xy=2, iterations_z=1, threshold=[-1.0, 1e9])
    assert (grown == 1).sum() == 3 * 13 and (grown == 2).sum() == 1  # source 1 grows fully, source 2 not
    with pytest.raises(ValueError, match='threshold has 1 entries'):
        dilate_mask(labels, data, None, iterations_xy=2, iterations_z=1, threshold=[0.1])
