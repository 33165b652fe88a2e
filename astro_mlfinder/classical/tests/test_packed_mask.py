import pickle

import numpy as np
import pytest

from astro_mlfinder.classical import packed_mask as pm
from astro_mlfinder.classical.packed_mask import PackedMask


@pytest.mark.parametrize('shape', [(5, 7, 13), (4, 6, 8), (3, 1, 1), (9, 17), (11,)])
def test_round_trip(shape):
    rng = np.random.default_rng(sum(shape))
    mask = (rng.random(shape) < 0.4).astype(np.uint8)
    p = PackedMask.from_array(mask)
    assert p.shape == shape and p.ndim == len(shape) and p.dtype == np.uint8
    assert p.size == mask.size and len(p) == shape[0]
    assert p.nbytes == int(np.prod(shape[:-1])) * ((shape[-1] + 7) // 8)
    out = np.asarray(p)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, mask)
    np.testing.assert_array_equal(p.to_array(), mask)
    assert p.count_nonzero() == np.count_nonzero(mask) == np.count_nonzero(p)
    assert p.sum() == mask.sum() and np.sum(p) == mask.sum()
    assert p.any() == mask.any()
    np.testing.assert_array_equal(p.astype(bool), mask.astype(bool))
    np.testing.assert_array_equal(np.asarray(p, dtype=np.int32), mask.astype(np.int32))


def test_non_zero_values_and_dtypes_become_one(monkeypatch):
    monkeypatch.setattr(pm, '_CHUNK_VOXELS', 10)   # several chunks
    rng = np.random.default_rng(1)
    values = rng.integers(-3, 4, size=(6, 5, 10))
    expected = (values != 0).astype(np.uint8)
    for arr in (values, values.astype(np.uint8), values.astype(np.float32),
                values != 0, values.astype(np.int16)):
        np.testing.assert_array_equal(np.asarray(PackedMask.from_array(arr)), expected)
    float_mask = values.astype(np.float32)
    float_mask[0, 0, 0] = np.nan     # NaN is non-zero
    assert np.asarray(PackedMask.from_array(float_mask))[0, 0, 0] == 1


def test_slab_and_indexing():
    rng = np.random.default_rng(3)
    mask = (rng.random((8, 5, 11)) < 0.5).astype(np.uint8)
    p = PackedMask.from_array(mask)
    np.testing.assert_array_equal(p.slab(2, 5), mask[2:5])
    np.testing.assert_array_equal(p.slab(6, 20), mask[6:20])
    assert p.slab(3, 3).shape == (0, 5, 11)
    np.testing.assert_array_equal(p[3], mask[3])
    np.testing.assert_array_equal(p[1:7:2, 2], mask[1:7:2, 2])
    np.testing.assert_array_equal(p[-1, :, 4], mask[-1, :, 4])
    np.testing.assert_array_equal(p[mask == 1], mask[mask == 1])
    np.testing.assert_array_equal(p[..., 3], mask[..., 3])


def test_from_packed_copy_and_pickle():
    mask = np.zeros((3, 4, 9), dtype=np.uint8)
    mask[1, 2, 8] = 1
    p = PackedMask.from_array(mask)
    q = PackedMask.from_array(p)
    assert q is not p and q.count_nonzero() == 1
    r = pickle.loads(pickle.dumps(p))
    np.testing.assert_array_equal(np.asarray(r), mask)
    assert 'PackedMask' in repr(p) and 'set=1' in repr(p)
    assert not p.bits.flags.writeable
    np.testing.assert_array_equal(p.bits, np.packbits(mask, axis=-1, bitorder='little'))


def test_memory_is_one_bit_per_pixel():
    p = PackedMask.from_array(np.ones((16, 32, 64), dtype=np.uint8))
    assert p.nbytes * 8 == 16 * 32 * 64


def test_validation():
    with pytest.raises(ValueError, match='0-dimensional'):
        PackedMask.from_array(np.uint8(1))
    with pytest.raises(ValueError, match='uint8'):
        PackedMask(np.zeros((2, 1), dtype=np.int32), (2, 8))
    with pytest.raises(ValueError, match='expected'):
        PackedMask(np.zeros((2, 1), dtype=np.uint8), (2, 9))
    with pytest.raises(ValueError, match='copy=False'):
        np.asarray(PackedMask.from_array(np.ones((2, 3))), copy=False)
