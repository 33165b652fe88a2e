"""Detection benchmark on simulated HI cubes: NeuralFinder('unet3d') versus classical S+C.

Held-out cubes are simulated with integer seeds ``--seed0 .. --seed0 + n - 1``
(the training stream and the validation set use spawned seed sequences and
never produce these cubes), alternately clean and with random instrumental
realism (RFI, ripples, continuum residuals, varying noise/beam/channel
width). Both finders run on every cube; detections are matched one-to-one
to the truth by 3D voxel IoU >= 0.2 (`astro_mlfinder.evaluate.match_catalogs`,
the HISF criterion). True sources are binned by their integrated SNR; a
false positive is counted in the bin of its own measured SNR (as
`astro_mlfinder.evaluate.evaluate_by_bin`). The bins are fixed in advance:
SNR < 5 ("faint"), 5-10, 10-20 and >= 20.

The classical finder is SoFiA-2's smooth + clip as in the HISF paper:
threshold 5 sigma, kernels_xy (0, 3, 6), kernels_z (0, 3, 7, 15), linker
minimum size 5 pixels spatially and 5 channels.

Usage::

    python benchmarks/detection_hi.py    # 16 cubes 256x96x96, updates docs/performance.rst
    python benchmarks/detection_hi.py --n-cubes 4 --no-docs

The table is printed and written between the markers
``.. detection-hi-start`` and ``.. detection-hi-end`` of docs/performance.rst.
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

BINS = (0.0, 5.0, 10.0, 20.0, np.inf)
BIN_NAMES = ("faint <5", "5-10", "10-20", ">=20")
START, END = ".. detection-hi-start", ".. detection-hi-end"


def _classical():
    from astro_mlfinder import ClassicalFinder

    return ClassicalFinder(threshold=5.0, kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), min_size_xy=5, min_size_z=5)


def _which(values):
    idx = np.searchsorted(BINS, values, side="right") - 1
    idx[~np.isfinite(values)] = -1
    return idx


class Tally:
    """Matched pairs and false positives of one finder over all cubes."""

    def __init__(self):
        self.truth_snr, self.matched_bin, self.iou, self.flux_err, self.fp_bin = [], [], [], [], []
        self.seconds, self.voxels = 0.0, 0

    def add(self, cat, sim, seconds):
        from astro_mlfinder.evaluate import match_catalogs

        det = cat.to_table(["id", "x", "y", "z", "f_sum", "snr"])
        truth = sim.truth
        res = match_catalogs(det, truth, detected_segment=cat.segment, truth_segment=sim.labels, min_iou=0.2)
        t_bin = _which(np.asarray(truth["snr"], dtype=float))
        self.truth_snr.extend(t_bin.tolist())
        self.matched_bin.extend(t_bin[res.meta["truth_rows"]].tolist())
        self.iou.extend(np.asarray(res.matches["iou"], dtype=float).tolist())
        self.flux_err.extend((np.asarray(res.matches["flux_ratio"], dtype=float) - 1).tolist())
        det_snr = np.asarray(getattr(det["snr"], "value", det["snr"]), dtype=float)
        self.fp_bin.extend(_which(det_snr[res.meta["fp_rows"]]).tolist())
        self.seconds += seconds
        self.voxels += sim.data.size

    def rows(self):
        from astro_mlfinder.evaluate import scores

        truth = np.asarray(self.truth_snr)
        matched = np.asarray(self.matched_bin)
        fp_bin = np.asarray(self.fp_bin)
        iou = np.asarray(self.iou)
        ferr = np.asarray(self.flux_err)
        out = []
        for k, name in enumerate((*BIN_NAMES, "all")):
            sel_t = truth == k if k < len(BIN_NAMES) else truth >= -1
            sel_m = matched == k if k < len(BIN_NAMES) else np.ones(len(matched), bool)
            n_fp = int(np.sum(fp_bin == k)) if k < len(BIN_NAMES) else len(fp_bin)
            tp = int(sel_m.sum())
            n_true = int(sel_t.sum())
            p, r, f1 = scores(tp, n_fp, n_true - tp)
            out.append(
                {
                    "bin": name,
                    "n_true": n_true,
                    "tp": tp,
                    "fp": n_fp,
                    "precision": p,
                    "recall": r,
                    "f1": f1,
                    "mean_iou": float(np.mean(iou[sel_m])) if tp else np.nan,
                    "median_flux_error": float(np.median(ferr[sel_m])) if tp else np.nan,
                }
            )
        return out


def _ratio(a, b):
    if not (np.isfinite(a) and np.isfinite(b)):
        return "--"
    if b == 0:
        return "inf" if a > 0 else "--"
    return a / b


def run(
    n_cubes=16,
    shape=(256, 96, 96),
    n_sources=8,
    snr_range=(3.0, 30.0),
    seed0=30_000,
    device="cpu",
    weights=None,
    threads=None,
    progress=True,
):
    """Run the benchmark; return ``(tallies, timing)``."""
    import torch

    from astro_mlfinder import NeuralFinder
    from astro_mlfinder.simulate import simulate_hi_cube

    if threads:
        torch.set_num_threads(int(threads))
    # speed requirement: a fresh finder, weights loading included, on one 256x96x96 cube
    timing = {}
    tallies = {"classical S+C": Tally(), "unet3d": Tally()}
    classical = _classical()
    neural = None
    for i in range(n_cubes):
        realism = "realistic" if i % 2 else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = simulate_hi_cube(shape, n_sources, seed=seed0 + i, snr_range=snr_range, realism=realism)
        t0 = time.perf_counter()
        if neural is None:
            neural = NeuralFinder("unet3d", device=device, weights=weights, progress=False)
        cat_n = neural(sim.data, wcs=sim.wcs, progress=False)
        dt = time.perf_counter() - t0
        if i == 0:
            timing["first_call_with_loading_s"] = dt
        tallies["unet3d"].add(cat_n, sim, dt)
        t0 = time.perf_counter()
        cat_c = classical(sim.data, wcs=sim.wcs, progress=False)
        tallies["classical S+C"].add(cat_c, sim, time.perf_counter() - t0)
        if progress:
            print(
                f"cube {i + 1}/{n_cubes} ({'realistic' if realism else 'clean'}): "
                f"unet3d {len(cat_n)} sources, S+C {len(cat_c)}, truth {len(sim.truth)}",
                file=sys.stderr,
                flush=True,
            )
    timing["threshold"] = neural.inference_params()["threshold"]
    timing["weights"] = neural.load_model()[1]["weights"]
    if torch.cuda.is_available() and device != "cuda":
        gpu = NeuralFinder("unet3d", device="cuda", weights=weights, progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = simulate_hi_cube(shape, n_sources, seed=seed0, snr_range=snr_range)
        gpu(sim.data)
        t0 = time.perf_counter()
        gpu(sim.data)
        timing["gpu_voxels_per_s"] = sim.data.size / (time.perf_counter() - t0)
    return tallies, timing


def report(tallies, timing, args):
    header = (
        "finder",
        "SNR bin",
        "N true",
        "TP",
        "FP",
        "precision",
        "recall",
        "F1",
        "mean IoU",
        "median flux err",
    )
    rows = []
    for name, tally in tallies.items():
        for r in tally.rows():
            rows.append(
                (
                    name,
                    r["bin"],
                    r["n_true"],
                    r["tp"],
                    r["fp"],
                    r["precision"],
                    r["recall"],
                    r["f1"],
                    r["mean_iou"],
                    r["median_flux_error"],
                )
            )
    speed_rows = [
        (name, f"{t.voxels / t.seconds:,.0f}", f"{t.seconds / args.n_cubes:.2f}") for name, t in tallies.items()
    ]
    if "gpu_voxels_per_s" in timing:
        speed_rows.append(("unet3d (GPU)", f"{timing['gpu_voxels_per_s']:,.0f}", "--"))
    f1 = {name: {r["bin"]: r["f1"] for r in t.rows()} for name, t in tallies.items()}
    ratio_rows = [
        (
            b,
            f1["unet3d"][b],
            f1["classical S+C"][b],
            _ratio(f1["unet3d"][b], f1["classical S+C"][b]),
        )
        for b in (*BIN_NAMES, "all")
    ]
    w = timing["weights"]
    nz, ny, nx = args.shape
    last = args.seed0 + args.n_cubes - 1
    lo, hi = args.snr_range
    intro = (
        f"{args.n_cubes} held-out simulated HI cubes of {nz}x{ny}x{nx} voxels "
        f"(seeds {args.seed0}-{last}, {args.n_sources} galaxies each, integrated SNR "
        f"log-uniform in {lo:g}-{hi:g}, every second cube with random instrumental "
        "realism: RFI, baseline ripples, continuum residuals, variable "
        "noise). Matching: one-to-one, 3D IoU >= 0.2; false positives are binned by their measured "
        "SNR. Classical: smooth + clip, threshold 5, kernels_xy 0,3,6, kernels_z 0,3,7,15, linker "
        f"minimum size 5. unet3d: weights ``{w.get('name')}`` {w.get('version')} (sha256 "
        f"{str(w.get('sha256'))[:12]}...), threshold {timing['threshold']:g} (tuned on the "
        "validation set)."
    )
    cpu = platform.processor() or platform.machine()
    text = [
        textwrap.fill(intro, 100),
        "",
        rst_table(header, rows),
        "",
        "F1 ratio (unet3d / classical):",
        "",
        rst_table(("SNR bin", "F1 unet3d", "F1 classical", "ratio"), ratio_rows),
        "",
        f"Speed on {cpu} CPU (torch threads: {args.threads or 'default'}), whole finder call per cube:",
        "",
        rst_table(("finder", "voxels / s", "s / cube"), speed_rows),
        "",
        f"NeuralFinder('unet3d') on one {nz}x{ny}x{nx} cube including weight loading: "
        f"{timing['first_call_with_loading_s']:.1f} s.",
    ]
    return "\n".join(text)


def _triple(text):
    from astro_mlfinder.core.tiling import as_tuple

    return as_tuple(text, 3, "--shape", minimum=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-cubes", type=int, default=16)
    parser.add_argument("--shape", type=_triple, default=(256, 96, 96))
    parser.add_argument("--n-sources", type=int, default=8)
    parser.add_argument("--snr-range", type=lambda s: tuple(float(v) for v in s.split(",")), default=(3.0, 30.0))
    parser.add_argument("--seed0", type=int, default=30_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--docs", default=str(Path(__file__).resolve().parent.parent / "docs" / "performance.rst"))
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    tallies, timing = run(
        args.n_cubes,
        args.shape,
        args.n_sources,
        args.snr_range,
        args.seed0,
        args.device,
        args.weights,
        args.threads,
    )
    text = report(tallies, timing, args)
    print(text)
    if not args.no_docs:
        update_docs_block(args.docs, START, END, text)
        print(f"\nupdated {args.docs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
