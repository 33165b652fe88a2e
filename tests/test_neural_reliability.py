"""ClassicalFinder(reliability='neural'): the hi_reliability scorer used from the classical floor."""

import sys
import warnings

import numpy as np
import pytest

from astro_mlfinder import ClassicalFinder, SofiaFinder

pytest.importorskip("torch")


def test_without_torch_the_constructor_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    hint = r"reliability='neural' needs PyTorch: pip install 'astro_mlfinder\[neural\]'"
    with pytest.raises(ImportError, match=hint):
        ClassicalFinder(reliability="neural")
    ClassicalFinder(reliability=True)  # SoFiA-2's filter needs no torch


def test_bad_weights_and_threshold_are_refused_at_construction():
    with pytest.raises(ValueError, match="no weights named 'nope'"):
        ClassicalFinder(reliability="neural", reliability_neural_weights="nope")
    with pytest.raises(FileNotFoundError, match="weights file not found: /no/such/rel.pt"):
        ClassicalFinder(reliability="neural", reliability_neural_weights="/no/such/rel.pt")
    with pytest.raises(ValueError, match=r"reliability_neural_threshold must lie in \[0, 1\], got 1.5"):
        ClassicalFinder(reliability="neural", reliability_neural_threshold=1.5)
    with pytest.raises(ValueError, match="reliability='sofia': no candidate scorer of that name"):
        ClassicalFinder(reliability="sofia")


def test_no_sofia_par_equivalent():
    finder = ClassicalFinder(threshold=3.5, reliability="neural")
    with pytest.raises(ValueError, match="reliability='neural' .* has no SoFiA-2 equivalent"):
        finder.to_sofia_par()
    with pytest.raises(ValueError, match="reliability='neural' .* has no SoFiA-2 equivalent"):
        SofiaFinder(reliability="neural")
    with pytest.raises(ValueError, match="reliability_neural_threshold belongs to ClassicalFinder"):
        SofiaFinder(reliability_neural_threshold=0.5)
    # the plain finder still writes its parameter file
    assert ClassicalFinder(threshold=3.5, reliability=True).to_sofia_par()["reliability.enable"] is True


def test_images_and_tiled_runs_are_refused():
    finder = ClassicalFinder(threshold=3.5, reliability="neural")
    with pytest.raises(ValueError, match="scores cube candidates; use reliability=True"):
        finder(np.zeros((40, 40), dtype=np.float32), progress=False)
    with pytest.raises(ValueError, match=r"ClassicalFinder\(reliability='neural'\) is not supported by a tiled run"):
        finder(np.zeros((32, 40, 40), dtype=np.float32), tiles=(2, 1, 1), progress=False)


def _simulated():
    from astro_mlfinder.simulate import simulate_hi_cube

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a seed outside the scorer's training and validation ranges
        return simulate_hi_cube((128, 96, 96), 8, seed=777, snr_range=(6.0, 40.0))


def test_neural_reliability_keeps_galaxies_and_drops_noise():
    from astro_mlfinder.evaluate import match_catalogs

    sim = _simulated()
    low = dict(threshold=3.5, min_size_xy=3, min_size_z=3)
    plain = ClassicalFinder(**low)(sim.data, progress=False)
    cat = ClassicalFinder(**low, reliability="neural")(sim.data, progress=False)

    def tp_fp(c):
        m = match_catalogs(c.to_table(["id", "x", "y", "z", "f_sum"]), sim.truth, detected_segment=c.segment,
                           truth_segment=sim.labels, min_iou=0.2)
        return m.tp, m.fp

    tp0, fp0 = tp_fp(plain)
    tp1, fp1 = tp_fp(cat)
    assert tp0 == 8 and fp0 >= 30  # the low threshold finds all 8 galaxies and 34 noise candidates ...
    assert fp1 <= 1  # ... the scorer drops the noise (none kept when measured) ...
    assert tp1 >= 7  # ... and keeps the galaxies (all 8 when measured)
    rel = np.asarray(cat.to_table(["rel"])["rel"], dtype=float)
    meta = cat.meta["reliability"]
    assert meta["scorer"] == "neural" and meta["n_candidates"] == len(plain) and meta["n_kept"] == len(cat)
    assert (rel >= meta["threshold"]).all() and (rel <= 1).all()
    assert cat.meta["finder"]["params"]["reliability"] == "neural"
