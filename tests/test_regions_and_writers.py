"""Regions round-trip through the `regions` readers; the exact text of region files; catalogue writers."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable
from regions import Regions

from astro_mlfinder import ClassicalFinder
from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.core.regions import slice_tag, spectral_range_strings
from astro_mlfinder.io.regions import serialize_regions


@pytest.fixture(scope="module")
def catalog(small_sim):
    return ClassicalFinder(threshold=5.0)(small_sim.to_hdu(), progress=False)


def test_ds9_roundtrip(tmp_path, catalog):
    path = tmp_path / "src.reg"
    catalog.write(path, format="ds9")
    regions = Regions.read(path, format="ds9")
    assert len(regions) == len(catalog)
    for region, source in zip(regions, catalog, strict=True):
        assert region.center.separation(source.sky_centroid) < 0.01 * u.arcsec
        assert str(region.meta["text"]) == str(source.id)  # the id alone (regions reads it as an int)
        z_min, z_max = int(source.z_min.value), int(source.z_max.value)
        assert region.meta["tag"] == [f"slices {z_min + 1}-{z_max + 1}"]


def test_crtf_roundtrip_with_spectral_range(tmp_path, catalog):
    path = tmp_path / "src.crtf"
    catalog.write(path, format="crtf")
    text = path.read_text()
    assert "range=[" in text and "Hz]" in text
    regions = Regions.read(path, format="crtf")
    assert len(regions) == len(catalog)
    freq = catalog.spectral_coord
    for region, f in zip(regions, freq, strict=True):
        lo, hi = region.meta["range"]
        assert lo.to(u.Hz) <= f.to(u.Hz) <= hi.to(u.Hz)


def _boxes(ctype3="FREQ", crval3=1.4e9, cdelt3=5e4, cunit3="Hz"):
    """Two uniform boxes in a cube with a celestial and a spectral WCS: every number is known."""
    labels = np.zeros((20, 32, 32), np.int32)
    labels[5:10, 8:11, 10:15] = 1  # x 10-14, y 8-10, channels 5-9
    labels[12:16, 20:27, 20:23] = 2  # x 20-22, y 20-26, channels 12-15
    header = fits.Header()
    for key, value in dict(
        CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CTYPE3=ctype3, CRPIX1=16.0, CRPIX2=16.0, CRPIX3=1.0,
        CRVAL1=150.0, CRVAL2=30.0, CRVAL3=crval3, CDELT1=-10 / 3600, CDELT2=10 / 3600, CDELT3=cdelt3,
        CUNIT1="deg", CUNIT2="deg", CUNIT3=cunit3, RADESYS="ICRS", RESTFRQ=1420405752.0,
        BUNIT="Jy/beam", BMAJ=30 / 3600, BMIN=30 / 3600,
    ).items():
        header[key] = value
    data = np.where(labels > 0, 1.0, 0.0).astype(np.float32)
    return SourceCatalog(load_image(fits.PrimaryHDU(data, header)), labels)


def test_ds9_text_of_a_cube():
    """Short id labels, the channels as a DS9 group in DS9's 1-based slice numbers."""
    assert serialize_regions(_boxes().to_regions(), "ds9") == (
        "# Region file format: DS9 astropy/regions\n"
        "global color=green point=cross\n"
        "icrs\n"
        "ellipse(150.00962089,29.98333298,0.00785674,0.00453609,0.00481095) # text={1} tag={slices 6-10}\n"
        "ellipse(149.98075068,30.02222082,0.01111111,0.00453609,89.99036699) # text={2} tag={slices 13-16}\n"
    )
    assert serialize_regions(_boxes().to_regions(sky=False), "ds9") == (
        "# Region file format: DS9 astropy/regions\n"
        "global color=green point=cross\n"
        "image\n"
        "ellipse(13.00000000,10.00000000,2.82842712,1.63299316,0.00000000) # text={1} tag={slices 6-10}\n"
        "ellipse(22.00000000,24.00000000,4.00000000,1.63299316,90.00000000) # text={2} tag={slices 13-16}\n"
    )


def test_crtf_text_of_a_frequency_cube():
    """Ranges in Hz, the unit of the catalogue's freq column, without float noise."""
    cat = _boxes()
    assert cat.to_table()["freq"].unit == u.Hz
    assert serialize_regions(cat.to_regions(), "crtf") == (
        "#CRTFv0\n"
        "global coord=ICRS\n"
        "ellipse[[150.009621deg, 29.983333deg], [0.004536deg, 0.007857deg], 0.004811deg], label='1', "
        "restfreq=1420405752Hz, color=green, range=[1400250000Hz, 1400450000Hz]\n"
        "ellipse[[149.980751deg, 30.022221deg], [0.004536deg, 0.011111deg], 89.990367deg], label='2', "
        "restfreq=1420405752Hz, color=green, range=[1400600000Hz, 1400750000Hz]\n"
    )


def test_crtf_text_of_a_velocity_cube():
    """Velocity ranges in km/s rounded to a hundredth of a channel, with the velocity convention."""
    cat = _boxes("VRAD", 1.2e6, 5152.3, "m/s")
    text = serialize_regions(cat.to_regions(), "crtf")
    assert text.splitlines()[2] == (
        "ellipse[[150.009621deg, 29.983333deg], [0.004536deg, 0.007857deg], 0.004811deg], label='1', "
        "restfreq=1420405752Hz, veltype=RADIO, color=green, range=[1225.76km/s, 1246.37km/s]"
    )
    # channel 5 lies at 1.2e6 + 5 * 5152.3 m/s = 1225.7615 km/s, channel 9 at 1246.3707 km/s
    assert spectral_range_strings(cat, 5, 9) == ("1225.76km/s", "1246.37km/s")
    assert Regions.parse(text, format="crtf")[0].meta["range"] == [1225.76 * u.km / u.s, 1246.37 * u.km / u.s]


def test_ranges_carry_no_float_noise():
    """Channel 57 lies at 1402850000 Hz, which a Quantity in GHz writes as 1.4028500000000002 GHz."""
    cat = _boxes()
    assert str((1402850000.0 * u.Hz).to(u.GHz)) == "1.4028500000000002 GHz"  # what the files used to hold
    assert spectral_range_strings(cat, 57, 93) == ("1402850000Hz", "1404650000Hz")
    fine = _boxes(crval3=1.0e8, cdelt3=0.3)  # 0.3 Hz channels: 3 decimals resolve a hundredth of one
    assert spectral_range_strings(fine, 1, 3) == ("100000000.300Hz", "100000000.900Hz")
    assert slice_tag(57, 93) == "slices 58-94"


def test_ds9_global_line_is_sorted():
    text = serialize_regions(_boxes()[:1].to_regions(), "ds9")
    assert text.splitlines()[1] == "global color=green point=cross text={1}"


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


def test_ds9_text_without_a_wcs():
    """Data without a WCS: pixel regions, still labelled by id with their channels as a DS9 group."""
    cat = _boxes()
    bare = SourceCatalog(load_image(np.asarray(cat.image.data)), np.asarray(cat.segment))
    assert serialize_regions(bare.to_regions(sky=False), "ds9").splitlines()[2:] == [
        "image",
        "ellipse(13.00000000,10.00000000,2.82842712,1.63299316,0.00000000) # text={1} tag={slices 6-10}",
        "ellipse(22.00000000,24.00000000,4.00000000,1.63299316,90.00000000) # text={2} tag={slices 13-16}",
    ]
    assert "range" not in bare.to_regions(sky=False)[0].meta
