"""``cat.attribution`` and ``cat.deblended_images`` (core/attribution.py)."""

import numpy as np
import pytest

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image


def _catalog(att=None, data=None):
    data = np.arange(48, dtype=float).reshape(6, 8) if data is None else data
    seg = np.zeros((6, 8), dtype=np.int32)
    seg[:, :4] = 1
    seg[:, 4:] = 2
    products = {} if att is None else {"attribution": att}
    return SourceCatalog(load_image(data), seg, products=products)


def _shares():
    att = np.zeros((2, 6, 8), dtype=np.float32)
    att[0, :, :4] = 0.75
    att[1, :, :4] = 0.25
    att[1, :, 4:] = 1.0
    att[:, 0, :] = 0.0  # a row outside every footprint
    return att


def test_attribution_and_deblended_images_follow_the_catalogue():
    att = _shares()
    cat = _catalog(att)
    assert cat.attribution.shape == (2, 6, 8)
    np.testing.assert_array_equal(cat[1].attribution, att[1])
    np.testing.assert_array_equal(cat[[1]].attribution, att[[1]])
    deb = cat.deblended_images
    data = cat.image.data
    np.testing.assert_allclose(deb[0], 0.75 * np.where(np.arange(8) < 4, data, 0) * (np.arange(6)[:, None] > 0))
    # inside the footprint (where the fractions sum to 1) the sources add up to the data
    inside = att.sum(axis=0) == 1
    np.testing.assert_allclose(deb.sum(axis=0)[inside], data[inside])
    assert np.all(deb.sum(axis=0)[~inside] == 0)
    np.testing.assert_allclose(cat[0].deblended_images, deb[0])
    # without a finder's flux column, cat.flux is the sum of each deblended image, in the data unit
    np.testing.assert_allclose(cat.flux.value, deb.sum(axis=(1, 2)))
    assert cat.flux.unit == cat.image.unit and cat[1].flux.value == deb[1].sum()


def test_blank_pixels_give_zero_and_finders_without_attribution_give_none():
    data = np.ones((6, 8))
    data[2, 2] = np.nan
    cat = _catalog(_shares(), data)
    assert cat.deblended_images[0, 2, 2] == 0.0 and np.isfinite(cat.deblended_images).all()
    plain = _catalog()
    assert plain.attribution is None and plain.deblended_images is None and plain.flux is None


def test_invalid_attribution_is_refused():
    with pytest.raises(ValueError, match=r"must be \(n_src, \*data.shape\) = \(2, 6, 8\)"):
        _catalog(np.zeros((3, 6, 8)))
    bad = _shares()
    bad[0, 3, 3] = 0.9  # 0.9 + 0.25 > 1
    with pytest.raises(ValueError, match="summing to <= 1"):
        _catalog(bad)
    neg = _shares()
    neg[1, 3, 5] = -0.1
    with pytest.raises(ValueError, match="fractions >= 0"):
        _catalog(neg)
