"""Where the fixed cost of a small ClassicalFinder run goes: CPU and wall seconds per start-up stage.

A 128^3 cube and the parameter file of ``benchmarks/speed.py`` (``plain``
configuration) are written once; then, in a fresh process per run, the
stages of a whole ``ClassicalFinder`` run are timed one after the other
(``time.process_time``: user + system CPU of the process, all threads; and
wall): ``import astro_mlfinder``, ``import astropy.wcs`` (what reading the
header into a WCS imports: astropy.coordinates and astropy.table come with
it), the finder call and writing the XML catalogue. A cube of at most
``astro_mlfinder.core._small.NUMPY_MAX_VOXELS`` voxels is searched with numpy
alone; the two stages after the run measure, in the same process, what the
numba/scipy path of a larger cube would add: ``import scipy.ndimage``, and
``import numba`` with the first cached kernel (which loads numba's typing and
lowering registries, the cost every first kernel of a process pays). The
total counts the run's stages only. SoFiA-2 runs on the same file and
parameter file in the same loop for reference (its user + system CPU from
``wait4``) when it is found through ``--sofia``, ``SOFIA2_BIN`` or ``PATH``.

A second table times whole processes in the same loop (wall, with the exit):
Python alone, Python importing numpy, Python importing numpy and
``astropy.wcs`` (the least any run that writes world coordinates through
astropy's WCS imports), our whole run and SoFiA-2, each also as a ratio to
SoFiA-2's wall time: the floor row says how much of the issue's 1.5x budget
the imports use before a voxel is read.

Usage::

    python benchmarks/startup.py
    python benchmarks/startup.py --repeat 7 --size 128 --sofia /path/to/sofia
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = ("Python itself", "import astro_mlfinder", "import astropy.wcs", "finder call", "write XML catalogue",
          "(numba path) import scipy.ndimage", "(numba path) import numba + first cached kernel")
#: the stages of the run itself (the others measure what a cube above the numpy limit adds)
RUN_STAGES = 5

WORKER = """
import json, sys, time
cpu0, wall0 = time.process_time(), time.perf_counter()
marks = []
def mark():
    marks.append((time.process_time() - cpu0, time.perf_counter() - wall0))
import astro_mlfinder; mark()
import astropy.wcs; mark()
par, cube, out = sys.argv[1:4]
cat = astro_mlfinder.ClassicalFinder.from_sofia_par(par)(cube, progress=False); mark()
cat.write(out, format="sofia-xml", overwrite=True); mark()
loaded = sorted(m for m in ("numba", "scipy") if m in sys.modules)
import scipy.ndimage; mark()
import numba
import numpy as np
from astro_mlfinder.core._stats_kernels import nth_element
nth_element(np.zeros(4, np.float32), 4, 2); mark()  # the first cached kernel loads numba's registries
print("RESULT " + json.dumps({"python_cpu": cpu0, "marks": marks, "loaded": loaded}))
"""


def run_stages(script, par, cube, out, env):
    proc = subprocess.run([sys.executable, str(script), str(par), str(cube), str(out)], capture_output=True,
                          text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"worker failed: {proc.stderr.strip()[-2000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    marks = result["marks"]
    cpu = np.diff([0.0] + [m[0] for m in marks])
    wall = np.diff([0.0] + [m[1] for m in marks])
    return np.concatenate([[result["python_cpu"]], cpu]), np.concatenate([[np.nan], wall]), result["loaded"]


#: whole processes of the floor table: (label, python -c code or None for the run itself)
FLOORS = (("Python alone", "pass"), ("Python + numpy", "import numpy"),
          ("Python + numpy + astropy.wcs (floor)", "import numpy, astropy.wcs"), ("our whole run", None))


def main(argv=None):
    import speed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="cube edge (default 128)")
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes (the median is reported)")
    parser.add_argument("--sofia", help="path of the SoFiA-2 binary (else SOFIA2_BIN or PATH)")
    args = parser.parse_args(argv)
    sofia = speed.find_sofia(args.sofia)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cpus, walls, sofia_cpu, sofia_wall = [], [], [], []
    floor_walls = {label: [] for label, _ in FLOORS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cube, par, script = tmp / "cube.fits", tmp / "run.par", tmp / "stages.py"
        speed.write_cube((args.size,) * 3, cube)
        par.write_text(speed.PAR.format(cube=cube, outdir=tmp, prefix="sofia", rel="false", products="false",
                                        thr=5.0))
        script.write_text(WORKER)
        for rep in range(args.repeat):
            print(f"run {rep + 1} ...", file=sys.stderr, flush=True)
            cpu, wall, loaded = run_stages(script, par, cube, tmp / "ours_cat.xml", env)
            cpus.append(cpu)
            walls.append(wall)
            for label, code in FLOORS:
                cmd = ([sys.executable, "-c", code] if code is not None
                       else [sys.executable, str(script), str(par), str(cube), str(tmp / "ours_cat.xml")])
                floor_walls[label].append(speed.run_measured(cmd, env=env)[0])
            if sofia:
                wall_s, _, _, cpu_s = speed.run_measured([sofia, str(par)],
                                                         env=dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count())))
                sofia_wall.append(wall_s)
                sofia_cpu.append(cpu_s)
    cpu, wall = np.median(cpus, axis=0), np.median(walls, axis=0)
    print(f"\nStart-up of a ClassicalFinder run on a {args.size}^3 cube ({os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}): median of {args.repeat} fresh processes")
    print(f"{'stage':<48}{'cpu s':>8}{'wall s':>8}")
    print("-" * 64)
    for name, c, w in zip(STAGES, cpu, wall, strict=True):
        print(f"{name:<48}{c:>8.3f}" + (f"{w:>8.3f}" if np.isfinite(w) else f"{'-':>8}"))
    run_cpu, run_wall = cpu[:RUN_STAGES].sum(), np.nansum(wall[:RUN_STAGES])
    print(f"{'total of the run':<48}{run_cpu:>8.3f}{run_wall:>8.3f}  (wall: after Python started)")
    print(f"modules the run loaded of numba, scipy: {', '.join(loaded) or 'none'}")
    if sofia:
        s_cpu, s_wall = np.median(sofia_cpu), np.median(sofia_wall)
        print(f"{'SoFiA-2 whole process':<48}{s_cpu:>8.3f}{s_wall:>8.3f}")
        print(f"{'ratio (run / SoFiA-2)':<48}{run_cpu / s_cpu:>7.2f}x")
    print(f"\nWhole processes, wall s (median of {args.repeat}, interleaved)")
    print(f"{'process':<48}{'wall s':>8}{'/SoFiA-2':>10}")
    print("-" * 66)
    rows = [(label, float(np.median(floor_walls[label]))) for label, _ in FLOORS]
    if sofia:
        rows.append(("SoFiA-2", float(np.median(sofia_wall))))
    for label, value in rows:
        ratio = f"{value / np.median(sofia_wall):>9.2f}x" if sofia else f"{'-':>10}"
        print(f"{label:<48}{value:>8.3f}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
