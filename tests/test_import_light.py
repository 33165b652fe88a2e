"""Importing the package stays light: heavy modules load on first use (start-up of every run)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("astropy.coordinates", "astropy.table", "astropy.nddata", "astropy.wcs", "scipy", "numba",
         "matplotlib", "torch", "regions")


def _modules_after(code):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_no_heavy_module():
    assert _modules_after("import astro_mlfinder") == []


def test_numpy_cube_catalogue_needs_no_coordinates_table_or_nddata():
    code = (
        "import numpy as np\n"
        "from astro_mlfinder import ClassicalFinder\n"
        "cube = np.random.default_rng(1).standard_normal((24, 32, 32)).astype(np.float32)\n"
        "cube[10:14, 14:18, 14:18] += 8\n"
        "cat = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)(cube, progress=False)\n"
        "assert len(cat) >= 1\n"
    )
    loaded = _modules_after(code)
    assert "numba" in loaded and "scipy" in loaded  # the search itself
    assert not {"astropy.coordinates", "astropy.table", "astropy.nddata", "astropy.wcs", "matplotlib",
                "torch"} & set(loaded), loaded


def test_neural_inference_and_unet3d_model_load_no_torch():
    # the fused network, its numba head and the inference kernels load when a network runs
    code = "import astro_mlfinder.neural.inference\nimport astro_mlfinder.neural.models.unet3d\n"
    assert "torch" not in _modules_after(code)
