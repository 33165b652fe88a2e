"""Regressions found in review: sub-cube products, offsets in regions, scalar views, WCS-less data."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.wcs import WCS

from astro_mlfinder import ClassicalFinder, SourceCatalog, load_image
from astro_mlfinder.cli import main

REGION = (10, 70, 10, 70, 0, 95)


@pytest.fixture(scope="module")
def offset_catalog(small_sim):
    return ClassicalFinder(threshold=5.0, region=REGION, offset=True)(small_sim.to_hdu(), progress=False)


def test_subcube_products_carry_the_subcube_wcs(tmp_path, offset_catalog):
    offset_catalog.write_products(tmp_path, "sub", cat_xml=False, moments=False)
    header = fits.getheader(tmp_path / "sub_mask.fits")
    mask = fits.getdata(tmp_path / "sub_mask.fits")
    assert mask.shape == (96, 61, 61)
    wcs = WCS(header).celestial
    z, y, x = np.argwhere(mask == 1).mean(axis=0)
    sky = wcs.pixel_to_world(x, y)
    assert sky.separation(offset_catalog.sky_centroid[0]) < 20 * u.arcsec


def test_offset_sky_regions_sit_on_the_sources(offset_catalog):
    for region, sky in zip(offset_catalog.to_regions(), offset_catalog.sky_centroid, strict=True):
        assert region.center.separation(sky) < 0.01 * u.arcsec


def test_offset_spectrum_plot(offset_catalog):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from astro_mlfinder.visualization import plot_spectrum

    ax = plot_spectrum(offset_catalog, int(offset_catalog.id[0]))
    plt.close(ax.figure)


def test_single_source_view_regions_and_ds9(tmp_path, offset_catalog):
    one = offset_catalog[0]
    assert len(one.to_regions()) == 1
    one.write(tmp_path / "one.reg")
    assert "text={1" in (tmp_path / "one.reg").read_text()


def test_wcs_less_cube_products(tmp_path, small_sim):
    cat = ClassicalFinder(threshold=5.0)(small_sim.data, progress=False)
    with pytest.warns(UserWarning, match="no CRTF region file"):
        paths = cat.write_products(tmp_path, "nowcs", regions=("ds9", "crtf"))
    assert (tmp_path / "nowcs.reg").exists() and not (tmp_path / "nowcs.crtf").exists()
    assert tmp_path / "nowcs.reg" in paths
    with pytest.raises(ValueError, match="CRTF regions need sky coordinates"):
        cat.write(tmp_path / "x.crtf")


def test_all_columns_of_a_2d_catalogue():
    image = np.zeros((30, 30), np.float32)
    image[10:15, 10:15] = 5.0
    segment = (image > 0).astype(np.int32)
    table = SourceCatalog(load_image(image), segment).to_table("all")
    assert "z" not in table.colnames and table["n_pix"][0] == 25


def test_cli_refuses_before_writing(tmp_path, small_sim, capsys):
    cube = tmp_path / "c.fits"
    small_sim.write(cube)
    out = tmp_path / "o"
    out.mkdir()
    (out / "c_cat.ecsv").write_text("keep me")
    assert main(["find", str(cube), "--output-dir", str(out), "--no-progress"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["c_cat.ecsv"]


def test_stale_cd_keys_dropped_with_stokes_axis():
    header = fits.Header()
    header.update({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CTYPE3": "STOKES", "CTYPE4": "FREQ",
                   "CD1_1": -1e-3, "CD2_2": 1e-3, "CD3_3": 1.0, "CD4_4": 1e5, "CRVAL1": 10.0, "CRVAL2": -30.0,
                   "CRVAL3": 1.0, "CRVAL4": 1.4e9, "CRPIX1": 1, "CRPIX2": 1, "CRPIX3": 1, "CRPIX4": 1,
                   "CUNIT4": "Hz"})  # fmt: skip
    hdu = fits.PrimaryHDU(np.ones((6, 1, 5, 4), np.float32), header)
    image = load_image(hdu)
    assert image.shape == (6, 5, 4)
    assert not [k for k in image.header if k.startswith("CD") and "_" in k]
    assert WCS(image.header).naxis == 3


def test_blank_in_memory_integer_hdu():
    data = np.arange(12, dtype=np.int16).reshape(3, 4)
    data[0, 0] = -32768
    hdu = fits.PrimaryHDU(data)
    hdu.header["BLANK"] = -32768
    image = load_image(hdu)
    assert np.isnan(image.data[0, 0]) and image.data[2, 3] == 11


@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_truncated_fits_names_the_file(tmp_path):
    path = tmp_path / "cut.fits"
    fits.PrimaryHDU(np.ones((10, 20, 20), np.float32)).writeto(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: 2880 + 4000])
    with pytest.raises(ValueError, match="cut.fits"):
        load_image(path)
