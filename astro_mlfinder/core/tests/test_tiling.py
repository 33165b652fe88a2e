import numpy as np
import pytest

from astro_mlfinder.core.tiling import TilePlan, as_tuple, blend_window, plan_tiles, round_up, tile_origins


def test_as_tuple_scalars_sequences_and_strings():
    assert as_tuple(16, 3, "overlap") == (16, 16, 16)
    assert as_tuple(np.int64(4), 2, "overlap") == (4, 4)
    assert as_tuple((64, 32.0), 2, "tile_shape") == (64, 32)
    assert as_tuple(np.array([1, 2, 3]), 3, "tile_shape") == (1, 2, 3)
    assert as_tuple("128,64,64", 3, "crop_shape") == (128, 64, 64)
    assert as_tuple("128x64x64", 3, "crop_shape") == (128, 64, 64)


@pytest.mark.parametrize(
    "value, ndim, match",
    [
        ((1, 2), 3, r"tile_shape must be an int or a \(z, y, x\) sequence of 3 ints, got \(1, 2\)"),
        ((1, 2, 3), 2, r"\(y, x\) sequence of 2 ints"),
        ((1.5, 2), 2, "tile_shape must be an int"),
        ("a,b,c", 3, "tile_shape must be an int"),
        (None, 3, "got None"),
        ((True, 2, 2), 3, "tile_shape must be an int"),
        ((4, -1, 4), 3, r"tile_shape must be non-negative, got \(4, -1, 4\)"),
    ],
)
def test_as_tuple_errors_name_the_parameter(value, ndim, match):
    with pytest.raises(ValueError, match=match):
        as_tuple(value, ndim, "tile_shape")


def test_as_tuple_minimum():
    assert as_tuple(0, 2, "overlap") == (0, 0)
    with pytest.raises(ValueError, match="tile_shape must be >= 1"):
        as_tuple((0, 4), 2, "tile_shape", minimum=1)


def test_tile_origins_cover_and_end_flush():
    assert tile_origins(40, 64, 48) == [0]
    assert tile_origins(160, 64, 48) == [0, 48, 96]
    assert tile_origins(176, 64, 48)[-1] == 112
    with pytest.raises(ValueError, match="positive"):
        tile_origins(10, 0, 1)
    assert round_up(17, 16) == 32 and round_up(16, 16) == 16


def test_plan_3d_rounds_to_the_divisor():
    # the plan unet3d uses on a 400x200x150 cube rebinned to 100 channels (tile 256/4, overlap 64/4)
    plan = plan_tiles((100, 200, 150), (64, 128, 128), (16, 32, 32), divisor=16)
    assert isinstance(plan, TilePlan) and plan.ndim == 3
    assert plan.padded == (112, 208, 160)
    assert plan.tiles == (64, 128, 128)
    assert plan.overlaps == (16, 32, 32)
    assert plan.origins == ((0, 48), (0, 80), (0, 32))
    assert plan.n_tiles == len(plan) == 8
    assert list(plan)[:3] == [(0, 0, 0), (0, 0, 32), (0, 80, 0)]  # raster order, x fastest
    assert plan.pad_width == [(0, 12), (0, 8), (0, 10)]
    for origin in plan:
        assert all(o % 16 == 0 for o in origin)
        assert all(s.stop <= p for s, p in zip(plan.slices(origin), plan.padded, strict=True))
    # an axis that fits in one tile: the tile shrinks to the padded size, no overlap
    plan = plan_tiles((45, 70, 37), (64, 96, 48), (16, 16, 16), divisor=16)
    assert plan.tiles == plan.padded == (48, 80, 48) and plan.overlaps == (0, 0, 0) and len(plan) == 1
    # the overlap stays at least one divisor below the tile
    assert plan_tiles((200,), 32, 40, divisor=16).overlaps == (16,)
    # no divisor: exact sizes
    plan = plan_tiles((10, 7), (4, 7), (2, 3))
    assert plan.padded == (10, 7) and plan.tiles == (4, 7) and plan.origins == ((0, 2, 4, 6), (0,))


def test_plan_2d():
    plan = plan_tiles((100, 70), (64, 32), (16, 16), divisor=16)
    assert plan.ndim == 2 and plan.padded == (112, 80)
    assert plan.origins == ((0, 48), (0, 16, 32, 48))
    assert plan.n_tiles == 8
    assert plan.neighbours((0, 16)) == ((False, True), (True, True))
    assert plan.neighbours((48, 48)) == ((True, True), (False, False))
    assert plan.window((48, 48)).shape == (64, 32)


def test_plan_errors():
    with pytest.raises(ValueError, match="tile_shape"):
        plan_tiles((10, 10, 10), (4, 4), 0)
    with pytest.raises(ValueError, match="overlap"):
        plan_tiles((10, 10), 4, (1, 2, 3))
    with pytest.raises(ValueError, match="cannot tile"):
        plan_tiles((0, 10), 4, 0)
    with pytest.raises(ValueError, match="divisor"):
        plan_tiles((10, 10), 4, 0, divisor=0)


@pytest.mark.parametrize("overlap", [16, 32, 3])
def test_blend_windows_form_a_partition_of_unity_1d(overlap):
    tile, n_tiles = 64, 4
    step = tile - overlap
    size = step * (n_tiles - 1) + tile
    total = np.zeros(size)
    for k in range(n_tiles):
        w = blend_window((tile,), (overlap,), low=(k > 0,), high=(k < n_tiles - 1,))
        total[k * step : k * step + tile] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "shape, tile, overlap, divisor",
    [
        ((100, 70), (64, 32), (16, 16), 16),  # 2D, last tiles flush with the border
        ((45, 70, 37), (32, 32, 32), (16, 16, 16), 16),  # 3D
        ((30, 20, 25), (12, 8, 10), (4, 4, 8), 1),
    ],
)
def test_windows_of_a_plan_form_a_partition_of_unity(shape, tile, overlap, divisor):
    plan = plan_tiles(shape, tile, overlap, divisor)
    total = np.zeros(plan.padded)
    for origin in plan:
        total[plan.slices(origin)] += plan.window(origin)
    # the flush last tile overlaps more than nominally: the weights still never vanish
    assert total.min() > 0.5
    if all((p - t) % (t - o) == 0 for p, t, o in zip(plan.padded, plan.tiles, plan.overlaps, strict=True)):
        np.testing.assert_allclose(total, 1.0, atol=1e-6)
    # the plans used by predict_tiled divide by the total weight: exact whatever the flush tile adds
    assert np.all(np.isfinite(1 / total))


def test_blend_window_is_zero_at_inner_edges_and_separable():
    w = blend_window((32, 32, 32), (16, 0, 16), low=(True, True, False), high=(False, True, True))
    assert w.shape == (32, 32, 32) and w.dtype == np.float32
    assert np.all(w[:4] == 0)  # overlap // 4 pixels at the low z edge
    assert np.all(w[:, :, -4:] == 0)
    assert np.all(w[-1, :, 0] == 1)  # data-border edges keep weight 1
    assert np.all(w[16:, :, :16] == 1)
    w2 = blend_window((16, 16), (8, 8))  # neighbours on every side by default
    np.testing.assert_allclose(w2, np.outer(w2[:, 8], w2[8, :]), atol=1e-6)
    assert w2[0, 0] == 0 and w2[8, 8] == 1
    with pytest.raises(ValueError, match="smaller than the tile"):
        blend_window((16,), (16,), (True,), (True,))
    with pytest.raises(ValueError, match="same length"):
        blend_window((16, 16), (4,))
