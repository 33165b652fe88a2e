"""The Partial Contribution Representation: exact encoding and its inverse."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.pais.pcr import (
    attribution_from_claims,
    center_of_mass_map,
    claim_maps,
    claim_vectors,
    encode_pcr,
    nearest_centres,
    source_centres,
    truth_attribution,
)

from .blends import gaussian_blend


def test_centres_heatmap_and_vectors_are_exact():
    _, models = gaussian_blend([(20.0, 20.0), (30.0, 41.0)], [1000.0, 500.0], [2.0, 3.0])
    centres = source_centres(models)
    np.testing.assert_allclose(centres, [[20.0, 20.0], [30.0, 41.0]], atol=1e-6)
    heat = center_of_mass_map(centres, (64, 64), sigma=2.0)
    assert heat[20, 20] == pytest.approx(1.0) and heat[30, 41] == pytest.approx(1.0)
    assert heat[20, 22] == pytest.approx(np.exp(-4 / 8), rel=1e-6)
    assert heat.max() <= 1.0 and heat.min() >= 0.0
    vec, index = claim_vectors(centres, (64, 64), k=3)
    assert vec.shape == (3, 2, 64, 64) and index.shape == (3, 64, 64)
    # pixel (0, 0): nearest is source 0 at (20, 20); only two sources, so the last is repeated
    np.testing.assert_array_equal(index[:, 0, 0], [0, 1, 1])
    np.testing.assert_allclose(vec[0, :, 0, 0], [20.0, 20.0])
    np.testing.assert_allclose(vec[1, :, 5, 7], [25.0, 34.0])


def test_claim_maps_sum_to_one_and_share_duplicates():
    _, models = gaussian_blend([(20.0, 20.0), (30.0, 41.0)], [1000.0, 500.0], [2.0, 3.0])
    index = nearest_centres(source_centres(models), (64, 64), k=3)
    maps = claim_maps(models, index)
    np.testing.assert_allclose(maps.sum(axis=0), 1.0, atol=1e-6)
    # pixel (30, 41): nearest source 1, then source 0 twice (padding): 0's fraction halved over both entries
    m = models[:, 30, 41]
    np.testing.assert_allclose(maps[:, 30, 41], [m[1] / m.sum(), m[0] / m.sum() / 2, m[0] / m.sum() / 2], rtol=1e-5)
    # one source: every claim 1/3
    one = claim_maps(models[:1], nearest_centres(source_centres(models[:1]), (64, 64), 3))
    np.testing.assert_allclose(one, 1.0 / 3.0, atol=1e-7)
    # no flux anywhere near: uniform over the distinct sources
    zero = claim_maps(np.zeros((2, 8, 8)), nearest_centres([[1.0, 1.0], [6.0, 6.0]], (8, 8), 3))
    np.testing.assert_allclose(zero.sum(axis=0), 1.0)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_decoding_the_exact_pcr_recovers_the_truth_attribution(n):
    centres = [(22.0, 18.5), (30.0, 33.0), (40.5, 25.0)][:n]
    _, models = gaussian_blend(centres, [800.0, 400.0, 300.0][:n], [2.5, 3.0, 2.0][:n])
    pcr = encode_pcr(models, k=3)
    att = attribution_from_claims(pcr["centres"], pcr["claim_vectors"], pcr["claim_maps"])
    truth = truth_attribution(models)
    np.testing.assert_allclose(att, truth, atol=1e-5)
    assert att.sum(axis=0).max() <= 1 + 1e-5


def test_footprint_and_max_distance_only_lower_the_sums():
    _, models = gaussian_blend([(20.0, 20.0), (40.0, 44.0)], [800.0, 800.0], [2.0, 2.0])
    pcr = encode_pcr(models)
    fp = np.zeros((64, 64), bool)
    fp[10:30, 10:30] = True
    att = attribution_from_claims(pcr["centres"], pcr["claim_vectors"], pcr["claim_maps"], footprint=fp)
    assert np.all(att[:, ~fp] == 0) and np.allclose(att.sum(axis=0)[fp], 1.0, atol=1e-5)
    # only one centre detected: claims pointing at the missing one are dropped beyond 3 px
    att = attribution_from_claims(pcr["centres"][:1], pcr["claim_vectors"], pcr["claim_maps"], max_distance=3.0)
    assert att.shape == (1, 64, 64) and att.max() <= 1 + 1e-6
    assert att[0, 40, 44] < 0.01 and att[0, 20, 20] > 0.99


def test_errors_name_the_input():
    with pytest.raises(ValueError, match="models must be an \\(n_src, y, x\\)"):
        encode_pcr(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="source 0 has no positive flux"):
        encode_pcr(np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="centres has 1 rows for 2"):
        encode_pcr(np.ones((2, 8, 8)), centres=[[1.0, 1.0]])
    with pytest.raises(ValueError, match="fractions must be"):
        attribution_from_claims([[1.0, 1.0]], np.zeros((3, 2, 4, 4)), np.zeros((2, 4, 4)))
