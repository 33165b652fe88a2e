"""Tiled runs against the single pass: equality, wall time, memory, cgroup limit, a dask cluster, scaling.

Writes seeded float32 FITS cubes (noise plus Gaussian sources, some on tile
borders) of the requested sizes, then runs ``ClassicalFinder`` on each, every
run in a fresh subprocess so that its peak memory is its own:

single      one pass on the whole cube (the reference)
tiled       ``finder(path, max_memory=M)`` (FITS memory-mapped, tile by tile)
cgroup      the tiled run inside a cgroup v1 memory group limited to a fraction
            of the cube size (``--cgroup-fraction``, default 0.5); the group's
            ``memory.max_usage_in_bytes`` (page cache included) and OOM kills
            are reported
cluster     the tiled run on a ``dask.distributed.LocalCluster`` of 2 worker
            processes on 127.0.0.1

For each the table gives the wall time, the peak resident memory of the
process (``ru_maxrss``: file pages of the memory-mapped input and label file
included; children included for the cluster), the peak anonymous memory of
the process (``RssAnon`` polled every 20 ms; the cluster's worker processes
not included), ns per voxel,
the ratio to the single pass, and whether the catalogue equals the single
pass's (same labels voxel for voxel, every column within 1e-6 relative).

Usage::

    python benchmarks/scale.py --sizes 1 --max-memory 256MB      # 1 GiB cube, cgroup 512 MiB
    python benchmarks/scale.py --sizes 0.5 1 2 4 --no-single      # cost per voxel as the cube grows
    python benchmarks/scale.py --sizes 4 --modes single tiled cgroup cluster

Needs root for the cgroup (``/sys/fs/cgroup/memory``, cgroup v1; ``memory.max``
under cgroup v2).
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GIB = 2**30
NZ = 256
FINDER = dict(kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7), threshold=5.0)


def cube_shape(size_gib):
    """(z, y, x) of a float32 cube of about ``size_gib`` GiB with 256 channels."""
    side = int(round(math.sqrt(size_gib * GIB / 4 / NZ)))
    return (NZ, side, side)


def write_cube(path, shape, seed=0):
    """Write a seeded noise cube with sources as FITS, plane by plane (never whole in memory)."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    n_src = max(8, int(np.prod(shape) / 4e6))
    centres = np.column_stack([rng.uniform(20, nz - 20, n_src), rng.uniform(10, ny - 10, n_src),
                               rng.uniform(10, nx - 10, n_src)])
    centres[:4, 1:] = [[ny / 2, nx / 2], [ny / 2, nx / 4], [ny / 4, nx / 2], [ny / 3, nx / 3]]  # borders
    hdu = fits.StreamingHDU(path, _header(shape))
    yy, xx = np.mgrid[0:ny, 0:nx]
    for z in range(nz):
        plane = rng.normal(0.0, 1.0, (ny, nx)).astype(np.float32)
        near = np.abs(centres[:, 0] - z) < 15
        for cz, cy, cx in centres[near]:
            amp = 2.5 * math.exp(-((z - cz) ** 2) / (2 * 5.0**2))
            sl = (slice(max(0, int(cy) - 15), int(cy) + 16), slice(max(0, int(cx) - 15), int(cx) + 16))
            plane[sl] += (amp * np.exp(-((yy[sl] - cy) ** 2 + (xx[sl] - cx) ** 2) / (2 * 3.0**2))).astype(
                np.float32)
        hdu.write(plane[None].astype(">f4"))
    hdu.close()


def _header(shape):
    from astropy.io import fits

    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 3
    header["NAXIS1"], header["NAXIS2"], header["NAXIS3"] = shape[2], shape[1], shape[0]
    header["BUNIT"] = "Jy/beam"
    return header


# ------------------------------------------------------------------------------------------ child
def child(args):
    """One run; writes the catalogue (ECSV) and labels (.npy) and prints a JSON line."""
    import threading

    from astro_mlfinder import ClassicalFinder

    anon = [0]
    done = threading.Event()

    def sample_anon():  # peak anonymous memory (file-backed memmap pages excluded), polled
        while not done.wait(0.02):
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon:"):
                        anon[0] = max(anon[0], int(line.split()[1]) * 1024)

    threading.Thread(target=sample_anon, daemon=True).start()
    finder = ClassicalFinder(**FINDER)
    t0 = time.perf_counter()
    if args.mode == "single":
        cat = finder(args.path, progress=False)
    elif args.mode == "cluster":
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, memory_limit=0) as cluster, Client(cluster) as client:
            cat = finder(args.path, progress=False, max_memory=args.max_memory, client=client)
    else:
        cat = finder(args.path, progress=False, max_memory=args.max_memory)
    table = cat.to_table()
    wall = time.perf_counter() - t0
    done.set()
    table.write(args.out + ".ecsv", overwrite=True)
    labels = np.lib.format.open_memmap(args.out + ".npy", mode="w+", dtype=np.int32, shape=cat.segment.shape)
    for z in range(0, labels.shape[0], 16):
        labels[z:z + 16] = cat.segment[z:z + 16]
    labels.flush()
    del labels
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    result = {"wall": wall, "peak": max(peak, peak_children), "anon": anon[0], "n": len(cat),
              "tiles": cat.meta.get("tiled", {}).get("tiles", 1)}
    Path(args.out + ".json").write_text(json.dumps(result))
    print(json.dumps(result))


def _run_child(mode, path, out, max_memory, cgroup=None):
    cmd = [sys.executable, __file__, "_child", "--mode", mode, "--path", str(path), "--out", str(out),
           "--max-memory", max_memory]
    if cgroup is not None:
        cmd = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh", *cmd]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1],
                "rc": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cgroup(limit):
    """A cgroup v1 memory group (or v2) limited to ``limit`` bytes; returns (path, usage reader)."""
    v1 = Path("/sys/fs/cgroup/memory")
    if v1.is_dir():
        group = v1 / f"astro_mlfinder_scale_{os.getpid()}"
        group.mkdir(exist_ok=True)
        (group / "memory.limit_in_bytes").write_text(str(int(limit)))
        (group / "memory.max_usage_in_bytes").write_text("0")

        def usage():
            oom = (group / "memory.oom_control").read_text()
            kills = int(next((ln.split()[1] for ln in oom.splitlines() if ln.startswith("oom_kill ")), 0))
            return int((group / "memory.max_usage_in_bytes").read_text()), kills
        return group, usage
    group = Path("/sys/fs/cgroup") / f"astro_mlfinder_scale_{os.getpid()}"
    group.mkdir(exist_ok=True)
    (group / "memory.max").write_text(str(int(limit)))

    def usage():
        peak = group / "memory.peak"
        events = (group / "memory.events").read_text()
        kills = int(next((ln.split()[1] for ln in events.splitlines() if ln.startswith("oom_kill ")), 0))
        return (int(peak.read_text()) if peak.exists() else -1), kills
    return group, usage


def _equal(ref, out):
    """Same labels voxel for voxel and every catalogue column within 1e-6 relative."""
    from astropy.table import Table

    t1, t2 = Table.read(ref + ".ecsv"), Table.read(out + ".ecsv")
    if len(t1) != len(t2) or t1.colnames != t2.colnames:
        return False, "different sources"
    worst = 0.0
    for name in t1.colnames:
        if t1[name].dtype.kind in "OUS":
            if list(t1[name]) != list(t2[name]):
                return False, name
            continue
        a, b = np.asarray(t1[name], float), np.asarray(t2[name], float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(a == b, 0.0, np.abs(a - b) / np.maximum(np.abs(a), 1e-300))
        worst = max(worst, float(np.nanmax(rel)) if rel.size else 0.0)
    l1, l2 = np.load(ref + ".npy", mmap_mode="r"), np.load(out + ".npy", mmap_mode="r")
    same = all(np.array_equal(l1[z:z + 16], l2[z:z + 16]) for z in range(0, l1.shape[0], 16))
    return same and worst <= 1e-6, f"labels {'equal' if same else 'DIFFER'}, max rel {worst:.1e}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0], help="cube sizes in GiB")
    parser.add_argument("--modes", nargs="+", default=["single", "tiled", "cgroup", "cluster"],
                        choices=["single", "tiled", "cgroup", "cluster"])
    parser.add_argument("--no-single", action="store_true", help="skip the single pass (scaling runs)")
    parser.add_argument("--max-memory", default="256MB")
    parser.add_argument("--cgroup-fraction", type=float, default=0.5)
    parser.add_argument("--workdir", default=None, help="where the cubes go (default: a temporary folder)")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes if not (args.no_single and m == "single")]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="astro_mlfinder_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"finder: ClassicalFinder({', '.join(f'{k}={v}' for k, v in FINDER.items())}); "
          f"max_memory={args.max_memory}; cpus={os.cpu_count()}")
    header = (f"{'size':>8} {'shape':>16} {'mode':>8} {'tiles':>5} {'wall s':>8} {'peak GB':>8} {'anon GB':>8} "
              f"{'ns/vox':>7} {'x single':>8}  equal / notes")
    print(header)
    for size in args.sizes:
        shape = cube_shape(size)
        path = work / f"cube_{size:g}.fits"
        if not path.exists():
            write_cube(path, shape, seed=int(size * 1000))
        nvox = math.prod(shape)
        ref = None
        single_wall = None
        earlier = work / f"single_{size:g}"
        if "single" not in modes and Path(str(earlier) + ".npy").exists() and Path(str(earlier) + ".json").exists():
            ref, single_wall = str(earlier), json.loads(Path(str(earlier) + ".json").read_text())["wall"]
        for mode in modes:
            out = str(work / f"{mode}_{size:g}")
            note = ""
            if mode == "cgroup":
                limit = int(args.cgroup_fraction * nvox * 4)
                group, usage = _cgroup(limit)
                res = _run_child("tiled", path, out, args.max_memory, cgroup=group)
                used, kills = usage()
                note = f"cgroup limit {limit / 2**20:.0f} MiB, max usage {used / 2**20:.0f} MiB, oom kills {kills}; "
                try:
                    group.rmdir()
                except OSError:
                    pass
            else:
                res = _run_child(mode, path, out, args.max_memory)
            if "error" in res:
                print(f"{size:>7g}G {str(shape):>16} {mode:>8} FAILED: {res['error']}")
                continue
            if mode == "single":
                ref, single_wall = out, res["wall"]
            elif ref is not None:
                ok, why = _equal(ref, out)
                note += ("EQUAL " if ok else "NOT EQUAL ") + why
                os.remove(out + ".npy")
            ratio = f"{res['wall'] / single_wall:8.2f}" if single_wall else f"{'-':>8}"
            print(f"{size:>7g}G {str(shape):>16} {mode:>8} {res['tiles']:>5} {res['wall']:8.1f} "
                  f"{res['peak'] / 1e9:8.2f} {res['anon'] / 1e9:8.2f} {res['wall'] / nvox * 1e9:7.1f} {ratio}  "
                  f"{res['n']} sources; {note}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        p = argparse.ArgumentParser()
        p.add_argument("_child")
        p.add_argument("--mode")
        p.add_argument("--path")
        p.add_argument("--out")
        p.add_argument("--max-memory")
        child(p.parse_args())
    else:
        main()
