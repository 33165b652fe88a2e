import numpy as np
import pytest

from astro_mlfinder.core.dilation import dilate_mask


def _reference_dilation(labels, data, f_sum, iter_xy, iter_z, threshold):
    """Pixel-loop transcription of SoFiA's dilate_mask_z then dilate_mask_xy."""
    mask = labels.astype(np.int64).copy()
    nz, ny, nx = mask.shape
    nsrc = int(mask.max())
    f_sum = list(map(float, f_sum))
    flags = [0] * nsrc
    boxes = []
    for s in range(1, nsrc + 1):
        z, y, x = np.nonzero(mask == s)
        boxes.append([z.min(), z.max(), y.min(), y.max(), x.min(), x.max()])
    neg = [f < 0 for f in f_sum]

    for i in range(nsrc):
        sid = i + 1
        z0, z1, y0, y1, x0, x1 = boxes[i]
        for _ in range(iter_z):
            df = 0.0
            nz0, nz1 = z0, z1
            for z in range(z0, z1 + 1):
                for y in range(y0, y1 + 1):
                    for x in range(x0, x1 + 1):
                        if mask[z, y, x] != sid:
                            continue
                        for zz, ok in ((z - 1, z > 0), (z + 1, z < nz - 1)):
                            if not ok:
                                flags[i] |= 2
                                continue
                            m = mask[zz, y, x]
                            if m == 0:
                                if np.isnan(data[zz, y, x]):
                                    flags[i] |= 4
                                else:
                                    mask[zz, y, x] = -1
                                    df += float(data[zz, y, x])
                                    nz0, nz1 = min(nz0, zz), max(nz1, zz)
                            elif m > 0 and m != sid:
                                flags[i] |= 8
            if threshold < 0 or (neg[i] and df < threshold * f_sum[i]) or \
                    (not neg[i] and df > threshold * f_sum[i]):
                f_sum[i] += df
                z0, z1 = nz0, nz1
                mask[mask == -1] = sid
            else:
                mask[mask == -1] = 0
                break
        boxes[i][0], boxes[i][1] = z0, z1

    def grow(sid, radius, z0, z1, y0, y1, x0, x1):
        added = 0.0
        flag = 0
        new = set()
        for z in range(z0, z1 + 1):
            for y in range(y0, y1 + 1):
                for x in range(x0, x1 + 1):
                    if mask[z, y, x] != sid:
                        continue
                    if x < radius or x + radius >= nx or y < radius or y + radius >= ny:
                        flag |= 1
                    for yy in range(max(0, y - radius), min(ny - 1, y + radius) + 1):
                        for xx in range(max(0, x - radius), min(nx - 1, x + radius) + 1):
                            if (xx - x) ** 2 + (yy - y) ** 2 > radius * radius:
                                continue
                            m = mask[z, yy, xx]
                            if m == 0 and (z, yy, xx) not in new:
                                if np.isnan(data[z, yy, xx]):
                                    flag |= 4
                                else:
                                    new.add((z, yy, xx))
                                    added += float(data[z, yy, xx])
                            elif m > 0 and m != sid:
                                flag |= 8
        return added, flag, new

    for i in range(nsrc):
        sid = i + 1
        box = boxes[i]
        if threshold < 0:
            radius = iter_xy
        else:
            it = 1
            f_old = f_sum[i]
            while it <= iter_xy:
                added, _, _ = grow(sid, it, *box)
                f_new = f_sum[i] + added
                if (neg[i] and f_new - f_old < threshold * f_old) or \
                        (not neg[i] and f_new - f_old > threshold * f_old):
                    f_old = f_new
                    it += 1
                else:
                    break
            radius = it - 1
        if radius >= 1:
            added, flag, new = grow(sid, radius, *box)
            flags[i] |= flag
            for p in new:
                mask[p] = sid
    return mask, np.array(flags)


def _scene(seed=0, nan=True):
    rng = np.random.default_rng(seed)
    shape = (24, 30, 32)
    data = rng.normal(0, 0.3, size=shape).astype(np.float32)
    zz, yy, xx = np.mgrid[:shape[0], :shape[1], :shape[2]]
    labels = np.zeros(shape, dtype=np.int32)
    centres = [(8, 10, 9), (15, 19, 22), (3, 4, 27), (20, 26, 3), (9, 16, 8)]
    for k, (cz, cy, cx) in enumerate(centres, 1):
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 10.0 - (zz - cz) ** 2 / 8.0)
        data += (5 * blob).astype(np.float32)
        labels[(blob > 0.5) & (labels == 0)] = k
    if nan:
        data[8, 10, 13] = np.nan
        data[9:11, 14:16, 20:22] = np.nan
    return labels, data


@pytest.mark.parametrize('threshold,ixy,iz', [(0.001, 4, 3), (0.02, 3, 2),
                                               (-1.0, 2, 1), (0.2, 3, 3)])
def test_matches_literal_reference(threshold, ixy, iz):
    labels, data = _scene()
    f_sum = np.array([data[labels == k].sum() for k in range(1, 6)], dtype=np.float64)
    f_sum[1] *= 0.5  # arbitrary catalogue values are compared with increments
    ref_mask, ref_flags = _reference_dilation(labels, data, f_sum, ixy, iz, threshold)
    out, flags = dilate_mask(labels, data, f_sum, iterations_xy=ixy,
                             iterations_z=iz, threshold=threshold)
    np.testing.assert_array_equal(out, ref_mask)
    np.testing.assert_array_equal(flags, ref_flags)
    assert out.dtype == np.int32
    assert np.all(out[labels > 0] == labels[labels > 0])  # never shrinks


def test_negative_source_grows_with_negative_flux():
    labels, data = _scene(nan=False)
    data = -data
    f_sum = np.array([data[labels == k].sum() for k in range(1, 6)])
    ref_mask, ref_flags = _reference_dilation(labels, data, f_sum, 3, 2, 0.001)
    out, flags = dilate_mask(labels, data, f_sum, iterations_xy=3, iterations_z=2)
    np.testing.assert_array_equal(out, ref_mask)
    np.testing.assert_array_equal(flags, ref_flags)
    assert (out > 0).sum() > (labels > 0).sum()


def test_full_dilation_is_disc_in_each_channel():
    labels = np.zeros((5, 21, 21), dtype=np.int32)
    labels[2, 10, 10] = 1
    data = np.ones(labels.shape, dtype=np.float32)
    out, flags = dilate_mask(labels, data, [1.0], iterations_xy=3,
                             iterations_z=0, threshold=-1)
    yy, xx = np.mgrid[:21, :21]
    disc = (yy - 10) ** 2 + (xx - 10) ** 2 <= 9
    np.testing.assert_array_equal(out[2] == 1, disc)
    assert not out[[0, 1, 3, 4]].any()
    assert flags[0] == 0
    # spectral only: +-2 channels, touching both ends of the axis -> flag 2
    out, flags = dilate_mask(labels, data, [1.0], iterations_xy=0,
                             iterations_z=2, threshold=-1)
    assert np.all(out[:, 10, 10] == 1) and out.sum() == 5
    assert flags[0] == 0   # the last accepted step reached the edge; no scan after it
    out, flags = dilate_mask(labels, data, [1.0], iterations_xy=0,
                             iterations_z=3, threshold=-1)
    assert flags[0] == 2


def test_units_quirk_and_data_flux():
    labels, data = _scene(nan=False)
    scaled = data * np.float32(1e-3)       # e.g. Jy/beam with rms ~ 1e-3
    f_rms = np.array([data[labels == k].sum() for k in range(1, 6)])
    quirk, _ = dilate_mask(labels, scaled, f_rms, iterations_xy=5, iterations_z=3)
    proper, _ = dilate_mask(labels, scaled, None, iterations_xy=5, iterations_z=3)
    same, _ = dilate_mask(labels, data, f_rms, iterations_xy=5, iterations_z=3)
    # with increments 1000x too small the mask hardly grows
    assert (quirk > 0).sum() < (proper > 0).sum()
    np.testing.assert_array_equal(proper, same)


def test_2d_and_inplace():
    img = np.zeros((15, 15), dtype=np.float32)
    yy, xx = np.mgrid[:15, :15]
    img += np.exp(-((yy - 7) ** 2 + (xx - 7) ** 2) / 8).astype(np.float32)
    labels = (img > 0.8).astype(np.int32)
    out, flags = dilate_mask(labels, img, None, iterations_xy=3, threshold=0.01)
    assert out.shape == img.shape and (out > 0).sum() > (labels > 0).sum()
    lab = labels.copy()
    res, _ = dilate_mask(lab, img, None, iterations_xy=3, threshold=0.01, inplace=True)
    assert res is lab
    np.testing.assert_array_equal(lab, out)


def test_validation():
    labels = np.zeros((4, 5, 5), dtype=np.int32)
    labels[1, 2, 2] = 1
    data = np.ones(labels.shape, dtype=np.float32)
    with pytest.raises(ValueError, match='different shapes'):
        dilate_mask(labels, data[0], [1.0])
    with pytest.raises(ValueError, match='iterations_z'):
        dilate_mask(labels, data, [1.0], iterations_z=4)
    with pytest.raises(ValueError, match='iterations_xy'):
        dilate_mask(labels, data, [1.0], iterations_xy=5, iterations_z=1)
    with pytest.raises(ValueError, match='non-negative integer'):
        dilate_mask(labels, data, [1.0], iterations_xy=-1)
    with pytest.raises(ValueError, match='f_sum has'):
        dilate_mask(labels, data, [], iterations_z=1, iterations_xy=1)
