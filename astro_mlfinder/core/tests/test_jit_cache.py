"""Compiled numba kernels are cached on disk: a second process loads them instead of compiling."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

KERNEL_MODULE = """
from numba import njit


@njit(cache=True)
def twice(x):
    return 2 * x
"""

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import kernel_mod
from astro_mlfinder.core import _jit
before = _jit.is_cached(kernel_mod.twice)
printed = _jit.announce_compilation([kernel_mod.twice], "the test kernel")
again = _jit.announce_compilation([kernel_mod.twice], "the test kernel")
other = _jit.announce_compilation([kernel_mod.twice], "another group")
value = kernel_mod.twice(21)
stats = kernel_mod.twice.stats
print(json.dumps({"before": before, "printed": printed, "again": again, "other": other, "value": value,
                  "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""

SMOOTH_CLIP = """
import json
import numpy as np
from astro_mlfinder.classical import _boxcar
from astro_mlfinder.classical.smooth_clip import smooth_clip
from astro_mlfinder.core import _small
_small.NUMPY_MAX_VOXELS = 0  # the numba kernels even for this small cube
cube = np.random.default_rng(3).standard_normal((20, 24, 24), dtype=np.float32)
smooth_clip(cube, kernels_xy=(0, 3), kernels_z=(0, 3))
out = {}
for name in ("clip_bits", "spatial_pass", "spectral_pass_inplace", "spectral_pass_from"):
    stats = getattr(_boxcar, name).stats
    out[name] = [sum(stats.cache_hits.values()), sum(stats.cache_misses.values())]
print(json.dumps(out))
"""


def _run(code, *args, env=None):
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=600, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_second_process_loads_cached_kernel_and_first_announces(tmp_path):
    mod_dir = tmp_path / "mod"
    mod_dir.mkdir()
    (mod_dir / "kernel_mod.py").write_text(textwrap.dedent(KERNEL_MODULE))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    first, err1 = _run(PROBE, str(mod_dir), env=env)
    # once per process and group: a second group of uncached kernels (the neural finder's) says so too
    assert first == {"before": False, "printed": True, "again": False, "other": True, "value": 42, "hits": 0,
                     "misses": 1}
    assert err1.count("astro_mlfinder: compiling the test kernel") == 1
    assert err1.count("astro_mlfinder: compiling another group") == 1
    assert list((tmp_path / "cache").rglob("*.nbi")), "no cache index written"

    second, err2 = _run(PROBE, str(mod_dir), env=env)
    assert second == {"before": True, "printed": False, "again": False, "other": False, "value": 42, "hits": 1,
                      "misses": 0}
    assert "compiling" not in err2


def test_smooth_clip_kernels_come_from_the_cache_in_a_new_process():
    _run(SMOOTH_CLIP)  # compiles on a fresh checkout, loads the cache otherwise
    stats, err = _run(SMOOTH_CLIP)
    for name, (hits, misses) in stats.items():
        assert hits >= 1 and misses == 0, (name, hits, misses)
    assert "compiling" not in err
