"""Real HI cubes never used in training: is every galaxy ClassicalFinder finds found whole by NeuralFinder('unet3d')?

Two observed cubes:

* ESO 121-G6, ATCA (``../shared/fixtures/real/ESO121-G6_ATCA.fits``, see its README);
* NGC 2903, WSRT/WHISP, read from the pyfat-astro wheel on PyPI
  (``pyFAT_astro/Installation_Check/NGC_2903.fits``): the wheel is fetched once with
  ``pip download pyfat-astro --no-deps -d CACHE`` and that one file extracted into ``CACHE``.

For every galaxy of ``ClassicalFinder()`` (default settings), each neural configuration is checked:
*found whole* when one neural source holds at least half of the galaxy's classical-mask flux and no other
neural source holds more than 5 % of it (a split galaxy fails); its mask voxels, and the *flux ratio*:
the data summed over the union of the neural sources that overlap the classical mask, over the data summed
over the classical mask (target >= 0.95). Each configuration runs as ``NeuralFinder('unet3d', ...)`` with
given weights, with and without mask growth (``dilate``); the times are wall seconds of the whole finder
call (weights already loaded, one torch thread unless ``--threads``).

Usage::

    python benchmarks/real_hi.py                          # registry weights, table on stdout
    python benchmarks/real_hi.py --weights old=unet3d@0.1.0 new=unet3d@0.2.0 --docs docs/performance.rst
"""

import argparse
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import rst_table, update_docs_block  # noqa: E402

ESO121 = ROOT.parent / "shared" / "fixtures" / "real" / "ESO121-G6_ATCA.fits"
WHEEL_MEMBER = "pyFAT_astro/Installation_Check/NGC_2903.fits"
DOCS_START, DOCS_END = ".. real-hi-start", ".. real-hi-end"


def ngc2903(cache):
    """Path of NGC_2903.fits in ``cache``, downloading the pyfat-astro wheel there the first time."""
    cache = Path(cache)
    target = cache / "NGC_2903.fits"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("pyfat_astro-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "pyfat-astro", "--no-deps", "-d", str(cache)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(cache.glob("pyfat_astro-*.whl"))
        if proc.returncode or not wheels:
            raise SystemExit(f"could not download the pyfat-astro wheel ({' '.join(cmd)}): {proc.stderr[-500:]}")
    with zipfile.ZipFile(wheels[-1]) as zf:
        tmp = target.with_suffix(".part")
        tmp.write_bytes(zf.read(WHEEL_MEMBER))
        tmp.replace(target)
    return target


def compare(data, classical_mask, neural_labels):
    """Found whole, mask voxels and flux ratio of the neural sources against one classical galaxy."""
    d = np.nan_to_num(data)
    flux_c = float(d[classical_mask].sum())
    ids, counts = np.unique(neural_labels[classical_mask], return_counts=True)
    ids = ids[ids > 0]
    if not ids.size:
        return {"whole": False, "n_parts": 0, "voxels": 0, "ratio": 0.0}
    shares = np.array([d[classical_mask & (neural_labels == i)].sum() / flux_c for i in ids])
    union = np.isin(neural_labels, ids)
    main = shares.max() >= 0.5
    split = np.sum(shares > 0.05) > 1
    return {"whole": bool(main and not split), "n_parts": int(np.sum(shares > 0.05)),
            "voxels": int(union.sum()), "ratio": float(d[union].sum() / flux_c)}


def run(weights, cache, threads):
    import torch

    from astro_mlfinder import ClassicalFinder, NeuralFinder
    from astro_mlfinder.core.inputs import load_image

    torch.set_num_threads(threads)
    cubes = {"ESO 121-G6 (ATCA)": ESO121, "NGC 2903 (WSRT)": ngc2903(cache)}
    rows = []
    for name, path in cubes.items():
        data = load_image(path).read()
        t0 = time.perf_counter()
        classical = ClassicalFinder()(path, progress=False)
        t_classical = time.perf_counter() - t0
        seg = np.asarray(classical.segment)
        for gal in range(1, int(seg.max()) + 1):
            mask = seg == gal
            flux = float(np.nan_to_num(data)[mask].sum())
            rows.append([name, gal, "ClassicalFinder()", "yes", int(mask.sum()), 1.0, t_classical])
            for label, source in weights.items():
                for dilate in (False, True):
                    finder = NeuralFinder("unet3d", device="cpu", weights=source, dilate=dilate)
                    finder.neural_model.load()  # weights read outside the timing
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t0 = time.perf_counter()
                        cat = finder(path, progress=False)
                        wall = time.perf_counter() - t0
                    res = compare(data, mask, np.asarray(cat.segment))
                    cfg = f"{label}, dilate={dilate}"
                    whole = "yes" if res["whole"] else f"no ({res['n_parts']} parts)"
                    rows.append([name, gal, cfg, whole, res["voxels"], res["ratio"], wall])
            print(f"{name} galaxy {gal}: classical mask {int(mask.sum())} voxels, flux {flux:.4g}", file=sys.stderr)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", nargs="+", default=["unet3d"],
                        help="LABEL=SOURCE pairs (registry name, name@version or file); default: the newest")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "astro_mlfinder" / "real_hi"),
                        help="where the pyfat-astro wheel and NGC_2903.fits are kept")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--docs", help="rewrite the real-HI block of this page (docs/performance.rst)")
    args = parser.parse_args(argv)
    weights = {}
    for item in args.weights:
        label, _, source = item.partition("=")
        weights[label] = source or label
    rows = run(weights, args.cache, args.threads)
    table = rst_table(["cube", "galaxy", "finder", "found whole", "mask voxels", "flux / classical", "wall s"],
                      rows)
    print(table)
    if args.docs:
        import platform

        import torch

        cmd = "python benchmarks/real_hi.py " + " ".join(sys.argv[1:])
        text = (f"Measured with ``{cmd}`` on {platform.machine()} (2 shared CPU cores, other jobs running), "
                f"{args.threads} torch thread(s), torch {torch.__version__}. Two observed cubes never used in "
                "training or tuning: ESO 121-G6 (ATCA, ``../shared/fixtures/real``) and NGC 2903 (WSRT/WHISP, "
                "from the pyfat-astro wheel, downloaded by the benchmark). *found whole*: one neural source "
                "holds at least half of the classical mask's flux and no other more than 5 %; *flux / "
                "classical*: the data summed over the neural sources that overlap the classical mask, over "
                "the data summed over the classical mask; *wall s*: the whole finder call, weights loaded."
                f"\n\n{table}")
        update_docs_block(args.docs, DOCS_START, DOCS_END, text, title="Real HI cubes: whole galaxies and flux")
    return 0


if __name__ == "__main__":
    sys.exit(main())
