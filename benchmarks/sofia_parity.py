"""ClassicalFinder against SoFiA-2 2.5.1 on the same cube and parameters: wall time and peak memory.

The cube (float32, seeded noise plus Gaussian sources, default 512^3) is
written to a temporary FITS file with a celestial/frequency WCS; both finders
read that file, run kernels 0,3,6 x 0,3,7,15 at threshold 5 with reliability
off and write their catalogue, each in its own child process so that peak
memory (``ru_maxrss`` from ``wait4``) is measured per finder.

SoFiA-2 is found through ``--sofia``, ``SOFIA2_BIN`` or ``PATH``. Without a
binary the ClassicalFinder run is compared with the figures recorded for
SoFiA-2 2.5.1 on this 2-core machine (25 s wall, 1.06 GB peak; reference
sofia2.md section 11.2).

Usage::

    python benchmarks/sofia_parity.py               # 512^3
    python benchmarks/sofia_parity.py --size 256    # quicker
    python benchmarks/sofia_parity.py --baseline /path/to/other/checkout   # before/after a change

``--baseline DIR`` also runs the ClassicalFinder of another source checkout
(put first on ``PYTHONPATH``) on the same file, interleaved with this one, and
prints the ratio of the two.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical import make_cube  # noqa: E402

RECORDED_SOFIA = {"wall": 25.0, "peak": 1.06e9, "note": "recorded (sofia2.md 11.2)"}

PAR = """pipeline.verbose = false
pipeline.pedantic = true
pipeline.threads = 0
input.data = {cube}
scfind.enable = true
scfind.kernelsXY = 0, 3, 6
scfind.kernelsZ = 0, 3, 7, 15
scfind.threshold = 5.0
scfind.replacement = 2.0
scfind.statistic = mad
scfind.fluxRange = negative
linker.enable = true
linker.radiusXY = 1
linker.radiusZ = 1
linker.minSizeXY = 5
linker.minSizeZ = 5
reliability.enable = false
dilation.enable = false
parameter.enable = true
parameter.wcs = true
output.directory = {outdir}
output.filename = sofia
output.writeCatASCII = false
output.writeCatXML = true
output.overwrite = true
"""

FINDER_SCRIPT = """
import sys
from astro_mlfinder import ClassicalFinder
finder = ClassicalFinder.from_sofia_par(sys.argv[1])
cat = finder(sys.argv[2], progress=False)
cat.write(sys.argv[3], format="sofia-xml", overwrite=True)
print(len(cat))
"""


def write_cube(n, path):
    cube = make_cube(n)
    header = fits.Header()
    header.update({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CTYPE3": "FREQ", "CDELT1": -1.6667e-3,
                   "CDELT2": 1.6667e-3, "CDELT3": 18518.5185, "CRVAL1": 150.0, "CRVAL2": -30.0,
                   "CRVAL3": 1.4e9, "CRPIX1": n / 2, "CRPIX2": n / 2, "CRPIX3": 1, "CUNIT3": "Hz",
                   "BUNIT": "Jy/beam", "BMAJ": 5e-3, "BMIN": 5e-3, "BPA": 0.0})  # fmt: skip
    fits.PrimaryHDU(cube, header).writeto(path, overwrite=True)
    return cube.nbytes


def run_measured(cmd, env=None):
    """Run ``cmd``; return (wall seconds, peak RSS bytes, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 8):
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    return wall, usage.ru_maxrss * 1024, out


def find_sofia(explicit):
    for candidate in (explicit, os.environ.get("SOFIA2_BIN"), shutil.which("sofia"), shutil.which("sofia2")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--sofia", help="path of the SoFiA-2 binary")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline", help="source checkout whose ClassicalFinder is measured alongside")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cube_path = tmp / "cube.fits"
        nbytes = write_cube(args.size, cube_path)
        par = tmp / "bench.par"
        par.write_text(PAR.format(cube=cube_path, outdir=tmp))
        script = tmp / "run_finder.py"
        script.write_text(FINDER_SCRIPT)
        envs = {"ours": None}
        if args.baseline:
            base = str(Path(args.baseline).resolve())
            envs["baseline"] = dict(os.environ, PYTHONPATH=os.pathsep.join([base, os.environ.get("PYTHONPATH", "")]))
        runs = {key: [] for key in envs}
        for env in envs.values():
            # warm numba's cache so compilation is not timed: a full run on a small cube
            warm = tmp / "warm.fits"
            write_cube(64, warm)
            run_measured([sys.executable, str(script), str(par), str(warm), str(tmp / "warm.xml")], env=env)
        for _ in range(args.repeat):  # interleaved
            for key, env in envs.items():
                runs[key].append(run_measured([sys.executable, str(script), str(par), str(cube_path),
                                               str(tmp / f"{key}.xml")], env=env))
        ours = runs["ours"]
        wall = min(r[0] for r in ours)
        peak = max(r[1] for r in ours)
        n_ours = int(ours[0][2].strip().splitlines()[-1])
        sofia = find_sofia(args.sofia)
        if sofia:
            env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count()))
            sofia_runs = [run_measured([sofia, str(par)], env=env) for _ in range(args.repeat)]
            ref = {"wall": min(r[0] for r in sofia_runs), "peak": max(r[1] for r in sofia_runs),
                   "note": f"measured ({sofia})"}
            from astro_mlfinder.io.sofia_reader import read_sofia_xml

            n_sofia = len(read_sofia_xml(tmp / "sofia_cat.xml")) if (tmp / "sofia_cat.xml").exists() else 0
        else:
            scale = (args.size / 512) ** 3
            ref = {"wall": RECORDED_SOFIA["wall"] * scale, "peak": RECORDED_SOFIA["peak"] * scale,
                   "note": RECORDED_SOFIA["note"] + (" scaled by voxels" if args.size != 512 else "")}
            n_sofia = None

    print(f"cube {args.size}^3 float32 ({nbytes / 1e9:.3f} GB), kernels 0,3,6 x 0,3,7,15, threshold 5, "
          f"reliability off, {os.cpu_count()} cores")
    print(f"{'finder':<18}{'wall [s]':>10}{'peak [GB]':>11}{'peak/cube':>11}{'Mvox/s':>9}{'sources':>9}")
    nvox = args.size**3
    rows = [("ClassicalFinder", wall, peak, n_ours), ("SoFiA-2 2.5.1", ref["wall"], ref["peak"], n_sofia)]
    if args.baseline:
        b_wall = min(r[0] for r in runs["baseline"])
        b_peak = max(r[1] for r in runs["baseline"])
        rows.insert(1, ("baseline checkout", b_wall, b_peak, int(runs["baseline"][0][2].strip().splitlines()[-1])))
    for name, w, p, n in rows:
        count = n if n is not None else "-"
        print(f"{name:<18}{w:>10.2f}{p / 1e9:>11.3f}{p / nbytes:>11.2f}{nvox / w / 1e6:>9.2f}{count:>9}")
    print(f"ratio ClassicalFinder / SoFiA-2: wall {wall / ref['wall']:.2f}x, peak memory {peak / ref['peak']:.2f}x "
          f"[SoFiA-2 figures {ref['note']}]")
    if args.baseline:
        print(f"ratio ClassicalFinder / baseline ({args.baseline}): wall {wall / b_wall:.2f}x, "
              f"peak memory {peak / b_peak:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
