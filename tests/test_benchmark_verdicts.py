"""benchmarks/detection_2d.py's verdict lines: a verdict is stated, never silently dropped."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
ALL = "all >= 3"  # detection_2d.ALL (checked in _verdicts)


class _Stub:
    """The parts of a `_score2d.Tally` that `verdicts` reads."""

    def __init__(self, name, params, f35, fall):
        self.name, self.params, self.n_images = name, params, 4
        self._f1 = {"3-5": f35, ALL: fall}
        self.per_image = [{"3-5": (1, 1, 2), ALL: (2, 0, 2)}] * 4

    def f1(self, pixel_scale=1.0):
        return dict(self._f1)


def _verdicts(tallies):
    sys.path.insert(0, str(BENCH))
    try:
        import detection_2d
    finally:
        sys.path.remove(str(BENCH))
    assert detection_2d.ALL == ALL
    return detection_2d.verdicts(tallies, [], [], 1.0)


def test_convosource_verdict_without_any_peer_is_stated():
    conv = _Stub("ConvoSource", {"threshold": 0.6, "min_snr": 4.0}, 0.31, 0.7)
    lines = _verdicts([conv])
    assert any(line.startswith("ConvoSource F1 at S/N 3-5: 0.310") and "no peer ran -> NOT judged" in line
               for line in lines), lines


def test_convosource_verdict_against_the_best_peer():
    conv = _Stub("ConvoSource", {"threshold": 0.6, "min_snr": 4.0}, 0.31, 0.7)
    peer = _Stub("Aegean", {"threshold": 4.0, "level": "component"}, 0.30, 0.75)
    lines = _verdicts([conv, peer])
    line = next(line for line in lines if line.startswith("ConvoSource F1 at S/N 3-5"))
    assert "vs best peer Aegean 0.300" in line and "NOT met" in line  # identical per-image counts: no margin
