"""NeuralFinder(..., reliability='neural'): a model's sources vetted by a candidate scorer."""

import warnings

import numpy as np
import pytest

from astro_mlfinder.core.segmentation import Segmentation
from astro_mlfinder.neural.vetting import vet_segmentation


class _FixedScorer:
    """A candidate scorer returning given scores (the interface of astro_mlfinder.core.scorers)."""

    threshold = 0.5
    params = {"scorer": "fixed"}

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=float)
        self.calls = []

    def __call__(self, data, labels, n, *, progress=True):
        self.calls.append((data.shape, int(labels.max()), n))
        return self.scores[:n]


def _three_sources():
    labels = np.zeros((8, 10, 10), np.int32)
    labels[0:2, 0:2, 0:2] = 1  # 8 voxels
    labels[4:8, 4:8, 4:8] = 2  # 64 voxels
    labels[0:1, 8:10, 8:10] = 3  # 4 voxels
    return Segmentation(labels, columns={"score": np.array([0.9, 0.8, 0.7], np.float32)}, meta={"model": "m"})


def test_small_sources_need_the_score_large_ones_are_kept():
    seg = _three_sources()
    scorer = _FixedScorer([0.2, 0.1, 0.6])
    out = vet_segmentation(seg, np.zeros(seg.shape, np.float32), scorer, keep_size=64, progress=False)
    # source 1 (8 voxels, score 0.2) dropped; 2 (64 voxels) kept despite 0.1; 3 (4 voxels, 0.6) kept
    assert out.labels.max() == 2
    assert np.array_equal(out.labels == 1, seg.labels == 2) and np.array_equal(out.labels == 2, seg.labels == 3)
    assert out.columns["score"].tolist() == pytest.approx([0.8, 0.7])
    assert out.columns["rel"].tolist() == pytest.approx([0.1, 0.6])
    assert out.meta["model"] == "m"
    assert out.meta["reliability"] == {"scorer": "fixed", "threshold": 0.5, "keep_size": 64, "candidates": 3,
                                       "kept": 2}
    assert scorer.calls == [((8, 10, 10), 3, 3)]
    # keep_size 0: every source is vetted
    out = vet_segmentation(seg, np.zeros(seg.shape, np.float32), scorer, keep_size=0, progress=False)
    assert out.labels.max() == 1 and np.array_equal(out.labels == 1, seg.labels == 3)


def test_empty_segmentation_and_bad_scorer_output():
    seg = Segmentation(np.zeros((4, 4, 4), np.int32), columns={"score": np.zeros(0, np.float32)})
    scorer = _FixedScorer([])
    out = vet_segmentation(seg, np.zeros((4, 4, 4), np.float32), scorer, progress=False)
    assert out.labels.max() == 0 and len(out.columns["rel"]) == 0 and scorer.calls == []
    with pytest.raises(RuntimeError, match=r"returned \(1,\) scores for 3 sources"):
        vet_segmentation(_three_sources(), np.zeros((8, 10, 10), np.float32), _FixedScorer([0.5]), progress=False)
    with pytest.raises(ValueError, match="needs a cube"):
        vet_segmentation(Segmentation(np.ones((4, 4), np.int32)), np.zeros((4, 4)), scorer, progress=False)


torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    """Fetch the shipped weights into a temporary cache, not the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASTRO_MLFINDER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("ASTRO_MLFINDER_WEIGHTS_URL", raising=False)
        yield


def test_bad_options_are_refused_at_construction():
    from astro_mlfinder.neural import NeuralFinder

    with pytest.raises(ValueError, match="reliability='nope': no candidate scorer of that name"):
        NeuralFinder("unet3d", reliability="nope")
    with pytest.raises(ValueError, match=r"reliability_threshold must lie in \[0, 1\], got 1.5"):
        NeuralFinder("unet3d", reliability="neural", reliability_threshold=1.5)
    with pytest.raises(ValueError, match="reliability_size must be a non-negative integer, got -1"):
        NeuralFinder("unet3d", reliability="neural", reliability_size=-1)
    with pytest.raises(ValueError, match="model 'convosource' finds sources in images: leave reliability=None"):
        NeuralFinder("convosource", reliability="neural")
    with pytest.raises(ValueError, match=r"reliability_threshold must be a number in \[0, 1\], got 'high'"):
        NeuralFinder("unet3d", reliability="neural", reliability_threshold="high")
    with pytest.raises(ValueError, match="reliability_threshold, reliability_size only apply with reliability="):
        NeuralFinder("unet3d", reliability_threshold=0.7, reliability_size=256)
    with pytest.raises(ValueError, match="^reliability_weights only apply with reliability="):
        NeuralFinder("unet3d", reliability_weights="/no/such/rel.pt")
    with pytest.raises(FileNotFoundError, match="weights file not found: /no/such/rel.pt"):
        NeuralFinder("unet3d", reliability="neural", reliability_weights="/no/such/rel.pt")


def test_vetted_unet3d_on_a_simulated_cube():
    from astro_mlfinder.evaluate import match_catalogs
    from astro_mlfinder.neural import NeuralFinder
    from astro_mlfinder.simulate import simulate_hi_cube

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = simulate_hi_cube((128, 64, 64), 4, seed=20_002, snr=[6.0, 12.0, 25.0, 40.0])
    low = dict(device="cpu", progress=False, threshold=0.02, min_size=128)
    plain = NeuralFinder("unet3d", **low)(sim.data, progress=False)
    finder = NeuralFinder("unet3d", **low, reliability="neural", reliability_threshold=0.7, reliability_size=256)
    params = finder.get_params()
    assert params["reliability"] == "neural" and params["reliability_size"] == 256
    assert NeuralFinder(**params).get_params() == params
    cat = finder(sim.data, progress=False)
    rel = np.asarray(cat.to_table(["rel"])["rel"], float)
    n_pix = np.asarray(cat.to_table(["n_pix"])["n_pix"])
    # every kept source is large or scored >= 0.7; the vetted sources are a subset of the plain ones
    assert len(cat) >= 1 and np.all((n_pix >= 256) | (rel >= 0.7)) and np.all((rel >= 0) & (rel <= 1))
    assert len(cat) <= len(plain) and np.all(plain.segment[cat.segment > 0] > 0)
    assert cat.meta["reliability"]["candidates"] == len(plain) and cat.meta["reliability"]["kept"] == len(cat)
    res = match_catalogs(cat.to_table(["id", "x", "y", "z", "f_sum"]), sim.truth, detected_segment=cat.segment,
                         truth_segment=sim.labels)
    assert res.tp >= 3  # the bright galaxies survive the vetting
    # threshold 0 keeps every source the model found
    everything = NeuralFinder("unet3d", **low, reliability="neural", reliability_threshold=0.0)(sim.data,
                                                                                              progress=False)
    assert np.array_equal(everything.segment, plain.segment)


def test_vetted_unet3d_defaults_to_the_tuned_configuration():
    from astro_mlfinder.neural import NeuralFinder
    from astro_mlfinder.neural.vetting import VETTED_DEFAULTS

    tuned = VETTED_DEFAULTS["unet3d"]
    params = NeuralFinder("unet3d", device="cpu", progress=False, reliability="neural").get_params()
    assert {k: params[k] for k in tuned} == tuned == {"threshold": 0.02, "min_size": 128,
                                                      "reliability_threshold": 0.7, "reliability_size": 256}
    # what the caller gives wins, keyword by keyword
    given = NeuralFinder("unet3d", device="cpu", progress=False, reliability="neural", threshold=0.1,
                         reliability_size=0).get_params()
    assert (given["threshold"], given["min_size"], given["reliability_threshold"], given["reliability_size"]) == (
        0.1, 128, 0.7, 0)
    # without vetting the model keeps its own recorded settings and nothing is vetted
    alone = NeuralFinder("unet3d", device="cpu", progress=False).get_params()
    assert alone["reliability"] is None and alone["reliability_size"] == 0
    assert alone["threshold"] != 0.02 and alone["min_size"] != 128
