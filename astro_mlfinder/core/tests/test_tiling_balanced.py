"""Balanced tile plans: as few tiles as the flush-end plan, shrunk and spread so each voxel is covered about once."""

import itertools

import numpy as np
import pytest

from astro_mlfinder.core.tiling import balanced_origins, plan_tiles


@pytest.mark.parametrize("size,tile,overlap,divisor", [
    (256, 128, 32, 16), (128, 64, 16, 16), (1000, 100, 10, 1), (160, 48, 16, 16), (512, 96, 32, 16),
    (64, 64, 16, 16), (48, 64, 16, 16), (257, 64, 0, 1),
])
def test_balanced_origins_cover_with_overlap_and_no_more_tiles(size, tile, overlap, divisor):
    t, origins = balanced_origins(size, tile, overlap, divisor)
    assert origins[0] == 0 and origins[-1] + t == size  # covers [0, size), ends flush
    assert t <= tile
    assert all(o % divisor == 0 for o in origins) and t % divisor == 0
    gaps = np.diff(origins)
    assert np.all(t - gaps >= overlap)  # every neighbour pair overlaps by at least the overlap
    flush = plan_tiles((size,), tile, overlap, divisor).origins[0]
    assert len(origins) == len(flush)  # no extra tiles
    assert len(origins) * t <= len(flush) * plan_tiles((size,), tile, overlap, divisor).tiles[0]


def test_balanced_plan_processes_about_the_volume_plus_overlaps():
    # the unet3d case of the issue: a 512 x 256 x 256 cube rebinned to 128 x 256 x 256, tiles (64, 128, 128)
    shape, tile, overlap = (128, 256, 256), (64, 128, 128), (16, 32, 32)
    flush = plan_tiles(shape, tile, overlap, 16)
    balanced = plan_tiles(shape, tile, overlap, 16, balanced=True)
    volume = np.prod(shape)
    assert flush.n_tiles * np.prod(flush.tiles) / volume == pytest.approx(3.375)
    assert balanced.n_tiles == flush.n_tiles
    assert balanced.tiles == (64, 112, 112)
    assert balanced.n_tiles * np.prod(balanced.tiles) / volume == pytest.approx(2.58, abs=0.01)
    # every voxel is covered
    cover = np.zeros(shape, dtype=np.int8)
    for org in balanced:
        cover[balanced.slices(org)] += 1
    assert cover.min() >= 1


def test_balanced_windows_blend_to_one():
    plan = plan_tiles((96, 80), (48, 48), (16, 16), 16, balanced=True)
    total = np.zeros(plan.padded)
    for org in plan:
        total[plan.slices(org)] += plan.window(org)
    assert total.min() > 0  # every pixel gets weight: dividing by it recovers a constant exactly
    values = np.zeros(plan.padded)
    for org in plan:
        values[plan.slices(org)] += 2.5 * plan.window(org)
    np.testing.assert_allclose(values / total, 2.5)
    assert len(list(itertools.islice(iter(plan), 100))) == plan.n_tiles
