"""Resident memory of loading a FITS cube: lazy `load_image` + `ImageData.read` against a full read.

Writes a float32 FITS cube (1 GB by default, plane by plane) to a temporary
directory, then measures in a fresh subprocess for each case:

lazy load   ``image = load_image(path)``: the cube is memory-mapped, only its
            header and the planes up to the first finite value are read
read()      ``image.read()`` after that: one native float32 array, converted
            in 32 MB chunks whose file pages are released as they are done
old         the full read ``load_image`` did before: ``astropy.io.fits.getdata``
            (``memmap=False``) then ``.astype(np.float32)``

Columns
-------
wall        seconds of the step, after an unreported warm-up read (the file is in
            the page cache for every case)
RSS         resident memory after the step, minus that of the process before it
            (interpreter, numpy, astropy already imported), in GB
RSS/cube    that divided by the cube size
peak        the high-water mark of resident memory during the step, minus the
            resident memory before it (Linux ``VmHWM``, reset before the step)
peak/cube   that divided by the cube size
vs old      RSS and peak of the step divided by those of the old full read

Usage::

    python benchmarks/lazy_load.py               # 1 GB cube
    python benchmarks/lazy_load.py --size-gb 0.25 --tmpdir /scratch
"""

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classical import _peak_rss, _reset_peak  # noqa: E402  (the same measurement as the other benchmarks)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLANE = (1024, 1024)


def _rss():
    """Current resident set size of this process in bytes."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        import psutil

        return psutil.Process().memory_info().rss


def write_cube(path, nz, seed=1):
    """Write an (nz, 1024, 1024) big-endian float32 FITS cube plane by plane (4 MB in memory at a time)."""
    from astropy.io import fits

    header = fits.Header(
        [
            ("SIMPLE", True),
            ("BITPIX", -32),
            ("NAXIS", 3),
            ("NAXIS1", PLANE[1]),
            ("NAXIS2", PLANE[0]),
            ("NAXIS3", nz),
            ("BUNIT", "Jy/beam"),
        ]
    )
    rng = np.random.default_rng(seed)
    nbytes = 0
    with open(path, "wb") as fh:
        fh.write(header.tostring().encode("ascii"))
        for _ in range(nz):
            block = rng.standard_normal(PLANE, dtype=np.float32).astype(">f4").tobytes()
            fh.write(block)
            nbytes += len(block)
        fh.write(b"\0" * (-nbytes % 2880))


def _step(func):
    """Run ``func`` and return (result, wall seconds, RSS after, peak during), both memories absolute."""
    gc.collect()
    _reset_peak()
    t0 = time.perf_counter()
    result = func()
    wall = time.perf_counter() - t0
    return result, wall, _rss(), _peak_rss()


def worker(case, path):
    """Measure one case in this (fresh) process; print a JSON line of results."""
    sys.path.insert(0, ROOT)
    from astropy.io import fits

    from astro_mlfinder.core.inputs import load_image

    out = {"peak_reset": _reset_peak()}
    gc.collect()
    base = _rss()
    if case == "lazy":
        image, wall, rss, peak = _step(lambda: load_image(path))
        out["load"] = {
            "wall": wall,
            "rss": rss - base,
            "peak": peak - base,
            "type": type(image.data).__name__,
            "dtype": str(image.data.dtype),
        }
        data, wall, rss, peak = _step(image.read)
        out["read"] = {"wall": wall, "rss": rss - base, "peak": peak - base}
        out["checksum"] = float(np.nansum(data[:: max(1, data.shape[0] // 8), ::97, ::89], dtype=np.float64))
    else:
        data, wall, rss, peak = _step(lambda: fits.getdata(path, memmap=False).astype(np.float32))
        out["old"] = {"wall": wall, "rss": rss - base, "peak": peak - base}
        out["checksum"] = float(np.nansum(data[:: max(1, data.shape[0] // 8), ::97, ::89], dtype=np.float64))
    print(json.dumps(out))


def _run(case, path):
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", case, path], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the {case} worker failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="cube size in GiB (default 1)")
    parser.add_argument("--tmpdir", default=None, help="where to write the cube (default: the system temp dir)")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0

    plane_bytes = PLANE[0] * PLANE[1] * 4
    nz = max(1, round(args.size_gb * 2**30 / plane_bytes))
    cube_bytes = nz * plane_bytes
    with tempfile.TemporaryDirectory(prefix="astro_mlfinder_lazy_", dir=args.tmpdir) as tmp:
        path = os.path.join(tmp, "cube.fits")
        t0 = time.perf_counter()
        write_cube(path, nz)
        t_write = time.perf_counter() - t0
        stat = os.stat(path)
        # warm-up (not reported): the file's pages are in the page cache for every case, and the memory a
        # first full read touches is ready (a virtual machine's first touch of fresh memory can cost seconds)
        _run("old", path)
        lazy = _run("lazy", path)
        old = _run("old", path)
        after = os.stat(path)
    unchanged = (stat.st_mtime_ns, stat.st_size) == (after.st_mtime_ns, after.st_size)

    gb = 2**30
    print(
        f"cube: ({nz}, {PLANE[0]}, {PLANE[1]}) float32, {cube_bytes / gb:.2f} GiB, written in {t_write:.1f} s; "
        f"held as {lazy['load']['type']} {lazy['load']['dtype']} after load_image"
    )
    if not (lazy["peak_reset"] and old["peak_reset"]):
        print("note: the peak could not be reset (not Linux): 'peak' is the process's lifetime high-water mark")
    header = (
        f"{'step':<34}{'wall s':>8}{'RSS GB':>9}{'RSS/cube':>10}{'peak GB':>9}{'peak/cube':>11}"
        f"{'RSS vs old':>12}{'peak vs old':>13}"
    )
    print(header)
    print("-" * len(header))
    ref = old["old"]
    rows = [
        ("load_image(path)  [lazy]", lazy["load"]),
        ("load_image(path) + image.read()", lazy["read"]),
        ("old: getdata + astype(float32)", ref),
    ]
    for name, row in rows:
        print(
            f"{name:<34}{row['wall']:>8.2f}{row['rss'] / gb:>9.3f}{row['rss'] / cube_bytes:>10.3f}"
            f"{row['peak'] / gb:>9.3f}{row['peak'] / cube_bytes:>11.3f}"
            f"{row['rss'] / ref['rss']:>12.3f}{row['peak'] / ref['peak']:>13.3f}"
        )
    same = np.isclose(lazy["checksum"], old["checksum"], rtol=0, atol=0)
    print(f"values identical (sampled checksum): {bool(same)}; input file unchanged (mtime, size): {unchanged}")
    return 0 if same and unchanged else 1


if __name__ == "__main__":
    sys.exit(main())
