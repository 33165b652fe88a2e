"""core._small: the numpy find_objects and connected components equal scipy's."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from astro_mlfinder.core import _small
from astro_mlfinder.core.measure import parameterise


@pytest.mark.parametrize("shape", [(20, 30, 25), (40, 50), (400,)])
def test_find_objects_equals_scipy(shape):
    rng = np.random.default_rng(len(shape))
    labels = (rng.random(shape) < 0.1) * rng.integers(1, 30, shape)
    labels[labels == 7] = 0  # a missing label: None
    expected = ndimage.find_objects(labels)
    got = _small.find_objects(labels)
    assert got == expected
    assert None in got
    assert _small.find_objects(np.zeros((3, 4), int)) == ndimage.find_objects(np.zeros((3, 4), int)) == []


def _same_partition(a, b):
    assert a.max() + 1 == b.max() + 1
    assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == b.max() + 1


def test_connected_components_equal_scipy():
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 2000))
        src, dst = rng.integers(0, n, (2, int(rng.integers(0, 3 * n))))
        if trial % 3 == 0:  # a long chain: many rounds of path compression
            src = np.arange(n - 1)
            dst = src + 1
        got = _small.connected_components(n, src, dst)
        graph = coo_matrix((np.ones(src.size), (src, dst)), shape=(n, n)).tocsr()
        count, expected = scipy_components(graph, directed=False)
        assert got.dtype == np.int64 and got.shape == (n,)
        _same_partition(got, expected)
    assert _small.connected_components(3, [], []).tolist() == [0, 1, 2]


def test_parameterise_small_and_large_paths_agree(monkeypatch):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((12, 20, 18)).astype(np.float32)
    labels = np.zeros(data.shape, np.int32)
    labels[2:6, 3:9, 4:8] = 1
    labels[7:11, 10:15, 2:6] = 3  # label 2 missing
    data[labels > 0] += 3
    small = parameterise(data, labels)
    monkeypatch.setattr(_small, "NUMPY_MAX_VOXELS", 0)
    large = parameterise(data, labels)
    assert small.keys() == large.keys()
    for name in small:
        np.testing.assert_array_equal(small[name], large[name], err_msg=name)
    assert small["id"].tolist() == [1, 3]


def test_find_objects_ignores_negative_labels_as_scipy_and_the_numba_path():
    """dilate_mask passes its labels unchecked: a negative value must not crash the small-cube path."""
    from astro_mlfinder.core._bbox import find_objects as numba_find_objects

    rng = np.random.default_rng(5)
    labels = (rng.random((6, 9, 8)) < 0.2) * rng.integers(-3, 6, (6, 9, 8))
    assert (labels < 0).any()
    expected = ndimage.find_objects(labels)
    assert _small.find_objects(labels) == expected
    assert numba_find_objects(labels)[0] == expected
    assert _small.find_objects(-np.ones((2, 3), int)) == ndimage.find_objects(-np.ones((2, 3), int)) == []
