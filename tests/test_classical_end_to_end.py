"""ClassicalFinder end to end: simulated truth, pure noise, real ATCA data, bad input."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from astro_mlfinder import ClassicalFinder, SourceCatalog
from astro_mlfinder.evaluate import evaluate
from astro_mlfinder.simulate.hi import simulate_hi_cube

KERNELS = {"kernels_xy": (0, 3, 6), "kernels_z": (0, 3, 7, 15), "threshold": 5.0}


@pytest.fixture(scope="module")
def sim_catalog(small_sim):
    return ClassicalFinder(**KERNELS)(small_sim.data, wcs=small_sim.wcs, progress=False)


def test_bright_sources_recovered(small_sim, sim_catalog):
    scores = evaluate(sim_catalog.to_table(), small_sim.truth)
    assert scores["recall"] >= 0.95
    assert scores["precision"] >= 0.9
    assert len(sim_catalog) == len(small_sim.truth)


def test_recall_and_precision_over_several_cubes():
    """Integrated SNR > 10: recall >= 0.95 and precision >= 0.9 pooled over seeded cubes."""
    tp = fp = fn = 0
    for seed in (21, 22, 23):
        sim = simulate_hi_cube(shape=(96, 80, 80), n_sources=6, seed=seed, snr_range=(10.0, 40.0))
        cat = ClassicalFinder(**KERNELS)(sim.to_hdu(), progress=False)
        scores = evaluate(cat.to_table(), sim.truth)
        tp, fp, fn = tp + scores["tp"], fp + scores["fp"], fn + scores["fn"]
    assert tp + fn >= 15
    assert tp / (tp + fn) >= 0.95
    assert tp / (tp + fp) >= 0.9


def test_catalogue_schema_and_units(small_sim, sim_catalog):
    table = sim_catalog.to_table()
    for name in ("id", "x", "y", "z", "x_min", "z_max", "n_pix", "f_sum", "rms", "snr", "w20", "w50",
                 "ell_maj", "ell_pa", "kin_pa", "rel", "flag", "sky_centroid", "freq"):  # fmt: skip
        assert name in table.colnames, name
    assert table["x"].unit == u.pix
    assert table["ell_pa"].unit == u.deg
    assert table["freq"].unit == u.Hz
    assert isinstance(table["sky_centroid"], SkyCoord)
    assert np.all(table["snr"] > 5)
    # labels of the segment are the ids, background 0
    assert set(np.unique(sim_catalog.segment)) == {0, *table["id"].tolist()}
    assert sim_catalog.meta["finder"]["name"] == "classical"
    assert sim_catalog.meta["finder"]["params"]["threshold"] == 5.0


def test_centroids_match_truth(small_sim, sim_catalog):
    table = sim_catalog.to_table()
    truth = small_sim.truth
    for row in truth:
        d = np.hypot(table["x"].value - float(np.asarray(row["x"])), table["y"].value - float(np.asarray(row["y"])))
        assert d.min() < 1.5


def test_pure_noise_gives_no_sources():
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 1, size=(96, 80, 80)).astype(np.float32)
    cat = ClassicalFinder(**KERNELS)(noise, progress=False)
    # at 5 sigma with a 5x5x5 minimum size, Gaussian statistics predict < 1 false source
    assert len(cat) <= 1


def test_empty_catalogue_has_full_schema():
    noise = np.random.default_rng(6).normal(0, 1, size=(40, 32, 32)).astype(np.float32)
    cat = ClassicalFinder(kernels_xy=(0,), kernels_z=(0,), threshold=50.0)(noise, progress=False)
    assert isinstance(cat, SourceCatalog) and len(cat) == 0
    table = cat.to_table()
    assert len(table) == 0
    assert "f_sum" in table.colnames and "snr" in table.colnames
    assert len(cat.to_regions(sky=False)) == 0


def test_nans_are_blank(small_sim):
    data = small_sim.data.copy()
    data[:, :10, :10] = np.nan
    cat = ClassicalFinder(**KERNELS)(data, progress=False)
    assert np.all(cat.segment[:, :10, :10] == 0)
    assert np.array_equal(np.isnan(data), np.isnan(small_sim.data) | (np.arange(80)[None, :, None] < 10)
                          & (np.arange(80)[None, None, :] < 10))  # input untouched


def test_input_not_modified(small_sim):
    data = small_sim.data.copy()
    ClassicalFinder(**KERNELS, invert=False, flag_regions=[(0, 5, 0, 5, 0, 5)])(data, progress=False)
    np.testing.assert_array_equal(data, small_sim.data)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 0}, "threshold must be a positive number"),
        ({"threshold": -3}, "threshold must be a positive number"),
        ({"kernels_xy": (-1, 3)}, "kernels_xy must be non-negative"),
        ({"kernels_z": (0, 2.5)}, "kernels_z must be non-negative integer"),
        ({"statistic": "median"}, "statistic must be one of"),
        ({"reliability": True, "keep_negative": True}, "keep_negative cannot be used with reliability"),
        ({"reliability": True, "reliability_parameters": ("peak",)}, "at least 2"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassicalFinder(**kwargs)


def test_kernel_larger_than_cube():
    data = np.random.default_rng(0).normal(size=(10, 32, 32)).astype(np.float32)
    with pytest.raises(ValueError, match="spectral kernel 15 channels is not smaller"):
        ClassicalFinder(kernels_z=(0, 15))(data, progress=False)


def test_image_searched_and_other_shapes_rejected():
    rng = np.random.default_rng(5)
    image = rng.normal(0.0, 1.0, (64, 64)).astype(np.float32)
    image[30:34, 40:44] += 12.0
    cat = ClassicalFinder()(image, progress=False)
    assert cat.ndim == 2 and len(cat) == 1
    assert cat.x_min[0].value >= 38 and cat.x_max[0].value <= 45
    with pytest.raises(ValueError, match=r"2D image \(y, x\) or a 3D cube \(z, y, x\); got 1D"):
        ClassicalFinder()(np.ones(20))


def test_real_eso121_g6_gives_one_galaxy(shared_dir):
    path = shared_dir / "fixtures" / "real" / "ESO121-G6_ATCA.fits"
    cat = ClassicalFinder(**KERNELS)(path, progress=False)
    table = cat.to_table()
    assert len(table) == 1, table
    galaxy = table[0]
    target = SkyCoord(91.87 * u.deg, -61.81 * u.deg)
    assert galaxy["sky_centroid"].separation(target) < 1.5 * u.arcmin
    spectral_name = [c for c in table.colnames if c.startswith("v_")][0]
    assert galaxy[spectral_name].to_value(u.km / u.s) == pytest.approx(1185, abs=25)
    # the line spans ~1027-1343 km/s: the source covers most of it, not a fragment
    assert (galaxy["z_max"] - galaxy["z_min"]).value * 3.298 > 200


def test_region_and_offset_match_full_cube(small_sim, sim_catalog):
    """input.region + parameter.offset: a sub-cube search reports full-cube pixel positions."""
    full = sim_catalog.to_table()
    row = full[0]
    x0, y0 = max(int(row["x_min"].value) - 8, 0), max(int(row["y_min"].value) - 8, 0)
    x1, y1 = min(int(row["x_max"].value) + 8, 79), min(int(row["y_max"].value) + 8, 79)
    region = (x0, x1, y0, y1, 0, small_sim.data.shape[0] - 1)
    sub = ClassicalFinder(**KERNELS, region=region, offset=True)(small_sim.to_hdu(), progress=False).to_table()
    match = sub[np.argmin(np.hypot(sub["x"].value - row["x"].value, sub["y"].value - row["y"].value))]
    assert match["x"].value == pytest.approx(row["x"].value, abs=0.05)
    assert match["y"].value == pytest.approx(row["y"].value, abs=0.05)
    assert match["x_min"] >= x0 * u.pix
    assert match["sky_centroid"].separation(row["sky_centroid"]) < 1 * u.arcsec
    no_offset = ClassicalFinder(**KERNELS, region=region)(small_sim.to_hdu(), progress=False).to_table()
    assert no_offset["x"].value.max() <= x1 - x0


def test_noise_cube_of_the_wrong_shape_with_a_region_is_named():
    import numpy as np

    from astro_mlfinder import ClassicalFinder

    cube = np.random.default_rng(1).normal(size=(40, 30, 30)).astype(np.float32)
    finder = ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), region=(0, 19, 0, 19, 0, 29),
                             noise=np.ones((10, 10, 10), np.float32))
    with pytest.raises(ValueError, match="the noise cube has shape"):
        finder(cube, progress=False)
