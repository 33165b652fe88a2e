"""SourceCatalog on 2D images: continuum columns, units, photutils, regions and writers."""

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.columns import DEFAULT_COLUMNS_2D, DEFAULT_COLUMNS_3D
from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.core.measure2d import deconvolve
from astro_mlfinder.core.segmentation import Segmentation

PIX_ARCSEC = 2.0
BEAM_ARCSEC = 8.0  # circular beam FWHM: 4 pixels


def _header(shape, beam=True, rotate=0.0):
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---SIN", "DEC--SIN"
    header["CRVAL1"], header["CRVAL2"] = 150.0, -30.0
    header["CRPIX1"], header["CRPIX2"] = shape[1] / 2 + 1, shape[0] / 2 + 1
    header["CDELT1"], header["CDELT2"] = -PIX_ARCSEC / 3600, PIX_ARCSEC / 3600
    header["CROTA2"] = rotate
    header["CUNIT1"] = header["CUNIT2"] = "deg"
    header["BUNIT"] = "Jy/beam"
    if beam:
        header["BMAJ"] = header["BMIN"] = BEAM_ARCSEC / 3600
        header["BPA"] = 0.0
    return header


def _gaussian(shape, x0, y0, fwhm_maj, fwhm_min, pa_pix, peak):
    """Elliptical Gaussian; ``pa_pix`` from +y towards -x (east of north for this header), FWHMs in pixels."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    rad = math.radians(pa_pix)
    along = -(xx - x0) * math.sin(rad) + (yy - y0) * math.cos(rad)
    across = (xx - x0) * math.cos(rad) + (yy - y0) * math.sin(rad)
    s1, s2 = fwhm_maj / 2.3548200450309493, fwhm_min / 2.3548200450309493
    return peak * np.exp(-0.5 * ((along / s1) ** 2 + (across / s2) ** 2))


@pytest.fixture(scope="module")
def resolved():
    """One resolved source (intrinsic 10" x 6" at PA 30 deg) convolved with the 8" beam, plus weak noise."""
    shape = (96, 96)
    intrinsic = (10.0, 6.0)
    observed = [math.hypot(a, BEAM_ARCSEC) / PIX_ARCSEC for a in intrinsic]
    flux = 0.5  # Jy
    beam_area_pix = math.pi * (BEAM_ARCSEC / PIX_ARCSEC) ** 2 / (4 * math.log(2))
    source_area_pix = math.pi * observed[0] * observed[1] / (4 * math.log(2))
    peak = flux * beam_area_pix / source_area_pix  # Jy/beam
    data = _gaussian(shape, 40.0, 52.0, observed[0], observed[1], 30.0, peak)
    rng = np.random.default_rng(1)
    data = (data + rng.normal(0, 1e-4, shape)).astype(np.float32)
    labels = np.zeros(shape, np.int32)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    labels[(xx - 40.0) ** 2 + (yy - 52.0) ** 2 < 15**2] = 1
    image = load_image(fits.PrimaryHDU(data, _header(shape)))
    return SourceCatalog(image, labels), dict(flux=flux, peak=peak, intrinsic=intrinsic, observed=observed)


def test_continuum_columns_have_units_and_values(resolved):
    cat, truth = resolved
    table = cat.to_table()
    assert isinstance(table, QTable)
    assert set(DEFAULT_COLUMNS_2D) <= set(table.colnames)
    assert not {"z", "w20", "w50", "kin_pa", "freq", "v_rad"} & set(table.colnames)
    assert {"deconv_maj", "deconv_min", "deconv_pa", "sky_centroid"} <= set(table.colnames)
    assert table["peak_flux"].unit == u.Jy / u.beam
    assert table["int_flux"].unit == u.Jy and table["err_int_flux"].unit == u.Jy
    assert table["deconv_maj"].unit == u.arcsec and table["deconv_pa"].unit == u.deg
    assert isinstance(table["sky_centroid"], SkyCoord)
    assert table["peak_flux"][0].to_value(u.Jy / u.beam) == pytest.approx(truth["peak"], rel=0.01)
    assert table["int_flux"][0].to_value(u.Jy) == pytest.approx(truth["flux"], rel=0.01)
    assert table["err_peak_flux"][0].to_value(u.Jy / u.beam) == pytest.approx(1e-4, rel=0.15)
    n_pix, area = float(cat.n_pix[0]), math.pi * 4.0**2 / (4 * math.log(2))
    assert table["err_int_flux"][0].to_value(u.Jy) == pytest.approx(table["err_peak_flux"][0].value
                                                                     * math.sqrt(n_pix / area), rel=1e-6)


def test_sizes_and_deconvolution_recover_the_intrinsic_ellipse(resolved):
    cat, truth = resolved
    assert cat.size_maj[0].to_value(u.arcsec) == pytest.approx(truth["observed"][0] * PIX_ARCSEC, rel=0.02)
    assert cat.size_min[0].to_value(u.arcsec) == pytest.approx(truth["observed"][1] * PIX_ARCSEC, rel=0.02)
    assert cat.size_pa[0].to_value(u.deg) == pytest.approx(30.0, abs=1.0)
    assert cat.deconv_maj[0].to_value(u.arcsec) == pytest.approx(truth["intrinsic"][0], rel=0.03)
    assert cat.deconv_min[0].to_value(u.arcsec) == pytest.approx(truth["intrinsic"][1], rel=0.05)
    assert cat.deconv_pa[0].to_value(u.deg) == pytest.approx(30.0, abs=1.5)


def test_deconvolve_gaussians():
    major, minor, pa = deconvolve([10.0, 5.0], [8.0, 5.0], [45.0, 0.0], 8.0, 8.0, 0.0)
    assert major[0] == pytest.approx(6.0) and minor[0] == pytest.approx(0.0, abs=1e-6)
    assert pa[0] == pytest.approx(45.0)
    assert major[1] == 0 and minor[1] == 0  # smaller than the beam: unresolved
    # an elongated beam along PA 90: a source of the same shape rotated by 90 deg keeps a round excess
    major, minor, _ = deconvolve([10.0], [10.0], [0.0], 10.0, 6.0, 90.0)
    assert major[0] == pytest.approx(8.0) and minor[0] == pytest.approx(0.0, abs=1e-6)


def test_position_angle_is_east_of_north_on_a_rotated_grid():
    """A source elongated along north on a grid rotated by 40 deg: the sky PA stays 0."""
    shape = (64, 64)
    header = _header(shape, rotate=40.0)
    header.remove("CROTA2")
    c, s = math.cos(math.radians(40)), math.sin(math.radians(40))
    header["PC1_1"], header["PC1_2"], header["PC2_1"], header["PC2_2"] = c, -s, s, c
    image = load_image(fits.PrimaryHDU(np.zeros(shape, np.float32), header))
    # north in pixels: the direction of +lat in the rotated grid
    x0, y0 = 32.0, 32.0
    sky = image.wcs.pixel_to_world(x0, y0)
    north = image.wcs.world_to_pixel(sky.directional_offset_by(0 * u.deg, 10 * u.arcsec))
    pa_pix = math.degrees(math.atan2(-(north[0] - x0), north[1] - y0))
    data = _gaussian(shape, x0, y0, 9.0, 4.0, pa_pix, 1.0).astype(np.float32)
    labels = (data > 1e-3).astype(np.int32)
    cat = SourceCatalog(load_image(fits.PrimaryHDU(data, header)), labels)
    assert (cat.size_pa[0].to_value(u.deg) + 90) % 180 - 90 == pytest.approx(0.0, abs=1.0)


def test_without_a_beam_the_integrated_flux_is_the_sum_in_data_units():
    data = np.zeros((32, 32), np.float32)
    data[10:13, 10:13] = 2.0
    labels = (data > 0).astype(np.int32)
    cat = SourceCatalog(load_image(data), labels)
    assert cat.int_flux[0] == 18.0 * u.dimensionless_unscaled
    assert cat.size_maj.unit == u.pix
    assert "deconv_maj" not in cat.to_table().colnames
    header = _header((32, 32), beam=False)
    cat = SourceCatalog(load_image(fits.PrimaryHDU(data, header)), labels)
    assert np.isnan(cat.int_flux[0].value) and cat.int_flux.unit == u.Jy  # Jy/beam without a beam


def test_to_photutils_measures_the_same_labels(resolved):
    cat, _ = resolved
    pcat = cat.to_photutils()
    assert list(pcat.label) == list(cat.id)
    assert pcat.segment_flux[0] == pytest.approx(cat.f_sum[0].value, rel=1e-5)
    assert pcat.sky_centroid[0].separation(cat.sky_centroid[0]) < 0.5 * u.arcsec
    assert cat.segment_img.shape == cat.segment.shape


def test_to_photutils_of_a_slice_and_nan_pixels():
    data = np.zeros((40, 40), np.float32)
    data[5:8, 5:8] = 1.0
    data[20:24, 20:24] = 3.0
    data[30:33, 30:33] = 2.0
    data[0, :] = np.nan
    labels = np.zeros(data.shape, np.int32)
    labels[5:8, 5:8], labels[20:24, 20:24], labels[30:33, 30:33] = 1, 2, 3
    cat = SourceCatalog(load_image(data), labels)
    assert list(cat[1:].to_photutils().label) == [2, 3]
    assert cat[1].to_photutils().label == 2
    assert cat.to_photutils().segment_flux[1] == pytest.approx(48.0)
    with pytest.raises(ValueError, match="2D images only"):
        SourceCatalog(load_image(np.ones((4, 8, 8), np.float32)), np.ones((4, 8, 8), int)).to_photutils()


def test_empty_2d_catalogue_keeps_the_schema(resolved):
    cat, _ = resolved
    empty = SourceCatalog(cat.image, np.zeros(cat.image.shape, np.int32))
    full, none = cat.to_table(), empty.to_table()
    assert full.colnames == none.colnames and len(none) == 0
    for name in full.colnames:
        if name != "sky_centroid" and hasattr(full[name], "unit"):
            assert full[name].unit == none[name].unit, name


def test_segmentation_2d_builds_the_catalogue(resolved):
    cat, _ = resolved
    from astro_mlfinder.core.finder import build_catalog

    seg = Segmentation(cat.segment, columns={"score": np.array([0.9])})
    built = build_catalog(cat.image, seg)
    assert built.ndim == 2 and built.to_table()["score"][0] == 0.9
    assert DEFAULT_COLUMNS_3D != DEFAULT_COLUMNS_2D


def test_regions_and_writers_in_2d(resolved, tmp_path):
    cat, _ = resolved
    regions = cat.to_regions()
    assert len(regions) == 1 and "range" not in regions[0].meta
    cat.write(tmp_path / "c.reg")
    cat.write(tmp_path / "c.crtf")
    cat.write(tmp_path / "c.ecsv")
    crtf = (tmp_path / "c.crtf").read_text()
    assert "ellipse[[" in crtf and "range=" not in crtf
    assert "ellipse(" in (tmp_path / "c.reg").read_text()
    back = QTable.read(tmp_path / "c.ecsv")
    assert back["int_flux"].unit == u.Jy
    paths = cat.write_products(tmp_path / "products", "img")
    mask = fits.getdata([p for p in paths if str(p).endswith("_mask.fits")][0])
    assert mask.shape == cat.segment.shape and mask.max() == 1


def test_degenerate_frequency_axis_makes_an_image():
    header = _header((10, 12))
    header["CTYPE3"], header["CRVAL3"], header["CDELT3"], header["CRPIX3"], header["CUNIT3"] = (
        "FREQ", 1.4e9, 1e6, 1.0, "Hz")
    image = load_image(fits.PrimaryHDU(np.ones((1, 10, 12), np.float32), header))
    assert image.shape == (10, 12) and image.wcs.naxis == 2
    assert image.frequency == 1.4e9 * u.Hz
    header["CTYPE4"], header["CRVAL4"], header["CDELT4"], header["CRPIX4"] = "STOKES", 1.0, 1.0, 1.0
    image = load_image(fits.PrimaryHDU(np.ones((1, 1, 10, 12), np.float32), header))
    assert image.shape == (10, 12) and image.frequency == 1.4e9 * u.Hz
    del header["CTYPE4"], header["CRVAL4"], header["CDELT4"], header["CRPIX4"]
    cube = load_image(fits.PrimaryHDU(np.ones((3, 10, 12), np.float32), header))
    assert cube.ndim == 3 and cube.frequency is None
