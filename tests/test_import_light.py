"""Importing the package stays light: heavy modules load on first use (start-up of every run)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("astropy.coordinates", "astropy.table", "astropy.nddata", "astropy.wcs", "scipy", "scipy.sparse", "numba",
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
    # a small cube is smoothed by the numpy passes (classical._boxcar_numpy), linked and measured with numpy
    # (core._small): neither numba nor scipy loads
    assert not {"numba", "scipy", "astropy.coordinates", "astropy.table", "astropy.nddata", "astropy.wcs", "matplotlib",
                "torch"} & set(loaded), loaded


def test_numba_loads_for_cubes_above_the_numpy_limit():
    code = (
        "import numpy as np\n"
        "from astro_mlfinder import ClassicalFinder\n"
        "from astro_mlfinder.core import _small\n"
        "_small.NUMPY_MAX_VOXELS = 0\n"
        "cube = np.random.default_rng(1).standard_normal((24, 32, 32)).astype(np.float32)\n"
        "cube[10:14, 14:18, 14:18] += 8\n"
        "cat = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)(cube, progress=False)\n"
        "assert len(cat) >= 1\n"
    )
    loaded = _modules_after(code)
    assert "numba" in loaded and "scipy" in loaded  # the kernels, and scipy.ndimage's labels and slices


def test_small_fits_cube_sofia_run_loads_neither_numba_nor_scipy(tmp_path):
    # the whole-process path of benchmarks/speed.py at a small size: parameter file, FITS cube with a WCS,
    # XML catalogue; the stages that are off (reliability, flagging, noise scaling...) load nothing
    import numpy as np
    from astropy.io import fits

    cube = np.random.default_rng(2).standard_normal((32, 40, 40)).astype(np.float32)
    cube[12:18, 18:23, 18:23] += 6
    header = {"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CTYPE3": "FREQ", "CDELT1": -1e-3, "CDELT2": 1e-3,
              "CDELT3": 2e4, "CRVAL1": 150.0, "CRVAL2": -30.0, "CRVAL3": 1.4e9, "CRPIX1": 20, "CRPIX2": 20,
              "CRPIX3": 1, "CUNIT3": "Hz", "BUNIT": "Jy/beam"}
    fits.PrimaryHDU(cube, fits.Header(header)).writeto(tmp_path / "cube.fits")
    (tmp_path / "run.par").write_text(
        f"input.data = {tmp_path / 'cube.fits'}\nscfind.kernelsXY = 0, 3\nscfind.kernelsZ = 0, 3\n"
        "scfind.threshold = 4.0\nlinker.minSizeXY = 2\nlinker.minSizeZ = 2\nparameter.wcs = true\n"
    )
    code = (
        "from astro_mlfinder import ClassicalFinder\n"
        f"cat = ClassicalFinder.from_sofia_par({str(tmp_path / 'run.par')!r})({str(tmp_path / 'cube.fits')!r}, "
        "progress=False)\n"
        "assert len(cat) >= 1\n"
        f"cat.write({str(tmp_path / 'cat.xml')!r}, format='sofia-xml')\n"
    )
    loaded = _modules_after(code)
    assert "astropy.wcs" in loaded  # the catalogue's world coordinates
    assert not {"numba", "scipy", "matplotlib", "torch"} & set(loaded), loaded
    assert (tmp_path / "cat.xml").exists()


def test_neural_inference_and_unet3d_model_load_no_torch():
    # the fused network, its numba head and the inference kernels load when a network runs
    code = "import astro_mlfinder.neural.inference\nimport astro_mlfinder.neural.models.unet3d\n"
    assert "torch" not in _modules_after(code)


def test_small_cube_reliability_and_dilation_load_no_numba(tmp_path):
    # the reliability filter sums its kernels in numpy for small problems; dilation needs scipy.ndimage
    import numpy as np

    rng = np.random.default_rng(4)
    cube = rng.standard_normal((40, 48, 48)).astype(np.float32)
    cube[15:22, 20:26, 20:26] += 5
    code = (
        "import numpy as np\n"
        "from astro_mlfinder import ClassicalFinder\n"
        f"cube = np.load({str(tmp_path / 'cube.npy')!r})\n"
        "finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=3.0, reliability=True,\n"
        "                         reliability_threshold=0.5, reliability_min_snr=1.0, dilation=True,\n"
        "                         min_size_xy=2, min_size_z=2)\n"
        "import warnings\n"
        "warnings.simplefilter('ignore')\n"
        "cat = finder(cube, progress=False)\n"
        "assert len(cat) >= 1 and 'reliability' in cat.meta\n"
    )
    np.save(tmp_path / "cube.npy", cube)
    loaded = _modules_after(code)
    assert "numba" not in loaded, loaded


def test_small_cube_products_load_no_numba(tmp_path):
    # moment maps and cubelets of a small cube are made in numpy (the same bits as the numba kernels)
    import numpy as np

    cube = np.random.default_rng(5).standard_normal((32, 40, 40)).astype(np.float32)
    cube[12:18, 18:23, 18:23] += 6
    np.save(tmp_path / "cube.npy", cube)
    code = (
        "import numpy as np\n"
        "from astro_mlfinder import ClassicalFinder\n"
        "from astro_mlfinder.io import write_products\n"
        f"cat = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0, min_size_xy=2, min_size_z=2)"
        f"(np.load({str(tmp_path / 'cube.npy')!r}), progress=False)\n"
        "assert len(cat) >= 1\n"
        f"paths = write_products(cat, {str(tmp_path / 'out')!r}, 'p', moments=True, cubelets=True, mask=True)\n"
        "assert any(p.name == 'p_mom0.fits' for p in paths)\n"
    )
    loaded = _modules_after(code)
    assert "numba" not in loaded, loaded
    assert (tmp_path / "out" / "p_mom0.fits").exists()


def _freeze_count_at_exit(setting):
    # a hook registered before the package runs after the package's own exit hook (atexit is last in, first out)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('FROZEN', gc.get_freeze_count()))\n"
        "import astro_mlfinder\n"
        f"astro_mlfinder.conf.fast_exit = {setting}\n"
        "garbage = [[] for _ in range(1000)]\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.split("FROZEN")[-1])


def test_fast_exit_freezes_live_objects_unless_switched_off():
    assert _freeze_count_at_exit(True) > 1000  # every live object, the 1000 lists included
    assert _freeze_count_at_exit(False) == 0  # CPython's default shut-down


def test_numba_loads_with_the_collector_paused_and_switched_back_on():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    code = (
        "import gc, sys\n"
        "import astro_mlfinder\n"
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: runs.append(info['generation']) if phase == 'start' else None)\n"
        "from astro_mlfinder.core import _numba\n"
        "gc.callbacks.clear()\n"
        "loaded = sum(m.startswith('numba') for m in sys.modules)\n"
        "print('RESULT', runs.count(2), gc.isenabled(), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    runs, enabled, loaded = out.stdout.split("RESULT")[-1].split()
    # numba and its registries (hundreds of modules, ~500k objects) loaded without one full collection walking
    # them (two or three otherwise); a young-generation run may happen before the module's first line
    assert int(loaded) > 100 and int(runs) == 0
    assert enabled == "True"
