# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests for catalogue matching and segment overlap."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable, Table
from numpy.testing import assert_allclose, assert_array_equal

from astro_mlfinder.evaluate import match_catalogs, segment_overlap


def _cat(xyz, f_sum=None, ids=None):
    t = Table()
    xyz = np.asarray(xyz, dtype=float)
    t['id'] = np.arange(1, len(xyz) + 1) if ids is None else ids
    t['x'], t['y'], t['z'] = xyz.T
    if f_sum is not None:
        t['f_sum'] = f_sum
    return t


def test_segment_overlap_exact():
    det = np.zeros((4, 5, 5), dtype=np.int32)
    tru = np.zeros((4, 5, 5), dtype=np.int32)
    det[0, 0:2, 0:4] = 1          # 8 voxels
    tru[0, 0:3, 2:6] = 1          # 3 x 3 = 9 voxels (x clipped at 5)
    det[2, 0:2, 0:3] = 2          # 6 voxels
    tru[2, 0:2, 0:3] = 2          # identical
    det[3, 4, 4] = 3              # no overlap
    tab = segment_overlap(det, tru)
    assert len(tab) == 2
    assert_array_equal(tab['det_id'], [1, 2])
    assert_array_equal(tab['truth_id'], [1, 2])
    # det 1 and truth 1 share rows 0-1, columns 2-3: 4 voxels
    assert_array_equal(tab['n_intersection'], [4, 6])
    assert_array_equal(tab['n_det'], [8, 6])
    assert_array_equal(tab['n_truth'], [9, 6])
    assert_array_equal(tab['n_union'], [13, 6])
    assert_allclose(tab['iou'], [4 / 13, 1.0])
    assert_allclose(tab['dice'], [8 / 17, 1.0])


def test_segment_overlap_many_to_many_and_errors():
    det = np.array([1, 1, 1, 1, 2, 2, 0, 0])
    tru = np.array([3, 3, 1, 1, 1, 0, 0, 2])
    tab = segment_overlap(det, tru)
    pairs = {(int(a), int(b)): int(n) for a, b, n in
             zip(tab['det_id'], tab['truth_id'], tab['n_intersection'], strict=True)}
    assert pairs == {(1, 1): 2, (1, 3): 2, (2, 1): 1}
    row = tab[(tab['det_id'] == 2) & (tab['truth_id'] == 1)][0]
    assert row['iou'] == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match='differs from truth_segment shape'):
        segment_overlap(det, tru[:4])
    with pytest.raises(ValueError, match='integer label array'):
        segment_overlap(det.astype(float), tru)


def test_match_by_distance_exact():
    truth = _cat([[10, 10, 10], [30, 30, 30], [50, 50, 50]],
                 f_sum=[2.0, 1.25, 1.0])
    det = _cat([[11, 10, 10],        # 1/3 of the tolerance from truth 1
                [30, 30, 34],        # dz = 4 -> 0.8
                [70, 70, 70],        # nothing nearby
                [10, 12, 10]],       # also near truth 1, but farther
               f_sum=[2.2, 1.0, 5.0, 2.0])
    res = match_catalogs(det, truth)
    assert res.method == 'distance'
    assert (res.tp, res.fp, res.fn) == (2, 2, 1)
    assert_array_equal(res.matches['truth_id'], [1, 2])
    assert_array_equal(res.matches['det_id'], [1, 2])
    assert_allclose(res.matches['distance'], [1 / 3, 0.8])
    assert_allclose(res.matches['separation'], [1.0, 0.0])
    assert_allclose(res.matches['dz'], [0.0, 4.0])
    assert_allclose(res.matches['flux_ratio'], [1.1, 0.8])
    assert np.all(np.isnan(res.matches['iou']))
    assert_array_equal(res.false_positives, [3, 4])
    assert_array_equal(res.false_negatives, [3])
    # tighter spectral tolerance drops the second pair
    res = match_catalogs(det, truth, spectral_tolerance=3.0)
    assert res.tp == 1


def test_hungarian_beats_greedy():
    # Greedy nearest-first matching would pair det 1 with truth 1 and leave
    # det 2 and truth 2 unmatched; the optimal assignment matches both.
    truth = _cat([[0.0, 0, 0], [2.9, 0, 0]])
    det = _cat([[1.0, 0, 0], [-2.0, 0, 0]])
    res = match_catalogs(det, truth, spatial_tolerance=3.0)
    assert res.tp == 2
    assert_array_equal(res.matches['truth_id'], [1, 2])
    assert_array_equal(res.matches['det_id'], [2, 1])


def test_quantities_and_2d():
    truth = QTable()
    truth['id'] = [5, 7]
    truth['x'] = [1.0, 20.0] * u.pix
    truth['y'] = [1.0, 20.0] * u.pix
    truth['f_sum'] = [2.0, 4.0] * u.Jy
    det = QTable()
    det['x'] = [20.5, 40.0] * u.pix
    det['y'] = [20.0, 40.0] * u.pix
    det['f_sum'] = [3000.0, 1.0] * u.mJy
    res = match_catalogs(det, truth)        # 2D: no z columns
    assert res.tp == 1
    assert res.matches['det_id'][0] == 1 and res.matches['truth_id'][0] == 7
    assert_allclose(res.matches['flux_ratio'], [0.75])
    assert_allclose(res.matches['distance'], [0.5 / 3])
    assert_array_equal(res.false_negatives, [5])


def test_flux_units_physical_fallback():
    truth = QTable()
    truth['x'], truth['y'], truth['z'] = [0.0], [0.0], [0.0]
    truth['f_sum'] = [2.0] * u.Jy / u.beam
    truth['f_sum_phys'] = [100.0] * u.Jy * u.Hz
    det = QTable()
    det['x'], det['y'], det['z'] = [0.0], [0.0], [0.0]
    det['f_sum'] = [0.11] * u.Jy * u.kHz
    res = match_catalogs(det, truth)
    assert_allclose(res.matches['flux_ratio'], [1.1])
    det['f_sum'] = [2.5] * u.dimensionless_unscaled
    res = match_catalogs(det, truth)
    assert_allclose(res.matches['flux_ratio'], [1.25])
    det['f_sum'] = [1.0] * u.m
    with pytest.warns(UserWarning, match='cannot be compared'):
        res = match_catalogs(det, truth)
    assert np.isnan(res.matches['flux_ratio'][0])


def test_angular_tolerance():
    truth = QTable()
    truth['x'], truth['y'], truth['z'] = [0.0, 50.0], [0.0, 0.0], [5.0, 5.0]
    truth['ra'] = [150.0, 150.01] * u.deg
    truth['dec'] = [30.0, 30.0] * u.deg
    det = QTable()
    det['x'], det['y'], det['z'] = [0.0, 50.0], [0.0, 0.0], [5.0, 5.0]
    det['ra'] = [150.0 + 5 / 3600, 150.01 + 20 / 3600] * u.deg
    det['dec'] = [30.0, 30.0] * u.deg
    res = match_catalogs(det, truth, spatial_tolerance=10 * u.arcsec)
    assert res.tp == 1
    sep = 5 * np.cos(np.radians(30.0))
    assert_allclose(res.matches['distance'], [sep / 10], rtol=1e-4)
    # with a WCS the angle becomes pixels (10 arcsec pixels -> 1 pixel)
    from astropy.wcs import WCS
    w = WCS(naxis=2)
    w.wcs.ctype = ['RA---SIN', 'DEC--SIN']
    w.wcs.cdelt = [-10 / 3600, 10 / 3600]
    w.wcs.crval = [150, 30]
    det['x'] = [0.5, 51.5]
    res = match_catalogs(det, truth, spatial_tolerance=10 * u.arcsec, wcs=w,
                         spectral_tolerance=1.0)
    assert res.tp == 1
    assert_allclose(res.matches['distance'], [0.5])
    det.remove_columns(['ra', 'dec'])
    with pytest.raises(ValueError, match='needs a wcs'):
        match_catalogs(det, truth, spatial_tolerance=10 * u.arcsec)


def test_match_by_overlap():
    tru = np.zeros((3, 10, 10), dtype=np.int32)
    det = np.zeros_like(tru)
    tru[:, 0:4, 0:4] = 1      # 48 voxels
    tru[:, 6:10, 6:10] = 2    # 48
    det[:, 0:4, 1:5] = 1      # 48, 36 shared with truth 1 -> IoU 36/60
    det[:, 6:7, 6:7] = 2      # 3, all inside truth 2 -> IoU 3/48 < 0.2
    det[:, 8:10, 0:2] = 3     # outside everything
    truth = _cat([[1.5, 1.5, 1], [7.5, 7.5, 1]])
    detected = _cat([[2.5, 1.5, 1], [6, 6, 1], [0.5, 8.5, 1]])
    res = match_catalogs(detected, truth, detected_segment=det,
                         truth_segment=tru)
    assert res.method == 'overlap'
    assert (res.tp, res.fp, res.fn) == (1, 2, 1)
    assert_allclose(res.matches['iou'], [0.6])
    assert_allclose(res.matches['dice'], [0.75])
    assert_allclose(res.matches['distance'], [0.4])
    res = match_catalogs(detected, truth, detected_segment=det,
                         truth_segment=tru, min_iou=0.05)
    assert res.tp == 2
    assert_allclose(res.matches['iou'], [0.6, 3 / 48])


def test_empty_catalogues():
    truth = _cat(np.zeros((0, 3)))
    det = _cat([[1, 2, 3]])
    res = match_catalogs(det, truth)
    assert (res.tp, res.fp, res.fn) == (0, 1, 0)
    res = match_catalogs(truth, det)
    assert (res.tp, res.fp, res.fn) == (0, 0, 1)
    with pytest.raises(ValueError, match='lacks column'):
        match_catalogs(Table({'id': [1], 'x': [1.0]}), det)
    with pytest.raises(ValueError, match='must be an astropy Table'):
        match_catalogs([1, 2], det)


def test_tolerance_per_true_source():
    truth = Table({'id': [1, 2], 'x': [0.0, 50.0], 'y': [0.0, 0.0]})
    det = Table({'x': [4.0, 54.0], 'y': [0.0, 0.0]})
    # 4 pixels off both: only the source given a 5-pixel radius is matched
    res = match_catalogs(det, truth, spatial_tolerance=[3.0, 5.0])
    assert res.tp == 1
    assert res.matches['truth_id'][0] == 2
    assert_allclose(res.matches['distance'], [0.8])
    assert_array_equal(res.false_negatives, [1])
    with pytest.raises(ValueError, match='one per true source'):
        match_catalogs(det, truth, spatial_tolerance=[3.0, 5.0, 1.0])
    with pytest.raises(ValueError, match='must be > 0'):
        match_catalogs(det, truth, spatial_tolerance=[3.0, 0.0])
