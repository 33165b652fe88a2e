"""Detection and characterisation benchmark on simulated ALMA dirty cubes: NeuralFinder('deepfocus')
versus ClassicalFinder with the best settings found on separate tuning cubes.

Cubes come from `astro_mlfinder.simulate.simulate_alma_cube` (defaults: 128x256x256, one bright and 2-6
faint sources, ALMA C-3 dirty beam, 1 mJy/beam noise). Seeds are disjoint blocks
(`astro_mlfinder.simulate.ALMA_SEEDS`): DeepFocus trains on 3,000,000+ and validates on 4,000,000+, the
classical finder is tuned here on 7,000,000+ (``--n-tune`` cubes) and both are scored on 8,000,000+
(``--n-cubes`` cubes), which neither ever saw.

Tuning: a scan of ClassicalFinder settings (stage 1: threshold 5-8 x two sets of smoothing kernels x two
linker minimum sizes; stage 2 with the kernels and minimum size of the best: continuum subtraction at
every threshold, then the reliability filter on the best so far); the setting with the highest F1 over
the tuning cubes is used, with mask dilation added when that lowers the median flux error there without
lowering F1 (stage 3).

Matching (stated in the report): a detection matches a true source when its centroid (x, y) lies in
the truth box (x_min - 0.5 .. x_max + 0.5, likewise y) and its spectral extent z_min..z_max overlaps the
truth line window; the assignment is one-to-one, maximising the summed 3D box IoU (Hungarian). Table 4
layout of Delli Veneri et al. (2022): TP, FP, FN, precision, recall, F1, mean box IoU (2D boxes, and
3D boxes x windows). Residuals against the truth, binned by the true peak S/N: position (pixels),
relative FWHM along the major and minor axes, PA (deg, sources with axis ratio < 0.8 only; PA is
undefined for round sources) and relative line flux. For the classical finder the FWHM and PA come from
its moment ellipse (``ell_maj = 2 sigma``) with the restoring beam's covariance subtracted, and the flux
from ``f_sum`` / beam area x channel width.

Usage::

    python benchmarks/detection_alma.py                  # tune on 6 cubes, score 20, update docs
    python benchmarks/detection_alma.py --n-cubes 4 --n-tune 2 --no-docs
    python benchmarks/detection_alma.py --tuning-cache scan.json   # reuse a scan of the same settings
    python benchmarks/detection_alma.py --first-seed 7000040 --n-cubes 40 --no-docs   # diagnose on tuning cubes

The report is printed and written between ``.. detection-alma-start`` and ``.. detection-alma-end`` of
docs/performance.rst.
"""

import argparse
import platform
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

try:
    import astro_mlfinder  # noqa: F401
except ImportError:  # running from a source checkout without installation
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the report helpers beside this script

from _report import rst_table, update_docs_block  # noqa: E402

START, END = ".. detection-alma-start", ".. detection-alma-end"
BINS = (0.0, 10.0, 20.0, 40.0, np.inf)
BIN_NAMES = ("<10", "10-20", "20-40", ">=40")
FWHM_PER_SIGMA = np.sqrt(8.0 * np.log(2.0))

#: Stage 1 of the classical scan: threshold x (kernels_xy, kernels_z) x (min_size_xy, min_size_z).
THRESHOLDS = (5.0, 6.0, 7.0, 8.0)
KERNELS = {"sofia": ((0, 3, 6), (0, 3, 7, 15)), "beam": ((0, 6, 12), (0, 5, 11, 21))}
MIN_SIZES = ((5, 5), (8, 3))
#: Stage 2, on the kernels and minimum size of the best of stage 1: continuum subtraction at every
#: threshold, then the reliability filter on the best so far.
CONTSUB = {"contsub": True}
RELIABILITY = {"reliability": True, "reliability_threshold": 0.9}
#: Stage 3: mask dilation (for fluxes), SoFiA's default (stops when the flux grows by < 0.1 %) and forced
#: dilations by a fixed number of iterations.
DILATIONS = ({"dilation": True},
             {"dilation": True, "dilation_threshold": -1.0, "dilation_iterations_xy": 3, "dilation_iterations_z": 2},
             {"dilation": True, "dilation_threshold": -1.0, "dilation_iterations_xy": 6, "dilation_iterations_z": 3})


def _simulate(seed, shape):
    from astro_mlfinder.simulate import simulate_alma_cube

    return simulate_alma_cube(shape=shape, seed=seed)


def _value(col):
    return np.asarray(getattr(col, "value", col), dtype=float)


def match(det, truth):
    """Indices ``(det_rows, truth_rows, iou2d, iou3d)`` of the one-to-one matches (see the module doc)."""
    from scipy.optimize import linear_sum_assignment

    n_d, n_t = len(det["x"]), len(truth)
    if n_d == 0 or n_t == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0)
    d = {k: _value(det[k])[:, None] for k in ("x", "y", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max")}
    t = {k: _value(truth[k])[None, :] for k in ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")}
    inside = ((d["x"] >= t["x_min"] - 0.5) & (d["x"] <= t["x_max"] + 0.5)
              & (d["y"] >= t["y_min"] - 0.5) & (d["y"] <= t["y_max"] + 0.5))
    overlap_z = (d["z_min"] <= t["z_max"]) & (d["z_max"] >= t["z_min"])
    allowed = inside & overlap_z

    def extent(a0, a1, b0, b1):
        return np.clip(np.minimum(a1, b1) - np.maximum(a0, b0) + 1, 0, None)

    ix = extent(d["x_min"], d["x_max"], t["x_min"], t["x_max"])
    iy = extent(d["y_min"], d["y_max"], t["y_min"], t["y_max"])
    iz = extent(d["z_min"], d["z_max"], t["z_min"], t["z_max"])

    def size(p, k):
        return p[f"{k}_max"] - p[f"{k}_min"] + 1

    a_d, a_t = size(d, "x") * size(d, "y"), size(t, "x") * size(t, "y")
    iou2 = ix * iy / (a_d + a_t - ix * iy)
    v_d, v_t = a_d * size(d, "z"), a_t * size(t, "z")
    iou3 = ix * iy * iz / (v_d + v_t - ix * iy * iz)
    cost = np.where(allowed, -iou3 - 1.0, 0.0)
    rows, cols = linear_sum_assignment(cost)
    keep = allowed[rows, cols]
    rows, cols = rows[keep], cols[keep]
    return rows, cols, iou2[rows, cols], iou3[rows, cols]


def _deconvolve(maj, mnr, pa, beam):
    """Source FWHM (major, minor, pixels) and PA (deg E of N) from a measured moment ellipse and the beam."""
    def cov(fwhm_a, fwhm_b, pa_deg):
        t = np.deg2rad(pa_deg + 90.0)  # pixel angle from +x of the major axis
        c, s = np.cos(t), np.sin(t)
        sa, sb = fwhm_a / FWHM_PER_SIGMA, fwhm_b / FWHM_PER_SIGMA
        return np.array([[sa**2 * c * c + sb**2 * s * s, (sa**2 - sb**2) * c * s],
                         [(sa**2 - sb**2) * c * s, sa**2 * s * s + sb**2 * c * c]])

    out = np.full((len(maj), 3), np.nan)
    b = cov(*beam)
    for i, (a, m, p) in enumerate(zip(maj, mnr, pa, strict=True)):
        if not (np.isfinite(a) and np.isfinite(m) and np.isfinite(p)):
            continue
        c = cov(a * FWHM_PER_SIGMA / 2.0, m * FWHM_PER_SIGMA / 2.0, p) - b
        vals, vecs = np.linalg.eigh(c)
        vals = np.clip(vals, 0.25, None)  # unresolved: at most a fraction of a pixel
        theta = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
        out[i] = (FWHM_PER_SIGMA * np.sqrt(vals[1]), FWHM_PER_SIGMA * np.sqrt(vals[0]), (theta - 90.0) % 180.0)
    return out


def measurements(cat, sim, kind):
    """Detection table: boxes, windows, centroid and FWHM (px), PA (deg E of N), flux (Jy Hz)."""
    import astropy.units as u

    names = cat.column_names
    base = ["x", "y", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max"]
    t = cat.to_table(base + [n for n in ("f_sum", "ell_maj", "ell_min", "ell_pa", "fwhm_x", "fwhm_y", "pa", "flux")
                             if n in names])
    out = {k: _value(t[k]) for k in base}
    n = len(out["x"])
    pix = sim.params["pixel_scale"]
    omega = sim.params["beam_area"]
    dnu = sim.params["channel_width"]
    if kind.startswith("deepfocus") and "fwhm_x" in t.colnames:
        fx, fy = t["fwhm_x"], t["fwhm_y"]
        fx = fx.to_value(u.arcsec) / pix if hasattr(fx, "unit") and fx.unit.physical_type == "angle" else _value(fx)
        fy = fy.to_value(u.arcsec) / pix if hasattr(fy, "unit") and fy.unit.physical_type == "angle" else _value(fy)
        flux = t["flux"]
        flux = flux.to_value(u.Jy * u.Hz) if hasattr(flux, "unit") and flux.unit != u.dimensionless_unscaled \
            else _value(flux)
        out.update(fwhm_maj=np.maximum(fx, fy), fwhm_min=np.minimum(fx, fy), pa=_value(t["pa"]) % 180.0,
                   flux=flux)
    else:
        bmaj, bmin, bpa = sim.params["beam"]
        dec = _deconvolve(_value(t["ell_maj"]), _value(t["ell_min"]), _value(t["ell_pa"]), (bmaj, bmin, bpa))
        dec = dec.reshape(n, 3)
        out.update(fwhm_maj=dec[:, 0], fwhm_min=dec[:, 1], pa=dec[:, 2], flux=_value(t["f_sum"]) / omega * dnu)
    return out


class Tally:
    """Matches, misses, false positives, residuals and timings of one finder over the benchmark cubes."""

    def __init__(self):
        self.tp = self.fp = self.fn = 0
        self.iou2, self.iou3 = [], []
        self.res = {k: [] for k in ("snr", "pos", "fwhm_maj", "fwhm_min", "pa", "flux", "elongated")}
        self.truth_snr = []
        self.wall, self.cpu, self.n = 0.0, 0.0, 0

    def add(self, det, sim, wall, cpu):
        truth = sim.truth
        rows, cols, iou2, iou3 = match(det, truth)
        self.tp += len(rows)
        self.fp += len(det["x"]) - len(rows)
        self.fn += len(truth) - len(rows)
        self.iou2.extend(iou2.tolist())
        self.iou3.extend(iou3.tolist())
        self.truth_snr.extend(_value(truth["snr_peak"]).tolist())
        tx, ty = _value(truth["x"])[cols], _value(truth["y"])[cols]
        fx, fy = _value(truth["fwhm_x"])[cols], _value(truth["fwhm_y"])[cols]
        self.res["snr"].extend(_value(truth["snr_peak"])[cols].tolist())
        self.res["pos"].extend(np.hypot(det["x"][rows] - tx, det["y"][rows] - ty).tolist())
        self.res["fwhm_maj"].extend((det["fwhm_maj"][rows] / fx - 1.0).tolist())
        self.res["fwhm_min"].extend((det["fwhm_min"][rows] / fy - 1.0).tolist())
        dpa = np.abs(det["pa"][rows] - _value(truth["pa"])[cols]) % 180.0
        self.res["pa"].extend(np.minimum(dpa, 180.0 - dpa).tolist())
        self.res["flux"].extend((det["flux"][rows] / _value(truth["flux"])[cols] - 1.0).tolist())
        self.res["elongated"].extend((fy / fx < 0.8).tolist())
        self.wall += wall
        self.cpu += cpu
        self.n += 1

    def scores(self):
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else np.nan
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else np.nan
        f1 = 2 * p * r / (p + r) if np.isfinite(p) and np.isfinite(r) and p + r > 0 else np.nan
        return p, r, f1

    def binned(self):
        res = {k: np.asarray(v, dtype=float) for k, v in self.res.items()}
        truth_snr = np.asarray(self.truth_snr)
        rows = []
        for k, name in enumerate((*BIN_NAMES, "all", "peak S/N > 5")):
            if k < len(BIN_NAMES):
                sel = (res["snr"] >= BINS[k]) & (res["snr"] < BINS[k + 1])
                n_true = int(np.sum((truth_snr >= BINS[k]) & (truth_snr < BINS[k + 1])))
            elif name == "all":
                sel = np.ones(len(res["snr"]), bool)
                n_true = len(truth_snr)
            else:
                sel = res["snr"] > 5.0
                n_true = int(np.sum(truth_snr > 5.0))
            pa_sel = sel & (res["elongated"] > 0)

            def med(v, s):
                v = v[s & np.isfinite(v)]
                return float(np.median(v)) if len(v) else np.nan

            rows.append((name, n_true, int(sel.sum()), int(sel.sum()) / n_true if n_true else np.nan,
                         med(res["pos"], sel), med(np.abs(res["fwhm_maj"]), sel), med(np.abs(res["fwhm_min"]), sel),
                         med(res["pa"], pa_sel), med(res["flux"], sel), med(np.abs(res["flux"]), sel)))
        return rows


def _run_finder(finder, sim):
    hdu = sim.to_hdu()  # the header gives both finders the WCS, BUNIT, beam and channel width
    w0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = finder(hdu, progress=False)
    return cat, time.perf_counter() - w0, time.process_time() - c0


def _classical(params):
    from astro_mlfinder import ClassicalFinder

    return ClassicalFinder(**params)


def _memo_key(params):
    import json

    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}, sort_keys=True)


def tune(n_cubes, seed0, shape, progress=True, memo=None):
    """The classical scan on the tuning cubes: ``(best_params, rows)``.

    ``memo`` maps settings (`_memo_key`) to rows of an earlier scan of the same cubes; those settings are
    not run again.
    """
    memo = {} if memo is None else memo
    sims = []
    scanned = {}

    def score(params, need_flux=False):
        row = memo.get(_memo_key(params))
        if row is None or (need_flux and (len(row) < 8 or not np.isfinite(row[7])) and not isinstance(row[1], str)):
            if not sims:
                sims.extend(_simulate(seed0 + i, shape) for i in range(n_cubes))
            row = _score(params, sims, progress)
            memo[_memo_key(params)] = row
        scanned[_memo_key(params)] = row
        f1 = row[6]
        flux = row[7] if len(row) > 7 else np.nan
        return (f1 if np.isfinite(f1) else -np.inf), flux

    best, best_f1 = None, -1.0
    for thr in THRESHOLDS:
        for kxy, kz in KERNELS.values():
            for mxy, mz in MIN_SIZES:
                params = {"threshold": thr, "kernels_xy": kxy, "kernels_z": kz, "min_size_xy": mxy, "min_size_z": mz}
                f1, _ = score(params)
                if f1 > best_f1:
                    best, best_f1 = params, f1
    stage1 = dict(best)
    for thr in THRESHOLDS:
        f1, _ = score(params := stage1 | CONTSUB | {"threshold": thr})
        if f1 > best_f1:
            best, best_f1 = params, f1
    f1, _ = score(params := best | RELIABILITY)
    if f1 > best_f1:
        best, best_f1 = params, f1
    # stage 3: mask dilation, kept when it lowers the median flux error without lowering F1
    best_f1, best_flux = score(best, need_flux=True)
    stage2 = dict(best)
    for extra in DILATIONS:
        f1, flux = score(params := stage2 | extra, need_flux=True)
        if f1 >= best_f1 and flux < best_flux:
            best, best_flux = params, flux
    return best, list(scanned.values())


def _score(params, sims, progress):
    """One scan row: ``(params, TP, FP, FN, precision, recall, F1, median |flux error|)``."""
    tally = Tally()
    finder = _classical(params)
    try:
        for sim in sims:
            cat, wall, cpu = _run_finder(finder, sim)
            tally.add(measurements(cat, sim, "classical"), sim, wall, cpu)
    except Exception as exc:  # a setting that fails on a tuning cube is reported and skipped
        reason = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
        if progress:
            print(f"tuning {_describe(params)}: {reason}", file=sys.stderr, flush=True)
        return (dict(params), reason, "--", "--", np.nan, np.nan, np.nan, np.nan)
    p, r, f1 = tally.scores()
    ferr = np.abs(np.asarray(tally.res["flux"], dtype=float))
    flux = float(np.median(ferr[np.isfinite(ferr)])) if np.isfinite(ferr).any() else np.nan
    if progress:
        print(f"tuning {_describe(params)}: P {p:.3f} R {r:.3f} F1 {f1:.3f} rel err flux {flux:.3f}",
              file=sys.stderr, flush=True)
    return (dict(params), tally.tp, tally.fp, tally.fn, p, r, f1, flux)


def _describe(params):
    kern = next((k for k, v in KERNELS.items() if v == (params["kernels_xy"], params["kernels_z"])), "custom")
    text = (f"threshold {params['threshold']:g}, kernels {kern} (xy {params['kernels_xy']}, z {params['kernels_z']}), "
            f"min size {params['min_size_xy']}x{params['min_size_z']}")
    if params.get("reliability"):
        text += f", reliability >= {params['reliability_threshold']:g}"
    if params.get("contsub"):
        text += ", continuum subtraction"
    if params.get("dilation"):
        if params.get("dilation_threshold", 0.001) < 0:
            text += (f", mask dilation by {params['dilation_iterations_xy']}x"
                     f"{params['dilation_iterations_z']} iterations")
        else:
            text += ", mask dilation (SoFiA default)"
    return text


def _deepfocus(device, weights):
    """NeuralFinder('deepfocus') or the reason it is unavailable."""
    try:
        from astro_mlfinder import NeuralFinder

        return NeuralFinder("deepfocus", device=device, weights=weights, progress=False), None
    except Exception as exc:  # any reason: not registered, no torch, no weights
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]


def _scan_key(n_tune, shape):
    from astro_mlfinder.simulate import ALMA_SEEDS

    return {"n_tune": int(n_tune), "shape": list(shape), "seed0": ALMA_SEEDS["tuning"]}


def _params_from_json(params):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def tuned(n_tune, shape, cache=None, progress=True):
    """The classical scan; the settings ``cache`` (JSON) already holds for the same tuning cubes are read
    from it, the others run and added to it."""
    import json

    from astro_mlfinder.simulate import ALMA_SEEDS

    key = _scan_key(n_tune, shape)
    memo = {}
    if cache is not None and Path(cache).exists():
        saved = json.loads(Path(cache).read_text())
        if saved.get("key") == key:
            for row in saved["rows"]:
                params = _params_from_json(row[0])
                memo[_memo_key(params)] = (params, *row[1:])
    best, scanned = tune(n_tune, ALMA_SEEDS["tuning"], shape, progress, memo)
    if cache is not None:
        Path(cache).write_text(json.dumps({"key": key, "rows": list(memo.values())}, indent=1))
    return best, scanned


def run(n_cubes=20, n_tune=6, shape=(128, 256, 256), device="cpu", weights=None, threads=None, progress=True,
        cache=None, first_seed=None):
    """Tune the classical finder (or read the scan from ``cache``), then score both finders on the benchmark
    cubes.

    ``weights``: None (the newest registered DeepFocus weights), one weights source, or a list of them (each
    scored as its own DeepFocus column on the same cubes, interleaved). ``first_seed``: the first scored cube
    (default the benchmark block, ``ALMA_SEEDS['benchmark']``; tuning seeds for diagnosis).
    """
    from astro_mlfinder.simulate import ALMA_SEEDS

    if threads:
        try:
            import torch

            torch.set_num_threads(int(threads))
        except ImportError:
            pass
    best, scanned = tuned(n_tune, shape, cache, progress)
    classical = _classical(best)
    sources = list(weights) if isinstance(weights, (list, tuple)) else [weights]
    tallies = {"classical": Tally()}
    neurals = {}
    info = {"best": best, "scanned": scanned, "deepfocus_unavailable": None, "sim_s": 0.0}
    for src in sources:
        neural, why = _deepfocus(device, src)
        name = ("deepfocus" if len(sources) == 1 else str(src) if str(src).startswith("deepfocus")
                else f"deepfocus {src or 'default'}")
        if neural is None:
            info["deepfocus_unavailable"] = why
            print(f"deepfocus {src} unavailable: {why}", file=sys.stderr, flush=True)
        else:
            neurals[name] = neural
            tallies[name] = Tally()
    for i in range(n_cubes):
        t0 = time.perf_counter()
        sim = _simulate((ALMA_SEEDS["benchmark"] if first_seed is None else int(first_seed)) + i, shape)
        info["sim_s"] += time.perf_counter() - t0
        cat, wall, cpu = _run_finder(classical, sim)
        tallies["classical"].add(measurements(cat, sim, "classical"), sim, wall, cpu)
        line = f"cube {i + 1}/{n_cubes}: truth {len(sim.truth)}, classical {len(cat)}"
        for name, neural in list(neurals.items()):
            try:
                cat_n, wall, cpu = _run_finder(neural, sim)
            except Exception as exc:  # e.g. weights missing: report it, keep the other columns
                info["deepfocus_unavailable"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                print(f"{name} dropped: {info['deepfocus_unavailable']}", file=sys.stderr, flush=True)
                del neurals[name], tallies[name]
            else:
                tallies[name].add(measurements(cat_n, sim, name), sim, wall, cpu)
                line += f", {name} {len(cat_n)}"
        if progress:
            print(line, file=sys.stderr, flush=True)
    info["deepfocus_weights"] = {name: neural.neural_model.load(False)[1].get("weights", {})
                                 for name, neural in neurals.items()}
    return tallies, info


def report(tallies, info, args):
    nz, ny, nx = args.shape
    from astro_mlfinder.simulate import ALMA_SEEDS

    b0, t0 = ALMA_SEEDS["benchmark"] if args.first_seed is None else args.first_seed, ALMA_SEEDS["tuning"]
    held_out = b0 == ALMA_SEEDS["benchmark"]
    intro = (
        f"{args.n_cubes} simulated ALMA dirty cubes of {nz}x{ny}x{nx} voxels (``simulate_alma_cube`` defaults: "
        f"C-3 dirty beam ~0.89\"x0.76\" at 230 GHz, 0.1\" pixels, 10 MHz channels, one bright source of line peak "
        f"S/N 20-80 and 2-6 faint of S/N 5-20; seeds {b0}-{b0 + args.n_cubes - 1}, "
        + ("never used in training or tuning" if held_out else "NOT the held-out benchmark block: diagnosis only")
        + "). Matching: a detection matches a true source when its centroid lies in the truth box and its "
        f"spectral extent overlaps the truth line window, one-to-one by maximum 3D box IoU. ClassicalFinder: "
        f"the best F1 of a {len(info['scanned'])}-setting scan on {args.n_tune} tuning cubes "
        f"(seeds {t0}-{t0 + args.n_tune - 1}): {_describe(info['best'])}."
    )
    header = ("finder", "TP", "FP", "FN", "precision", "recall", "F1", "mean IoU 2D", "mean IoU 3D")
    rows = []
    for name, t in tallies.items():
        p, r, f1 = t.scores()
        rows.append((name, t.tp, t.fp, t.fn, p, r, f1,
                     float(np.mean(t.iou2)) if t.iou2 else np.nan, float(np.mean(t.iou3)) if t.iou3 else np.nan))
    res_header = ("finder", "peak S/N", "N true", "TP", "recall", "pos err px", "rel err FWHM maj",
                  "rel err FWHM min", "abs dPA", "dflux/flux", "rel err flux")
    res_rows = [(name, *r) for name, t in tallies.items() for r in t.binned()]
    scan_rows = []
    for p, tp, fp, fn, pr, rc, f1, *flux in info["scanned"]:
        if isinstance(tp, str):  # a setting that failed: its reason, shortened to the first sentence
            note = tp.split(";")[0].split(". ")[0]
            scan_rows.append((_describe(p), "--", "--", "--", np.nan, np.nan, np.nan, np.nan, note))
        else:
            scan_rows.append((_describe(p), tp, fp, fn, pr, rc, f1, flux[0] if flux else np.nan, ""))
    cpu = platform.processor() or platform.machine()
    speed = [(name, f"{t.wall / t.n:.2f}", f"{t.cpu / t.n:.2f}") for name, t in tallies.items()]
    text = [
        textwrap.fill(intro, 110),
        "",
        rst_table(header, rows),
        "",
        "Residuals against the truth (medians over the matched sources; *rel err*: absolute error over the true "
        "value; *abs dPA*: absolute PA error in degrees, only for axis ratio < 0.8; *dflux/flux*: signed):",
        "",
        rst_table(res_header, res_rows),
        "",
        f"Time per {nz}x{ny}x{nx} cube (finder call; {cpu}, {args.threads or 'default'} torch threads; "
        f"simulating a cube took {info['sim_s'] / max(args.n_cubes, 1):.2f} s):",
        "",
        rst_table(("finder", "wall s / cube", "CPU s / cube"), speed),
        "",
    ]
    neural_names = [name for name in tallies if name.startswith("deepfocus")]
    if neural_names:
        pc, rc, f1c = tallies["classical"].scores()
        for name in neural_names:
            p, r, f1 = tallies[name].scores()
            text += [f"F1 ratio {name} / classical: {f1 / f1c:.2f}." if f1c else "", ""]
            w = (info.get("deepfocus_weights") or {}).get(name) or {}
            if w:
                text += [f"{name}: weights ``{w.get('name')}`` {w.get('version')}.", ""]
    else:
        text += [f"NeuralFinder('deepfocus') unavailable in this run ({info['deepfocus_unavailable']}).", ""]
    text += ["Classical tuning scan (over the tuning cubes; the median flux error is computed where stage 3 "
             "needs it):", "", rst_table(
        ("setting", "TP", "FP", "FN", "precision", "recall", "F1", "rel err flux", "note"), scan_rows)]
    return "\n".join(text)


def _triple(text):
    from astro_mlfinder.core.tiling import as_tuple

    return as_tuple(text, 3, "--shape", minimum=8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-cubes", type=int, default=20, help="benchmark cubes (seeds 8,000,000+)")
    parser.add_argument("--n-tune", type=int, default=6, help="classical tuning cubes (seeds 7,000,000+)")
    parser.add_argument("--shape", type=_triple, default=(128, 256, 256))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", action="append", default=None,
                        help="DeepFocus weights (registry 'deepfocus@0.1.0', a directory); repeat to score several "
                             "on the same cubes (default: the newest registered)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--docs", default=str(Path(__file__).resolve().parent.parent / "docs" / "performance.rst"))
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--first-seed", type=int, default=None, metavar="SEED",
                        help="first scored cube (default the benchmark block, 8,000,000); another block (e.g. tuning "
                             "seeds 7,000,040+) is for diagnosis and needs --no-docs")
    parser.add_argument("--tuning-cache", default=None, metavar="JSON",
                        help="read the classical scan from this file when it holds the same scan, else save it there")
    args = parser.parse_args(argv)
    from astro_mlfinder.simulate import ALMA_SEEDS

    if args.first_seed is not None and args.first_seed != ALMA_SEEDS["benchmark"] and not args.no_docs:
        parser.error(f"--first-seed {args.first_seed} scores cubes outside the held-out benchmark block "
                     f"({ALMA_SEEDS['benchmark']:,}+): add --no-docs (their table must not replace the benchmark's)")
    tallies, info = run(args.n_cubes, args.n_tune, args.shape, args.device, args.weights, args.threads,
                        cache=args.tuning_cache, first_seed=args.first_seed)
    text = report(tallies, info, args)
    print(text)
    if not args.no_docs:
        update_docs_block(args.docs, START, END, text, title="Detection on simulated ALMA cubes")
        print(f"\nupdated {args.docs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
