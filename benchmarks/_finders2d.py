"""The finders of benchmarks/detection_2d.py behind one call, with their threshold grids.

Every finder takes a 2D FITS HDU and a setting (a threshold, and for Aegean the
catalogue level) and returns a `_peers2d.PeerResult`: ``x``, ``y`` (0-based
pixels), ``ra``, ``dec``, ``f_int`` (Jy), ``f_peak`` (Jy/beam), a segment or
island map and the wall time of the whole call.
"""

import hashlib
import time
import warnings

import astropy.units as u
import numpy as np
from _peers2d import PeerResult, run_aegean, run_photutils, run_pybdsf
from astropy.table import QTable

__all__ = ["CONVOSOURCE", "CONVOSOURCE_INFO", "FINDERS", "GRIDS", "FinderUnavailable", "describe", "parse_setting",
           "run_finder"]


class FinderUnavailable(RuntimeError):
    """A finder cannot run here (package missing, no weights)."""


def _catalog_table(cat):
    """x, y, ra, dec, f_int, f_peak of an astro_mlfinder SourceCatalog."""
    t = QTable()
    n = len(cat)
    t["id"] = np.asarray(cat.id, dtype=np.int64) if n else np.zeros(0, np.int64)
    t["x"] = np.asarray(getattr(cat.x, "value", cat.x), dtype=np.float64) if n else np.zeros(0)
    t["y"] = np.asarray(getattr(cat.y, "value", cat.y), dtype=np.float64) if n else np.zeros(0)
    if n and cat.sky_centroid is not None:
        t["ra"] = cat.sky_centroid.icrs.ra.to(u.deg)
        t["dec"] = cat.sky_centroid.icrs.dec.to(u.deg)
    t["f_int"] = u.Quantity(cat.int_flux, u.Jy) if n else np.zeros(0) * u.Jy
    t["f_peak"] = u.Quantity(cat.peak_flux, u.Jy / u.beam) if n else np.zeros(0) * u.Jy / u.beam
    return t


def _ours(name, make):
    def run(hdu, threshold, **params):
        t0 = time.perf_counter()
        finder = make(threshold, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cat = finder(hdu, progress=False)
            table = _catalog_table(cat)
            segment = np.asarray(cat.segment) if len(cat) else np.zeros(np.squeeze(hdu.data).shape, np.int32)
        return PeerResult(name, table, segment, time.perf_counter() - t0, {"threshold": threshold, **params})

    return run


def _classical(threshold):
    from astro_mlfinder import ClassicalFinder

    return ClassicalFinder(threshold=threshold)


#: Weights for NeuralFinder('convosource'): None for the registry's, or a local file (--convosource-weights).
CONVOSOURCE = {"weights": None, "device": "cpu"}
#: What the check found: weights name, version, sha256, file and the threshold tuned with them.
CONVOSOURCE_INFO = {}


_PROBABILITY_CACHE = {}


def _memoised_probability_map():
    """Keep ConvoSource's probability map of the last image, so that a threshold sweep runs the network once.

    The map does not depend on the threshold (only the peaks and segments do), so the sweep's results are
    those of separate runs; only the wall time of the later settings is shorter (the first setting of each
    image carries the network time).
    """
    from astro_mlfinder.neural.models.convosource import inference

    original = getattr(inference.probability_map, "__wrapped__", inference.probability_map)

    def probability_map(network, image, **kw):
        digest = hashlib.sha1(np.ascontiguousarray(image, dtype=np.float32).tobytes()).hexdigest()
        weights = hashlib.sha1(b"".join(v.detach().cpu().numpy().tobytes() for v in network.state_dict().values()))
        key = (weights.hexdigest(), digest, repr(sorted(kw.items(), key=lambda kv: kv[0])))
        if key not in _PROBABILITY_CACHE:
            _PROBABILITY_CACHE.clear()
            _PROBABILITY_CACHE[key] = original(network, image, **kw)
        prob, noise = _PROBABILITY_CACHE[key]
        return prob.copy(), noise.copy()

    probability_map.__wrapped__ = original
    inference.probability_map = probability_map


def _convosource(threshold, min_snr=None):
    from astro_mlfinder import NeuralFinder

    _memoised_probability_map()
    extra = {} if min_snr is None else {"min_snr": min_snr}
    return NeuralFinder("convosource", threshold=threshold, progress=False, **CONVOSOURCE, **extra)


def _check_classical():
    try:
        from astro_mlfinder import ClassicalFinder  # noqa: F401
    except ImportError as exc:
        raise FinderUnavailable(str(exc)) from exc


def _check_convosource():
    try:
        from astro_mlfinder import NeuralFinder

        finder = NeuralFinder("convosource", progress=False, **CONVOSOURCE)
        info = finder.load_model()[1]["weights"]
    except Exception as exc:   # unknown model, no weights, no torch: all mean "not here"
        raise FinderUnavailable(f"NeuralFinder('convosource') unavailable: {str(exc).splitlines()[0]}") from exc
    tuned = finder.inference_params().get("threshold")
    CONVOSOURCE_INFO.update(name=info.get("name"), version=info.get("version"), sha256=str(info.get("sha256")),
                            file=info.get("file"), threshold=tuned)


def _check_module(module):
    def check():
        try:
            __import__(module)
        except ImportError as exc:
            raise FinderUnavailable(f"{module} not installed (pip install astro_mlfinder[bench])") from exc

    return check


class _Finder:
    def __init__(self, run, check):
        self.run, self.check = run, check


FINDERS = {
    "ClassicalFinder": _Finder(_ours("ClassicalFinder", _classical), _check_classical),
    "ConvoSource": _Finder(_ours("ConvoSource", _convosource), _check_convosource),
    "PyBDSF": _Finder(run_pybdsf, _check_module("bdsf")),
    "Aegean": _Finder(run_aegean, _check_module("AegeanTools")),
    "photutils": _Finder(run_photutils, _check_module("skimage")),
}

#: Settings swept on the tuning images (threshold: S/N for all but ConvoSource's probability).
#: The best F1 at S/N 3-5 is sharp around a 4-sigma cut, so every S/N-threshold finder gets the same fine steps
#: there as ConvoSource's min_snr (3.75, 3.9, 4, 4.1, 4.25): no finder is held back by a coarse grid.
_SNR = (3.0, 3.5, 3.75, 3.9, 4.0, 4.1, 4.25, 4.5, 5.0, 5.5, 6.0)
GRIDS = {
    "ClassicalFinder": [{"threshold": t} for t in _SNR],
    # the network's peak probability, and the data S/N its peak must reach (min_snr; 0: the network alone)
    "ConvoSource": [{"threshold": t, "min_snr": m} for m in (0.0, 3.75, 3.9, 4.0, 4.25)
                    for t in (None, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)],
    "PyBDSF": [{"threshold": t} for t in _SNR],
    "Aegean": [{"threshold": t, "level": lv} for t in _SNR for lv in ("component", "island")],
    "photutils": [{"threshold": t} for t in (2.0, 2.5, 2.75, 2.9, 3.0, 3.1, 3.25, 3.5, 4.0, 5.0)],
}

_THRESHOLD_NAME = {"ClassicalFinder": "threshold", "ConvoSource": "threshold", "PyBDSF": "thresh_pix",
                   "Aegean": "seedclip", "photutils": "nsigma"}


def describe(name, params):
    """A short text of a setting, e.g. ``'thresh_pix 4'``."""
    t = params["threshold"]
    value = f"tuned ({CONVOSOURCE_INFO.get('threshold')})" if t is None else format(t, "g")
    text = f"{_THRESHOLD_NAME[name]} {value}"
    if "level" in params:
        text += f", {params['level']}s"
    if params.get("min_snr") is not None:
        text += f", min_snr {params['min_snr']:g}"
    return text


def parse_setting(name, value):
    """``'4'``, ``'4:island'`` (Aegean), ``'tuned'`` or ``'0.7:3.9'`` (ConvoSource, threshold:min_snr) as a dict."""
    threshold, _, option = value.partition(":")
    params = {"threshold": None if threshold == "tuned" else float(threshold)}
    if name == "Aegean":
        params["level"] = option or "component"
    elif name == "ConvoSource" and option:
        params["min_snr"] = float(option)
    elif option:
        raise ValueError(f"{name} takes only a threshold, got {value!r}")
    return params


def run_finder(name, hdu, **params):
    """Run finder ``name`` on ``hdu`` with ``params`` (a `GRIDS` entry)."""
    return FINDERS[name].run(hdu, **params)
