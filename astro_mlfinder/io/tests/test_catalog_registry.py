"""The writer registries of core/registry and the formats io registers in them."""

import numpy as np
import pytest
from astropy.table import QTable
from regions import Regions

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.core.registry import (
    WriterRegistry,
    catalog_writers,
    get_writer,
    identify_format,
    product_writers,
)
from astro_mlfinder.io.catalog import CATALOG_FORMATS, guess_format, write_catalog
from astro_mlfinder.io.products import write_products


@pytest.fixture(scope="module")
def catalog():
    """Two sources in a 2D image without WCS."""
    rng = np.random.default_rng(1)
    data = rng.normal(0.0, 1.0, (40, 50))
    labels = np.zeros(data.shape, dtype=np.int32)
    labels[5:10, 5:12] = 1
    labels[25:33, 30:36] = 2
    data[labels > 0] += 20.0
    return SourceCatalog(load_image(data), labels)


def test_registry_register_lookup_identify():
    reg = WriterRegistry("test")

    @reg.register_writer("abc", extensions=(".abc", "ABD"))
    def write_abc(obj, path, **kwargs):
        return ("abc", obj, path, kwargs)

    assert reg.formats == ("abc",) and "abc" in reg
    assert reg.get_writer("abc") is write_abc
    assert reg.identify_format("dir/x.ABC") == "abc"
    assert reg.identify_format("x.abd") == "abc"
    assert reg.write(1, "x.abc", flag=True) == ("abc", 1, "x.abc", {"flag": True})
    assert reg.write(1, "x.zzz", format="abc")[0] == "abc"
    with pytest.raises(ValueError, match=r"unknown test format 'xyz'; choose one of: 'abc'"):
        reg.get_writer("xyz")
    with pytest.raises(ValueError, match=r"extension '\.zzz'; pass format= one of: 'abc'"):
        reg.identify_format("x.zzz")
    with pytest.raises(ValueError, match="already registered"):
        reg.register_writer("abc")(lambda obj, path: None)
    with pytest.raises(ValueError, match=r"'\.abc' already identifies the test format 'abc'"):
        reg.register_writer("other", extensions=(".abc",))(lambda obj, path: None)
    assert reg.formats == ("abc",)
    with pytest.raises(ValueError, match="none registered"):
        WriterRegistry("empty").get_writer("ecsv")


def test_io_registers_every_catalogue_format_and_the_product_writer():
    assert catalog_writers.formats == CATALOG_FORMATS
    assert product_writers.get_writer("sofia") is write_products
    for path, fmt in [("a.ecsv", "ecsv"), ("a.FITS", "fits"), ("a.fit", "fits"), ("a.xml", "votable"),
                      ("a.vot", "votable"), ("a.txt", "sofia-ascii"), ("a.reg", "ds9"), ("a.crtf", "crtf")]:
        assert identify_format(path) == fmt == guess_format(path)
    assert callable(get_writer("sofia-xml"))
    with pytest.raises(ValueError, match="pass format=") as err:
        guess_format("a.unknown")
    assert all(repr(fmt) in str(err.value) for fmt in CATALOG_FORMATS)
    with pytest.raises(ValueError, match="unknown catalogue format 'nope'"):
        write_catalog(None, "a.ecsv", format="nope")


def test_catalog_write_goes_through_the_registry(catalog, tmp_path, monkeypatch):
    calls = []

    def writer(cat, path, overwrite=False, **kwargs):
        calls.append((cat, path, overwrite, kwargs))
        return path

    monkeypatch.setitem(catalog_writers._writers, "probe", writer)
    monkeypatch.setitem(catalog_writers._extensions, ".probe", "probe")
    assert catalog.write(tmp_path / "c.probe", overwrite=True, kind="point") == tmp_path / "c.probe"
    assert calls == [(catalog, tmp_path / "c.probe", True, {"kind": "point"})]


def test_registered_writers_are_atomic_and_refuse_to_overwrite(catalog, tmp_path):
    path = tmp_path / "c.ecsv"
    assert catalog.write(path) == path
    table = QTable.read(path, format="ascii.ecsv")
    assert list(table["id"]) == [1, 2]
    with pytest.raises(FileExistsError):
        catalog.write(path)
    catalog.write(path, overwrite=True, columns=["id", "x"])
    assert QTable.read(path, format="ascii.ecsv").colnames == ["id", "x"]
    # a writer that fails leaves nothing behind (CRTF needs sky coordinates)
    with pytest.raises(ValueError, match="CRTF regions need sky coordinates"):
        catalog.write(tmp_path / "c.crtf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ecsv"]
    catalog.write(tmp_path / "c.reg", kind="box")
    regions = Regions.read(tmp_path / "c.reg", format="ds9")
    assert [str(r.meta["text"]) for r in regions] == ["1", "2"]
    assert (regions[0].width, regions[0].height) == (7, 5)
