# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests for assigning reference components to found sources."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable, Table
from astropy.wcs import WCS
from numpy.testing import assert_allclose, assert_array_equal

from astro_mlfinder.evaluate import components_in_sources


def _segment():
    seg = np.zeros((20, 30), dtype=np.int32)
    seg[2:8, 3:12] = 1      # an extended source
    seg[12:16, 20:24] = 2   # a compact one
    seg[17:19, 1:3] = 3     # a source holding no component
    return seg


def _components():
    t = Table()
    t['x'] = [4.0, 10.0, 21.6, 28.0]      # two in 1, one in 2, one outside
    t['y'] = [3.0, 6.6, 13.4, 1.0]
    t['int_flux'] = [1.0, 2.0, 0.5, 0.3] * u.Jy
    return t


def test_components_counted_and_fluxes_summed():
    det = QTable()
    det['id'] = [1, 2, 3]
    det['x'] = [7.0, 21.5, 2.0]
    det['y'] = [5.0, 13.5, 18.0]
    det['f_int'] = [2.7, 0.55, 0.1] * u.Jy
    res = components_in_sources(_components(), det, _segment(), label_column='id')
    assert res.meta['n_components'] == 4
    assert res.meta['n_within'] == 3
    assert res.meta['n_sources'] == 3
    assert_array_equal(res.meta['component_label'], [1, 1, 2, 0])
    assert_array_equal(res['label'], [1, 2])
    assert_array_equal(res['n_components'], [2, 1])
    assert_allclose(res['component_flux'].to_value(u.Jy), [3.0, 0.5])
    assert_allclose(res['source_flux'].to_value(u.Jy), [2.7, 0.55])
    assert_allclose(res['flux_ratio'], [0.9, 1.1])
    assert res.meta['median_flux_ratio'] == pytest.approx(1.0)


def test_rows_summed_per_label_by_position_and_units_converted():
    # two Gaussians of one island (no label column): their fluxes add up
    det = Table()
    det['x'] = [4.2, 9.8, 21.0]
    det['y'] = [3.1, 6.0, 14.0]
    det['f_int'] = [900.0, 2100.0, 400.0] * u.mJy
    res = components_in_sources(_components(), det, _segment())
    assert_allclose(res['source_flux'].to_value(u.Jy), [3.0, 0.4])
    assert_allclose(res['flux_ratio'], [1.0, 0.8])
    assert res.meta['median_flux_ratio'] == pytest.approx(0.9)


def test_sky_positions_with_wcs():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---SIN', 'DEC--SIN']
    wcs.wcs.crval = [150.0, -30.0]
    wcs.wcs.crpix = [15.0, 10.0]
    wcs.wcs.cdelt = [-0.01, 0.01]
    comps = _components()
    ra, dec = wcs.pixel_to_world_values(comps['x'], comps['y'])
    sky = Table({'ra': ra, 'dec': dec, 'int_flux': [1.0, 2.0, 0.5, 0.3]})
    det = Table({'id': [1, 2], 'f_int': [3.0, 0.5]})
    res = components_in_sources(sky, det, _segment(), label_column='id', wcs=wcs)
    assert_array_equal(res.meta['component_label'], [1, 1, 2, 0])
    assert_allclose(res['flux_ratio'], [1.0, 1.0])


def test_nothing_found_and_bad_input():
    seg = np.zeros((20, 30), dtype=np.int32)
    det = Table({'x': np.zeros(0), 'y': np.zeros(0), 'f_int': np.zeros(0)})
    res = components_in_sources(_components(), det, seg)
    assert len(res) == 0
    assert res.meta['n_within'] == 0
    assert np.isnan(res.meta['median_flux_ratio'])
    with pytest.raises(ValueError, match='2D label array'):
        components_in_sources(_components(), det, np.zeros((2, 3, 4), int))
    with pytest.raises(ValueError, match='integer label array'):
        components_in_sources(_components(), det, seg.astype(float))
    with pytest.raises(ValueError, match="no flux column 'flux'"):
        components_in_sources(_components(), det, seg, source_flux='flux')
    with pytest.raises(ValueError, match='ra, dec'):
        components_in_sources(Table({'int_flux': [1.0]}), det, seg)
