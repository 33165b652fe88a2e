"""`core._bbox.find_objects` returns scipy.ndimage.find_objects' boxes and the smallest label."""

import numpy as np
import pytest
from scipy import ndimage

from astro_mlfinder.core._bbox import find_objects


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "int16", ">i4"])
def test_boxes_equal_scipy(dtype):
    rng = np.random.default_rng(0)
    lab = ((rng.random((20, 15, 17)) < 0.01) * rng.integers(1, 300 if dtype != "uint8" else 200, (20, 15, 17)))
    lab = lab.astype(dtype)
    lab[3, 4, 5] = 150  # absent labels in between give None
    objects, lowest = find_objects(lab)
    assert objects == ndimage.find_objects(lab)
    assert lowest == 0 and any(o is None for o in objects)


def test_non_contiguous_empty_and_negative():
    lab = np.zeros((6, 7, 8), np.int32)
    lab[1:3, 2:5, 3] = 2
    assert find_objects(lab[:, ::2, 1:])[0] == ndimage.find_objects(lab[:, ::2, 1:])
    assert find_objects(np.zeros((3, 4, 5), np.int32)) == ([], 0)
    lab[5, 6, 7] = -4
    objects, lowest = find_objects(lab)
    assert lowest == -4 and objects == [None, (slice(1, 3), slice(2, 5), slice(3, 4))]
