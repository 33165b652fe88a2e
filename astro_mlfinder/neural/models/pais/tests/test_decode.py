"""Decoding: non-maximum suppression, footprint, attribution sums, deblended images."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.pais.decode import decode_outputs, find_centres, sharpen_heatmap, source_footprint
from astro_mlfinder.neural.models.pais.pcr import encode_pcr, truth_attribution

from .blends import gaussian_blend


def _logits(maps):
    return np.log(np.clip(maps, 1e-12, None))  # softmax(log p) = p for claim maps summing to 1


def test_nms_finds_each_peak_once():
    pcr = encode_pcr(gaussian_blend([(10.0, 10.0), (10.0, 16.0), (40.0, 40.0)], [1.0] * 3, [2.0] * 3)[1],
                     centres=[(10.0, 10.0), (10.0, 16.0), (40.0, 40.0)], sigma=2.0)
    centres, score = find_centres(pcr["center_of_mass"], threshold=0.5, radius=2)
    assert len(centres) == 3 and np.all(score == pytest.approx(1.0))
    got = sorted(map(tuple, np.round(centres, 6)))
    assert got == [(10.0, 10.0), (10.0, 16.0), (40.0, 40.0)]
    # a flat top of two equal pixels is one centre, between them
    heat = np.zeros((9, 9))
    heat[4, 4] = heat[4, 5] = 0.9
    c, _ = find_centres(heat, 0.1, 3)
    np.testing.assert_allclose(c, [[4.0, 4.5]])
    assert find_centres(np.zeros((5, 5)), 0.1)[0].shape == (0, 2)
    assert len(find_centres(heat, 0.95)[0]) == 0  # below the threshold


def test_footprint_keeps_islands_with_a_centre():
    data, _ = gaussian_blend([(20.0, 20.0), (45.0, 45.0)], [2000.0, 2000.0], [2.0, 2.0], noise=1.0, seed=3)
    fp = source_footprint(data, 1.0, np.array([[20.0, 20.0]]), snr=3.0, dilate=0)
    assert fp[20, 20] and not fp[45, 45] and not fp[0, 0]
    wide = source_footprint(data, 1.0, np.array([[20.0, 20.0]]), snr=3.0, dilate=3)
    assert wide.sum() > fp.sum() and np.all(wide[fp])


@pytest.mark.parametrize("seed", [0, 1])
def test_decoding_the_exact_outputs_deblends_the_blend(seed):
    centres = [(28.0, 26.0), (33.0, 35.0), (24.0, 38.0)]
    data, models = gaussian_blend(centres, [3000.0, 1500.0, 800.0], [2.5, 3.0, 2.0], noise=1.0, seed=seed)
    pcr = encode_pcr(models, centres=centres, sigma=2.0)
    out = decode_outputs(pcr["center_of_mass"], pcr["claim_vectors"], _logits(pcr["claim_maps"]), data, 1.0,
                         threshold=0.5, radius=2, footprint_snr=2.0, dilate=2)
    assert len(out["centres"]) == 3
    order = [int(np.argmin(np.hypot(*(out["centres"] - np.array(c)).T))) for c in centres]
    att = out["attribution"][order]
    fp = out["footprint"]
    # fractions sum to <= 1 everywhere, to 1 inside the footprint
    sums = att.sum(axis=0)
    assert sums.max() <= 1 + 1e-5 and np.allclose(sums[fp], 1.0, atol=1e-5) and np.all(sums[~fp] == 0)
    # inside the footprint the attribution is the truth's, and the deblended images add up to the data
    np.testing.assert_allclose(att[:, fp], truth_attribution(models)[:, fp], atol=1e-4)
    deblended = att * data
    np.testing.assert_allclose(deblended.sum(axis=0)[fp], data[fp], rtol=1e-5, atol=1e-4)
    # deblended fluxes: the true ones within the noise in the footprint (plus the wings left outside)
    true = models.sum(axis=(1, 2))
    err = np.abs(out["flux"][order] - true)
    assert np.all(err < 5 * np.sqrt(fp.sum()) + 0.02 * true)
    # labels: each footprint pixel to its largest share
    assert set(np.unique(out["labels"])) == {0, 1, 2, 3}
    assert np.all((out["labels"] > 0) == fp)


def test_sources_without_pixels_are_dropped():
    data, models = gaussian_blend([(30.0, 30.0)], [3000.0], [2.5], noise=1.0)
    pcr = encode_pcr(models, centres=[(30.0, 30.0)])
    heat = pcr["center_of_mass"].copy()
    heat[2, 2] = 1.0  # a spurious peak on empty sky: its island has no flux claimed by it
    out = decode_outputs(heat, pcr["claim_vectors"], _logits(pcr["claim_maps"]), data, 1.0, threshold=0.5,
                         footprint_snr=3.0, dilate=0)
    assert len(out["centres"]) == len(out["score"]) == out["attribution"].shape[0] == len(out["flux"])
    assert out["labels"].max() == len(out["centres"])
    assert np.allclose(out["centres"][0], [30.0, 30.0])


def test_detections_without_positive_flux_are_dropped_and_the_rest_decoded_again():
    centres = [(30.0, 30.0), (8.0, 8.0)]
    data, models = gaussian_blend(centres, [3000.0, 50.0], [2.5, 1.5], noise=1.0)
    data[4:13, 4:13] = -3.0  # the claims give the second source its pixels, but the data there are negative
    pcr = encode_pcr(models, centres=centres)
    first = decode_outputs(pcr["center_of_mass"], pcr["claim_vectors"], _logits(pcr["claim_maps"]),
                           np.where(np.arange(64)[:, None] < 20, 1.0, data), 1.0, threshold=0.5, footprint_snr=0.5)
    assert len(first["centres"]) == 2  # with positive data there it is kept
    out = decode_outputs(pcr["center_of_mass"], pcr["claim_vectors"], _logits(pcr["claim_maps"]), data, 1.0,
                         threshold=0.5, footprint_snr=2.0, dilate=1)
    assert len(out["centres"]) == 1 and np.allclose(out["centres"][0], [30.0, 30.0])
    sums = out["attribution"].sum(axis=0)
    assert np.allclose(sums[out["footprint"]], 1.0, atol=1e-5) and np.all(sums[~out["footprint"]] == 0)
    assert out["flux"][0] > 0 and out["labels"].max() == 1


def test_sharpening_turns_a_shoulder_into_a_peak():
    yy, xx = np.arange(64)[:, None], np.arange(64)[None, :]
    # a blurred heatmap: two Gaussians of sigma 2 added, the fainter 5.5 px away a shoulder of the brighter
    heat = sum(a * np.exp(-((yy - 30.0) ** 2 + (xx - cx) ** 2) / 8.0) for cx, a in ((30.0, 1.0), (35.5, 0.4)))
    heat = heat / heat.max()
    plain, _ = find_centres(heat, 0.2, 1)
    sharp, _ = find_centres(heat, 0.2, 1, sharpen=1.0)
    assert len(plain) == 1 and len(sharp) == 2
    np.testing.assert_allclose(sorted(sharp[:, 1]), [30.0, 35.5], atol=0.6)
    np.testing.assert_array_equal(sharpen_heatmap(heat, 0.0), heat)
    assert sharpen_heatmap(heat, 1.0).max() <= 1.0 and sharpen_heatmap(heat, 1.0).min() >= 0.0
