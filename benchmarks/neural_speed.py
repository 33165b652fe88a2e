"""NeuralFinder('unet3d') on a CPU: voxels per second and achieved FLOP/s against a measured roof.

A seeded simulated HI cube (default 512 x 256 x 256, written once as FITS) is
searched by ``NeuralFinder('unet3d', device='cpu')`` in a fresh process per
run (weights and torch loaded, then a warm-up on a small cube outside the
timing). Forward hooks count the network's tiles, the voxels it processed
and the multiply-adds of every convolution (2 FLOP each), so the achieved
FLOP/s of the network part is reported against two roofs measured in the
same process: a large float32 matrix product (``torch.mm``, 2048^2) and a
dense 3x3x3 convolution (24 -> 24 channels on 64^3). With ``--baseline DIR``
the finder of another source checkout runs interleaved on the same file and
the two catalogues are compared (same count, every source within one voxel).

Usage::

    python benchmarks/neural_speed.py
    python benchmarks/neural_speed.py --shape 256x128x128 --repeat 1
    python benchmarks/neural_speed.py --baseline /path/to/other/checkout
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _roofs(torch):
    a = torch.rand(2048, 2048)
    b = torch.rand(2048, 2048)
    torch.mm(a, b)
    t = min(_timed(torch.mm, a, b) for _ in range(5))
    mm = 2 * 2048**3 / t
    conv = torch.nn.Conv3d(24, 24, 3, padding=1, bias=False).eval()
    x = torch.rand(1, 24, 64, 64, 64)
    with torch.inference_mode():
        conv(x)
        t = min(_timed(conv, x) for _ in range(3))
    return mm, 2 * 24 * 24 * 27 * 64**3 / t


def _timed(func, *args):
    t0 = time.perf_counter()
    func(*args)
    return time.perf_counter() - t0


def worker(path, small_path):
    import torch

    from astro_mlfinder import NeuralFinder

    finder = NeuralFinder("unet3d", device="cpu", progress=False)
    finder(small_path)  # weights, torch and the first forward outside the timing
    net = finder.neural_model.load()[0]["unet3d"]
    counts = {"tiles": 0, "voxels": 0, "flop": 0.0, "net_s": 0.0}
    t_start = {}

    def conv_hook(mod, inp, out):
        if isinstance(mod, torch.nn.ConvTranspose3d):
            k = int(np.prod(mod.kernel_size))
            counts["flop"] += 2.0 * inp[0].numel() * mod.out_channels * k / mod.groups
        elif isinstance(mod, torch.nn.Conv3d):
            k = int(np.prod(mod.kernel_size))
            counts["flop"] += 2.0 * out.numel() * mod.in_channels * k / mod.groups
        else:  # the fused output convolution (unet3d.fused._Head): weight (1, channels, kz, ky, kx)
            counts["flop"] += 2.0 * out.numel() * int(np.prod(mod.weight.shape[1:]))

    def pre(mod, inp):
        t_start["t"] = time.perf_counter()

    def post(mod, inp, out):
        counts["tiles"] += inp[0].shape[0]
        counts["voxels"] += int(np.prod(inp[0].shape[2:])) * inp[0].shape[0]
        counts["net_s"] += time.perf_counter() - t_start["t"]

    def instrument(module):
        if getattr(module, "_speed_hooks", False):  # the cached inference copy: its hooks are already there
            return module
        module._speed_hooks = True
        for m in module.modules():
            if isinstance(m, torch.nn.Conv3d | torch.nn.ConvTranspose3d) or type(m).__name__ == "_Head":
                m.register_forward_hook(conv_hook)
        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)
        return module

    # the network runs through its inference form where it has one (a fused copy, cached by UNet3D.for_inference
    # while the weights do not change: instrumented once however often it is fetched)
    if hasattr(type(net), "for_inference"):
        build = type(net).for_inference
        type(net).for_inference = lambda self: instrument(build(self))
    else:
        instrument(net)
    t0 = time.perf_counter()
    cat = finder(path)
    wall = time.perf_counter() - t0
    mm, conv = _roofs(torch)
    pos = np.column_stack([cat.x.value, cat.y.value, cat.z.value]).tolist() if len(cat) else []
    return {"wall": wall, "threads": torch.get_num_threads(), "mm_roof": mm, "conv_roof": conv,
            "positions": pos, "n": len(cat), **counts}


def run_worker(path, small, env):
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(path), str(small)],
                          capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"worker failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def same_sources(a, b):
    a, b = np.asarray(a, dtype=float).reshape(-1, 3), np.asarray(b, dtype=float).reshape(-1, 3)
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} sources"
    if len(a) and max(np.min(np.linalg.norm(a - p, axis=1)) for p in b) >= 1.0:
        return "positions differ"
    return "same sources"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="512x256x256", help="cube shape NZxNYxNX (default 512x256x256)")
    parser.add_argument("--sources", type=int, default=12, help="simulated galaxies")
    parser.add_argument("--repeat", type=int, default=2, help="runs per checkout (best wall is reported)")
    parser.add_argument("--baseline", help="another source checkout whose NeuralFinder runs alongside")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker)))
        return 0

    shape = tuple(int(v) for v in args.shape.lower().split("x"))
    sys.path.insert(0, str(ROOT))
    from astro_mlfinder.simulate.hi import simulate_hi_cube

    path_env = os.environ.get("PYTHONPATH", "")
    envs = {"this checkout": dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), path_env]))}
    if args.baseline:
        base = str(Path(args.baseline).resolve())
        envs["baseline"] = dict(os.environ, PYTHONPATH=os.pathsep.join([base, path_env]))
    runs = {k: [] for k in envs}
    with tempfile.TemporaryDirectory() as tmp:
        path, small = Path(tmp) / "cube.fits", Path(tmp) / "small.fits"
        simulate_hi_cube(shape=shape, n_sources=args.sources, seed=5).write(path)
        simulate_hi_cube(shape=(128, 64, 64), n_sources=2, seed=6).write(small)
        for rep in range(args.repeat):
            for name in (list(envs) if rep % 2 == 0 else list(envs)[::-1]):
                print(f"{name} run {rep + 1} ...", file=sys.stderr, flush=True)
                runs[name].append(run_worker(path, small, envs[name]))
    nvox = int(np.prod(shape))
    print(f"\nNeuralFinder('unet3d') on a simulated {args.shape} cube ({args.sources} galaxies, seed 5), CPU, "
          f"{os.cpu_count()} cores")
    head = (f"{'checkout':<15}{'wall s':>8}{'Mvox/s':>8}{'net s':>7}{'tiles':>6}{'proc/cube':>10}{'GFLOP':>7}"
            f"{'GFLOP/s':>9}{'/mm roof':>9}{'/conv roof':>11}{'sources':>8}")
    print(head)
    print("-" * len(head))
    best = {}
    for name, rs in runs.items():
        r = min(rs, key=lambda x: x["wall"])
        best[name] = r
        rate = r["flop"] / r["net_s"]
        proc = r["voxels"] / (-(-shape[0] // 4) * shape[1] * shape[2])  # over the rebinned (z / 4) cube
        print(f"{name:<15}{r['wall']:>8.2f}{nvox / r['wall'] / 1e6:>8.2f}{r['net_s']:>7.2f}{r['tiles']:>6}"
              f"{proc:>10.2f}{r['flop'] / 1e9:>7.0f}{rate / 1e9:>9.1f}{rate / r['mm_roof']:>9.0%}"
              f"{rate / r['conv_roof']:>11.0%}{r['n']:>8}")
    r = best["this checkout"]
    print(f"roofs measured in the same process: matmul {r['mm_roof'] / 1e9:.1f} GFLOP/s, "
          f"conv3d 24->24 3^3 {r['conv_roof'] / 1e9:.1f} GFLOP/s; torch threads {r['threads']}")
    print("proc/cube: voxels the network processed (rebinned) over the rebinned cube's voxels")
    if args.baseline:
        b = best["baseline"]
        print(f"speed-up over the baseline: {b['wall'] / r['wall']:.2f}x wall, {b['net_s'] / r['net_s']:.2f}x network; "
              f"catalogues: {same_sources(r['positions'], b['positions'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
