"""The candidate-scorer registry of astro_mlfinder.core.scorers."""

import numpy as np
import pytest

from astro_mlfinder.core import scorers


class _Constant:
    def __init__(self, value=0.7, threshold=0.5):
        self.value, self.threshold = value, threshold

    def __call__(self, data, labels, n_candidates, *, progress=True):
        return np.full(n_candidates, self.value)


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(scorers, "_SCORERS", dict(scorers._SCORERS))


def test_register_and_create_with_options(clean_registry):
    assert scorers.register_scorer("constant", _Constant) is _Constant
    assert "constant" in scorers.available_scorers()
    scorer = scorers.get_scorer("constant", value=0.25, threshold=0.1)
    assert scorer.threshold == 0.1
    assert scorer(None, None, 3).tolist() == [0.25, 0.25, 0.25]
    scorers.register_scorer("constant", _Constant)  # the same factory again is harmless


def test_name_taken_needs_replace(clean_registry):
    scorers.register_scorer("constant", _Constant)
    with pytest.raises(ValueError, match="already registered; pass replace=True"):
        scorers.register_scorer("constant", lambda: None)
    scorers.register_scorer("constant", dict, replace=True)
    assert scorers.scorer_factory("constant") is dict


def test_bad_registrations(clean_registry):
    with pytest.raises(ValueError, match="non-empty string"):
        scorers.register_scorer("", _Constant)
    with pytest.raises(TypeError, match="must be callable"):
        scorers.register_scorer("x", 3)


def test_unknown_name_lists_known_and_names_the_fix(clean_registry):
    scorers.register_scorer("constant", _Constant)
    with pytest.raises(ValueError, match=r"reliability='nope': no candidate scorer .* registered scorers: .*constant"):
        scorers.get_scorer("nope")
    scorers._SCORERS.pop("neural", None)  # as if astro_mlfinder.neural were not installed
    with pytest.raises(ValueError, match=r"it needs pip install 'astro_mlfinder\[neural\]'"):
        scorers.get_scorer("neural")


def test_neural_registers_without_torch():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    code = ("import sys; import astro_mlfinder; from astro_mlfinder.core.scorers import available_scorers; "
            "print('neural' in available_scorers(), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["True", "False"]
