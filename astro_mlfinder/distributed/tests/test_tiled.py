"""Tiled runs equal the single pass: sources across tile borders and corners, classical and neural finders."""

import numpy as np
import pytest

from astro_mlfinder.classical.finder import ClassicalFinder
from astro_mlfinder.classical.tiled import noise_from_sample, sample_positions
from astro_mlfinder.core.stats import measure_noise, noise_stride
from astro_mlfinder.distributed import make_plan, parse_memory, plan_for, run
from astro_mlfinder.distributed.plan import Tile

SHAPE = (64, 96, 104)
#: tile borders of tiles=(2, 2, 2) on SHAPE are at z=32, y=48, x=48 (x rounded to a multiple of 8)
SOURCES = [(32, 48, 48), (31, 20, 47), (10, 48, 80), (50, 80, 90), (20, 70, 15), (33, 47, 20)]


def _cube(seed=1, blank=True):
    rng = np.random.default_rng(seed)
    cube = rng.normal(0.0, 1.0, SHAPE).astype(np.float32)
    zz, yy, xx = np.indices(SHAPE)
    for z, y, x in SOURCES:  # on borders, edges and the corner of eight tiles
        cube += (3.0 * np.exp(-((zz - z) ** 2 / 32.0 + (yy - y) ** 2 / 18.0 + (xx - x) ** 2 / 18.0))).astype(
            np.float32)
    if blank:
        cube[5:8, 40:44, 60:64] = np.nan
    return cube


def _columns_equal(cat1, cat2, rtol=1e-6):
    t1, t2 = cat1.to_table(), cat2.to_table()
    assert t1.colnames == t2.colnames
    for name in t1.colnames:
        a, b = t1[name], t2[name]
        if name == "name" or a.dtype.kind in "OUS":
            assert list(a) == list(b), name
            continue
        a = np.asarray(getattr(a, "value", a), dtype=float)
        b = np.asarray(getattr(b, "value", b), dtype=float)
        np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-12, err_msg=name)


def _same_labels_up_to_renumbering(seg1, seg2):
    assert ((seg1 > 0) == (seg2 > 0)).all()
    pairs = np.unique(np.stack([seg1[seg1 > 0], seg2[seg2 > 0]]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))  # a one-to-one map


def test_parse_memory_and_plan():
    assert parse_memory("4GB") == 4_000_000_000
    assert parse_memory("256MB") == 256_000_000
    assert parse_memory("1GiB") == 2**30
    with pytest.raises(ValueError, match="max_memory must be a size"):
        parse_memory("lots")
    plan = make_plan(SHAPE, (5, 6, 6), tiles=(2, 2, 2))
    assert len(plan) == 8
    owned = np.zeros(SHAPE, dtype=int)
    for tile in plan:
        assert isinstance(tile, Tile)
        owned[tile.core] += 1
        assert tile.core[-1].start % 8 == 0 and tile.slices[-1].start % 8 == 0  # packed masks stay aligned
        for c, s, h, n in zip(tile.core, tile.slices, plan.halo, SHAPE, strict=True):
            assert s.start == max(0, c.start - h) and s.stop == min(n, c.stop + h)
    assert (owned == 1).all()  # the cores partition the cube
    small = make_plan((256, 256, 256), (5, 6, 6), max_memory="64MB", bytes_per_voxel=24)
    assert small.max_tile_voxels * 24 <= 64e6 and len(small) > 1
    with pytest.raises(ValueError, match="cannot hold one tile"):
        make_plan((256, 256, 256), (40, 40, 40), max_memory="1MB")


@pytest.mark.parametrize("statistic,flux_range", [("mad", "negative"), ("mad", "full"), ("std", "positive")])
def test_noise_from_tiles_is_exact(statistic, flux_range):
    rng = np.random.default_rng(3)
    cube = rng.normal(0, 1, (40, 300, 210)).astype(np.float32)  # 2.5e6 voxels: a stride of 2
    n = cube.size
    cadence = noise_stride(n, cube.shape[-1])
    assert cadence == 2
    plan = make_plan(cube.shape, (2, 3, 3), tiles=(3, 2, 2))
    flats, values = [], []
    for tile in plan:
        flat, local = sample_positions(tile.core, cube.shape, cadence)
        flats.append(flat)
        values.append(np.ascontiguousarray(cube[tile.core]).reshape(-1)[local])
    got = noise_from_sample(np.concatenate(flats), np.concatenate(values), n, cadence, statistic, flux_range)
    assert got == measure_noise(cube, statistic, flux_range, sample=True)


@pytest.fixture(scope="module")
def cube():
    return _cube()


@pytest.mark.parametrize("reliability", [False, True])
def test_classical_tiled_equals_single_pass(cube, reliability):
    kwargs = dict(kernels_xy=(0, 3), kernels_z=(0, 3, 7), threshold=4.0)
    if reliability:
        kwargs.update(threshold=3.0, min_size_xy=3, min_size_z=3, reliability=True, reliability_threshold=0.5,
                      reliability_min_snr=2.0)
    finder = ClassicalFinder(**kwargs)
    single = finder(cube, progress=False)
    tiled = finder(cube, progress=False, tiles=(2, 2, 2))
    assert tiled.meta["tiled"]["tiles"] == 8
    assert len(single) >= 4 and len(tiled) == len(single)
    # SoFiA's numbering is reproduced: the labels are the same, not only up to renumbering
    np.testing.assert_array_equal(np.asarray(tiled.segment), single.segment)
    _columns_equal(single, tiled)
    # the sources on the borders and the corner were cut by tiles and merged
    ids_on_borders = {int(single.segment[z, y, x]) for z, y, x in SOURCES[:2]}
    assert 0 not in ids_on_borders
    for p1, p2 in zip(single.meta["scfind_passes"], tiled.meta["scfind_passes"], strict=True):
        assert p1["n_new"] == p2["n_new"]
        assert p2["rms"] == p1["rms"]  # the noise of every smoothed cube is the single pass's, bit for bit
    if reliability:
        np.testing.assert_allclose(tiled.to_table()["rel"], single.to_table()["rel"], rtol=1e-6)


def test_classical_tiled_smoothing_again_when_candidates_miss(cube, monkeypatch):
    from astro_mlfinder.classical import tiled as classical_tiled

    finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)
    single = finder(cube, progress=False)
    # candidates above 20x the clip level miss the clipped voxels: every tile is smoothed again to clip
    monkeypatch.setattr(classical_tiled, "CANDIDATE_FACTOR", 20.0)
    tiled = finder(cube, progress=False, tiles=(2, 2, 2))
    assert all(p["tiles_smoothed_again"] > 0 for p in tiled.meta["scfind_passes"])
    np.testing.assert_array_equal(np.asarray(tiled.segment), single.segment)
    _columns_equal(single, tiled)


def test_classical_tiled_from_fits_memory_budget(cube, tmp_path):
    from astropy.io import fits

    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube).writeto(path)
    finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)
    single = finder(str(path), progress=False)
    plan = plan_for(finder, SHAPE, max_memory="16MB")
    assert len(plan) > 1
    tiled = run(finder, str(path), max_memory="16MB", progress=False)
    np.testing.assert_array_equal(np.asarray(tiled.segment), single.segment)
    _columns_equal(single, tiled)


def test_classical_tiled_mask_and_dask_input(cube):
    da = pytest.importorskip("dask.array")
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:, :10, :] = True
    finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)
    single = finder(cube, mask=mask, progress=False)
    tiled = finder(da.from_array(cube, chunks=(16, 48, 52)), mask=mask, progress=False, tiles=(2, 1, 2))
    np.testing.assert_array_equal(np.asarray(tiled.segment), single.segment)
    _columns_equal(single, tiled)


def test_classical_tiled_zarr_input(cube, tmp_path):
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("dask.array")
    store = zarr.open_array(str(tmp_path / "cube.zarr"), mode="w", shape=SHAPE, chunks=(16, 48, 52), dtype="f4")
    store[:] = cube
    finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)
    single = finder(cube, progress=False)
    for data in (store, str(tmp_path / "cube.zarr")):
        tiled = finder(data, progress=False, tiles=(2, 2, 2))
        np.testing.assert_array_equal(np.asarray(tiled.segment), single.segment)
        _columns_equal(single, tiled)


def test_noise_only_cube_gives_no_source():
    noise = np.random.default_rng(5).normal(0, 1, (48, 64, 64)).astype(np.float32)
    finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=6.0)
    single = finder(noise, progress=False)
    tiled = finder(noise, progress=False, tiles=2)
    assert len(single) == len(tiled) == 0
    assert not np.asarray(tiled.segment).any()


def test_unsupported_options_are_refused(cube):
    with pytest.raises(ValueError, match=r"ClassicalFinder\(dilation\) is not supported by a tiled run"):
        ClassicalFinder(dilation=True)(cube, progress=False, tiles=2)


def test_local_cluster_matches_local(cube):
    distributed = pytest.importorskip("distributed")
    finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)
    local = finder(cube, progress=False, tiles=(2, 2, 2))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = finder(cube, progress=False, tiles=(2, 2, 2), client=client)
    np.testing.assert_array_equal(np.asarray(remote.segment), np.asarray(local.segment))
    _columns_equal(local, remote)


@pytest.fixture
def unet3d_cube(monkeypatch, tmp_path):
    """A 128x64x160 simulated HI cube of 6 bright galaxies, with the weights cache in ``tmp_path``."""
    pytest.importorskip("torch")
    import warnings

    from astro_mlfinder.simulate import simulate_hi_cube

    monkeypatch.setenv("ASTRO_MLFINDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ASTRO_MLFINDER_WEIGHTS_URL", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate_hi_cube((128, 64, 160), 6, seed=1, snr=[20.0, 30.0, 40.0, 50.0, 60.0, 80.0])


def test_neural_unet3d_tiled(unet3d_cube):
    from astro_mlfinder.neural import NeuralFinder

    sim = unet3d_cube
    finder = NeuralFinder("unet3d", device="cpu", progress=False)
    single = finder(sim.data, progress=False)
    tiled = finder(sim.data, progress=False, tiles=(1, 1, 2))
    assert tiled.meta["tiled"]["tiles"] == 2
    assert len(single) > 0 and len(tiled) == len(single)
    t1, t2 = single.to_table(), tiled.to_table()
    border = 80  # the cores of the two tiles meet at x = 80
    assert any(lo < border <= hi for lo, hi in zip(t1["x_min"].value, t1["x_max"].value, strict=True))
    # same sources: match by position
    for row in t1:
        d = np.hypot(np.hypot(t2["x"].value - row["x"].value, t2["y"].value - row["y"].value),
                     t2["z"].value - row["z"].value)
        k = int(np.argmin(d))
        assert d[k] < 1.0
        f1, f2 = float(row["f_sum"].value), float(t2["f_sum"][k].value)
        assert abs(f2 - f1) <= 0.01 * abs(f1)


def test_neural_reliability_tiled_keeps_every_tiles_record(unet3d_cube):
    """With reliability='neural' each tile is vetted; the merged meta keeps every tile's counts."""
    from astro_mlfinder.neural import NeuralFinder

    sim = unet3d_cube
    finder = NeuralFinder("unet3d", reliability="neural", device="cpu", progress=False)
    single = finder(sim.data, progress=False)
    tiled = finder(sim.data, progress=False, tiles=(1, 1, 2))
    record = tiled.meta["reliability"]
    assert record["threshold"] == single.meta["reliability"]["threshold"] == 0.7
    assert record["keep_size"] == 256
    # one count per tile, in plan order (halos overlap, so the tiles' candidates are not summed)
    counts = [record["candidates"]] if isinstance(record["candidates"], int) else record["candidates"]
    kept = [record["kept"]] if isinstance(record["kept"], int) else record["kept"]
    assert len(counts) in (1, 2) and len(kept) == len(counts)
    assert sum(kept) >= len(tiled) == len(single) > 0
    t1, t2 = single.to_table(), tiled.to_table()
    for row in t1:
        k = int(np.argmin(np.hypot(t2["x"].value - row["x"].value, t2["y"].value - row["y"].value)))
        assert abs(t2["x"][k].value - row["x"].value) < 1.0
        assert abs(float(t2["rel"][k]) - float(row["rel"])) < 0.05


def test_merge_tile_meta_keeps_agreeing_values_and_lists_the_rest():
    from astro_mlfinder.distributed.runner import merge_tile_meta

    metas = [{"model": "m", "weights": {"version": "0.1.0"}, "n": 3, "arr": np.array([1, 2])},
             {"model": "m", "weights": {"version": "0.1.0"}, "n": 5, "arr": np.array([1, 2]), "extra": 1}]
    merged = merge_tile_meta(metas)
    assert merged["model"] == "m" and merged["weights"] == {"version": "0.1.0"}
    assert merged["n"] == [3, 5] and merged["extra"] == [None, 1]
    np.testing.assert_array_equal(merged["arr"], [1, 2])
    assert merge_tile_meta([]) == {}
