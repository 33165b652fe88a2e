"""Input normalisation: every accepted type, real headers and bad input."""

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.wcs import WCS

from astro_mlfinder.core.inputs import load_image, normalise_bunit

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "real"
ESO121 = REAL / "ESO121-G6_ATCA.fits"


def _cube_header(nz=8, ny=6, nx=5):
    header = fits.Header()
    header["NAXIS"] = 3
    for i, n in enumerate((nx, ny, nz), start=1):
        header[f"NAXIS{i}"] = n
    header.update({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CTYPE3": "FREQ", "CDELT1": -1e-3,
                   "CDELT2": 1e-3, "CDELT3": 1e4, "CRVAL1": 10.0, "CRVAL2": -30.0, "CRVAL3": 1.4e9,
                   "CRPIX1": 1, "CRPIX2": 1, "CRPIX3": 1, "CUNIT3": "HZ", "BUNIT": "JY/BEAM",
                   "BMAJ": 3e-3, "BMIN": 3e-3, "BPA": 0.0})  # fmt: skip
    return header


def test_ndarray_is_float32_and_not_copied_needlessly():
    data = np.ones((4, 5, 6), dtype=np.float32)
    image = load_image(data)
    assert image.data.dtype == np.float32
    assert image.shape == (4, 5, 6)
    assert image.wcs is None and image.unit == u.dimensionless_unscaled


def test_quantity_and_masked_array():
    image = load_image(np.ones((3, 4, 5)) * u.mJy / u.beam)
    assert image.unit == u.mJy / u.beam
    masked = np.ma.array(np.ones((4, 4)), mask=np.eye(4, dtype=bool))
    image = load_image(masked)
    assert np.isnan(image.data).sum() == 4


def test_hdu_and_path_roundtrip(tmp_path):
    header = _cube_header()
    data = np.random.default_rng(1).normal(size=(8, 6, 5)).astype(np.float32)
    hdu = fits.PrimaryHDU(data, header)
    image = load_image(hdu)
    assert image.unit == u.Jy / u.beam
    assert image.has_spectral and image.has_celestial
    assert image.spectral_cdelt == pytest.approx(1e4)
    assert image.beam == {"bmaj": 3e-3, "bmin": 3e-3, "bpa": 0.0}
    assert image.beam_area == pytest.approx(np.pi * 9 / (4 * np.log(2)))
    path = tmp_path / "cube.fits"
    hdu.writeto(path)
    image2 = load_image(path)
    np.testing.assert_array_equal(image2.data, data)
    assert image2.filename == str(path)


def test_nddata_ccddata_with_mask():
    data = np.arange(20, dtype=float).reshape(4, 5)
    mask = np.zeros((4, 5), bool)
    mask[0, 0] = True
    image = load_image(NDData(data, mask=mask, unit="Jy"))
    assert np.isnan(image.data[0, 0]) and image.unit == u.Jy
    ccd = CCDData(data, unit="adu", wcs=WCS(naxis=2))
    assert load_image(ccd).wcs is not None


def test_degenerate_stokes_axis_dropped():
    header = _cube_header()
    header["NAXIS"] = 4
    header["NAXIS4"] = 1
    header.update({"CTYPE4": "STOKES", "CRVAL4": 1, "CDELT4": 1, "CRPIX4": 1})
    image = load_image(fits.PrimaryHDU(np.zeros((1, 8, 6, 5), np.float32) + 1, header))
    assert image.shape == (8, 6, 5) and image.wcs.naxis == 3 and image.header["NAXIS"] == 3


def test_several_stokes_planes_is_an_error():
    header = _cube_header()
    header["NAXIS"] = 4
    header["NAXIS4"] = 2
    header.update({"CTYPE4": "STOKES", "CRVAL4": 1, "CDELT4": 1, "CRPIX4": 1})
    with pytest.raises(ValueError, match="STOKES axis with 2 planes"):
        load_image(fits.PrimaryHDU(np.ones((2, 8, 6, 5), np.float32), header))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.ones(10), "2D image .* or a 3D cube"),
        (np.ones((2, 2, 2, 2, 2)), "got 5D"),
        (np.full((3, 4, 5), np.nan), "no finite values"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric"),
        (np.ones((3, 3), dtype=bool), "boolean"),
    ],
)
def test_bad_arrays(data, match):
    with pytest.raises(ValueError, match=match):
        load_image(data)


def test_missing_file_and_corrupt_fits(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image(tmp_path / "nope.fits")
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"this is not a FITS file at all" * 100)
    with pytest.raises(ValueError, match="cannot read .* as FITS"):
        load_image(bad)


def test_table_hdu_rejected():
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.ones(3))])
    with pytest.raises(ValueError, match="table"):
        load_image(table)


def test_wcs_dimension_mismatch():
    with pytest.raises(ValueError, match="WCS has 2 axes"):
        load_image(np.ones((3, 4, 5)), wcs=WCS(naxis=2))


@pytest.mark.parametrize("text", ["JY/BEAM", "Jy/Beam", "beam-1 Jy", "Jy beam-1", "jy/beam"])
def test_bunit_spellings(text):
    assert normalise_bunit(text) == u.Jy / u.beam


@pytest.mark.skipif(not ESO121.exists(), reason="real-data fixture not available")
def test_real_atca_cube_header():
    image = load_image(ESO121)
    assert image.shape == (130, 64, 64)
    assert image.unit == u.Jy / u.beam
    assert image.has_celestial and image.has_spectral
    assert image.spectral_unit.physical_type == "speed"
    assert image.spectral_cdelt == pytest.approx(3298.036, rel=1e-5)
    centre = image.wcs.celestial.pixel_to_world(24, 24)  # CRPIX 25 (1-based)
    assert centre.ra.deg == pytest.approx(91.8755, abs=1e-3)
    assert centre.dec.deg == pytest.approx(-61.8405, abs=1e-3)
    assert image.beam["bmaj"] == pytest.approx(7.947e-3, rel=1e-3)
