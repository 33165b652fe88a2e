"""Detection benchmark on simulated HI cubes: three ways to find HI (and SoFiA-2 when installed).

Methods, all run on every cube:

* ``classical S+C`` -- `ClassicalFinder` with the HISF paper's SoFiA-2 settings
  (threshold 5, kernels_xy 0,3,6, kernels_z 0,3,7,15, linker minimum size 5);
* ``classical 3.5 + SoFiA rel`` -- the same at threshold 3.5 with SoFiA-2's
  negative-source reliability filter (threshold 0.9, as WALLABY runs it);
* ``unet3d`` -- ``NeuralFinder('unet3d')`` with the shipped weights;
* ``classical 3.5 + neural rel`` -- `ClassicalFinder` at threshold 3.5 (linker
  minimum size 3) with ``reliability='neural'`` (the ``hi_reliability`` 3D
  CNN scores every candidate) and mask dilation;
* ``unet3d + neural rel`` -- ``NeuralFinder('unet3d', threshold=0.02,
  min_size=128, reliability='neural', reliability_threshold=0.7,
  reliability_size=256)``: unet3d segments at a lower probability threshold and
  minimum size, sources of 256 voxels or more are kept as unet3d keeps them,
  smaller ones only when the ``hi_reliability`` CNN scores them 0.7 or more
  (`astro_mlfinder.neural.vetting`); the four values were chosen on 46
  tuning cubes (seeds 4,000,600-4,000,645, the hi_reliability validation
  range, same shape and settings as here) for the highest F1 over all bins
  with no false positive at S/N 3-5;
* ``SoFiA-2`` -- `SofiaFinder` with the ``classical S+C`` settings, only when
  ``--sofia EXECUTABLE`` is given.

Held-out cubes are simulated with integer seeds ``--seed0 .. --seed0 + n - 1``
(30000-; the unet3d training stream and validation set use spawned seed
sequences, hi_reliability trains on seeds 3,000,000- and validates on
4,000,000-), and differ from every training set in their choices: 256
channels (hi_reliability: 96-160; unet3d: 128-channel crops), 8 galaxies,
integrated S/N log-uniform in 1.5-60 (hi_reliability trained on 1.5-40), and
random instrumental realism on every second cube (hi_reliability: 70 %).
Detections are matched one-to-one to the truth by 3D voxel IoU >= 0.2
(`astro_mlfinder.evaluate.match_catalogs`, the HISF criterion). True sources
are binned by their integrated S/N; a false positive is counted in the bin of
its own measured S/N. Per bin: completeness (recall), reliability
(precision), F1, the median ratio of detected to true flux, and the median
relative w20 error of the matched galaxies.

Usage::

    python benchmarks/detection_hi.py                # 24 cubes 256x96x96, updates docs/performance.rst
    python benchmarks/detection_hi.py --n-cubes 4 --no-docs
    python benchmarks/detection_hi.py --sofia /path/to/sofia

The table is printed and written between the markers
``.. detection-hi-start`` and ``.. detection-hi-end`` of docs/performance.rst.
"""

import argparse
import os
import platform
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

# the checkout this script belongs to, before any installed copy of the package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the report helpers beside this script

from _report import rst_table, update_docs_block  # noqa: E402

BINS = (0.0, 3.0, 5.0, 10.0, 20.0, np.inf)
BIN_NAMES = ("<3", "3-5", "5-10", "10-20", ">20")
#: Rows of the report: the bins, then S/N > 5 together, then everything.
ROWS = (*BIN_NAMES, ">5", "all")
START, END = ".. detection-hi-start", ".. detection-hi-end"
REFERENCE = "classical S+C"
HISF = dict(threshold=5.0, kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), min_size_xy=5, min_size_z=5)
LOW = dict(threshold=3.5, kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), min_size_xy=3, min_size_z=3)
VETTED = "unet3d + neural rel"
#: unet3d vetted by the hi_reliability CNN, as tuned on seeds 4,000,600-4,000,645 (never on the benchmark seeds).
VETTED_PARAMS = dict(threshold=0.02, min_size=128, reliability="neural", reliability_threshold=0.7,
                     reliability_size=256)


def make_methods(device="cpu", weights=None, sofia=None):
    """``{name: finder}`` of the benchmarked methods (in report order)."""
    from astro_mlfinder import ClassicalFinder, NeuralFinder, SofiaFinder

    methods = {
        REFERENCE: ClassicalFinder(**HISF),
        "classical 3.5 + SoFiA rel": ClassicalFinder(**{**LOW, "min_size_xy": 5, "min_size_z": 5},
                                                     reliability=True, reliability_threshold=0.9),
        "unet3d": NeuralFinder("unet3d", device=device, weights=weights, progress=False),
        "classical 3.5 + neural rel": ClassicalFinder(**LOW, reliability="neural", dilation=True),
        VETTED: NeuralFinder("unet3d", device=device, weights=weights, progress=False, **VETTED_PARAMS),
    }
    if sofia:
        methods["SoFiA-2"] = SofiaFinder(executable=sofia, **HISF)
    return methods


def _which(values):
    idx = np.searchsorted(BINS, values, side="right") - 1
    idx[~np.isfinite(values)] = -1
    return idx


def _values(column):
    return np.asarray(getattr(column, "value", column), dtype=float)


class Tally:
    """Matched pairs and false positives of one method over all cubes."""

    def __init__(self):
        self.truth_bin, self.matched_bin, self.flux_ratio, self.w20_err, self.fp_bin = [], [], [], [], []
        self.seconds, self.voxels, self.failed = 0.0, 0, 0

    def fail(self, sim, seconds):
        """A cube the method could not search (counted as finding nothing)."""
        self.truth_bin.extend(_which(_values(sim.truth["snr"])).tolist())
        self.seconds += seconds
        self.voxels += sim.data.size
        self.failed += 1

    def add(self, cat, sim, seconds):
        from astro_mlfinder.evaluate import match_catalogs

        det = cat.to_table(["id", "x", "y", "z", "f_sum", "snr", "w20"])
        truth = sim.truth
        res = match_catalogs(det, truth, detected_segment=cat.segment, truth_segment=sim.labels, min_iou=0.2)
        t_bin = _which(_values(truth["snr"]))
        t_rows, d_rows = res.meta["truth_rows"], res.meta["det_rows"]
        self.truth_bin.extend(t_bin.tolist())
        self.matched_bin.extend(t_bin[t_rows].tolist())
        self.flux_ratio.extend(_values(res.matches["flux_ratio"]).tolist())
        w_true = _values(truth["w20"])[t_rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            self.w20_err.extend(np.abs(_values(det["w20"])[d_rows] / w_true - 1).tolist())
        self.fp_bin.extend(_which(_values(det["snr"])[res.meta["fp_rows"]]).tolist())
        self.seconds += seconds
        self.voxels += sim.data.size

    def rows(self):
        from astro_mlfinder.evaluate import scores

        truth, matched, fp_bin = (np.asarray(v) for v in (self.truth_bin, self.matched_bin, self.fp_bin))
        flux, w20 = np.asarray(self.flux_ratio), np.asarray(self.w20_err)
        out = {}
        for name in ROWS:
            if name == "all":
                ks = list(range(-1, len(BIN_NAMES)))
            elif name == ">5":
                ks = [BIN_NAMES.index(b) for b in ("5-10", "10-20", ">20")]
            else:
                ks = [BIN_NAMES.index(name)]
            sel_m = np.isin(matched, ks)
            tp, n_true, n_fp = int(sel_m.sum()), int(np.isin(truth, ks).sum()), int(np.isin(fp_bin, ks).sum())
            p, r, f1 = scores(tp, n_fp, n_true - tp)
            out[name] = {"n_true": n_true, "tp": tp, "fp": n_fp, "completeness": r, "reliability": p, "f1": f1,
                         "flux_ratio": float(np.nanmedian(flux[sel_m])) if tp else np.nan,
                         "w20_err": float(np.nanmedian(w20[sel_m])) if tp else np.nan}
        return out


def _ratio(a, b):
    if not (np.isfinite(a) and np.isfinite(b)):
        return "--"
    if b == 0:
        return "inf" if a > 0 else "--"
    return a / b


def run(n_cubes=24, shape=(256, 96, 96), n_sources=8, snr_range=(1.5, 60.0), seed0=30_000, device="cpu",
        weights=None, threads=None, sofia=None, progress=True):
    """Run the benchmark; return ``(tallies, info)``."""
    import torch

    from astro_mlfinder.classical.reliability import ReliabilityError
    from astro_mlfinder.simulate import simulate_hi_cube

    if threads:
        torch.set_num_threads(int(threads))
    methods = make_methods(device, weights, sofia)
    tallies = {name: Tally() for name in methods}
    info = {"first_call_s": {}, "load_start": os.getloadavg()[0]}
    for i in range(n_cubes):
        realism = "realistic" if i % 2 else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = simulate_hi_cube(shape, n_sources, seed=seed0 + i, snr_range=snr_range, realism=realism)
        counts = []
        for name, finder in methods.items():
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cat = finder(sim.data, progress=False)
            except ReliabilityError:  # SoFiA's filter with too few negative detections
                cat = None  # (a singular covariance matrix, seed 30029): the cube is lost
            dt = time.perf_counter() - t0
            if i == 0:
                info["first_call_s"][name] = dt  # weights loading included for the neural methods
            if cat is None:
                tallies[name].fail(sim, dt)
                counts.append(f"{name} failed")
                continue
            tallies[name].add(cat, sim, dt)
            counts.append(f"{name} {len(cat)}")
        if progress:
            print(f"cube {i + 1}/{n_cubes} ({'realistic' if realism else 'clean'}): {', '.join(counts)}, "
                  f"truth {len(sim.truth)}", file=sys.stderr, flush=True)
    info["load_end"] = os.getloadavg()[0]
    neural = methods["unet3d"]
    info["unet3d_threshold"] = neural.inference_params()["threshold"]
    info["unet3d_weights"] = neural.load_model()[1]["weights"]
    scorer = methods["classical 3.5 + neural rel"]._scorer
    info["rel_threshold"] = scorer.threshold
    info["rel_weights"] = scorer.params
    return tallies, info


def report(tallies, info, args):
    header = ("method", "S/N bin", "N true", "TP", "FP", "completeness", "reliability", "F1", "flux ratio",
              "w20 error")
    rows = []
    results = {name: t.rows() for name, t in tallies.items()}
    for name, res in results.items():
        for b in ROWS:
            r = res[b]
            rows.append((name, b, r["n_true"], r["tp"], r["fp"], r["completeness"], r["reliability"], r["f1"],
                         r["flux_ratio"], r["w20_err"]))
    ref = results[REFERENCE]
    ratio_rows = []
    for name, res in results.items():
        if name == REFERENCE:
            continue
        ratio_rows.append((name, res["3-5"]["completeness"], _ratio(res["3-5"]["completeness"],
                                                                    ref["3-5"]["completeness"]),
                           res["3-5"]["reliability"], ref["3-5"]["reliability"], res[">5"]["f1"],
                           _ratio(res["all"]["f1"], ref["all"]["f1"])))
    speed_rows = [(name, f"{t.voxels / t.seconds:,.0f}", f"{t.seconds / args.n_cubes:.2f}",
                   f"{info['first_call_s'][name]:.2f}", t.failed) for name, t in tallies.items()]
    w, rw = info["unet3d_weights"], info["rel_weights"]
    nz, ny, nx = args.shape
    last = args.seed0 + args.n_cubes - 1
    lo, hi = args.snr_range
    intro = (
        f"{args.n_cubes} held-out simulated HI cubes of {nz}x{ny}x{nx} voxels (seeds {args.seed0}-{last}, "
        f"{args.n_sources} galaxies each, integrated S/N log-uniform in {lo:g}-{hi:g}, every second cube with "
        "random instrumental realism: beam, channel width, noise level and its variation, RFI, baseline "
        "ripples, continuum residuals, edge and sightline galaxies). Matching: one-to-one, 3D IoU >= 0.2; "
        "false positives are binned by their measured S/N. completeness = recall, reliability = precision; "
        "flux ratio = median detected / true f_sum; w20 error = median abs(w20 / true w20 - 1). "
        "classical S+C: threshold 5, kernels_xy 0,3,6, kernels_z 0,3,7,15, linker minimum size 5. "
        "classical 3.5 + SoFiA rel: threshold 3.5, SoFiA-2 reliability filter (threshold 0.9). "
        f"unet3d: weights ``{w.get('name')}`` {w.get('version')}, threshold {info['unet3d_threshold']:g}. "
        "classical 3.5 + neural rel: threshold 3.5, linker minimum size 3, reliability='neural' (weights "
        f"``{rw.get('weights')}`` {rw.get('version')}, score threshold {info['rel_threshold']:g} tuned on "
        f"the validation cubes), dilation on. {VETTED}: unet3d threshold 0.02, minimum size 128, sources under "
        "256 voxels kept only with an hi_reliability score >= 0.7 (tuned on 46 cubes of seeds 4000600-4000645)."
    )
    cpu = platform.processor() or platform.machine()
    text = [
        textwrap.fill(intro, 100),
        "",
        rst_table(header, rows),
        "",
        f"Against {REFERENCE} (recall and precision at integrated S/N 3-5, F1 over S/N > 5, F1 ratio over all):",
        "",
        rst_table(("method", "recall 3-5", "x classical", "precision 3-5", "classical precision 3-5",
                   "F1 >5", "F1 ratio all"), ratio_rows),
        "",
        f"CPU time on {cpu} (torch threads: {args.threads or 'default'}; load average "
        f"{info['load_start']:.1f} at the start, {info['load_end']:.1f} at the end), whole finder call per cube; "
        "the first call includes loading the weights:",
        "",
        rst_table(("method", "voxels / s", "s / cube", "first call s", "failed cubes"), speed_rows),
        "",
        "A failed cube is one where SoFiA-2's reliability filter stopped with a singular covariance matrix "
        "(too few negative detections); its galaxies count as missed.",
    ]
    return "\n".join(text)


def _triple(text):
    from astro_mlfinder.core.tiling import as_tuple

    return as_tuple(text, 3, "--shape", minimum=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-cubes", type=int, default=24)
    parser.add_argument("--shape", type=_triple, default=(256, 96, 96))
    parser.add_argument("--n-sources", type=int, default=8)
    parser.add_argument("--snr-range", type=lambda s: tuple(float(v) for v in s.split(",")), default=(1.5, 60.0))
    parser.add_argument("--seed0", type=int, default=30_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default=None, help="unet3d weights (registry name or file)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sofia", default=None, help="a SoFiA-2 executable: adds SofiaFinder with the S+C settings")
    parser.add_argument("--docs", default=str(Path(__file__).resolve().parent.parent / "docs" / "performance.rst"))
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    tallies, info = run(args.n_cubes, args.shape, args.n_sources, args.snr_range, args.seed0, args.device,
                        args.weights, args.threads, args.sofia)
    text = report(tallies, info, args)
    print(text)
    if not args.no_docs:
        update_docs_block(args.docs, START, END, text)
        print(f"\nupdated {args.docs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
