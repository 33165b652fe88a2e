"""Regions round-trip through the `regions` readers; catalogue writers."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from regions import Regions

from astro_mlfinder import ClassicalFinder


@pytest.fixture(scope="module")
def catalog(small_sim):
    return ClassicalFinder(threshold=5.0)(small_sim.to_hdu(), progress=False)


def test_ds9_roundtrip(tmp_path, catalog):
    path = tmp_path / "src.reg"
    catalog.write(path, format="ds9")
    regions = Regions.read(path, format="ds9")
    assert len(regions) == len(catalog)
    for region, sky, source_id in zip(regions, catalog.sky_centroid, catalog.id, strict=True):
        assert region.center.separation(sky) < 0.01 * u.arcsec
        assert region.meta["text"].split()[0] == str(source_id)


def test_crtf_roundtrip_with_spectral_range(tmp_path, catalog):
    path = tmp_path / "src.crtf"
    catalog.write(path, format="crtf")
    text = path.read_text()
    assert "range=[" in text and "GHz" in text
    regions = Regions.read(path, format="crtf")
    assert len(regions) == len(catalog)
    freq = catalog.spectral_coord
    for region, f in zip(regions, freq, strict=True):
        lo, hi = region.meta["range"]
        assert lo.to(u.Hz) <= f.to(u.Hz) <= hi.to(u.Hz)


@pytest.mark.parametrize("kind", ["ellipse", "point", "box"])
def test_region_kinds(kind, catalog):
    regions = catalog.to_regions(kind=kind, sky=False)
    assert len(regions) == len(catalog)
    if kind == "box":
        r = regions[0]
        assert r.width == catalog.x_max[0].value - catalog.x_min[0].value + 1


def test_ellipse_matches_ell_columns(catalog):
    region = catalog.to_regions(sky=False)[0]
    assert region.width == pytest.approx(2 * catalog.ell_maj[0].value)
    assert region.angle.to_value(u.deg) == pytest.approx(catalog.ell_pa[0].value + 90)


def test_sky_regions_need_wcs(small_sim):
    cat = ClassicalFinder(threshold=5.0)(small_sim.data, progress=False)
    with pytest.raises(ValueError, match="need a celestial WCS"):
        cat.to_regions(sky=True)


@pytest.mark.parametrize(("fmt", "name"), [("ecsv", "c.ecsv"), ("fits", "c.fits"), ("votable", "c.xml")])
def test_table_writers_roundtrip(tmp_path, catalog, fmt, name):
    path = catalog.write(tmp_path / name, format=fmt)
    table = QTable.read(path)
    assert len(table) == len(catalog)
    np.testing.assert_allclose(np.asarray(table["x"]), catalog.x.value)


def test_no_overwrite_by_default(tmp_path, catalog):
    path = tmp_path / "c.ecsv"
    path.write_text("user data")
    with pytest.raises(FileExistsError, match="already exists"):
        catalog.write(path)
    assert path.read_text() == "user data"
    catalog.write(path, overwrite=True)
    assert "user data" not in path.read_text()
    assert not list(tmp_path.glob(".*tmp*"))


def test_indexing_and_iteration(catalog):
    first = catalog[0]
    assert first.isscalar and first.id == catalog.id[0]
    sub = catalog[1:3]
    assert len(sub) == 2
    assert [s.id for s in catalog] == list(catalog.id)
    assert len(sub.to_table()) == 2
