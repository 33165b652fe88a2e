"""Iterated profile fits: windowed centroids, centre refinement, sources added from the residual."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.pais.decode import decode_outputs, source_footprint
from astro_mlfinder.neural.models.pais.iterate import (
    add_residual_sources,
    asymmetric_residual,
    prune_sources,
    refine_centres,
    residual_peaks,
    windowed_centroids,
)
from astro_mlfinder.neural.models.pais.pcr import encode_pcr
from astro_mlfinder.neural.models.pais.profiles import moffat_basis, pixel_sigma


def _blend(centres, fluxes, fwhms, noise=1.0, seed=0, shape=(64, 64)):
    models = np.stack([f * moffat_basis(c, shape, fwhms=(w,), beta=2.5)[0]
                       for c, f, w in zip(centres, fluxes, fwhms, strict=True)])
    return models.sum(axis=0) + np.random.default_rng(seed).normal(0.0, noise, shape), models


def _footprint_of(data, noise):
    return lambda c: source_footprint(data, noise, c, snr=1.5, smooth=1.0, dilate=4)


def test_windowed_centroid_finds_the_centre_of_a_symmetric_source():
    img = moffat_basis((20.3, 31.6), (48, 48), fwhms=(4.0,), beta=2.5)
    got = windowed_centroids(img, np.array([[21.0, 31.0]]), sigma=1.0, iterations=40)
    np.testing.assert_allclose(got, [[20.3, 31.6]], atol=0.02)
    # the default 5 steps move most of the way (a narrow window converges slowly)
    part = windowed_centroids(img, np.array([[21.0, 31.0]]), sigma=1.0)
    assert np.hypot(*(part[0] - [20.3, 31.6])) < 0.3 * np.hypot(0.7, 0.6)
    # a start too far from the light: the centroid would move more than max_shift, the start is kept
    far = windowed_centroids(img, np.array([[26.0, 31.0]]), sigma=1.0, max_shift=1.0)
    np.testing.assert_array_equal(far, [[26.0, 31.0]])
    assert windowed_centroids(np.zeros((0, 4, 4)), np.zeros((0, 2))).shape == (0, 2)
    with pytest.raises(ValueError, match="centres"):
        windowed_centroids(img, np.zeros((2, 2)))


def test_refinement_moves_misplaced_centres_of_a_blend_to_the_truth():
    centres = [(30.0, 28.0), (32.5, 33.5)]
    data, _ = _blend(centres, [6000.0, 3000.0], [4.0, 3.5], seed=1)
    start = np.array(centres) + [[0.8, -0.7], [-0.6, 0.9]]
    fp_of = _footprint_of(data, 1.0)
    sigma = pixel_sigma(data, 1.0)
    got = refine_centres(data, start, fp_of, sigma, iterations=3)
    assert np.all(np.hypot(*(got - centres).T) < 0.1)  # measured 0.03 and 0.05 (from 1.06 and 1.08)
    # over-relaxed steps overshoot on these exact profiles but still close in
    over = refine_centres(data, start, fp_of, sigma, iterations=3, relax=2.0)
    assert np.all(np.hypot(*(over - centres).T) < 0.15)  # measured 0.10 and 0.08
    np.testing.assert_array_equal(refine_centres(data, start, fp_of, sigma, iterations=0), start)


def test_residual_peak_of_a_missed_neighbour():
    centres = [(30.0, 28.0), (31.0, 33.5)]
    data, models = _blend(centres, [8000.0, 1500.0], [4.0, 3.5], seed=2)
    allowed = models.sum(axis=0) > 1.0
    peaks = residual_peaks(data - models[0], models[0], 1.0, allowed)
    assert len(peaks) == 1 and np.hypot(*(peaks[0] - centres[1])) <= 1.5
    # a contrast above the neighbour's share of the light: no peak
    assert len(residual_peaks(data - models[0], models[0], 1.0, allowed, contrast=50.0)) == 0


def test_the_asymmetric_residual_keeps_a_neighbour_and_drops_what_the_model_misses_of_its_host():
    """A bright source with broader wings than its model leaves a ring of residual; the ring is
    point-symmetric about the centre, the missed neighbour on it is not."""
    shape, c, nb = (64, 64), (32.0, 30.0), (33.0, 39.0)
    host = 9000.0 * moffat_basis(c, shape, fwhms=(5.0,), beta=1.6)[0]
    neighbour = 400.0 * moffat_basis(nb, shape, fwhms=(3.5,), beta=2.5)[0]
    model = 8000.0 * moffat_basis(c, shape, fwhms=(4.0,), beta=3.5)[0]  # steeper wings than the host
    residual = host + neighbour - model
    asym = asymmetric_residual(residual, model[None], np.array([c]))
    r_host = np.hypot(*(np.indices(shape) - np.array(c)[:, None, None]))
    away = (r_host > 6.0) & (r_host < 12.0) & (np.hypot(*(np.indices(shape) - np.array(nb)[:, None, None])) > 8.0)
    assert residual[away].max() > 5.0  # the ring: a few units of residual
    assert asym[away].max() < 0.05 * residual[away].max()  # measured 0.12 (interpolation); the neighbour's
    # mirror image goes negative
    ny, nx = int(nb[0]), int(nb[1])
    assert asym[ny, nx] == pytest.approx(neighbour[ny, nx], rel=0.1)  # the neighbour stands whole above the ring
    # the candidates of the plain residual include the ring; the asymmetric ones only the neighbour
    allowed = model > 0.5
    plain = residual_peaks(residual, model, 1.0, allowed, contrast=0.0)
    sym = residual_peaks(residual, model, 1.0, allowed, contrast=0.0, symmetric=(model[None], np.array([c])))
    assert len(plain) > 1
    assert len(sym) == 1 and np.hypot(*(sym[0] - nb)) <= 1.5
    # no sources: the residual unchanged; a model per centre is required
    np.testing.assert_array_equal(asymmetric_residual(residual, np.zeros((0, *shape)), np.zeros((0, 2))), residual)
    with pytest.raises(ValueError, match="one model per centre"):
        asymmetric_residual(residual, model[None], np.array([c, nb]))


def test_pruning_drops_a_split_source_and_keeps_a_close_pair():
    pair = [(20.0, 20.0), (22.0, 25.0)]  # two real sources 5.4 px apart
    lone = (44.0, 42.0)
    data, _ = _blend([*pair, lone], [5000.0, 2500.0, 6000.0], [4.0, 3.5, 4.0], seed=7)
    split = np.array([*pair, lone, (lone[0] + 1.2, lone[1] - 1.0)])  # the lone galaxy with two centres
    fp_of, sigma = _footprint_of(data, 1.0), pixel_sigma(data, 1.0)
    keep = prune_sources(data, split, fp_of, sigma, 10.0)
    assert len(keep) == 3 and keep[0] == 0 and keep[1] == 1 and keep[2] in (2, 3)
    np.testing.assert_array_equal(prune_sources(data, split, fp_of, sigma, 0.0), np.arange(4))
    assert len(prune_sources(data, split[:1], fp_of, sigma, 10.0)) == 1  # a lone source is kept


@pytest.mark.parametrize("seed", [0, 1])
def test_a_missed_close_neighbour_is_added_and_noise_is_not(seed):
    centres = [(30.0, 28.0), (31.0, 33.0)]
    data, models = _blend(centres, [8000.0, 1500.0], [4.0, 3.5], seed=seed)
    heat = np.ones(data.shape)
    fp_of, sigma = _footprint_of(data, 1.0), pixel_sigma(data, 1.0)
    got, added = add_residual_sources(data, np.array([centres[0]]), fp_of, sigma, 1.0, heat, chi2_gain=10.0)
    assert added == 1 and len(got) == 2
    assert np.hypot(*(got[1] - centres[1])) < 0.5 and np.hypot(*(got[0] - centres[0])) < 0.3
    # no heatmap support there: not a candidate
    _, none = add_residual_sources(data, np.array([centres[0]]), fp_of, sigma, 1.0, np.zeros(data.shape))
    assert none == 0
    # a lone source in noise: nothing added
    lone, _ = _blend([centres[0]], [8000.0], [4.0], seed=seed)
    got, added = add_residual_sources(lone, np.array([centres[0]]), _footprint_of(lone, 1.0), pixel_sigma(lone, 1.0),
                                      1.0, heat, chi2_gain=10.0)
    assert added == 0 and len(got) == 1


def test_decoding_with_refinement_and_residual_sources_keeps_the_invariants():
    """The heatmap shows only the bright source; the decoding adds the neighbour and splits the flux."""
    centres = [(30.0, 28.0), (31.0, 33.0)]
    data, models = _blend(centres, [8000.0, 1500.0], [4.0, 3.5], seed=3)
    pcr = encode_pcr(models[:1], centres=[centres[0]], sigma=2.0)
    heat = np.maximum(pcr["center_of_mass"], 0.2)  # the neighbour is only a raised shoulder
    logits = np.log(np.clip(pcr["claim_maps"], 1e-12, None))
    kw = dict(threshold=0.5, radius=1, footprint_snr=1.5, dilate=4, attribution="profiles")
    plain = decode_outputs(heat, pcr["claim_vectors"], logits, data, 1.0, **kw)
    out = decode_outputs(heat, pcr["claim_vectors"], logits, data, 1.0, refine=2, residual_gain=10.0, **kw)
    assert len(plain["centres"]) == 1 and len(out["centres"]) == 2
    assert out["score"][1] == pytest.approx(0.2)
    att, fp = out["attribution"], out["footprint"]
    sums = att.sum(axis=0)
    assert sums.max() <= 1 + 1e-5 and np.allclose(sums[fp], 1.0, atol=1e-5) and np.all(sums[~fp] == 0)
    np.testing.assert_allclose((att * data).sum(axis=0)[fp], data[fp], rtol=1e-5, atol=1e-4)
    true = models[:, fp].sum(axis=1)
    err = np.abs(out["flux"] - true) / true
    assert err.max() < 0.08  # measured 0.008 and 0.056 (the neighbour is 5 times fainter, 5 px away)
    assert abs(plain["flux"][0] - true[0]) / true[0] > 0.1  # the neighbour's light went to the bright source


def test_in_a_crowded_island_a_missed_neighbour_is_found_by_the_local_trial():
    """An island of more than MAX_JOINT_SOURCES sources tries each residual candidate locally (its neighbours
    refitted against the data less the other sources' models): the missed neighbour is added, nothing else."""
    from astro_mlfinder.neural.models.pais.profiles import MAX_JOINT_SOURCES

    grid = [(12.0 + 13.0 * i, 12.0 + 13.0 * j) for i in range(4) for j in range(4)]  # 16 sources, 13 px apart
    missed = (grid[5][0] + 1.0, grid[5][1] + 5.0)
    fluxes = [6000.0] * len(grid) + [1500.0]
    data, _ = _blend([*grid, missed], fluxes, [4.0] * len(grid) + [3.5], seed=5, shape=(64, 64))
    fp_of, sigma = _footprint_of(data, 1.0), pixel_sigma(data, 1.0)
    assert len(grid) > MAX_JOINT_SOURCES and not np.any(fp_of(np.array(grid)) == 0)  # one island: crowded
    got, added = add_residual_sources(data, np.array(grid), fp_of, sigma, 1.0, np.ones(data.shape), chi2_gain=10.0,
                                      refine=1)
    assert added == 1 and len(got) == len(grid) + 1
    assert np.hypot(*(got[-1] - missed)) < 1.0
    np.testing.assert_allclose(got[:-1], grid, atol=0.3)



def test_decoding_prunes_the_cheapest_source_and_keeps_the_columns_aligned():
    """With a threshold above the faint neighbour's chi-square contribution the backward step of the
    decoding drops it (and only it); centres, scores and fluxes stay row-aligned."""
    centres = [(30.0, 28.0), (31.0, 35.0)]
    data, models = _blend(centres, [8000.0, 1500.0], [4.0, 3.5], seed=3)
    pcr = encode_pcr(models, centres=centres, sigma=2.0)
    heat = np.where(np.hypot(*(np.indices(data.shape) - np.array(centres[1])[:, None, None])) < 3,
                    0.8 * pcr["center_of_mass"], pcr["center_of_mass"])  # the neighbour's peak is 0.8
    logits = np.log(np.clip(pcr["claim_maps"], 1e-12, None))
    kw = dict(threshold=0.5, radius=1, footprint_snr=1.5, dilate=4, attribution="profiles")
    both = decode_outputs(heat, pcr["claim_vectors"], logits, data, 1.0, prune=7.0, **kw)
    assert len(both["centres"]) == 2  # a real neighbour: its removal costs far more than 7
    one = decode_outputs(heat, pcr["claim_vectors"], logits, data, 1.0, prune=1e7, **kw)
    assert len(one["centres"]) == len(one["score"]) == len(one["flux"]) == 1
    np.testing.assert_allclose(one["centres"][0], centres[0], atol=0.5)
    assert one["score"][0] == pytest.approx(heat[30, 28])
    assert one["attribution"].shape == (1, *data.shape) and one["labels"].max() == 1
