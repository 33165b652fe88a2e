"""Where the time of a full ClassicalFinder run goes: wall and CPU seconds per stage, against a baseline checkout.

One seeded cube (``speed.make_cube``: float32 noise plus Gaussian sources,
written as big-endian FITS) and the *full* configuration of
``benchmarks/speed.py`` (threshold 3.5, reliability, dilation, catalogue, mask,
moment maps and cubelets). Each run is a fresh process that imports the
package, reads the cube and calls the stages of
``astro_mlfinder.classical.pipeline`` one after the other, timing each (wall:
``perf_counter``; CPU: ``process_time``, all threads), then writes the
products one kind at a time into a new directory. With ``--baseline DIR`` the
same worker runs on another source checkout too, interleaved (this, baseline,
baseline, this, ...); the table gives the median of ``--repeat`` runs per stage.

Usage::

    python benchmarks/stages.py                                # 512^3, 3 runs
    python benchmarks/stages.py --size 256 --baseline /path/to/other/checkout
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

import speed  # noqa: E402  (benchmarks/speed.py: cube, parameter file)

WORKER = r"""
import json, os, sys, time
t0, c0 = time.perf_counter(), time.process_time()
rows = []
mark = [t0, c0]

def step(name):
    t, c = time.perf_counter(), time.process_time()
    rows.append((name, t - mark[0], c - mark[1]))
    mark[0], mark[1] = time.perf_counter(), time.process_time()

from astro_mlfinder import ClassicalFinder
from astro_mlfinder.classical import pipeline
from astro_mlfinder.core.inputs import load_image
step("import")
par, cube, outdir = sys.argv[1:4]
finder = ClassicalFinder.from_sofia_par(par)
image = load_image(cube)
state = pipeline.prepare(finder, image)
step("read + prepare")
pipeline.detect(finder, state, False)
step("smooth-and-clip")
pipeline.link(finder, state)
step("linker")
pipeline.reliability(finder, state)
step("reliability")
pipeline.dilate(finder, state)
step("dilation")
cat = finder.measure(image, pipeline.segmentation(finder, state))
table = cat.to_table(columns="sofia")
step("parameters + table")
from astro_mlfinder.io import write_products
off = dict(cat_ascii=False, cat_xml=False, mask=False, moments=False, cubelets=False, regions=())
for name, key in (("XML catalogue", "cat_xml"), ("mask cube", "mask"), ("moment maps", "moments"),
                  ("cubelets", "cubelets")):
    write_products(cat, os.path.join(outdir, key), "run", **dict(off, **{key: True}))
    step(name)
rows.append(("total", time.perf_counter() - t0, time.process_time() - c0))
print("RESULT " + json.dumps({"rows": rows, "sources": len(table)}))
"""


def run_worker(script, checkout, par, cube, outdir):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(checkout), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(script), str(par), str(cube), str(outdir)], capture_output=True,
                          text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"worker on {checkout} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=speed.parse_shape, default=speed.parse_shape("512"),
                        help="cube size: N (N^3) or NZxNYxNX (default 512)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per checkout (median reported)")
    parser.add_argument("--baseline", help="another source checkout, run interleaved")
    parser.add_argument("--tmpdir", help="where to write the cube and products")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args(argv)

    checkouts = {"this": ROOT}
    if args.baseline:
        checkouts["baseline"] = Path(args.baseline).resolve()
    runs = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        tmp = Path(tmp)
        cube = tmp / "cube.fits"
        speed.write_cube(args.size, cube)
        script = tmp / "worker.py"
        script.write_text(WORKER)
        par = tmp / "run.par"
        par.write_text(speed.PAR.format(cube=cube, outdir=tmp, prefix="run", rel="true", thr=3.5,
                                        products="true"))
        k = 0
        for rep in range(args.repeat):
            order = list(checkouts) if rep % 2 == 0 else list(checkouts)[::-1]
            for name in order:
                k += 1
                print(f"{name} run {rep + 1} ...", file=sys.stderr, flush=True)
                runs[name].append(run_worker(script, checkouts[name], par, cube, tmp / f"out{k}"))
    load = os.getloadavg()
    print(f"\n{speed.shape_name(args.size)} full configuration, median of {args.repeat} runs; "
          f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")
    stages = [row[0] for row in runs["this"][0]["rows"]]
    head = f"{'stage':<22}" + "".join(f"{name + ' wall':>15}{name + ' cpu':>15}" for name in checkouts)
    print(head)
    print("-" * len(head))
    table = {}
    for i, stage in enumerate(stages):
        line = f"{stage:<22}"
        for name in checkouts:
            wall = float(np.median([r["rows"][i][1] for r in runs[name]]))
            cpu = float(np.median([r["rows"][i][2] for r in runs[name]]))
            table.setdefault(stage, {})[name] = (wall, cpu)
            line += f"{wall:>15.2f}{cpu:>15.2f}"
        print(line)
    counts = {name: [r["sources"] for r in rs] for name, rs in runs.items()}
    print("sources: " + ", ".join(f"{name} {sorted(set(c))}" for name, c in counts.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "median": table}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
