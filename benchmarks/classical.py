"""Speed and memory of the smooth-and-clip finder against SoFiA-2 and scipy.

Runs :func:`astro_mlfinder.classical.smooth_clip.smooth_clip` (kernels
0, 3, 6 x 0, 3, 7, 15, threshold 5) on seeded float32 noise cubes with a few
Gaussian sources, and, when ``astro_mlfinder.ClassicalFinder`` can be
imported, the full classical finder on the same cube.  Each cube size runs in
a fresh subprocess so that its peak memory is measured on its own.

Columns
-------
wall        wall-clock seconds of ``smooth_clip`` (numba already compiled)
Mvox/s      voxels per second
peak        peak resident memory of the whole process during the call (GB),
            input cube and Python/numba runtime included
peak/cube   that peak divided by the float32 cube size
data/cube   the same without the interpreter and numba runtime measured before
            the cube was made (about 0.2 GB), i.e. input cube + working arrays;
            this is the figure to compare with SoFiA-2's 2.0x
xSoFiA      wall time and peak memory relative to SoFiA-2 2.5.1 as recorded on
            this 2-core machine for 512^3 (25 s, 1.06 GB; see
            /work/shared/reference/sofia2.md section 11.2); other sizes get
            no ratio (SoFiA-2 is measured at every size, in the same run, by
            benchmarks/speed.py)
ref         a plain numpy + scipy.ndimage implementation of the same algorithm
            run in the same process (uniform_filter1d with zero padding), its
            wall time, speed-up of smooth_clip over it, and the number of
            voxels where the two masks differ
finder      the full ClassicalFinder (linker, parameterisation, ...) if present

Usage::

    python benchmarks/classical.py                 # 128^3, 256^3 and 512^3
    python benchmarks/classical.py --sizes 128 256 # choose sizes
    python benchmarks/classical.py --no-reference  # skip the scipy reference
    python benchmarks/classical.py --stream 512 --threshold 3.5 5 --repeat 2
        # smooth_clip streamed plane by plane against the working cube, interleaved in
        # one process (wall and CPU seconds, masks compared)
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SOFIA_512_WALL = 25.0  # s, 2 threads, sofia2.md section 11.2
SOFIA_512_PEAK = 1.06e9  # bytes
KERNELS_XY = (0, 3, 6)
KERNELS_Z = (0, 3, 7, 15)
THRESHOLD = 5.0

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------
# measurement helpers (run inside the worker process)
# ---------------------------------------------------------------------------

def _reset_peak():
    """Reset the kernel's resident-memory high-water mark (Linux); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss():
    """Peak resident set size of this process in bytes."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_cube(n, seed=42, n_sources=8):
    """Seeded float32 Gaussian noise cube (sigma 1) with a few 3D Gaussian sources."""
    rng = np.random.default_rng(seed)
    cube = rng.standard_normal((n, n, n), dtype=np.float32)
    for _ in range(n_sources):
        cz, cy, cx = rng.uniform(0.15 * n, 0.85 * n, 3)
        sz, sxy = rng.uniform(3.0, 10.0), rng.uniform(1.5, 4.0)
        amp = rng.uniform(0.8, 3.0)
        hz, hxy = int(4 * sz), int(4 * sxy)
        z0, z1 = max(int(cz) - hz, 0), min(int(cz) + hz + 1, n)
        y0, y1 = max(int(cy) - hxy, 0), min(int(cy) + hxy + 1, n)
        x0, x1 = max(int(cx) - hxy, 0), min(int(cx) + hxy + 1, n)
        z, y, x = np.ogrid[z0:z1, y0:y1, x0:x1]
        blob = amp * np.exp(-0.5 * (((z - cz) / sz) ** 2 + ((y - cy) / sxy) ** 2
                                    + ((x - cx) / sxy) ** 2))
        cube[z0:z1, y0:y1, x0:x1] += blob.astype(np.float32)
    return cube


def reference_smooth_clip(cube, kernels_xy, kernels_z, threshold, replacement=2.0):
    """The same S+C algorithm with numpy and scipy.ndimage.uniform_filter1d only."""
    from scipy.ndimage import uniform_filter1d

    from astro_mlfinder.classical.smooth_clip import optimal_filter_size
    from astro_mlfinder.core.stats import measure_noise

    blank = np.isnan(cube)
    mask = np.zeros(cube.shape, dtype=bool)
    rms0 = measure_noise(cube, "mad", "negative")
    rv = np.float32(replacement * rms0)
    for kxy in sorted(kernels_xy):
        for kz in sorted(kernels_z):
            if kxy == 0 and kz == 0:
                sm, rms = cube, rms0
            else:
                sm = np.where(blank, np.float32(0), cube)
                sm[mask] = np.copysign(rv, cube[mask])
                if kxy > 0:
                    n_iter, r = optimal_filter_size(kxy)
                    for axis in (2, 1):
                        for _ in range(n_iter):
                            uniform_filter1d(sm, 2 * r + 1, axis=axis, output=sm,
                                             mode="constant")
                if kz // 2 > 0:
                    uniform_filter1d(sm, 2 * (kz // 2) + 1, axis=0, output=sm, mode="constant")
                sm[blank] = np.nan
                rms = measure_noise(sm, "mad", "negative")
            with np.errstate(invalid="ignore"):
                mask |= np.abs(sm) > threshold * rms
            del sm
    return mask


def worker(n, reference, finder):
    """Benchmark one cube size; return a dict of results."""
    sys.path.insert(0, ROOT)
    from astro_mlfinder.classical.smooth_clip import smooth_clip

    # compile (or load the numba cache) outside the timed region
    warm = make_cube(24, seed=1, n_sources=1)
    smooth_clip(warm, kernels_xy=KERNELS_XY, kernels_z=(0, 3, 7, 15), threshold=THRESHOLD)
    del warm

    _reset_peak()
    out = {"n": n, "rss_base": _peak_rss()}   # interpreter, numpy, numba runtime
    cube = make_cube(n)
    out.update(voxels=cube.size, cube_bytes=cube.nbytes)
    can_reset = _reset_peak()
    out["rss_before"] = _peak_rss()
    t0 = time.perf_counter()
    res = smooth_clip(cube, kernels_xy=KERNELS_XY, kernels_z=KERNELS_Z, threshold=THRESHOLD)
    out["wall"] = time.perf_counter() - t0
    out["peak"] = _peak_rss()
    out["peak_reset"] = can_reset
    out["n_detected"] = int(res.mask.sum())
    out["passes"] = [(float(p["kernel_xy"]), int(p["kernel_z"]), float(p["rms"]), int(p["n_new"]))
                     for p in res.passes]

    if reference:
        _reset_peak()
        t0 = time.perf_counter()
        ref = reference_smooth_clip(cube, KERNELS_XY, KERNELS_Z, THRESHOLD)
        out["ref_wall"] = time.perf_counter() - t0
        out["ref_peak"] = _peak_rss()
        out["ref_diff"] = int(np.count_nonzero(ref != res.mask.astype(bool)))
        del ref
    del res

    if finder:
        try:
            from astro_mlfinder import ClassicalFinder
        except Exception as exc:  # the lead's finder may not exist yet
            out["finder_error"] = f"not importable ({type(exc).__name__})"
        else:
            try:
                fnd = ClassicalFinder(kernels_xy=KERNELS_XY, kernels_z=KERNELS_Z,
                                      threshold=THRESHOLD)
                small = make_cube(32, seed=2, n_sources=1)
                fnd(small, progress=False)
                del small
                _reset_peak()
                t0 = time.perf_counter()
                cat = fnd(cube, progress=False)
                out["finder_wall"] = time.perf_counter() - t0
                out["finder_peak"] = _peak_rss()
                out["finder_sources"] = len(cat)
            except Exception as exc:
                out["finder_error"] = f"{type(exc).__name__}: {exc}"[:80]
    return out


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------

def _fmt_ratio(x):
    return f"{x:.2f}x"


def print_table(results):
    gb = 1e9
    head = (f"{'size':>6} {'wall s':>7} {'Mvox/s':>7} {'peak GB':>8} {'peak/cube':>9} "
            f"{'data/cube':>9} "
            f"{'xSoFiA wall':>11} {'xSoFiA peak':>11} {'ref s':>7} {'speed-up':>8} "
            f"{'diff':>5} {'finder s':>8} {'finder peak/cube':>16}")
    print(head)
    print("-" * len(head))
    for r in results:
        if "error" in r:
            print(f"{r['n']:>5}^3  failed: {r['error']}")
            continue
        at_512 = r["n"] == 512  # the only size with a recorded SoFiA-2 figure: no scaled ratios
        ref_s = f"{r['ref_wall']:7.2f}" if "ref_wall" in r else f"{'-':>7}"
        spd = f"{r['ref_wall'] / r['wall']:7.2f}x" if "ref_wall" in r else f"{'-':>8}"
        diff = f"{r['ref_diff']:5d}" if "ref_diff" in r else f"{'-':>5}"
        if "finder_wall" in r:
            fin = f"{r['finder_wall']:8.2f} {r['finder_peak'] / r['cube_bytes']:15.2f}x"
        else:
            fin = f"{'-':>8} {r.get('finder_error', '-')[:16]:>16}"
        print(f"{r['n']:>5}^3 {r['wall']:7.2f} {r['voxels'] / r['wall'] / 1e6:7.1f} "
              f"{r['peak'] / gb:8.3f} {r['peak'] / r['cube_bytes']:8.2f}x "
              f"{(r['peak'] - r['rss_base']) / r['cube_bytes']:8.2f}x "
              f"{_fmt_ratio(r['wall'] / SOFIA_512_WALL) if at_512 else '-':>11} "
              f"{_fmt_ratio(r['peak'] / SOFIA_512_PEAK) if at_512 else '-':>11} {ref_s} {spd} {diff} {fin}")
    print()
    print("xSoFiA: < 1 means faster / leaner than SoFiA-2 2.5.1 (recorded at 512^3 only: 25 s, 1.06 GB = "
          "2.02x cube; benchmarks/speed.py measures SoFiA-2 at every size).")
    print("Targets at 512^3 on 2 cores: wall <= 37 s (1.5x SoFiA-2), peak <= 2.5x cube.")
    print("finder: full ClassicalFinder (S+C, linker, parameterisation) on the same cube, "
          "peak/cube incl. runtime.")
    for r in results:
        if "passes" in r:
            print(f"{r['n']}^3: {r['n_detected']} voxels detected; rms per pass: "
                  + ", ".join(f"({kxy:g},{kz}) {rms:.4f}" for kxy, kz, rms, _ in r["passes"]))
            if not r.get("peak_reset", True):
                print("  (peak memory could not be reset: it includes cube creation)")


def stream_compare(n, thresholds, repeat):
    """Streamed and working-cube smooth_clip on one cube, interleaved; prints a table."""
    sys.path.insert(0, ROOT)
    from astro_mlfinder.classical.smooth_clip import smooth_clip

    cube = make_cube(n)
    small = np.ascontiguousarray(cube[:64, :64, :64])
    for stream in (True, False):  # load the numba kernels
        smooth_clip(small, kernels_xy=KERNELS_XY, kernels_z=KERNELS_Z, threshold=5.0, stream=stream)
    print(f"{n}^3, kernels 0,3,6 x 0,3,7,15, {os.cpu_count()} cores")
    print(f"{'threshold':>9}  {'run':>3}  {'path':<12} {'wall s':>7} {'cpu s':>7}  {'load':>5}  mask")
    for thr in thresholds:
        for rep in range(repeat):
            bits = None
            for stream in ((False, True) if rep % 2 == 0 else (True, False)):  # alternate the order
                t, c = time.perf_counter(), time.process_time()
                res = smooth_clip(cube, kernels_xy=KERNELS_XY, kernels_z=KERNELS_Z, threshold=thr,
                                  stream=stream)
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                same = "" if bits is None else ("same mask" if np.array_equal(bits, res.packed.bits)
                                                else "MASKS DIFFER")
                bits = res.packed.bits.copy()
                print(f"{thr:9g}  {rep + 1:3d}  {'streamed' if stream else 'working cube':<12} "
                      f"{wall:7.2f} {cpu:7.2f}  {os.getloadavg()[0]:5.2f}  {same}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512],
                        help="cube edge lengths (default: 128 256 512)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the scipy.ndimage reference implementation")
    parser.add_argument("--no-finder", action="store_true",
                        help="skip the full ClassicalFinder run")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--stream", type=int, metavar="N",
                        help="instead: streamed against working-cube smooth_clip on an N^3 cube")
    parser.add_argument("--threshold", type=float, nargs="+", default=[THRESHOLD],
                        help="clip thresholds for --stream (default: 5)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per path and threshold for --stream")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.stream:
        stream_compare(args.stream, args.threshold, args.repeat)
        return 0

    if args.worker:
        res = worker(args.worker, not args.no_reference, not args.no_finder)
        print("RESULT " + json.dumps(res))
        return 0

    results = []
    for n in args.sizes:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(n)]
        if args.no_reference:
            cmd.append("--no-reference")
        if args.no_finder:
            cmd.append("--no-finder")
        print(f"running {n}^3 ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown error"]
            results.append({"n": n, "error": tail[0][:120]})
        else:
            results.append(json.loads(lines[-1][len("RESULT "):]))
    print_table(results)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
