"""Whole-process speed and memory of ClassicalFinder against SoFiA-2 2.5.1, at every size.

For each cube shape (default 128^3, 256^3, 512^3 and 1024x512x512; seeded
float32 noise plus Gaussian sources, written once as a big-endian FITS file
with a celestial/frequency WCS) both finders run as whole processes, from
reading the FITS file to writing their catalogue (and, in the ``full``
configuration, the products), on the same file and the same parameter file:

``plain``
    kernels 0,3,6 x 0,3,7,15, threshold 5, reliability and dilation off,
    XML catalogue only.
``full``
    threshold 3.5 (so that there are negative detections), reliability
    (threshold 0.9, scale kernel 0.4, min SNR 3) and mask dilation on, and the products written too: catalogue, mask,
    moment maps and cubelets (``write_products`` for ClassicalFinder).

Runs are interleaved (ClassicalFinder, SoFiA-2, [baseline], then again), so
that load from other processes on a shared machine hits them alike. The
first run of each finder on each cube is *cold*: the cube's pages are
dropped from the page cache first (``posix_fadvise(DONTNEED)``); the later
runs are *warm* (best wall of ``--repeat``). A separate *fresh install* run
times ClassicalFinder on the smallest cube with an empty numba cache
(``NUMBA_CACHE_DIR``), i.e. including compilation. Peak memory is the child's
``ru_maxrss`` from ``wait4`` (whole process, interpreter included) divided by
the float32 cube size. The per-voxel cost slope is the least-squares line
``wall = fixed + slope * voxels`` through the warm walls of all sizes.
Catalogues are compared source for source (count, id, x, y, z, f_sum with
rtol 1e-4): *identical* means they agree.

The machine's memory bandwidth (best of a few 512 MiB numpy copies) and
the throughput of smooth-and-clip's spatial pass and of the linker, as a
fraction of that bandwidth, are measured in a worker process at the end
(``--no-kernels`` skips it).

SoFiA-2 is found through ``--sofia``, ``SOFIA2_BIN`` or ``PATH`` and skipped
when absent (it runs with ``OMP_NUM_THREADS`` = number of cores, as
ClassicalFinder uses numba's default thread count).

Usage::

    python benchmarks/speed.py                          # all four sizes, both configurations
    python benchmarks/speed.py --sizes 128 256 --repeat 5
    python benchmarks/speed.py --sofia /path/to/sofia --config plain
    python benchmarks/speed.py --baseline /path/to/other/checkout   # before/after a change
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

PAR = """pipeline.verbose = false
pipeline.pedantic = true
pipeline.threads = 0
input.data = {cube}
scfind.enable = true
scfind.kernelsXY = 0, 3, 6
scfind.kernelsZ = 0, 3, 7, 15
scfind.threshold = {thr}
scfind.replacement = 2.0
scfind.statistic = mad
scfind.fluxRange = negative
linker.enable = true
linker.radiusXY = 1
linker.radiusZ = 1
linker.minSizeXY = 5
linker.minSizeZ = 5
reliability.enable = {rel}
reliability.threshold = 0.9
reliability.scaleKernel = 0.4
reliability.minSNR = 3.0
dilation.enable = {rel}
dilation.iterationsXY = 10
dilation.iterationsZ = 5
dilation.threshold = 0.001
parameter.enable = true
parameter.wcs = true
parameter.physical = false
output.directory = {outdir}
output.filename = {prefix}
output.writeCatASCII = false
output.writeCatXML = true
output.writeMask = {products}
output.writeMoments = {products}
output.writeCubelets = {products}
output.overwrite = true
"""

FINDER_SCRIPT = """
import sys
from astro_mlfinder import ClassicalFinder
par, cube, outdir, prefix, products = sys.argv[1:6]
cat = ClassicalFinder.from_sofia_par(par)(cube, progress=False)
if products == "true":
    from astro_mlfinder.io import write_products
    write_products(cat, outdir, prefix, overwrite=True, cat_ascii=False, cat_xml=True, mask=True,
                   moments=True, cubelets=True, regions=())
else:
    cat.write(f"{outdir}/{prefix}_cat.xml", format="sofia-xml", overwrite=True)
print(len(cat))
"""

HEADER = {"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CTYPE3": "FREQ", "CDELT1": -1.6667e-3,
          "CDELT2": 1.6667e-3, "CDELT3": 18518.5185, "CRVAL1": 150.0, "CRVAL2": -30.0,
          "CRVAL3": 1.4e9, "CRPIX3": 1, "CUNIT3": "Hz", "BUNIT": "Jy/beam", "BMAJ": 5e-3,
          "BMIN": 5e-3, "BPA": 0.0}


def parse_shape(text):
    """``"128"`` -> (128, 128, 128); ``"1024x512x512"`` -> (1024, 512, 512) (z, y, x)."""
    parts = [int(p) for p in str(text).lower().split("x")]
    if len(parts) == 1:
        parts = parts * 3
    if len(parts) != 3 or min(parts) < 16:
        raise argparse.ArgumentTypeError(f"a size is N or NZxNYxNX with every edge >= 16, got {text!r}")
    return tuple(parts)


def shape_name(shape):
    return f"{shape[0]}^3" if len(set(shape)) == 1 else "x".join(map(str, shape))


def make_cube(shape, seed=42):
    """Seeded float32 unit-noise cube with Gaussian sources (about one per 4 million voxels, >= 8)."""
    rng = np.random.default_rng(seed)
    cube = rng.standard_normal(shape, dtype=np.float32)
    n_src = max(8, int(np.prod(shape, dtype=float) / 4e6))
    for _ in range(n_src):
        c = [rng.uniform(0.1 * n, 0.9 * n) for n in shape]
        sz, sxy, amp = rng.uniform(3.0, 10.0), rng.uniform(1.5, 4.0), rng.uniform(0.8, 3.0)
        h = (int(4 * sz), int(4 * sxy), int(4 * sxy))
        sl = tuple(slice(max(int(ci) - hi, 0), min(int(ci) + hi + 1, n)) for ci, hi, n in zip(c, h, shape, strict=True))
        z, y, x = np.ogrid[sl]
        blob = amp * np.exp(-0.5 * (((z - c[0]) / sz) ** 2 + ((y - c[1]) / sxy) ** 2 + ((x - c[2]) / sxy) ** 2))
        cube[sl] += blob.astype(np.float32)
    return cube


def write_cube(shape, path):
    from astropy.io import fits

    cube = make_cube(shape)
    header = fits.Header(HEADER)
    header["CRPIX1"], header["CRPIX2"] = shape[2] / 2, shape[1] / 2
    fits.PrimaryHDU(cube, header).writeto(path, overwrite=True)
    return cube.nbytes


def drop_page_cache(path):
    """Evict ``path`` from the page cache (no root needed); False if impossible."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return True
    except (OSError, AttributeError):
        return False


def run_measured(cmd, env=None):
    """Run ``cmd`` as a child process; return (wall s, peak RSS bytes, stdout, user + system CPU s)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        if code not in (0, 8):  # SoFiA-2 exits with 8 when it finds no source
            raise RuntimeError(f"{cmd[0]} failed ({code}): {err.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss * 1024, text, usage.ru_utime + usage.ru_stime


def find_sofia(explicit):
    for candidate in (explicit, os.environ.get("SOFIA2_BIN"), shutil.which("sofia"), shutil.which("sofia2")):
        if candidate and Path(candidate).is_file():
            return str(Path(candidate).resolve())
    return None


def compare_catalogues(a, b):
    """'identical', or what differs between two SoFiA XML catalogues."""
    from astro_mlfinder.io.sofia_reader import read_sofia_xml

    if not (Path(a).exists() and Path(b).exists()):
        return "missing"
    ta, tb = read_sofia_xml(a), read_sofia_xml(b)
    if len(ta) != len(tb):
        return f"{len(ta)} vs {len(tb)} sources"
    for col in ("id", "x", "y", "z", "f_sum"):
        va = np.asarray(getattr(ta[col], "value", ta[col]), dtype=float)
        vb = np.asarray(getattr(tb[col], "value", tb[col]), dtype=float)
        if not np.allclose(va, vb, rtol=1e-4, atol=1e-3):
            return f"{col} differs"
    return "identical"


def fit_slope(points):
    """Least-squares ``wall = fixed + slope * voxels``; (fixed s, slope ns/voxel) or None."""
    if len(points) < 2:
        return None
    n = np.array([p[0] for p in points], dtype=float)
    w = np.array([p[1] for p in points], dtype=float)
    slope, fixed = np.polyfit(n, w, 1)
    return fixed, slope * 1e9


# ---------------------------------------------------------------------------
# kernel throughput worker: memory bandwidth, spatial pass, linker
# ---------------------------------------------------------------------------

def kernel_worker(n):
    sys.path.insert(0, str(ROOT))
    from astro_mlfinder.classical import _boxcar
    from astro_mlfinder.classical.linker import link
    from astro_mlfinder.classical.smooth_clip import optimal_filter_size, smooth_clip

    src = np.ones(512 * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    copy = min(_timed(np.copyto, dst, src) for _ in range(5))
    bandwidth = 2 * src.nbytes / copy  # read + write
    del src, dst

    cube = make_cube((n, n, n))
    warm = make_cube((32, 32, 32), seed=1)
    sc = smooth_clip(warm, kernels_xy=(0, 6), kernels_z=(0, 3))
    link(sc.packed, warm)
    work = np.empty_like(cube)
    bits = np.zeros(cube.shape[:2] + ((n + 7) // 8,), dtype=np.uint8)
    n_iter, radius = optimal_filter_size(6.0)
    import numba

    nchunk = 4 * numba.get_num_threads()
    spatial = min(_timed(_boxcar.spatial_pass, work, cube, bits, 0.0, False, n_iter, radius, True, nchunk)
                  for _ in range(3))
    spectral = min(_timed(_boxcar.spectral_pass_inplace, work, cube, 7, nchunk) for _ in range(3))
    del work
    sc = smooth_clip(cube, kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=5.0)
    linker = min(_timed(link, sc.packed, cube) for _ in range(3))
    return {"n": n, "voxels": cube.size, "bandwidth": bandwidth, "spatial": spatial,
            "spectral": spectral, "linker": linker, "threads": numba.get_num_threads()}


def _timed(func, *args):
    t0 = time.perf_counter()
    func(*args)
    return time.perf_counter() - t0


def print_kernels(k):
    gb = 1e9
    n = k["voxels"]
    print(f"\nKernel throughput at {k['n']}^3 ({k['threads']} numba threads); memory bandwidth "
          f"(numpy copy, read + write) {k['bandwidth'] / gb:.1f} GB/s")
    print(f"{'kernel':<34}{'wall [s]':>9}{'Mvox/s':>9}{'GB/s':>7}{'of bandwidth':>14}")
    # least traffic each kernel must move: read the float32 cube, write the float32 result
    # (spatial, spectral) or the int32 labels while reading the packed mask and the cube (linker)
    for name, key, bytes_per_voxel in (("spatial pass (kernel 6, 8 B/voxel)", "spatial", 8),
                                       ("spectral pass (width 15, 8 B/voxel)", "spectral", 8),
                                       ("linker (8 B/voxel)", "linker", 8)):
        t = k[key]
        rate = bytes_per_voxel * n / t
        print(f"{name:<34}{t:>9.3f}{n / t / 1e6:>9.1f}{rate / gb:>7.2f}{rate / k['bandwidth']:>13.0%}")


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_shape, nargs="+",
                        default=[parse_shape(s) for s in ("128", "256", "512", "1024x512x512")],
                        help="cube sizes: N (N^3) or NZxNYxNX (default: 128 256 512 1024x512x512)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per finder and cube (first is cold)")
    parser.add_argument("--config", choices=("plain", "full", "both"), default="both")
    parser.add_argument("--sofia", help="path of the SoFiA-2 binary (else SOFIA2_BIN or PATH)")
    parser.add_argument("--baseline", help="another source checkout whose ClassicalFinder runs alongside")
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh-install (compiling) run")
    parser.add_argument("--no-kernels", action="store_true", help="skip the bandwidth/kernel measurement")
    parser.add_argument("--kernel-size", type=int, default=512, help="cube edge for the kernel measurement")
    parser.add_argument("--tmpdir", help="where to write the cubes (default: the system temporary folder)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--kernel-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.kernel_worker:
        print("RESULT " + json.dumps(kernel_worker(args.kernel_worker)))
        return 0

    sofia = find_sofia(args.sofia)
    configs = ("plain", "full") if args.config == "both" else (args.config,)
    ours_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    finders = {"ClassicalFinder": ours_env}
    if args.baseline:
        base = str(Path(args.baseline).resolve())
        finders["baseline"] = dict(os.environ, PYTHONPATH=os.pathsep.join([base, os.environ.get("PYTHONPATH", "")]))
    results = []
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        tmp = Path(tmp)
        script = tmp / "run_finder.py"
        script.write_text(FINDER_SCRIPT)

        def ours_cmd(par, cube, outdir, prefix, products):
            return [sys.executable, str(script), str(par), str(cube), str(outdir), prefix, products]

        # fresh install: an empty numba cache, the smallest cube (compilation included)
        smallest = min(args.sizes, key=lambda s: np.prod(s))
        cube = tmp / "fresh.fits"
        write_cube(smallest, cube)
        par = tmp / "fresh.par"
        par.write_text(PAR.format(cube=cube, outdir=tmp, prefix="fresh", rel="false", products="false",
                                  thr=5.0))
        fresh = {}
        for name, env in ({} if args.no_fresh else finders).items():
            env = dict(env, NUMBA_CACHE_DIR=str(tmp / f"numba-{name}"))
            print(f"fresh install run ({name}) ...", file=sys.stderr, flush=True)
            fresh[name] = run_measured(ours_cmd(par, cube, tmp, "fresh", "false"), env=env)[0]
            fresh[name + " (2nd)"] = run_measured(ours_cmd(par, cube, tmp, "fresh", "false"), env=env)[0]
        cube.unlink()

        for shape in args.sizes:
            cube = tmp / "cube.fits"
            nbytes = write_cube(shape, cube)
            nvox = int(np.prod(shape))
            for config in configs:
                rel = products = "true" if config == "full" else "false"
                thr = 3.5 if config == "full" else 5.0  # enough negative detections for reliability
                runs = {}
                for rep in range(args.repeat):
                    order = list(finders) + (["SoFiA-2"] if sofia else [])
                    if rep % 2:
                        order.reverse()
                    for name in order:
                        outdir = tmp / name.replace(" ", "_")
                        outdir.mkdir(exist_ok=True)
                        prefix = "run"
                        if rep == 0:
                            drop_page_cache(cube)
                        print(f"{shape_name(shape)} {config} {name} run {rep + 1} ...", file=sys.stderr, flush=True)
                        if name == "SoFiA-2":
                            p = outdir / "run.par"
                            p.write_text(PAR.format(cube=cube, outdir=outdir, prefix=prefix, rel=rel, thr=thr,
                                                    products=products))
                            env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count()))
                            cmd = [sofia, str(p)]
                        else:
                            p = outdir / "run.par"
                            p.write_text(PAR.format(cube=cube, outdir=outdir, prefix=prefix, rel=rel, thr=thr,
                                                    products=products))
                            cmd, env = ours_cmd(p, cube, outdir, prefix, products), finders[name]
                        try:
                            r = run_measured(cmd, env=env)
                        except RuntimeError as exc:  # recorded, the other runs go on
                            print(str(exc).strip().splitlines()[-1], file=sys.stderr)
                            r = (float("nan"), float("nan"), "", float("nan"))
                        runs.setdefault(name, []).append(r)
                row = {"shape": shape, "config": config, "voxels": nvox, "cube_bytes": nbytes}
                for name, rs in runs.items():
                    warm = rs[1:] or rs
                    row[name] = {"cold": rs[0][0], "warm": min(r[0] for r in warm),
                                 "cpu": min(r[3] for r in warm), "peak": max(r[1] for r in rs)}
                    if name != "SoFiA-2":
                        row[name]["identity"] = (compare_catalogues(tmp / name / "run_cat.xml",
                                                                    tmp / "SoFiA-2" / "run_cat.xml")
                                                 if sofia else "-")
                results.append(row)
            cube.unlink()

    kernels = None
    if not args.no_kernels:
        print("kernel throughput ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--kernel-worker",
                               str(args.kernel_size)], capture_output=True, text=True, env=ours_env)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if lines:
            kernels = json.loads(lines[-1][len("RESULT "):])
        else:
            print("kernel worker failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1], file=sys.stderr)

    print_report(results, fresh, sofia, configs, list(finders), kernels)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "fresh": fresh, "kernels": kernels,
                                               "sofia": sofia}, indent=1, default=list))
    return 0


def print_report(results, fresh, sofia, configs, names, kernels):
    print(f"\n{os.cpu_count()} cores; SoFiA-2: {sofia or 'not found (skipped)'}")
    for name, wall in fresh.items():
        print(f"fresh install (empty numba cache), smallest cube, {name}: {wall:.2f} s")
    for config in configs:
        print(f"\nconfiguration '{config}'")
        head = (f"{'size':<14}{'finder':<17}{'cold s':>8}{'warm s':>8}{'cpu s':>8}{'peak/cube':>10}"
                f"{'wall/SoFiA':>11}{'peak/SoFiA':>11}  catalogue")
        print(head)
        print("-" * len(head))
        slopes = {}
        for row in (r for r in results if r["config"] == config):
            ref = row.get("SoFiA-2")
            for name in names + (["SoFiA-2"] if sofia else []):
                m = row[name]
                slopes.setdefault(name, []).append((row["voxels"], m["warm"]))
                ratio = f"{m['warm'] / ref['warm']:.2f}x" if ref and name != "SoFiA-2" else "-"
                pratio = f"{m['peak'] / ref['peak']:.2f}x" if ref and name != "SoFiA-2" else "-"
                print(f"{shape_name(row['shape']):<14}{name:<17}{m['cold']:>8.2f}{m['warm']:>8.2f}{m['cpu']:>8.2f}"
                      f"{m['peak'] / row['cube_bytes']:>10.2f}{ratio:>11}{pratio:>11}  {m.get('identity', '')}")
        for name, pts in slopes.items():
            fit = fit_slope(pts)
            if fit:
                print(f"cost line {name}: {fit[0]:.2f} s + {fit[1]:.1f} ns/voxel")
    if kernels:
        print_kernels(kernels)


if __name__ == "__main__":
    sys.exit(main())
