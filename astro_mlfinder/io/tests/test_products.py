"""SoFiA-style products: moment maps and 2-D mask against SoFiA-2's own, write_products."""

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from regions import PointSkyRegion, Regions

from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.io.cubelets import cubelet_products
from astro_mlfinder.io.moments import mask_2d, moment_maps
from astro_mlfinder.io.products import write_products
from astro_mlfinder.io.sofia_reader import read_sofia_ascii, read_sofia_xml

FIXTURES = Path(
    os.environ.get(
        "ASTRO_MLFINDER_SOFIA_FIXTURES",
        Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "sofia2-2.5.1-small",
    )
)


def fixtures():
    if not (FIXTURES / "out_small" / "small_cat.xml").exists():
        pytest.skip("SoFiA-2 fixtures not available")
    return FIXTURES


@pytest.fixture(scope="module")
def small():
    """Fixture cube (ImageData), SoFiA's final mask and its catalogue."""
    path = fixtures()
    image = load_image(path / "small_cube.fits.gz")
    labels = fits.getdata(path / "out_small" / "small_mask.fits.gz").astype(np.int32)
    return image, labels, read_sofia_xml(path / "out_small" / "small_cat.xml")


class StandIn:
    """The part of the SourceCatalog interface write_products uses."""

    def __init__(self, image, segment, table, products=None, meta=None):
        self.image = image
        self.segment = segment
        self.products = dict(products or {})
        self.meta = dict(meta or {})
        self._table = table

    def to_table(self, columns=None):
        assert columns == "sofia"
        return self._table

    def to_regions(self, kind="ellipse", sky=True):
        return Regions(
            [
                PointSkyRegion(SkyCoord(ra * u.deg, dec * u.deg), meta={"text": str(i)})
                for i, ra, dec in zip(
                    self._table["id"],
                    self._table["ra"].value,
                    self._table["dec"].value,
                    strict=True,
                )
            ]
        )


# --------------------------------------------------------------------------- pure functions
@pytest.mark.parametrize(
    "tag, cube", [("small", "small_cube.fits.gz"), ("nan", "small_cube_nan.fits.gz")]
)
def test_moment_maps_equal_sofias(tag, cube):
    path = fixtures()
    with fits.open(path / cube) as hdul:
        data = hdul[0].data
        wcs = WCS(hdul[0].header)
    labels = fits.getdata(path / f"out_{tag}" / f"{tag}_mask.fits.gz")
    maps = moment_maps(data, labels, wcs)
    for name, ours in zip(("mom0", "mom1", "mom2", "chan"), maps, strict=True):
        ref = fits.getdata(path / f"out_{tag}" / f"{tag}_{name}.fits")
        assert ours.dtype == ref.dtype.newbyteorder("=")
        assert np.array_equal(ours, ref, equal_nan=True), name  # bit for bit


@pytest.mark.parametrize("tag", ["small", "nan"])
def test_mask_2d_equals_sofias(tag):
    path = fixtures()
    labels = fits.getdata(path / f"out_{tag}" / f"{tag}_mask.fits.gz")
    ref = fits.getdata(path / f"out_{tag}" / f"{tag}_mask-2d.fits")
    result = mask_2d(labels)
    assert result.dtype == np.int32 and np.array_equal(result, ref)


def test_moment_definitions_without_wcs():
    data = np.zeros((5, 2, 3), dtype=np.float32)
    labels = np.zeros(data.shape, dtype=np.int32)
    data[1:4, 0, 0] = [1.0, 3.0, -1.0]  # channels 1, 2, 3; one negative voxel
    labels[1:4, 0, 0] = 1
    data[2, 1, 2] = -2.0  # a pixel with negative flux only
    labels[2, 1, 2] = 2
    data[0, 1, 1] = np.nan  # a blank voxel inside the mask is ignored
    labels[0:2, 1, 1] = 3
    data[1, 1, 1] = 4.0
    mom0, mom1, mom2, chan = moment_maps(data, labels)
    assert mom0[0, 0] == 3.0 and mom0[1, 2] == -2.0 and mom0[1, 1] == 4.0 and mom0[0, 1] == 0.0
    assert list(chan.ravel()) == [3, 0, 0, 0, 1, 1]
    mean = (1 * 1 + 2 * 3) / 4.0  # positive voxels only
    assert mom1[0, 0] == pytest.approx(mean)
    assert mom2[0, 0] == pytest.approx(np.sqrt((1 * (1 - mean) ** 2 + 3 * (2 - mean) ** 2) / 4))
    assert np.isnan(mom1[1, 2]) and np.isnan(mom2[1, 2])  # no positive flux
    assert mom1[1, 1] == 1.0 and np.isnan(mom2[1, 1])  # one channel: no dispersion
    assert np.isnan(mom1[0, 1])
    mom0_t, mom1_t, _, _ = moment_maps(data, labels, threshold=1.5)
    assert mom1_t[0, 0] == 2.0 and mom0_t[0, 0] == 3.0  # the threshold affects moments 1, 2 only
    image0, m1, m2, ch = moment_maps(data[1], labels[1])
    assert m1 is None and m2 is None and ch is None and image0[0, 0] == 1.0


def test_mask_2d_takes_the_highest_channel():
    labels = np.zeros((4, 2, 2), dtype=np.int32)
    labels[0, 0, 0] = 1
    labels[2, 0, 0] = 2
    labels[1, 1, 1] = 3
    assert mask_2d(labels).tolist() == [[2, 0], [0, 3]]
    with pytest.raises(ValueError, match="label cube"):
        mask_2d(np.zeros(3))


def test_cubelet_products():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(30, 20, 20)).astype(np.float32)
    labels = np.zeros(data.shape, dtype=np.int32)
    labels[2:6, 1:4, 15:19] = 7
    labels[10:12, 10:12, 10:12] = 2
    data[labels == 7] = 5.0
    result = cubelet_products(data, labels, 7, (15, 18, 1, 3, 2, 5), margin=3, rms=1.0)
    assert result["origin"] == (12, 0, 0)
    assert result["cube"].shape == (9, 7, 8)  # clipped at the cube edges
    assert result["mask"].dtype == np.uint8 and result["mask"].sum() == 4 * 3 * 4
    assert np.array_equal(result["channels"], np.arange(0, 9))
    assert np.allclose(result["spectrum"][2:6], 5.0 * 12) and result["n_pix"][2] == 12
    assert np.allclose(result["snr"][1:4, 3:7], 5.0 * 4 / (1.0 * np.sqrt(4)))
    assert np.isnan(result["snr"][0, 0])
    assert cubelet_products(data, labels, 7, (15, 18, 1, 3, 2, 5), rms=0.0)["snr"] is None
    with pytest.raises(ValueError, match="outside the data"):
        cubelet_products(data, labels, 7, (15, 25, 1, 3, 2, 5))


# --------------------------------------------------------------------------- write_products
def test_write_products(small, tmp_path):
    image, labels, table = small
    params = {k: v for k, v in table.meta["params"].items() if k not in ("Time", "Creator")}
    raw = fits.getdata(FIXTURES / "out_small" / "small_mask-raw.fits.gz")
    catalog = StandIn(
        image, labels, table, products={"mask_raw": raw}, meta={"sofia_params": params}
    )
    paths = write_products(
        catalog,
        tmp_path / "out",
        "small",
        mask_2d=True,
        raw_mask=True,
        cat_sql=True,
        karma=True,
        regions=("ds9", "crtf"),
    )
    names = sorted(p.name for p in paths if p.parent.name != "small_cubelets")
    cubelets = sorted(p.name for p in paths if p.parent.name == "small_cubelets")
    # cubelets are written by default (what SoFiA-image-pipeline reads), 8 files per source
    assert cubelets == sorted(
        f"small_{sid}_{suffix}" for sid in range(1, 6)
        for suffix in ("cube.fits", "mask.fits", "mom0.fits", "mom1.fits", "mom2.fits", "chan.fits", "snr.fits",
                       "spec.txt")
    )
    assert sorted(p.name for p in (tmp_path / "out" / "small_cubelets").iterdir()) == cubelets
    assert names == sorted(
        [
            "small_cat.txt",
            "small_cat.xml",
            "small_cat.sql",
            "small_cat.ann",
            "small_mask.fits",
            "small_mask-2d.fits",
            "small_mask-raw.fits",
            "small_mom0.fits",
            "small_mom1.fits",
            "small_mom2.fits",
            "small_chan.fits",
            "small.reg",
            "small.crtf",
        ]
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*names, "small_cubelets"])  # no temp
    out = tmp_path / "out"
    for name, dtype, bunit, beam in (
        ("mask", np.int32, "", False),
        ("mask-raw", np.uint8, "", False),
        ("mask-2d", np.int32, "", False),
        ("mom0", np.float32, "Jy/beam*Hz", True),
        ("mom1", np.float32, "Hz", True),
        ("mom2", np.float32, "Hz", True),
        ("chan", np.int32, "", True),
    ):
        hdu = fits.open(out / f"small_{name}.fits")[0]
        assert hdu.data.dtype == np.dtype(dtype).newbyteorder(">"), name
        assert hdu.header["BUNIT"].strip() == bunit, name
        assert ("BMAJ" in hdu.header) is beam, name
        assert hdu.header["ORIGIN"].startswith("astro_mlfinder")
        history = [str(h) for h in hdu.header["HISTORY"]]
        assert history[0] == "  control parameters" and "  scfind.threshold = 4.0" in history
        assert hdu.header["SPECSYS"] == "BARYCENT" and hdu.header["RESTFRQ"] == 1420405752.0
        reference = FIXTURES / "out_small" / f"small_{name}.fits"
        ref = fits.getdata(reference if reference.exists() else f"{reference}.gz")
        assert np.array_equal(hdu.data, ref, equal_nan=True), name
    assert read_sofia_xml(out / "small_cat.xml").meta["params"]["scfind.threshold"] == "4.0"
    assert len(read_sofia_ascii(out / "small_cat.txt")) == 5
    assert len(Regions.read(out / "small.reg", format="ds9")) == 5
    # an image keeps only what applies to 2-D data
    plane = load_image(image.data[191], wcs=image.wcs.celestial)
    flat = StandIn(plane, labels[191], table)
    written = write_products(
        flat,
        tmp_path / "flat",
        "img",
        mask_2d=True,
        cubelets=True,
        cat_ascii=False,
        cat_xml=False,
        regions=(),
    )
    assert sorted(p.name for p in written) == ["img_mask.fits", "img_mom0.fits"]
    mom0 = fits.getdata(tmp_path / "flat" / "img_mom0.fits")
    assert np.array_equal(mom0, np.where(labels[191] > 0, image.data[191], 0))


def test_overwrite_false_checks_every_target_first(small, tmp_path):
    image, labels, table = small
    catalog = StandIn(image, labels, table)
    (tmp_path / "small_mom2.fits").write_text("old")
    with pytest.raises(FileExistsError, match="small_mom2.fits"):
        write_products(catalog, tmp_path, "small", regions=())
    assert [p.name for p in tmp_path.iterdir()] == ["small_mom2.fits"]  # nothing written
    assert (tmp_path / "small_mom2.fits").read_text() == "old"
    paths = write_products(catalog, tmp_path, "small", overwrite=True, regions=())
    assert tmp_path / "small_mom2.fits" in paths
    assert fits.getdata(tmp_path / "small_mom2.fits").shape == (128, 128)


def test_missing_products_are_reported_before_writing(small, tmp_path):
    image, labels, table = small
    catalog = StandIn(image, labels, table)
    with pytest.raises(ValueError, match="mask_raw.*available: none"):
        write_products(catalog, tmp_path / "x", "small", raw_mask=True)
    with pytest.raises(ValueError, match="unknown region format"):
        write_products(catalog, tmp_path / "x", "small", regions=("kvis",))
    assert not (tmp_path / "x").exists()


def test_write_products_of_a_source_catalog(small, tmp_path):
    """The real SourceCatalog (from SoFiA's recorded outputs) through cat.write_products."""
    from astro_mlfinder.io.sofia_par import read_par
    from astro_mlfinder.sofia.outputs import sofia_outputs_to_catalog

    image, labels, _ = small
    params = read_par(FIXTURES / "small.par")
    long_path = "/deep" * 20 + "/small_cube.fits"  # 116 characters: wraps as in SoFiA
    params["input.data"] = long_path
    catalog = sofia_outputs_to_catalog(
        image, FIXTURES / "out_small" / "small_cat.xml", labels, params=params
    )
    paths = catalog.write_products(tmp_path, "run")
    assert {p.name for p in paths} >= {"run_cat.xml", "run_mask.fits", "run_mom0.fits", "run.reg"}
    assert len(Regions.read(tmp_path / "run.reg", format="ds9")) == 5
    history = [str(h) for h in fits.getheader(tmp_path / "run_mask.fits")["HISTORY"]]
    assert history[0] == "  SoFiA control parameters"
    # One card per parameter, long values (e.g. a deep input.data path) continued on further
    # cards as SoFiA's Header_comment does; so count the "key = value" cards, not all cards.
    keys = [h.split("=")[0].strip() for h in history[1:] if re.match(r"\s*[a-zA-Z]+\.\w+ =", h)]
    assert len(keys) == 101 and set(keys) == set(params.keys())
    # SoFiA's Header_comment: 70-character chunks, each on its own card
    text = f"input.data = {long_path}"
    at = history.index(f"  {text[:70]}")
    assert history[at + 1] == f"  {text[70:140]}" and history[at + 2].startswith("  input.region")
    xml = read_sofia_xml(tmp_path / "run_cat.xml")
    reference = read_sofia_xml(FIXTURES / "out_small" / "small_cat.xml")
    assert np.allclose(xml["f_sum"].value, reference["f_sum"].value, rtol=1e-12)


# --------------------------------------------------------------------------- against the binary
def sofia_binary():
    from astro_mlfinder.sofia.binary import find_sofia_executable, sofia_version

    try:
        path = find_sofia_executable()
    except FileNotFoundError:
        pytest.skip("no SoFiA-2 binary (set SOFIA2_BIN or put 'sofia' on PATH)")
    if sofia_version(path)[:2] != (2, 5):
        pytest.skip("the SoFiA-2 binary is not version 2.5.x")
    return path


def header_differences(ours, theirs):
    skip = {"HISTORY", "COMMENT", "DATE", "ORIGIN", ""}
    a = {k: ours[k] for k in ours if k not in skip}
    b = {k: theirs[k] for k in theirs if k not in skip}
    different = {}
    for key in set(a) | set(b):
        x, y = a.get(key), b.get(key)
        if isinstance(x, float) and isinstance(y, float) and np.isclose(x, y, rtol=1e-10):
            continue
        if x != y:
            different[key] = (x, y)
    return different


def test_products_and_cubelets_equal_the_binarys(small, tmp_path):
    binary = sofia_binary()
    image, labels, _ = small
    with (
        gzip.open(FIXTURES / "small_cube.fits.gz") as src,
        open(tmp_path / "cube.fits", "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    (tmp_path / "run.par").write_text(
        "input.data = cube.fits\nscfind.threshold = 4.0\nreliability.enable = true\n"
        "dilation.enable = true\nparameter.physical = true\noutput.filename = ref\n"
        "output.writeMask = true\noutput.writeMask2d = true\noutput.writeMoments = true\n"
        "output.writeCubelets = true\noutput.thresholdMom12 = 1.0\nreliability.plot = false\n"
        "output.marginCubelets = 12\n"
    )
    subprocess.run([binary, "run.par"], cwd=tmp_path, check=True, capture_output=True, timeout=300)
    table = read_sofia_xml(tmp_path / "ref_cat.xml")
    catalog = StandIn(image, fits.getdata(tmp_path / "ref_mask.fits").astype(np.int32), table)
    ours = tmp_path / "ours"
    write_products(
        catalog,
        ours,
        "ref",
        mask_2d=True,
        cubelets=True,
        margin_cubelets=12,
        threshold_mom12=1.0,
        regions=(),
        params={"parameter.physical": True},
    )
    theirs_dir = tmp_path / "ref_cubelets"
    compared = 0
    for theirs in [
        *tmp_path.glob("ref_m*.fits"),
        tmp_path / "ref_chan.fits",
        *theirs_dir.iterdir(),
    ]:
        mine = (ours / "ref_cubelets" if theirs.parent == theirs_dir else ours) / theirs.name
        if theirs.suffix == ".txt":
            strip = [
                line
                for line in theirs.read_text().splitlines()
                if not line.startswith(("# Creator", "# Time"))
            ]
            assert [
                line
                for line in mine.read_text().splitlines()
                if not line.startswith(("# Creator", "# Time"))
            ] == strip, theirs.name
        else:
            a, b = fits.open(mine)[0], fits.open(theirs)[0]
            assert np.array_equal(a.data, b.data, equal_nan=True), theirs.name
            assert a.data.dtype == b.data.dtype, theirs.name
            assert header_differences(a.header, b.header) == {}, theirs.name
        compared += 1
    assert compared == 6 + 5 * 8  # mask, mask-2d, mom0/1/2, chan; 5 sources x 8 cubelet files


def test_cubelets_of_an_offset_catalogue(tmp_path):
    """With parameter.offset the table reports input-cube positions; the cubelets are cut from the sub-cube."""
    from astro_mlfinder import ClassicalFinder
    from astro_mlfinder.simulate.hi import simulate_hi_cube

    sim = simulate_hi_cube(shape=(48, 48, 48), n_sources=2, seed=3, snr_range=(30.0, 40.0))
    region = (8, 47, 6, 47, 0, 47)
    cat = ClassicalFinder(threshold=5.0, region=region, offset=True)(sim.to_hdu(), progress=False)
    assert len(cat) >= 1 and cat.pixel_offset == (8, 6, 0)
    paths = write_products(cat, tmp_path, "off", cat_xml=False, moments=False, regions=())
    segment = np.asarray(cat.segment)
    for source in cat:
        sid = int(source.id)
        mask = fits.getdata(tmp_path / "off_cubelets" / f"off_{sid}_mask.fits")
        assert mask.sum() == (segment == sid).sum()  # the whole source is inside its cubelet
        header = fits.getheader(tmp_path / "off_cubelets" / f"off_{sid}_mom0.fits")
        z, y, x = np.argwhere(mask == 1).mean(axis=0)
        sky = WCS(header).celestial.pixel_to_world(x, y)
        assert sky.separation(source.sky_centroid) < 20 * u.arcsec
    assert tmp_path / "off_cubelets" / f"off_{int(cat.id[0])}_spec.txt" in paths


def test_cubelet_directory_of_an_earlier_run_is_refused_first(small, tmp_path):
    """overwrite=False: an existing <prefix>_cubelets/ stops the run before anything is written."""
    from astro_mlfinder.io.products import product_paths

    image, labels, table = small
    assert product_paths(tmp_path, "small")["cubelets"] == tmp_path / "small_cubelets"  # known before a search
    assert "cubelets" not in product_paths(tmp_path, "small", ndim=2)
    (tmp_path / "small_cubelets").mkdir()
    with pytest.raises(FileExistsError, match="small_cubelets already exists"):
        write_products(StandIn(image, labels, table), tmp_path, "small", regions=())
    assert [p.name for p in tmp_path.iterdir()] == ["small_cubelets"]
    written = write_products(StandIn(image, labels, table), tmp_path, "small", regions=(), overwrite=True)
    assert tmp_path / "small_cubelets" / "small_1_cube.fits" in written
