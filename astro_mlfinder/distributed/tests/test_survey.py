"""Surveys: five cubes, one corrupted; a re-run skips the finished ones."""

import subprocess
import sys

import numpy as np
from astropy.io import fits

from astro_mlfinder.classical.finder import ClassicalFinder
from astro_mlfinder.distributed import run_survey


def _write_cubes(folder, n=5, bad=2):
    paths = []
    for i in range(n):
        rng = np.random.default_rng(100 + i)
        cube = rng.normal(0, 1, (32, 40, 40)).astype(np.float32)
        cube[14:18, 18:23, 18:23] += 4.0
        path = folder / f"cube{i}.fits"
        fits.PrimaryHDU(cube).writeto(path)
        if i == bad:
            path.write_bytes(path.read_bytes()[:3000])  # truncated: a corrupted file
        paths.append(path)
    return paths


def _products(outdir):
    return sorted(p.name for p in outdir.iterdir() if not p.name.startswith("."))


def test_survey_one_corrupted_cube(tmp_path):
    paths = _write_cubes(tmp_path)
    out = tmp_path / "out"
    finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)
    result = run_survey(finder, [str(p) for p in paths], out, progress=False, regions=("ds9",))
    status = {r["input"]: r["status"] for r in result.rows}
    assert [status[str(p)] for p in paths] == ["done", "done", "failed", "done", "done"]
    (failed,) = result.failed
    assert failed["input"].endswith("cube2.fits") and failed["reason"]
    names = _products(out)
    for i in (0, 1, 3, 4):
        assert f"cube{i}.done" in names and f"cube{i}_cat.ecsv" in names and f"cube{i}_mask.fits" in names
    assert not any(n.startswith("cube2") for n in names)  # nothing half-written
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no staging left behind
    table = result.table()
    assert list(table["status"]) == ["done", "done", "failed", "done", "done"]

    # repair the broken cube: a re-run skips the four finished cubes and redoes the failed one
    rng = np.random.default_rng(7)
    fits.PrimaryHDU(rng.normal(0, 1, (32, 40, 40)).astype(np.float32)).writeto(paths[2], overwrite=True)
    before = {n: (out / n).stat().st_mtime_ns for n in names}
    again = run_survey(finder, [str(tmp_path / "cube*.fits")], out, progress=False, regions=("ds9",))
    assert [r["status"] for r in again.rows] == ["skipped", "skipped", "done", "skipped", "skipped"]
    assert all((out / n).stat().st_mtime_ns == t for n, t in before.items())


def test_cli_survey_reports_the_failed_cube(tmp_path):
    paths = _write_cubes(tmp_path, n=3, bad=1)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "astro_mlfinder.cli", "find", *map(str, paths), "--output-dir",
                           str(out), "--no-progress", "--threshold", "4"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cube1.fits" in errors[0]
    assert "2 of 3 cube(s) complete" in proc.stdout
    assert "Traceback" not in proc.stderr
