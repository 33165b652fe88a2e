"""The faster tile plan of unet3d (large balanced tiles) finds the same sources as the former dense plan."""

import numpy as np
import pytest

pytest.importorskip("torch")

from astro_mlfinder import NeuralFinder  # noqa: E402
from astro_mlfinder.neural import inference  # noqa: E402
from astro_mlfinder.simulate.hi import simulate_hi_cube  # noqa: E402


def test_balanced_large_tiles_find_the_same_sources(monkeypatch):
    sim = simulate_hi_cube(shape=(192, 144, 144), n_sources=5, seed=23, snr_range=(8.0, 40.0))
    # the network's masks (dilate=False): mask growth would amplify the small differences of the blend
    after = NeuralFinder("unet3d", device="cpu", progress=False, dilate=False)(sim.to_hdu())

    # before: tiles of (256, 128, 128) native voxels in the flush-end plan (4 tiles here instead of 1)
    flush = inference.plan_tiles
    monkeypatch.setattr(inference, "plan_tiles", lambda *a, balanced=False, **k: flush(*a, **k))
    before = NeuralFinder("unet3d", device="cpu", progress=False, tile_shape=(256, 128, 128), dilate=False)(
        sim.to_hdu())

    assert len(after) == len(before) >= 3
    pos_a = np.column_stack([after.x.value, after.y.value, after.z.value])
    pos_b = np.column_stack([before.x.value, before.y.value, before.z.value])
    for p in pos_b:  # every former source has a counterpart within one voxel
        assert np.min(np.linalg.norm(pos_a - p, axis=1)) < 1.0
    seg_a, seg_b = after.segment > 0, before.segment > 0
    assert np.count_nonzero(seg_a != seg_b) <= 0.01 * np.count_nonzero(seg_a | seg_b)
