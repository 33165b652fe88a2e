"""The numba disc distances equal the Euclidean distance transform the dilation used; given boxes change nothing."""

import numpy as np
import pytest
from scipy import ndimage

from astro_mlfinder.core._dilation_kernels import disc_distance2
from astro_mlfinder.core.dilation import dilate_mask


@pytest.mark.parametrize("radius", [1, 2, 3, 10])
@pytest.mark.parametrize("fill", [0.01, 0.3, 0.7])
def test_disc_distances_equal_edt(radius, fill):
    rng = np.random.default_rng(radius)
    src = rng.random((5, 30, 40)) < fill
    src[2] = False  # a channel without source pixels
    src[3, 5:20, 0:15] = True  # a block touching the edge
    dist = ndimage.distance_transform_edt(~src, sampling=(4.0 * 70 + 10, 1.0, 1.0))
    ref = np.rint(dist * dist)
    mine = disc_distance2(src, radius)
    within = mine <= radius * radius
    np.testing.assert_array_equal(ref <= radius * radius, within)
    np.testing.assert_array_equal(ref[within], mine[within])
    assert (mine[~within] == radius * radius + 1).all()


def test_given_boxes_give_the_same_dilation():
    rng = np.random.default_rng(5)
    data = rng.normal(size=(20, 30, 30)).astype(np.float32)
    labels = np.zeros(data.shape, np.int32)
    labels[5:9, 4:9, 4:10] = 1
    labels[10:14, 15:20, 12:18] = 2
    labels[2:4, 25:28, 1:3] = 3
    data[labels > 0] += 3.0
    f_sum = np.array([data[labels == i].sum() for i in (1, 2, 3)], dtype=np.float64)
    boxes = [(5, 8, 4, 8, 4, 9), (10, 13, 15, 19, 12, 17), (2, 3, 25, 27, 1, 2)]
    ref, ref_flags = dilate_mask(labels, data, f_sum, iterations_xy=3, iterations_z=2, threshold=-1.0)
    out, flags = dilate_mask(labels, data, f_sum, iterations_xy=3, iterations_z=2, threshold=-1.0, boxes=boxes)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(flags, ref_flags)
    assert (ref > 0).sum() > (labels > 0).sum()
