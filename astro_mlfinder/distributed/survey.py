"""Surveys: many cubes searched as independent Dask tasks, restartable.

Every cube is one task (local threads or processes, or a dask.distributed
cluster). A cube's products are written into a hidden staging folder next
to the outputs and moved into place only when all are written; a completion
marker ``PREFIX.done`` (JSON: sources, finder, date) is written last,
atomically. A re-run skips the cubes that have a marker and redoes the
others; a cube that fails is reported with its reason and stops nothing else.
"""

import datetime
import glob
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .executor import TaskRunner

__all__ = ["SurveyResult", "expand_inputs", "run_survey", "marker_path"]


@dataclass
class SurveyResult:
    """What a survey did with each cube.

    Attributes
    ----------
    rows : list of dict
        One per cube: ``input``, ``status`` (``'done'``, ``'skipped'`` or
        ``'failed'``), ``n_sources``, ``seconds``, ``reason`` (the error of a
        failed cube), ``paths`` (the products written).
    """

    rows: list = field(default_factory=list)

    @property
    def failed(self):
        """The rows of the cubes that failed."""
        return [r for r in self.rows if r["status"] == "failed"]

    def table(self):
        """The summary as an `~astropy.table.Table`."""
        from astropy.table import Table

        return Table(rows=[(r["input"], r["status"], r["n_sources"], round(r["seconds"], 2), r["reason"])
                           for r in self.rows],
                     names=("input", "status", "n_sources", "seconds", "reason"),
                     dtype=(str, str, int, float, str))


def expand_inputs(inputs):
    """Paths of ``inputs`` with shell-style globs expanded (in order, without duplicates).

    Raises
    ------
    FileNotFoundError
        For a glob that matches nothing.
    """
    out = []
    for item in inputs:
        item = os.fspath(item)
        matches = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not matches:
            raise FileNotFoundError(f"{item!r} matches no file; check the pattern")
        for path in matches:
            if path not in out:
                out.append(path)
    return out


def _prefix(path):
    return Path(path).name.split(".")[0]


def marker_path(outdir, prefix):
    """The completion marker of the cube written with ``prefix`` into ``outdir``."""
    return Path(outdir) / f"{prefix}.done"


def _cube_task(item):
    """Search one cube and write its products whole; returns its summary row (raises on failure)."""
    finder, path, outdir, prefix, write_kwargs, tiled = item
    start = time.perf_counter()
    outdir = Path(outdir)
    marker = marker_path(outdir, prefix)
    if marker.exists():
        info = json.loads(marker.read_text())
        return {"input": path, "status": "skipped", "n_sources": int(info.get("n_sources", 0)),
                "seconds": 0.0, "reason": "", "paths": info.get("paths", [])}
    outdir.mkdir(parents=True, exist_ok=True)
    catalog = finder(path, progress=False, **tiled)
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix}.partial.", dir=outdir))
    try:
        written = catalog.write_products(staging, prefix, overwrite=True, **write_kwargs)
        written.append(catalog.write(staging / f"{prefix}_cat.ecsv", overwrite=True))
        final = []
        for src in written:
            src = Path(src)
            dst = outdir / src.relative_to(staging)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            final.append(str(dst))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    info = {"input": str(path), "n_sources": len(catalog), "finder": finder.describe(), "paths": final,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    fd, tmp = tempfile.mkstemp(prefix=f".{marker.name}.", suffix=".tmp", dir=outdir)
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh, default=str)
    os.replace(tmp, marker)  # last, atomically: the cube is complete
    return {"input": path, "status": "done", "n_sources": len(catalog), "seconds": time.perf_counter() - start,
            "reason": "", "paths": final}


def run_survey(finder, inputs, outdir, *, client=None, scheduler="threads", workers=1, tiles=None,
               max_memory=None, progress=True, **write_kwargs):
    """Search every cube of ``inputs`` with ``finder``; write each cube's products into ``outdir``.

    Parameters
    ----------
    finder : `~astro_mlfinder.Finder`
        The finder (configuration in its constructor).
    inputs : list of path
        FITS cubes; shell-style globs are expanded.
    outdir : path
        Where the products go (``PREFIX_*`` per cube, PREFIX = file name
        without extension) with each cube's completion marker ``PREFIX.done``.
    client : `distributed.Client` or str, optional
        Run the cubes on this dask.distributed cluster (or scheduler address).
    scheduler : {'threads', 'processes', 'synchronous'}
        Local Dask scheduler.
    workers : int
        Cubes searched at the same time locally.
    tiles, max_memory : optional
        Search each cube tile by tile (`astro_mlfinder.distributed.run`).
    progress : bool
        A progress bar over the cubes.
    **write_kwargs
        Product switches of `~astro_mlfinder.SourceCatalog.write_products`.

    Returns
    -------
    `SurveyResult`
        One row per cube; failed cubes carry their error as ``reason``.
    """
    paths = expand_inputs(inputs)
    prefixes = [_prefix(p) for p in paths]
    seen = {}
    for path, prefix in zip(paths, prefixes, strict=True):
        if prefix in seen:
            raise ValueError(f"{seen[prefix]} and {path} would write the same products ({prefix}_*); "
                             "rename one of them")
        seen[prefix] = path
    tiled = {k: v for k, v in (("tiles", tiles), ("max_memory", max_memory)) if v is not None}
    items = [(finder, path, os.fspath(outdir), prefix, write_kwargs, tiled)
             for path, prefix in zip(paths, prefixes, strict=True)]
    runner = TaskRunner(client=client, workers=workers, scheduler=scheduler, progress=progress)
    results = runner.map(_cube_task, items, desc="cubes", errors="return")
    rows = []
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, BaseException):
            reason = f"{type(result).__name__}: {result}".splitlines()[0]
            rows.append({"input": path, "status": "failed", "n_sources": 0, "seconds": 0.0, "reason": reason,
                         "paths": []})
        else:
            rows.append(result)
    return SurveyResult(rows)
