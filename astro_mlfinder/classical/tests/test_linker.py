import time

import numpy as np
import pytest
from scipy import ndimage, stats

from astro_mlfinder.classical.linker import LinkerResult, link, linker_structure


def _reference_link(mask, data, rxy, rz, min_xy, min_z, remove_negative=True,
                    rms=1.0):
    """Literal pure-Python transcription of SoFiA's scan + flood fill.

    Scans backwards (z, y, x descending), flood-fills with a stack over the
    ellipsoid neighbourhood, removes failing objects immediately and reuses
    their label.  Returns the labels and the per-object pixel lists.
    """
    nz, ny, nx = mask.shape
    work = np.where(mask != 0, -1, 0).astype(np.int64)
    rx2 = ry2 = rxy * rxy
    rz2 = rz * rz
    label = 1
    objects = {}
    flags = {}
    for z in range(nz - 1, -1, -1):
        for y in range(ny - 1, -1, -1):
            for x in range(nx - 1, -1, -1):
                if work[z, y, x] >= 0:
                    continue
                if not np.isfinite(data[z, y, x]):
                    work[z, y, x] = 0
                    continue
                work[z, y, x] = label
                pix = [(z, y, x)]
                flag = 0
                stack = [(z, y, x)]
                while stack:
                    cz, cy, cx = stack.pop()
                    for zz in range(max(cz - rz, 0), min(cz + rz, nz - 1) + 1):
                        for yy in range(max(cy - rxy, 0), min(cy + rxy, ny - 1) + 1):
                            for xx in range(max(cx - rxy, 0), min(cx + rxy, nx - 1) + 1):
                                d = ((xx - cx) ** 2 * ry2 * rz2 + (yy - cy) ** 2 * rx2 * rz2
                                     + (zz - cz) ** 2 * rx2 * ry2)
                                if d > rx2 * ry2 * rz2:
                                    continue
                                if not np.isfinite(data[zz, yy, xx]):
                                    work[zz, yy, xx] = 0
                                    flag |= 4
                                    continue
                                if work[zz, yy, xx] < 0:
                                    work[zz, yy, xx] = label
                                    pix.append((zz, yy, xx))
                                    stack.append((zz, yy, xx))
                arr = np.array(pix)
                size = arr.max(axis=0) - arr.min(axis=0) + 1
                fsum = sum(float(data[p]) for p in pix) / rms
                if (size[2] < min_xy or size[1] < min_xy or size[0] < min_z
                        or (remove_negative and fsum < 0)):
                    for p in pix:
                        work[p] = 0
                else:
                    objects[label] = pix
                    flags[label] = flag
                    label += 1
    return work, objects, flags


def test_structure_default_is_six_connected():
    s = linker_structure(1, 1)
    assert s.shape == (3, 3, 3)
    assert s.sum() == 7
    assert s[1, 1, 1] and s[0, 1, 1] and s[1, 0, 1] and s[1, 1, 0]
    assert not s[0, 0, 0] and not s[1, 0, 0]


def test_structure_special_radii():
    # radius_z = 0: whole xy box in the same channel (8-connectivity)
    s = linker_structure(1, 0)
    assert s.shape == (1, 3, 3) and s.all()
    # (2, 1): corner offsets (1, 1, 1) are outside the ellipsoid
    s = linker_structure(2, 1)
    assert s.shape == (3, 5, 5)
    assert s[2, 2, 2]  # dz = 1, dy = dx = 0
    assert s[1, 2, 4] and not s[1, 4, 4] and not s[2, 3, 3]
    # 2D ellipse
    s2 = linker_structure(1, ndim=2)
    assert s2.shape == (3, 3) and s2.sum() == 5


def test_corner_contact_not_merged_and_gap_merged_with_large_radius():
    mask = np.zeros((7, 10, 12), dtype=np.uint8)
    mask[1:4, 1:4, 1:4] = 1
    mask[4:6, 4:6, 4:6] = 1          # touches the first only at a corner
    data = np.ones(mask.shape, dtype=np.float32)
    res = link(mask, data, min_size_xy=1, min_size_z=1)
    assert res.n_sources == 2
    res = link(mask, data, radius_xy=2, radius_z=1, min_size_xy=1, min_size_z=1)
    assert res.n_sources == 2
    # x gap of 2 pixels (dx = 3) merges with radius_xy = 3
    mask = np.zeros((3, 5, 12), dtype=np.uint8)
    mask[1, 2, 1:3] = 1
    mask[1, 2, 5:8] = 1
    res = link(mask, np.ones(mask.shape, np.float32), radius_xy=3,
               min_size_xy=1, min_size_z=1)
    assert res.n_sources == 1
    assert res.n_pix[0] == 5


def test_radius_z_zero_links_per_channel():
    mask = np.zeros((4, 6, 6), dtype=np.uint8)
    mask[:, 2, 2] = 1
    mask[:, 3, 3] = 1   # diagonal neighbour in every channel
    data = np.ones(mask.shape, dtype=np.float32)
    res = link(mask, data, radius_z=0, min_size_xy=1, min_size_z=1)
    assert res.n_sources == 4
    assert np.all(res.n_pix == 2)
    res = link(mask, data, radius_z=1, min_size_xy=1, min_size_z=1)
    assert res.n_sources == 2


@pytest.mark.parametrize('rxy,rz', [(1, 1), (2, 1), (1, 2), (1, 0), (2, 0)])
def test_matches_literal_sofia_flood_fill(rxy, rz):
    rng = np.random.default_rng(42 + rxy * 10 + rz)
    shape = (6, 9, 10)
    mask = (rng.random(shape) < 0.25).astype(np.uint8)
    data = rng.normal(size=shape).astype(np.float32)
    data[2, 4, 4:6] = np.nan
    data[0, 0, 0] = np.inf
    ref_labels, objects, flags = _reference_link(mask, data, rxy, rz, 2, 2)
    res = link(mask, data, radius_xy=rxy, radius_z=rz, min_size_xy=2,
               min_size_z=2, global_rms=1.0)
    np.testing.assert_array_equal(res.labels, ref_labels)
    assert res.n_sources == len(objects)
    for lab, pix in objects.items():
        vals = np.array([data[p] for p in pix], dtype=np.float64)
        arr = np.array(pix)
        i = lab - 1
        assert res.n_pix[i] == len(pix)
        assert res.f_sum[i] == pytest.approx(vals.sum(), rel=1e-12, abs=1e-12)
        assert res.f_min[i] == vals.min() and res.f_max[i] == vals.max()
        assert (res.z_min[i], res.y_min[i], res.x_min[i]) == tuple(arr.min(axis=0))
        assert (res.z_max[i], res.y_max[i], res.x_max[i]) == tuple(arr.max(axis=0))
        expected_flag = flags[lab]
        if arr[:, 2].min() == 0 or arr[:, 2].max() == shape[2] - 1 or \
                arr[:, 1].min() == 0 or arr[:, 1].max() == shape[1] - 1:
            expected_flag |= 1
        if arr[:, 0].min() == 0 or arr[:, 0].max() == shape[0] - 1:
            expected_flag |= 2
        assert res.flag[i] == expected_flag


def test_order_is_reverse_raster_of_highest_index():
    rng = np.random.default_rng(3)
    mask = rng.random((20, 30, 30)) < 0.1
    data = np.abs(rng.normal(size=mask.shape)).astype(np.float32)
    res = link(mask, data, min_size_xy=1, min_size_z=1)
    struct = linker_structure(1, 1)
    lab, n = ndimage.label(mask, structure=struct)
    assert res.n_sources == n
    # highest linear index per scipy label, sorted descending
    idx = np.arange(mask.size).reshape(mask.shape)
    top = ndimage.maximum(idx, lab, index=np.arange(1, n + 1))
    order = np.argsort(-top)
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[order + 1] = np.arange(1, n + 1)
    np.testing.assert_array_equal(res.labels, remap[lab])


def test_statistics_and_units():
    rng = np.random.default_rng(5)
    mask = np.zeros((8, 10, 10), dtype=bool)
    mask[1:7, 2:8, 3:9] = rng.random((6, 6, 6)) < 0.9
    mask[1:7, 2:8, 3:9][0, 0, 0] = True
    lab, n = ndimage.label(mask, structure=linker_structure(1, 1))
    assert n == 1
    data = rng.normal(2.0, 1.0, size=mask.shape).astype(np.float32)
    rms = 0.5
    res = link(mask, data, min_size_xy=1, min_size_z=1, global_rms=rms)
    vals = data[mask].astype(np.float64) / rms
    assert res.f_sum[0] == pytest.approx(vals.sum(), rel=1e-12)
    assert res.mean[0] == pytest.approx(vals.mean(), rel=1e-12)
    assert res.std[0] == pytest.approx(vals.std(ddof=1), rel=1e-12)
    assert res.skew[0] == pytest.approx(stats.skew(vals, bias=True), rel=1e-9)
    assert res.kurt[0] == pytest.approx(stats.kurtosis(vals, bias=True), rel=1e-9)
    box = np.prod([res.x_max[0] - res.x_min[0] + 1, res.y_max[0] - res.y_min[0] + 1,
                   res.z_max[0] - res.z_min[0] + 1])
    assert res.fill[0] == pytest.approx(mask.sum() / box)
    assert res.global_rms == rms
    cols = res.columns()
    assert list(cols)[:2] == ['id', 'x_min'] and cols['id'][0] == 1


def test_filters():
    data = np.ones((30, 20, 20), dtype=np.float32)
    mask = np.zeros(data.shape, dtype=bool)
    mask[2:4, 2:4, 2:4] = True            # 2x2x2, 8 px
    mask[10:20, 5:15, 5:15] = True        # 10x10x10, 1000 px
    mask[22:28, 15:19, 15:19] = True      # z 6, xy 4
    data[22:28, 15:19, 15:19] = -1.0      # negative source
    base = dict(min_size_xy=1, min_size_z=1)
    assert link(mask, data, **base).n_sources == 2   # negative removed
    assert link(mask, data, remove_negative=False, **base).n_sources == 3
    kw = dict(base, remove_negative=False)
    assert link(mask, data, **dict(kw, min_size_xy=3)).n_sources == 2
    assert link(mask, data, **dict(kw, min_size_z=7)).n_sources == 1
    assert link(mask, data, **dict(kw, max_size_xy=5)).n_sources == 2
    assert link(mask, data, **dict(kw, max_size_z=8)).n_sources == 2
    assert link(mask, data, **dict(kw, min_pixels=9)).n_sources == 2
    assert link(mask, data, **dict(kw, max_pixels=500)).n_sources == 2
    # partially filled box
    mask2 = mask.copy()
    mask2[10:20, 5:15, 5:15] = False
    mask2[10:20, 5, 5:15] = True
    mask2[10:20, 5:15, 5] = True
    r = link(mask2, data, **dict(kw, min_fill=0.5))
    assert r.n_sources == 2 and np.all(r.fill >= 0.5)
    r = link(mask2, data, **dict(kw, max_fill=0.5))
    assert r.n_sources == 1 and r.fill[0] < 0.5


def test_positivity_drops_negative_pixels():
    data = np.ones((5, 5, 9), dtype=np.float32)
    mask = np.zeros(data.shape, dtype=bool)
    mask[2, 2, 1:8] = True
    data[2, 2, 4] = -0.5      # splits the line when negative pixels are dropped
    r = link(mask, data, min_size_xy=1, min_size_z=1)
    assert r.n_sources == 1 and r.n_pix[0] == 7
    r = link(mask, data, min_size_xy=1, min_size_z=1, positivity=True)
    assert r.n_sources == 2 and list(r.n_pix) == [3, 3]
    assert r.labels[2, 2, 4] == 0


def test_nan_removed_and_flagged_and_edges():
    data = np.ones((6, 8, 8), dtype=np.float32)
    mask = np.zeros(data.shape, dtype=bool)
    mask[2:4, 3:5, 3:5] = True
    data[2, 3, 5] = np.nan            # neighbour (not detected) is blank
    mask[0:2, 0:2, 6:8] = True        # touches x/y edge and z edge
    r = link(mask, data, min_size_xy=1, min_size_z=1)
    assert r.n_sources == 2
    # ids: the edge object has the lower linear indices -> id 2
    assert r.flag[0] == 4 and r.flag[1] == 3
    # a detected NaN pixel is removed from the source
    mask[3, 3, 3] = True
    data[3, 3, 3] = np.nan
    r = link(mask, data, min_size_xy=1, min_size_z=1)
    assert r.labels[3, 3, 3] == 0 and r.n_pix[0] == 7


def test_2d_images():
    img = np.zeros((20, 30), dtype=np.float32)
    mask = np.zeros(img.shape, dtype=bool)
    mask[2:5, 2:8] = True
    img[2:5, 2:8] = 2.0
    mask[10:15, 20:22] = True
    img[10:15, 20:22] = 1.0
    mask[16, 0] = True                  # single pixel at the edge
    img[16, 0] = 5.0
    r = link(mask, img, min_size_xy=2)
    assert r.labels.shape == img.shape and r.n_sources == 2
    assert r.ndim == 2
    # first id: highest linear index
    assert r.labels[12, 20] == 1 and r.labels[3, 3] == 2
    assert np.all(r.z_min == 0) and np.all(r.z_max == 0)
    assert list(r.flag) == [0, 0]
    r = link(mask, img, min_size_xy=1)
    assert r.n_sources == 3 and r.flag[0] == 1


def test_subset_and_len():
    data = np.ones((10, 10, 10), dtype=np.float32)
    mask = np.zeros(data.shape, dtype=bool)
    mask[1:3, 1:3, 1:3] = True
    mask[6:9, 6:9, 6:9] = True
    r = link(mask, data, min_size_xy=1, min_size_z=1)
    assert len(r) == 2
    s = r.subset([False, True])
    assert isinstance(s, LinkerResult) and s.n_sources == 1
    assert s.n_pix[0] == 8 and s.labels.max() == 1
    with pytest.raises(ValueError, match='one entry per source'):
        r.subset([True])


def test_input_validation():
    data = np.ones((4, 4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match='different shapes'):
        link(np.ones((4, 4)), data)
    with pytest.raises(ValueError, match='floating-point'):
        link(np.ones((4, 4, 4)), np.ones((4, 4, 4), dtype=int))
    with pytest.raises(ValueError, match='global_rms'):
        link(np.ones((4, 4, 4)), data, global_rms=0)
    with pytest.raises(ValueError, match='radius_xy'):
        link(np.ones((4, 4, 4)), data, radius_xy=-1)
    with pytest.raises(ValueError, match='2D'):
        link(np.ones(4), np.ones(4, dtype=np.float32))


def test_no_detections():
    data = np.zeros((3, 4, 5), dtype=np.float32)
    r = link(np.zeros(data.shape, bool), data)
    assert r.n_sources == 0 and r.labels.dtype == np.int32 and not r.labels.any()


def test_many_objects_fast():
    rng = np.random.default_rng(7)
    data = rng.standard_normal(size=(128, 256, 256), dtype=np.float32)
    mask = np.abs(data) > 2.5
    t0 = time.perf_counter()
    r = link(mask, data, min_size_xy=1, min_size_z=1, remove_negative=False)
    elapsed = time.perf_counter() - t0
    _, n = ndimage.label(mask, structure=linker_structure(1, 1))
    assert r.n_sources == n > 90_000
    assert r.n_pix.sum() == mask.sum()
    assert elapsed < 10


# ---------------------------------------------------------------------------
# slab-wise labelling (memory-saving path) and PackedMask input
# ---------------------------------------------------------------------------

def _same_partition(a, b):
    """True if two per-pixel component arrays describe the same partition."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.shape != b.shape:
        return False
    pairs = np.unique(np.stack([a, b]), axis=1)
    return pairs.shape[1] == np.unique(a).size == np.unique(b).size


def _random_case(seed, shape=(23, 17, 19), fill=0.35):
    rng = np.random.default_rng(seed)
    mask = (rng.random(shape) < fill).astype(np.uint8)
    data = rng.normal(size=shape).astype(np.float32)
    data[rng.random(shape) < 0.03] = np.nan
    data[3, 2, 5] = np.inf
    return mask, data


@pytest.mark.parametrize('rxy,rz', [(1, 1), (1, 0), (0, 1), (0, 0), (2, 1), (1, 2), (3, 2)])
@pytest.mark.parametrize('positivity', [False, True])
@pytest.mark.parametrize('kind', ['uint8', 'bool', 'int32', 'packed'])
def test_scan_components_equal_ndimage_label(rxy, rz, positivity, kind):
    from astro_mlfinder.classical._link_numpy import blank_neighbour
    from astro_mlfinder.classical.linker import _scan
    from astro_mlfinder.classical.packed_mask import PackedMask

    mask, data = _random_case(100 + 10 * rxy + rz)
    structure = linker_structure(rxy, rz)
    given = PackedMask.from_array(mask) if kind == 'packed' else mask.astype(kind)
    nz_idx, values, comp, n_comp, blank = _scan(given, data, structure, positivity)
    det = (mask != 0) & np.isfinite(data)
    if positivity:
        det &= ~(data < 0)
    np.testing.assert_array_equal(nz_idx, np.flatnonzero(det))
    np.testing.assert_array_equal(values, data[det])
    coords = np.unravel_index(nz_idx, data.shape)
    np.testing.assert_array_equal(blank, blank_neighbour(data, coords, data.shape, structure))
    assert not blank.all() and (blank.any() or structure.sum() == 1)
    assert comp.min() == 0 and comp.max() + 1 == n_comp
    if max(structure.shape) <= 3:
        full = np.zeros((3, 3, 3), dtype=bool)
        sl = tuple(slice((3 - s) // 2, (3 - s) // 2 + s) for s in structure.shape)
        full[sl] = structure
        ref, n_ref = ndimage.label(det, structure=full)
        assert n_comp == n_ref
        assert _same_partition(comp, ref.ravel()[nz_idx])


def test_sources_joined_far_from_where_they_start():
    from astro_mlfinder.classical.linker import _scan

    shape = (12, 9, 11)
    mask = np.zeros(shape, dtype=bool)
    # a U: two columns along z that join only at the bottom
    mask[1:11, 2, 2] = True
    mask[1:11, 2, 6] = True
    mask[10, 2, 2:7] = True
    # a snake that turns back on itself twice
    mask[0:12, 6, 1] = True
    mask[11, 6, 1:4] = True
    mask[0:12, 6, 3] = True
    # touching only diagonally across planes: not linked with radius 1/1
    mask[2, 8, 8] = True
    mask[3, 7, 9] = True
    data = np.ones(shape, dtype=np.float32)
    nz_idx, _, comp, n_comp, blank = _scan(mask, data, linker_structure(1, 1), False)
    ref, n_ref = ndimage.label(mask, structure=linker_structure(1, 1))
    assert not blank.any() and n_comp == n_ref == 4
    assert _same_partition(comp, ref.ravel()[nz_idx])
    res = link(mask, data, min_size_xy=1, min_size_z=1)
    assert res.n_sources == 4
    assert sorted(res.n_pix) == [1, 1, 23, 25]


@pytest.mark.parametrize('rxy,rz', [(1, 1), (1, 0), (2, 1), (1, 2)])
def test_packed_and_plain_masks_give_the_same_results(rxy, rz):
    from astro_mlfinder.classical.packed_mask import PackedMask

    mask, data = _random_case(7 + rxy + 3 * rz, fill=0.3)
    kw = dict(radius_xy=rxy, radius_z=rz, min_size_xy=2, min_size_z=2 if rz else 1)
    ref = link(mask, data, **kw)
    assert ref.n_sources > 3
    for m in (mask.astype(bool), PackedMask.from_array(mask)):
        res = link(m, data, **kw)
        np.testing.assert_array_equal(res.labels, ref.labels)
        for name, value in ref.columns().items():
            np.testing.assert_array_equal(value, res.columns()[name], err_msg=name)
        np.testing.assert_array_equal(res.m2, ref.m2)


@pytest.mark.parametrize('rxy,rz', [(1, 1), (2, 1), (1, 0), (1, 2)])
def test_blank_pixels_match_literal_sofia_flood_fill(rxy, rz):
    rng = np.random.default_rng(11 + rxy + rz)
    shape = (7, 8, 9)
    mask = (rng.random(shape) < 0.3).astype(np.uint8)
    data = rng.normal(size=shape).astype(np.float32)
    data[3, 4, 2:5] = np.nan
    ref_labels, objects, _ = _reference_link(mask, data, rxy, rz, 2, 2)
    res = link(mask, data, radius_xy=rxy, radius_z=rz, min_size_xy=2, min_size_z=2)
    np.testing.assert_array_equal(res.labels, ref_labels)
    assert res.n_sources == len(objects)


def test_packed_mask_2d_and_mask_untouched():
    from astro_mlfinder.classical.packed_mask import PackedMask

    rng = np.random.default_rng(2)
    img = rng.normal(size=(25, 31)).astype(np.float32)
    mask = (np.abs(img) > 1.0).astype(np.uint8)
    before = mask.copy()
    ref = link(mask, img, min_size_xy=1, remove_negative=False)
    res = link(PackedMask.from_array(mask), img, min_size_xy=1, remove_negative=False)
    np.testing.assert_array_equal(res.labels, ref.labels)
    np.testing.assert_array_equal(res.f_sum, ref.f_sum)
    np.testing.assert_array_equal(mask, before)
    with pytest.raises(ValueError, match='different shapes'):
        link(PackedMask.from_array(mask[:, :30]), img)


def test_non_contiguous_data():
    rng = np.random.default_rng(4)
    big = rng.normal(size=(10, 12, 14)).astype(np.float32)
    data = big[1:9, ::2, 1:13]
    mask = np.abs(data) > 0.8
    ref = link(mask, np.ascontiguousarray(data), min_size_xy=1, min_size_z=1)
    res = link(mask, data, min_size_xy=1, min_size_z=1)
    np.testing.assert_array_equal(res.labels, ref.labels)
    np.testing.assert_array_equal(res.f_sum, ref.f_sum)


@pytest.mark.parametrize('rxy,rz', [(1, 1), (2, 1)])
def test_sparse_linking_gives_the_dense_labels(rxy, rz):
    from astro_mlfinder.classical.reliability import relabel

    mask, data = _random_case(31 + rxy, shape=(30, 40, 40), fill=0.12)
    kw = dict(radius_xy=rxy, radius_z=rz, min_size_xy=2, min_size_z=2, remove_negative=False)
    dense = link(mask, data, **kw)
    sparse = link(mask, data, dense=False, **kw)
    assert dense.n_sources > 5 and sparse.labels is None and dense.pixels is None
    assert sparse.ndim == 3
    for name, value in dense.columns().items():
        np.testing.assert_array_equal(value, sparse.columns()[name], err_msg=name)
    np.testing.assert_array_equal(sparse.label_cube(), dense.labels)
    keep = np.arange(dense.n_sources) % 3 != 1
    expected = relabel(dense.labels, keep)
    np.testing.assert_array_equal(sparse.label_cube(keep), expected)
    np.testing.assert_array_equal(sparse.subset(keep).labels, expected)
    assert sparse.subset(keep).n_sources == keep.sum()
    with pytest.raises(ValueError, match='one entry per source'):
        sparse.label_cube(keep[:-1])
    # a dense result is relabelled in place
    assert dense.label_cube(keep) is dense.labels
    np.testing.assert_array_equal(dense.labels, expected)


def test_sparse_zeros_is_a_writeable_zero_array():
    from astro_mlfinder.classical.linker import sparse_zeros

    for shape in ((3, 4, 5), (64, 128, 160)):  # np.zeros below 4 MiB, a private anonymous map above
        a = sparse_zeros(shape, np.int32)
        assert a.shape == shape and a.dtype == np.int32 and a.flags.writeable and a.flags.c_contiguous
        assert not a.any()
        a[1, 2, 3] = 7
        assert a.sum() == 7 and a.ravel()[np.ravel_multi_index((1, 2, 3), shape)] == 7
