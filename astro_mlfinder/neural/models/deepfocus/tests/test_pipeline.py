"""The DeepFocus pipeline with deterministic stand-in networks on a synthetic cube.

The stand-ins make every stage exactly predictable: the "Blobs Finder"
returns its input (the normalised integrated image), the "Deep GRU" its
input (the normalised spectrum), the "ResNets" zeros. What is tested is
the pipeline -- boxes, spectra, lines, focusing, S/N selection, separation
of two lines on one line of sight, ResNet decoding -- not the training.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.models.deepfocus.defaults import FWHM_SCALE  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.pipeline import (  # noqa: E402
    decode_outputs,
    detect_boxes,
    find_candidates,
    residual_spectrum,
    run_pipeline,
    select_sources,
    split_blobs,
)

from ._synthetic import synthetic_record  # noqa: E402


class _Identity(torch.nn.Module):
    config = {}
    divisor = 16

    def forward(self, x):
        return x


class _Zeros(torch.nn.Module):
    def __init__(self, k=1):
        super().__init__()
        self.k = k

    def forward(self, x):
        return torch.zeros(x.shape[0], self.k)


def _networks():
    return {"blobsfinder": _Identity(), "deepgru": _Identity(), "resnet_fwhm_x": _Zeros(), "resnet_fwhm_y": _Zeros(),
            "resnet_pa": _Zeros(2), "resnet_flux": _Zeros()}


#: The stand-in Blobs Finder passes the noisy integrated image: a threshold well above its noise.
PARAMS = {"detection_threshold": 0.35}


def _cube(positions, lines, shape=(64, 80, 80), noise=0.02, seed=0):
    """Gaussian blobs (sigma 2 px) with Gaussian lines (sigma 2 ch) on beam-like correlated noise."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    z = np.arange(nz)[:, None, None]
    cube = ndimage.gaussian_filter(rng.normal(0, 1, shape), (0, 1.5, 1.5))
    cube *= noise / cube.std()
    for (y, x), (zc, amp) in zip(positions, lines, strict=True):
        cube += amp * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / 4.0) * np.exp(-0.5 * (z - zc) ** 2 / 4.0)
    return cube.astype(np.float32)


def test_finds_the_sources_with_boxes_and_windows():
    cube = _cube([(20, 24), (55, 60)], [(20, 1.0), (44, 0.6)])
    sources, products = run_pipeline(cube, _networks(), PARAMS)
    assert products["blobs"].shape == (80, 80)
    assert len(sources) == 2
    (a, b) = sorted(sources, key=lambda s: s["center"][0])
    assert a["center"] == pytest.approx((20, 24), abs=0.5) and b["center"] == pytest.approx((55, 60), abs=0.5)
    assert a["window"][0] <= 18 and a["window"][1] >= 23
    assert b["window"][0] <= 42 and b["window"][1] >= 47
    y0, y1, x0, x1 = a["box"]
    assert y0 <= 18 and y1 >= 23 and x0 <= 22 and x1 >= 27
    assert a["snr"] > 20 and b["snr"] > 10
    # the zero ResNets decode to FWHM 0, PA 0 and a flux equal to the line image's peak
    assert a["fwhm_x"] == 0 and a["pa"] == 0 and a["flux"] > 0


def test_two_lines_on_one_line_of_sight_are_two_sources():
    cube = _cube([(40, 40), (40, 41)], [(15, 1.0), (48, 0.8)])
    sources, _ = run_pipeline(cube, _networks(), PARAMS)
    assert len(sources) == 2
    windows = sorted(s["window"] for s in sources)
    assert windows[0][0] <= 14 < windows[0][1] and windows[1][0] <= 47 < windows[1][1]


def test_snr_selection_rejects_noise_and_is_a_keyword():
    cube = _cube([(30, 30)], [(30, 1.0)])
    networks = _networks()
    cands, _ = find_candidates(cube, networks, PARAMS)
    assert cands and max(c["snr"] for c in cands) > 20
    assert len(select_sources(cands, {"snr_keep": 6, "snr_min": 3})) >= 1
    assert select_sources(cands, {"snr_keep": 1e6, "snr_min": 1e6}) == []
    # pure noise: the stand-in finds ~30 blobs; with DeepFocus's box spectra and 3 lines per box the brightest
    # noise line reaches 4.7 sigma (with blob spectra and 5 lines, other trials: one reaches 5.2 of ~150)
    noise_only, _ = run_pipeline(_cube([], [], seed=3), networks,
                                 dict(PARAMS, snr_min=5.0, max_lines=3, blob_spectrum=False))
    assert noise_only == []


def test_duplicates_within_merge_radius_are_merged():
    c1 = {"snr": 10.0, "ref_snr": 1.0, "center": (10.0, 10.0), "window": (5, 15)}
    c2 = {"snr": 8.0, "ref_snr": 1.0, "center": (11.0, 11.0), "window": (8, 18)}
    c3 = {"snr": 9.0, "ref_snr": 1.0, "center": (11.0, 11.0), "window": (30, 40)}
    assert select_sources([c1, c2, c3]) == [c1, c3]
    assert select_sources([c1, c2, c3], {"merge_radius": 0.5}) == [c1, c2, c3]


def test_detect_boxes_threshold_dilation_and_mask():
    pred = np.zeros((32, 32), np.float32)
    pred[5:8, 5:8] = 1.0
    pred[20:22, 20:22] = 0.5
    boxes, scores = detect_boxes(pred, threshold=0.4, dilation=0, min_area=1)
    assert boxes == [(5, 8, 5, 8), (20, 22, 20, 22)] and scores == [1.0, 0.5]
    boxes, _ = detect_boxes(pred, threshold=0.6, dilation=1, min_area=1)
    assert boxes == [(4, 9, 4, 9)]
    mask = np.zeros((32, 32), bool)
    mask[:16] = True
    assert detect_boxes(pred, threshold=0.4, dilation=0, min_area=1, mask=mask)[0] == [(20, 22, 20, 22)]


def test_split_blobs_cuts_between_two_maxima_and_keeps_one_source_whole():
    yy, xx = np.mgrid[:40, :60]
    two = np.exp(-((yy - 20) ** 2 + (xx - 18) ** 2) / 50.0) + 0.6 * np.exp(-((yy - 20) ** 2 + (xx - 40) ** 2) / 50.0)
    boxes, scores = detect_boxes(two, threshold=0.1, dilation=0, min_area=1)
    assert len(boxes) == 1  # one blob without splitting
    boxes, scores = detect_boxes(two, threshold=0.1, dilation=0, min_area=1, split_distance=6)
    assert len(boxes) == 2 and scores[0] == pytest.approx(1.0, abs=1e-3)
    # the fainter blob's score is its own maximum, although its box reaches into the brighter blob
    assert scores[1] == pytest.approx(0.6, abs=0.02)
    boxes_m, scores_m, masks = detect_boxes(two, threshold=0.1, dilation=0, min_area=1, split_distance=6,
                                            return_masks=True)
    assert boxes_m == boxes and scores_m == scores
    for (y0, y1, x0, x1), m in zip(boxes, masks, strict=True):
        assert m.shape == (y1 - y0, x1 - x0) and m.any() and not m.all()
    assert sum(int(m.sum()) for m in masks) == int((two >= 0.1 * two.max() + (1 - 0.1) * two.min()).sum())
    (a, b) = sorted(boxes, key=lambda bx: bx[2])
    assert a[2] <= 18 < a[3] <= 31 and 27 <= b[2] <= 40 < b[3]
    # a saddle within split_contrast of the fainter maximum: one blob again
    assert len(detect_boxes(two, threshold=0.1, dilation=0, min_area=1, split_distance=6, split_contrast=0.99)[0]) == 1
    one = np.exp(-((yy - 20) ** 2 + (xx - 30) ** 2) / 50.0)
    labels = (one > 0.1).astype(int)
    assert np.array_equal(split_blobs(one, labels, distance=6) > 0, labels > 0)
    assert len(np.unique(split_blobs(one, labels, distance=6))) == 2  # background and one blob


def test_residual_spectrum_takes_out_the_lines_found():
    spec = np.zeros(64)
    spec[10:20] = 5.0
    spec[40] = 1.0
    out = residual_spectrum(spec, [(12, 18)], gap=2)
    assert np.all(out[10:20] == 0.0) and out[40] == 1.0 and spec[12] == 5.0


def test_faint_line_behind_a_bright_one_is_found_by_the_residual_pass():
    cube = _cube([(40, 40), (40, 41)], [(15, 1.0), (48, 0.08)], noise=0.004)
    off = {"search_snr": 0, "peak_snr": 0, "snr_keep": 5, "snr_min": 5}  # the residual pass alone
    one = run_pipeline(cube, _networks(), dict(PARAMS, residual_passes=0, **off))[0]
    two = run_pipeline(cube, _networks(), dict(PARAMS, residual_passes=1, **off))[0]
    assert [s["window"][0] <= 15 < s["window"][1] for s in one] == [True]
    assert len(two) == 2 and any(s["window"][0] <= 48 < s["window"][1] for s in two)


def test_touching_windows_at_one_position_are_one_line_with_merge_gap():
    c1 = {"snr": 10.0, "ref_snr": 1.0, "center": (10.0, 10.0), "window": (5, 15)}
    c2 = {"snr": 8.0, "ref_snr": 1.0, "center": (10.5, 10.0), "window": (16, 25)}
    assert len(select_sources([dict(c1), dict(c2)], {"merge_gap": -1})) == 2
    kept = select_sources([dict(c1), dict(c2)], {"merge_gap": 2})
    assert len(kept) == 1 and kept[0]["window"] == (5, 25)
    assert len(select_sources([dict(c1), dict(c2, window=(20, 25))], {"merge_gap": 2})) == 2


def test_decode_outputs():
    assert decode_outputs("resnet_fwhm_x", np.array([[0.5], [-1.0]])).tolist() == [0.5 * FWHM_SCALE, 0.0]
    pa = decode_outputs("resnet_pa", np.array([[np.cos(np.radians(60)), np.sin(np.radians(60))], [1.0, -1e-9]]))
    assert pa == pytest.approx([30.0, 180.0], abs=1e-6)
    assert decode_outputs("resnet_flux", np.array([[np.log(3.0)]]), np.array([2.0])) == pytest.approx([6.0])
    with pytest.raises(ValueError, match="unknown ResNet"):
        decode_outputs("resnet_z", np.zeros((1, 1)))


def test_synthetic_record_truth_layout():
    rec = synthetic_record(5, (48, 64, 64), n_sources=2)
    assert rec.dirty.shape == rec.clean.shape == (48, 64, 64) and rec.n == 2
    assert set(rec.truth) == {"center", "box", "window", "fwhm_x", "fwhm_y", "pa", "flux", "snr"}


def test_rejects_a_2d_image():
    with pytest.raises(ValueError, match=r"searches cubes \(z, y, x\)"):
        run_pipeline(np.zeros((32, 32), np.float32), _networks(), PARAMS)


def test_select_sources_leaves_the_candidates_unchanged():
    c1 = {"snr": 10.0, "ref_snr": 1.0, "center": (10.0, 10.0), "window": (5, 15)}
    c2 = {"snr": 8.0, "ref_snr": 1.0, "center": (10.5, 10.0), "window": (16, 25)}
    c3 = {"snr": 12.0, "ref_snr": 1.0, "center": (40.0, 10.0), "window": (5, 15)}
    candidates = [c2, c1, c3]
    kept = select_sources(candidates, {"merge_gap": 2})
    assert [k["center"] for k in kept] == [(10.0, 10.0), (40.0, 10.0)]  # in the candidates' order
    assert kept[0]["window"] == (5, 25) and c1["window"] == (5, 15) and c2["window"] == (16, 25)
    assert set(kept[0]) == set(c1)
