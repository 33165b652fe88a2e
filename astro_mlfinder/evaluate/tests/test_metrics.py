# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests for detection scores and the file-level entry point."""

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable, Table
from numpy.testing import assert_allclose, assert_array_equal

from astro_mlfinder.evaluate import evaluate, evaluate_by_bin, evaluate_files, read_catalog, scores
from astro_mlfinder.simulate import simulate_hi_cube


def _catalogues():
    truth = Table()
    truth['id'] = [1, 2, 3, 4]
    truth['x'] = [10.0, 30.0, 50.0, 70.0]
    truth['y'] = [10.0, 30.0, 50.0, 70.0]
    truth['z'] = [10.0, 30.0, 50.0, 70.0]
    truth['f_sum'] = [1.0, 2.0, 4.0, 8.0]
    truth['snr'] = [4.0, 8.0, 12.0, 25.0]
    det = Table()
    det['id'] = [1, 2, 3, 4, 5]
    det['x'] = [30.5, 50.0, 70.0, 90.0, 5.0]
    det['y'] = [30.0, 51.0, 70.0, 90.0, 90.0]
    det['z'] = [30.0, 50.0, 72.0, 90.0, 5.0]
    det['f_sum'] = [2.2, 3.0, 8.0, 1.0, 1.0]
    det['snr'] = [8.5, 11.0, 26.0, 6.0, 30.0]
    return det, truth


def test_scores():
    assert scores(2, 2, 1) == pytest.approx((0.5, 2 / 3, 4 / 7))
    p, r, f = scores(0, 0, 3)
    assert np.isnan(p) and r == 0 and f == 0
    assert all(np.isnan(v) for v in scores(0, 0, 0))


def test_evaluate_exact():
    det, truth = _catalogues()
    res = evaluate(det, truth)
    assert res['n_detected'] == 5 and res['n_truth'] == 4
    assert (res['tp'], res['fp'], res['fn']) == (3, 2, 1)
    assert res['precision'] == pytest.approx(0.6)
    assert res['recall'] == pytest.approx(0.75)
    assert res['f1'] == pytest.approx(6 / 9)
    # flux ratios 1.1, 0.75, 1.0 -> relative errors 0.1, -0.25, 0
    assert res['median_flux_error'] == pytest.approx(0.0)
    assert res['median_abs_flux_error'] == pytest.approx(0.1)
    assert res['median_separation'] == pytest.approx(0.5)
    assert res['median_dz'] == pytest.approx(0.0)
    assert np.isnan(res['mean_iou'])
    assert res['method'] == 'distance'
    with pytest.raises(ValueError, match='unknown keyword'):
        evaluate(det, truth, tolerance=3)


def test_evaluate_by_bin_exact():
    det, truth = _catalogues()
    tab = evaluate_by_bin(det, truth, column='snr', bins=[0, 5, 10, 20, np.inf])
    assert isinstance(tab, QTable)
    assert_array_equal(tab['n_truth'], [1, 1, 1, 1])
    assert_array_equal(tab['tp'], [0, 1, 1, 1])
    assert_array_equal(tab['fn'], [1, 0, 0, 0])
    # false positives binned by their own snr: 6 -> [5, 10), 30 -> [20, inf)
    assert_array_equal(tab['fp'], [0, 1, 0, 1])
    assert_allclose(tab['recall'], [0, 1, 1, 1])
    assert np.isnan(tab['precision'][0])
    assert_allclose(tab['precision'][1:], [0.5, 1.0, 0.5])
    assert_allclose(tab['median_flux_error'][1:], [0.1, -0.25, 0.0])
    assert tab.meta['fp_unbinned'] == 0
    # without an snr column in the detections the false positives are unbinned
    det.remove_column('snr')
    tab = evaluate_by_bin(det, truth, bins=[0, 5, 10, 20, np.inf])
    assert_array_equal(tab['fp'], [0, 0, 0, 0])
    assert tab.meta['fp_unbinned'] == 2
    with pytest.raises(ValueError, match='no column'):
        evaluate_by_bin(det, truth, column='nope')
    with pytest.raises(ValueError, match='increasing'):
        evaluate_by_bin(det, truth, bins=[5, 1])


def test_evaluate_on_simulation_with_segments():
    sim = simulate_hi_cube((48, 40, 40), 3, seed=0, snr_range=(10, 20))
    res = evaluate(sim.truth, sim.truth, detected_segment=sim.labels,
                   truth_segment=sim.labels)
    assert res['tp'] == len(sim.truth) and res['fp'] == res['fn'] == 0
    assert res['mean_iou'] == 1.0 and res['mean_dice'] == 1.0
    assert res['median_flux_error'] == 0.0
    # an eroded detection mask lowers the IoU
    from scipy import ndimage
    eroded = np.where(ndimage.binary_erosion(sim.labels > 0), sim.labels, 0)
    res = evaluate(sim.truth, sim.truth, detected_segment=eroded,
                   truth_segment=sim.labels)
    assert 0.2 < res['mean_iou'] < 1.0
    assert res['mean_dice'] > res['mean_iou']


SOFIA_TXT = """\
# SoFiA source catalogue
# Creator: SoFiA 2.5.1
#
# Header rows:
#   1 = column number
#   2 = parameter name
#   3 = parameter unit
#
#                           1             2             3             4             5            6
#                        name            id             x             y             z        f_sum
#                           -             -           pix           pix           pix      Jy*Hz

  "SoFiA J095940.80-300007.4"             1     30.500000     30.000000     30.000000     2.200000
  "SoFiA J100017.60-295830.8"             2     50.000000     51.000000     50.000000     3.000000
  "SoFiA J100018.93-300434.4"             3     70.000000     70.000000     72.000000     8.000000
  "SoFiA J100014.35-300207.1"             4     90.000000     90.000000     90.000000     1.000000
  "SoFiA J095941.60-295636.6"             5      5.000000     90.000000      5.000000     1.000000
"""


def test_evaluate_files_all_formats(tmp_path):
    det, truth = _catalogues()
    truth.write(tmp_path / 'truth.ecsv')
    det.write(tmp_path / 'det.ecsv')
    det.write(tmp_path / 'det.fits')
    det.write(tmp_path / 'det.xml', format='votable')
    (tmp_path / 'det_cat.txt').write_text(SOFIA_TXT)
    expected = evaluate(det, truth)
    for name in ('det.ecsv', 'det.fits', 'det.xml', 'det_cat.txt'):
        tab = evaluate_files(tmp_path / name, tmp_path / 'truth.ecsv')
        assert len(tab) == 1
        for key in ('tp', 'fp', 'fn', 'precision', 'recall', 'f1'):
            assert tab[key][0] == pytest.approx(expected[key]), (name, key)
    # SoFiA text: names keep their spaces, units are parsed
    cat = read_catalog(tmp_path / 'det_cat.txt')
    assert cat['name'][0] == 'SoFiA J095940.80-300007.4'
    assert cat['id'].dtype.kind == 'i'
    assert cat['f_sum'].unit == u.Jy * u.Hz
    # per bin
    tab = evaluate_files(tmp_path / 'det.ecsv', tmp_path / 'truth.ecsv',
                         column='snr', bins=[0, 5, 10, 20, np.inf])
    assert_array_equal(tab['tp'], [0, 1, 1, 1])
    assert tab.meta['truth'].endswith('truth.ecsv')


def test_evaluate_files_with_masks_and_errors(tmp_path):
    sim = simulate_hi_cube((48, 40, 40), 2, seed=3, snr_range=(10, 20))
    sim.truth.write(tmp_path / 'truth.ecsv')
    fits.PrimaryHDU(sim.labels).writeto(tmp_path / 'mask.fits')
    tab = evaluate_files(tmp_path / 'truth.ecsv', tmp_path / 'truth.ecsv',
                         detected_segment=tmp_path / 'mask.fits',
                         truth_segment=tmp_path / 'mask.fits')
    assert tab['method'][0] == 'overlap'
    assert tab['mean_iou'][0] == 1.0
    with pytest.raises(ValueError, match='does not exist'):
        evaluate_files(tmp_path / 'nope.ecsv', tmp_path / 'truth.ecsv')
    (tmp_path / 'x.dat').write_text('1 2 3')
    with pytest.raises(ValueError, match='cannot tell the format'):
        read_catalog(tmp_path / 'x.dat')
    (tmp_path / 'bad.txt').write_text('no header here\n')
    with pytest.raises(ValueError, match='not a SoFiA-2 text catalogue'):
        read_catalog(tmp_path / 'bad.txt')


def test_objects_with_to_table():
    det, truth = _catalogues()

    class FakeCatalog:
        def __init__(self, table):
            self.table = table

        def to_table(self):
            return QTable(self.table)

    res = evaluate(FakeCatalog(det), FakeCatalog(truth))
    assert (res['tp'], res['fp'], res['fn']) == (3, 2, 1)
