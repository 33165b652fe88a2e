"""Deblending benchmark on optical blends: NeuralFinder('pais') against photutils and sep (SExtractor).

Simulated cut-outs (`astro_mlfinder.simulate.simulate_blends` with its defaults: 64x64 pixels, 1-6
overlapping galaxies and stars per cut-out, Moffat PSF of FWHM 3.5 px and beta 2.5, sky + read +
Poisson noise) come from two seed sets that no training uses:

* tuning seeds ``TUNING_SEED + k`` (8,000,000 on): photutils and sep run over their settings grids
  (`PHOTUTILS_GRID`, `SEP_GRID`); for every photometry the setting with the smallest *tuning score*
  is kept: the median of the relative flux errors ``|f - f_true| / f_true`` of all true sources and
  all spurious detections, a missed source and a spurious detection counting as 1, so that the
  score rewards finding sources, not finding noise, and measuring fluxes;
* benchmark seeds ``BENCHMARK_SEED + k`` (9,000,000 on): every finder runs at its kept settings.

Scoring: detections are matched one-to-one to the truth (Hungarian,
`astro_mlfinder.evaluate.match_catalogs`) within each true source's PSF-convolved half-light radius
``r_half_psf`` (1.75 px for a star, up to 5.3 px). Recall = matched / true sources; precision =
matched / detections; the per-source flux error is ``|f - f_true| / f_true`` for matched sources with
``f_true`` the flux of the source's own noise-free image inside the cut-out (``truth['flux_image']``),
reported as medians over matched sources, overall and binned by the source's separation to its
nearest neighbour (``nn_sep_hlr``: in units of the sum of the two PSF-convolved half-light radii)
and by its flux ratio to it (``flux / flux of the neighbour``; < 1: the fainter of the pair).

Every classical finder is given the true background rms (the images are sky-subtracted) and
filters with a Gaussian of the PSF FWHM:

* photutils: ``detect_sources`` + ``deblend_sources`` (multi-threshold, ``mode='exponential'``)
  on the filtered image; photometry ``segment_flux`` (the deblended segment) or ``kron_flux``
  (Kron 2.5, other sources masked and mirrored, photutils' default ``apermask_method='correct'``);
* sep (SExtractor's algorithm): ``sep.extract``; photometry the isophotal ``flux`` or masked Kron
  (``kron_radius`` + ``sum_ellipse`` 2.5 Kron radii with the other segments masked, a circle of
  radius 1.75 px below SExtractor's minimum, as FLUX_AUTO);
* ClassicalFinder (the package's SoFiA-style finder, default settings, no deblending stage) as a
  reference for the same call as NeuralFinder.

NeuralFinder('pais') runs when it is registered and its weights load (otherwise it is reported as
unavailable), with its registered decoding and again with the claim-map split alone (one network pass);
the exact PCR of every cut-out, decoded the same way, gives the ceiling of the decoding.

Real image: ../shared/fixtures/real/sep_image.fits (ESO NTT R band) against its SExtractor
catalogue of 65 objects: every finder at its kept settings on the image minus sep's background
(``sep.Background``), with the background's global rms; a catalogue object is recovered when a
detection lies within 3 pixels (one-to-one).

Usage::

    python benchmarks/deblending.py                      # 40 tuning + 300 test cut-outs, updates docs
    python benchmarks/deblending.py --n-tune 8 --n-test 30 --no-docs
    python benchmarks/deblending.py --pais-weights pais.pt      # weights not (yet) in the registry

The report is printed and written between ``.. deblending-start`` and ``.. deblending-end`` in
docs/performance.rst.
"""

import argparse
import itertools
import platform
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from _report import rst_table, update_docs_block  # noqa: E402

START, END = ".. deblending-start", ".. deblending-end"
DOCS_TITLE = "Optical deblending: NeuralFinder('pais') against photutils and sep"
REAL = HERE.parent.parent / "shared" / "fixtures" / "real"
REAL_RADIUS = 3.0

#: photutils settings scanned on the tuning seeds: threshold (x background rms), npixels, nlevels, contrast.
PHOTUTILS_GRID = {"threshold": (0.5, 0.7, 1.0, 1.5, 2.5), "npixels": (2, 3, 5), "nlevels": (32, 64),
                  "contrast": (0.0, 0.0001, 0.001, 0.005, 0.02)}
#: sep settings scanned: thresh (x rms), minarea, deblend_nthresh, deblend_cont.
SEP_GRID = {"thresh": (0.5, 0.7, 1.0, 1.5, 2.5), "minarea": (2, 3, 5), "deblend_nthresh": (32, 64),
            "deblend_cont": (0.0, 0.0001, 0.001, 0.005, 0.02)}

SEP_BINS = (0.0, 1.0, 1.5, 2.0, np.inf)
SEP_NAMES = ("< 1", "1-1.5", "1.5-2", ">= 2")
RATIO_BINS = (0.0, 0.2, 0.5, 1.0, 2.0, np.inf)
RATIO_NAMES = ("< 0.2", "0.2-0.5", "0.5-1", "1-2", ">= 2")


class FinderUnavailable(RuntimeError):
    """A finder cannot run here."""


def _gauss_kernel(fwhm):
    sigma = fwhm / np.sqrt(8 * np.log(2))
    r = int(np.ceil(3 * sigma))
    g = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (g[:, None] ** 2 + g[None, :] ** 2) / sigma**2)
    return k / k.sum()


# --------------------------------------------------------------------------- finders
def run_photutils(data, rms, fwhm, *, threshold, npixels, nlevels, contrast, _cache=None):
    """photutils detect + deblend; returns x, y and {'segment', 'kron'} fluxes."""
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources
    from scipy.signal import fftconvolve

    conv = fftconvolve(data, _gauss_kernel(fwhm), mode="same")
    key = (id(data), threshold, npixels)
    seg = _cache.get(key) if _cache is not None else None
    if seg is None:
        seg = detect_sources(conv, threshold * rms, n_pixels=npixels)
        if _cache is not None:
            _cache[key] = seg if seg is not None else False
    if seg is None or seg is False:
        return np.zeros(0), np.zeros(0), {"segment": np.zeros(0), "kron": np.zeros(0)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segd = deblend_sources(conv, seg, n_pixels=npixels, n_levels=nlevels, contrast=contrast,
                               mode="exponential", progress_bar=False)
        cat = SourceCatalog(data, segd, convolved_data=conv)
        x, y = np.asarray(cat.xcentroid, float), np.asarray(cat.ycentroid, float)
        fluxes = {"segment": np.asarray(cat.segment_flux, float),
                  "kron": np.asarray(cat.kron_flux, float)}
    return x, y, fluxes


def run_sep(data, rms, fwhm, *, thresh, minarea, deblend_nthresh, deblend_cont):
    """sep.extract; returns x, y and {'isophotal', 'kron'} fluxes (masked Kron as FLUX_AUTO)."""
    import sep

    data = np.ascontiguousarray(data, dtype=np.float64)
    objs, segmap = sep.extract(data, thresh, err=rms, minarea=minarea,
                               filter_kernel=_gauss_kernel(fwhm), deblend_nthresh=deblend_nthresh,
                               deblend_cont=deblend_cont, segmentation_map=True)
    n = len(objs)
    if n == 0:
        return np.zeros(0), np.zeros(0), {"isophotal": np.zeros(0), "kron": np.zeros(0)}
    x, y = np.asarray(objs["x"], float), np.asarray(objs["y"], float)
    # degenerate (one- or two-pixel-wide) objects have b = 0: give them a minimal ellipse (the
    # FLUX_AUTO minimum circle below replaces their Kron flux anyway); sep's float32 theta can
    # exceed pi/2 by a rounding step, which sum_ellipse refuses
    a = np.maximum(np.nan_to_num(objs["a"], nan=0.5), 0.5)
    b = np.maximum(np.nan_to_num(objs["b"], nan=0.5), 0.5)
    theta = np.clip(np.nan_to_num(objs["theta"].astype(float), nan=0.0), -np.pi / 2, np.pi / 2)
    ids = np.arange(1, n + 1, dtype=np.int32)
    kronrad, _ = sep.kron_radius(data, x, y, a, b, theta, 6.0, seg_id=ids, segmap=segmap)
    kronrad = np.where(np.isfinite(kronrad), kronrad, 0.0)
    flux, _, _ = sep.sum_ellipse(data, x, y, a, b, theta, 2.5 * np.maximum(kronrad, 1e-3),
                                 subpix=5, seg_id=ids, segmap=segmap)
    r_min = 1.75
    small = kronrad * np.sqrt(a * b) < r_min
    if small.any():
        cflux, _, _ = sep.sum_circle(data, x[small], y[small], r_min, subpix=5,
                                     seg_id=ids[small], segmap=segmap)
        flux = np.array(flux, float)
        flux[small] = cflux
    return x, y, {"isophotal": np.asarray(objs["flux"], float), "kron": np.asarray(flux, float)}


def _catalog_xy_flux(cat):
    n = len(cat)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    x = np.asarray(getattr(cat.x, "value", cat.x), float)
    y = np.asarray(getattr(cat.y, "value", cat.y), float)
    for name in ("flux", "int_flux"):
        f = getattr(cat, name, None)
        if f is not None:
            return x, y, np.asarray(getattr(f, "value", f), float)
    raise FinderUnavailable("the catalogue has no flux column")


def _reuse_pais_outputs():
    """Let consecutive PAIS runs on the same image share one network pass (the benchmark's two decodings).

    Wraps ``pais.inference.predict_outputs`` (looked up at call time by the model) with a one-entry
    cache keyed on the network, the input bytes and the settings; the outputs are the same arrays
    the network would give again, so only the time of the second decoding's row is smaller.
    """
    import hashlib

    from astro_mlfinder.neural.models.pais import inference

    if getattr(inference.predict_outputs, "_cached", False):
        return
    original = inference.predict_outputs
    last = {}

    def predict_outputs(network, x, **kwargs):
        key = (id(network), hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest(),
               repr(sorted(kwargs.items())))
        if last.get("key") != key:
            last["key"], last["value"] = key, original(network, x, **kwargs)
        return tuple(np.array(a) for a in last["value"])

    predict_outputs._cached = True
    inference.predict_outputs = predict_outputs


def make_ours(pais_weights=None, claims=True):
    """Our finders that can run here: name -> callable(hdu) -> (x, y, flux); the unavailable ones; PAIS's settings.

    ``PAIS`` runs with its registered decoding (profile-fit attribution); with ``claims`` also
    ``PAIS (claim maps)``: the same network and centres, each pixel split by the claim maps alone
    (PAIS as published).
    """
    ours, missing, params = {}, {}, None
    try:
        from astro_mlfinder import NeuralFinder

        extra = {} if pais_weights is None else {"weights": pais_weights}
        pais = NeuralFinder("pais", progress=False, device="cpu", **extra)
        _, info = pais.neural_model.load(False)
    except Exception as exc:      # not registered, no weights, no torch: reported, not fatal
        missing["PAIS"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    else:
        ours["PAIS"] = pais
        w = info["weights"]
        params = dict(pais.neural_model.inference_params(),
                      weights=f"{w['name']} {w['version']}" if isinstance(w, dict) and "version" in w else str(w))
        if claims:
            claims_finder = NeuralFinder("pais", progress=False, device="cpu", attribution="claims", **extra)
            claims_finder.neural_model._loaded = pais.neural_model._loaded  # the same network object
            ours["PAIS (claim maps)"] = claims_finder
            _reuse_pais_outputs()
    from astro_mlfinder import ClassicalFinder

    ours["ClassicalFinder"] = ClassicalFinder()

    def wrap(finder):
        def run(hdu):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return _catalog_xy_flux(finder(hdu, progress=False))
        return run

    return {k: wrap(v) for k, v in ours.items()}, missing, params


# --------------------------------------------------------------------------- scoring
def match(truth, x, y):
    """Rows of matched truth and detections (one-to-one within r_half_psf)."""
    from astropy.table import Table

    from astro_mlfinder.evaluate import match_catalogs

    tru = Table({"id": np.asarray(truth["id"]), "x": np.asarray(truth["x"], float),
                 "y": np.asarray(truth["y"], float)})
    det = Table({"id": np.arange(1, len(x) + 1), "x": np.asarray(x, float), "y": np.asarray(y, float)})
    m = match_catalogs(det, tru, spatial_tolerance=np.asarray(truth["r_half_psf"].value, float))
    return np.asarray(m.meta["truth_rows"], int), np.asarray(m.meta["det_rows"], int)


class Tally:
    """Per-true-source results of one finder/photometry over many cut-outs."""

    def __init__(self):
        self.found, self.err, self.sep, self.ratio, self.snr = [], [], [], [], []
        self.n_det = 0
        self.time = 0.0

    def add(self, truth, x, y, flux, seconds=0.0):
        t_rows, d_rows = match(truth, x, y)
        n = len(truth)
        found = np.zeros(n, bool)
        found[t_rows] = True
        err = np.full(n, np.nan)
        f_true = np.asarray(truth["flux_image"].value, float)
        e = np.abs(np.asarray(flux, float)[d_rows] - f_true[t_rows]) / f_true[t_rows]
        err[t_rows] = np.where(np.isfinite(e), e, 1.0)      # a NaN flux is a failed measurement
        self.found.append(found)
        self.err.append(err)
        self.sep.append(np.asarray(truth["nn_sep_hlr"], float))
        self.ratio.append(np.asarray(truth["flux_ratio"], float))
        self.snr.append(np.asarray(truth["snr"], float))
        self.n_det += len(x)
        self.time += seconds

    def arrays(self):
        cat = np.concatenate
        return cat(self.found), cat(self.err), cat(self.sep), cat(self.ratio), cat(self.snr)

    def tuning_score(self):
        """Median error over true sources and spurious detections (misses and spurious count 1)."""
        found, err, *_ = self.arrays()
        spurious = np.ones(self.n_det - int(found.sum()))
        return float(np.median(np.concatenate([np.where(found, err, 1.0), spurious])))

    def summary(self, select=None):
        found, err, sep, ratio, snr = self.arrays()
        sel = np.ones(len(found), bool) if select is None else select(sep, ratio, snr)
        n = int(sel.sum())
        recall = found[sel].mean() if n else np.nan
        med = float(np.median(err[sel & found])) if (sel & found).any() else np.nan
        return n, recall, med

    def precision(self):
        found = np.concatenate(self.found)
        return found.sum() / self.n_det if self.n_det else np.nan


# --------------------------------------------------------------------------- runs
def _sims(seed0, n):
    from astro_mlfinder.simulate import simulate_blends

    return [simulate_blends(seed=seed0 + k) for k in range(n)]


def tune(sims, log):
    """Best setting per classical photometry on the tuning cut-outs."""
    fwhm = float(sims[0].params["psf_fwhm"])
    best = {}
    # photutils: one detection per (threshold, npixels), one deblend per setting
    cache = {}
    tallies = {}
    keys = list(PHOTUTILS_GRID)
    for values in itertools.product(*PHOTUTILS_GRID.values()):
        setting = dict(zip(keys, values, strict=True))
        tal = {"segment": Tally(), "kron": Tally()}
        for sim in sims:
            x, y, fl = run_photutils(sim.data, sim.background_rms, fwhm, _cache=cache, **setting)
            for phot in tal:
                tal[phot].add(sim.truth, x, y, fl[phot])
        tallies[tuple(values)] = (setting, tal)
    for phot, label in (("segment", "photutils (segment)"), ("kron", "photutils (Kron)")):
        setting, tal = min(tallies.values(), key=lambda st: st[1][phot].tuning_score())
        best[label] = ("photutils", phot, setting, tal[phot].tuning_score())
    log(f"tuned photutils over {len(tallies)} settings")
    tallies = {}
    keys = list(SEP_GRID)
    for values in itertools.product(*SEP_GRID.values()):
        setting = dict(zip(keys, values, strict=True))
        tal = {"isophotal": Tally(), "kron": Tally()}
        for sim in sims:
            x, y, fl = run_sep(sim.data, sim.background_rms, fwhm, **setting)
            for phot in tal:
                tal[phot].add(sim.truth, x, y, fl[phot])
        tallies[tuple(values)] = (setting, tal)
    for phot, label in (("isophotal", "sep (isophotal)"), ("kron", "sep (masked Kron)")):
        setting, tal = min(tallies.values(), key=lambda st: st[1][phot].tuning_score())
        best[label] = ("sep", phot, setting, tal[phot].tuning_score())
    log(f"tuned sep over {len(tallies)} settings")
    return best


def run_classical(kind, data, rms, fwhm, setting):
    t0 = time.perf_counter()
    if kind == "photutils":
        out = run_photutils(data, rms, fwhm, **setting)
    else:
        out = run_sep(data, rms, fwhm, **setting)
    return (*out, time.perf_counter() - t0)


ORACLE = "exact PCR, decoded (ceiling)"


def oracle(sim, params):
    """PAIS's decoding of the exact PCR of a cut-out (true heatmap, claim vectors and claim maps).

    Its recall and flux error are the ceiling of the decoding (NMS, footprint, claim attribution)
    with a perfect network; ``params`` are the PAIS decoding settings (``threshold`` and ``sharpen``
    are not used: the exact heatmap peaks at 1 on every centre, found with threshold 0.5).
    """
    from astro_mlfinder.neural.models.pais.decode import decode_outputs
    from astro_mlfinder.neural.models.pais.pcr import encode_pcr

    models = np.asarray(sim.sources, float)
    if models.shape[0] == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    centres = np.column_stack([np.asarray(sim.truth["y"], float), np.asarray(sim.truth["x"], float)])
    pcr = encode_pcr(models, centres)
    out = decode_outputs(pcr["center_of_mass"], pcr["claim_vectors"], np.log(np.clip(pcr["claim_maps"], 1e-12, None)),
                         np.asarray(sim.data, float), float(sim.background_rms), threshold=0.5,
                         radius=params["nms_radius"], footprint_snr=params["footprint_snr"], smooth=params["smooth"],
                         dilate=params["dilate"], attribution="claims")
    return out["centres"][:, 1], out["centres"][:, 0], out["flux"]


def benchmark(sims, best, ours, log=None, oracle_params=None):
    fwhm = float(sims[0].params["psf_fwhm"])
    names = list(ours) + ([ORACLE] if oracle_params is not None else []) + list(best)
    tallies = {name: Tally() for name in names}
    for k, sim in enumerate(sims):
        if log is not None and k and k % 50 == 0:
            log(f"benchmark cut-out {k}/{len(sims)}")
        for label, (kind, phot, setting, _) in best.items():
            x, y, fl, dt = run_classical(kind, sim.data, sim.background_rms, fwhm, setting)
            tallies[label].add(sim.truth, x, y, fl[phot], dt)
        hdu = sim.to_hdu()
        for name, run in ours.items():
            t0 = time.perf_counter()
            x, y, f = run(hdu)
            tallies[name].add(sim.truth, x, y, f, time.perf_counter() - t0)
        if oracle_params is not None:
            t0 = time.perf_counter()
            x, y, f = oracle(sim, oracle_params)
            tallies[ORACLE].add(sim.truth, x, y, f, time.perf_counter() - t0)
    return tallies


def real_image(best, ours, folder=REAL):
    """How many of the 65 SExtractor objects of sep_image.fits every finder recovers."""
    import sep
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = fits.getdata(Path(folder) / "sep_image.fits").astype(np.float64)
    cat = np.loadtxt(Path(folder) / "sep_image.cat", comments="#")
    xs, ys = cat[:, 1] - 1.0, cat[:, 2] - 1.0         # 1-based X_IMAGE, Y_IMAGE
    bkg = sep.Background(np.ascontiguousarray(data))
    sub = data - bkg.back()
    rms = float(bkg.globalrms)
    fwhm = 3.5
    rows = []

    def count(name, x, y, seconds):
        from astropy.table import Table

        from astro_mlfinder.evaluate import match_catalogs

        ref = Table({"id": np.arange(1, len(xs) + 1), "x": xs, "y": ys})
        det = Table({"id": np.arange(1, len(x) + 1), "x": np.asarray(x, float), "y": np.asarray(y, float)})
        m = match_catalogs(det, ref, spatial_tolerance=REAL_RADIUS)
        rows.append((name, len(x), m.tp, f"{m.tp}/{len(xs)}", seconds))

    done = set()
    for label, (kind, _, setting, _) in best.items():
        key = (kind, tuple(sorted(setting.items())))
        if key in done:            # positions do not depend on the photometry
            continue
        done.add(key)
        x, y, _, dt = run_classical(kind, sub, rms, fwhm, setting)
        count(label.split(" (")[0] + f" ({_fmt_setting(setting)})", x, y, dt)
    hdu = fits.PrimaryHDU(sub.astype(np.float32))
    for name, run in ours.items():
        if name.endswith("(claim maps)"):  # PAIS's centres: the same detections
            continue
        t0 = time.perf_counter()
        x, y, _ = run(hdu)
        count(name, x, y, time.perf_counter() - t0)
    return rows


def _machine():
    """CPU model and core count, for the report."""
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{model}, {os.cpu_count()} cores (shared), {platform.system()}, Python {platform.python_version()}"


def _fmt_setting(setting):
    return ", ".join(f"{k}={v:g}" for k, v in setting.items())


# --------------------------------------------------------------------------- report
def report(args, best, tallies, missing, real_rows, wall, pais_params=None):
    names = list(tallies)
    lines = []
    seeds = (f"{args.n_tune} tuning cut-outs (seeds {args.tune_seed0}-{args.tune_seed0 + args.n_tune - 1}) "
             f"choose the classical settings, {args.n_test} benchmark cut-outs (seeds "
             f"{args.seed0}-{args.seed0 + args.n_test - 1}) are scored.")
    lines.append(textwrap.dedent(f"""\
        Command: ``python benchmarks/deblending.py --n-tune {args.n_tune} --n-test {args.n_test}``
        (machine: {_machine()}; one thread; wall time {wall:.0f} s).
        Simulated cut-outs: ``simulate_blends`` defaults (64x64, 1-6 sources, PSF FWHM 3.5 px,
        Moffat beta 2.5); {seeds}
        Matching radius: each true source's PSF-convolved half-light radius. Flux error:
        median ``|f - f_true| / f_true`` over matched sources."""))
    if pais_params is not None:
        shown = ", ".join(f"{k}={pais_params[k]}" for k in ("threshold", "nms_radius", "sharpen", "tta", "dilate",
                                                             "footprint_snr", "attribution", "refine", "residual_gain",
                                                             "prune"))
        lines.append(textwrap.fill(
            f"PAIS: ``NeuralFinder('pais')`` with weights {pais_params['weights']} and their registered "
            f"decoding ({shown}). PAIS (claim maps): the same network and centres, every pixel split by "
            f"the claim maps alone (PAIS as published; it reuses PAIS's network pass, so its time is the "
            f"decoding's). {ORACLE}: the same decoding of the exact "
            f"Partial Contribution Representation of every cut-out (true heatmap, claim vectors and "
            f"claim maps), the ceiling of the decoding with a perfect network.", 100))
    if missing:
        for name, why in missing.items():
            lines.append(f"\n{name}: unavailable here ({why}).")
    lines.append("\nSettings kept (tuning score: median flux error over all true sources and "
                 "spurious detections, a missed source or a spurious detection counting as 1):\n")
    rows = [(label, kind, _fmt_setting(s), score) for label, (kind, _, s, score) in best.items()]
    lines.append(rst_table(("photometry", "finder", "setting", "tuning score"), rows))
    lines.append("\nOverall (all true sources; in brackets those with the simulator's matched-filter "
                 "S/N >= 5 and >= 10):\n")
    rows = []
    for name in names:
        t = tallies[name]
        n, rec, med = t.summary()
        _, rec5, med5 = t.summary(lambda s, r, snr: snr >= 5)
        _, rec10, med10 = t.summary(lambda s, r, snr: snr >= 10)
        rows.append((name, n, f"{rec:.3f} [{rec5:.3f}, {rec10:.3f}]", t.precision(),
                     f"{med:.3f} [{med5:.3f}, {med10:.3f}]", 1000 * t.time / max(args.n_test, 1)))
    lines.append(rst_table(("finder", "true sources", "recall", "precision", "median flux error",
                            "ms / cut-out"), rows))
    for title, col, bins, bnames in (("separation to the nearest neighbour (nn_sep_hlr)", 2,
                                      SEP_BINS, SEP_NAMES),
                                     ("flux ratio to the nearest neighbour", 3, RATIO_BINS,
                                      RATIO_NAMES)):
        lines.append(f"\nRecall / median flux error by {title}:\n")
        header = ["finder"] + [f"{b}" for b in bnames] + ["isolated"]
        rows = []
        for name in names:
            arrs = tallies[name].arrays()
            v = arrs[col]
            cells = [name]
            for lo, hi in zip(bins[:-1], bins[1:], strict=True):
                sel = (v >= lo) & (v < hi)
                cells.append(_cell(arrs, sel))
            cells.append(_cell(arrs, ~np.isfinite(v)))
            rows.append(cells)
        counts = ["(true sources)"]
        v = tallies[names[0]].arrays()[col]
        counts += [int(((v >= lo) & (v < hi)).sum()) for lo, hi in zip(bins[:-1], bins[1:], strict=True)]
        counts.append(int((~np.isfinite(v)).sum()))
        rows.append(counts)
        lines.append(rst_table(header, rows))
    if "PAIS" in tallies:
        lines.append("\nPaired flux comparison: median flux error of PAIS and of each other finder on "
                     "the true sources both found (the overall medians above are over different, "
                     "finder-dependent sets; PAIS also finds the harder ones):\n")
        p_found, p_err = tallies["PAIS"].arrays()[:2]
        rows = []
        for name in names:
            if name == "PAIS":
                continue
            found, err = tallies[name].arrays()[:2]
            both = p_found & found
            if both.any():
                mp, mf = float(np.median(p_err[both])), float(np.median(err[both]))
                rows.append((name, int(both.sum()), mp, mf, mp / mf if mf > 0 else np.nan))
        lines.append(rst_table(("other finder", "sources both found", "PAIS", "other",
                                "ratio PAIS / other"), rows))
    lines.append(f"\nReal image ``sep_image.fits`` (256x256 ESO NTT R band, background from "
                 f"``sep.Background``): SExtractor objects recovered within {REAL_RADIUS:g} px "
                 f"(one-to-one), kept settings:\n")
    lines.append(rst_table(("finder", "detections", "recovered", "of 65", "seconds"), real_rows))
    return "\n".join(lines)


def _cell(arrs, sel):
    found, err = arrs[0], arrs[1]
    if not sel.any():
        return "--"
    rec = found[sel].mean()
    med = np.median(err[sel & found]) if (sel & found).any() else np.nan
    return f"{rec:.2f} / {med:.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-tune", type=int, default=40)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--tune-seed0", type=int, default=None)
    parser.add_argument("--seed0", type=int, default=None)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--pais-weights", help="a local PAIS weights file instead of the registry's")
    parser.add_argument("--real", default=str(REAL),
                        help="folder holding sep_image.fits and sep_image.cat (default ../shared/fixtures/real)")
    args = parser.parse_args(argv)
    from astro_mlfinder.simulate.blends import BENCHMARK_SEED, TUNING_SEED

    args.tune_seed0 = TUNING_SEED if args.tune_seed0 is None else args.tune_seed0
    args.seed0 = BENCHMARK_SEED if args.seed0 is None else args.seed0
    t0 = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", file=sys.stderr, flush=True)

    try:
        import photutils  # noqa: F401
        import sep  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"benchmarks/deblending.py needs photutils and sep: "
                         f"pip install astro_mlfinder[bench] ({exc})") from exc
    ours, missing, pais_params = make_ours(args.pais_weights)
    log(f"ours: {sorted(ours)}; unavailable: {missing or 'none'}")
    best = tune(_sims(args.tune_seed0, args.n_tune), log)
    for label, (_, _, s, score) in best.items():
        log(f"{label}: {_fmt_setting(s)} (tuning score {score:.3f})")
    sims = _sims(args.seed0, args.n_test)
    log(f"simulated {len(sims)} benchmark cut-outs")
    tallies = benchmark(sims, best, ours, log, oracle_params=pais_params)
    log("scored the benchmark cut-outs")
    real_rows = real_image(best, ours, args.real)
    text = report(args, best, tallies, missing, real_rows, time.perf_counter() - t0, pais_params)
    print(text)
    if not args.no_docs:
        update_docs_block(HERE.parent / "docs" / "performance.rst", START, END, text, title=DOCS_TITLE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
