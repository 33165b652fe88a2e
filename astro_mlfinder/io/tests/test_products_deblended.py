"""``write_products``' ``_deblended.fits``: each source's deblended image, written when the finder attributes flux."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.io import product_paths, write_products


def _image():
    yy, xx = np.mgrid[:40, :50]
    a = 10.0 * np.exp(-((xx - 20) ** 2 + (yy - 20) ** 2) / 18.0)
    b = 6.0 * np.exp(-((xx - 27) ** 2 + (yy - 21) ** 2) / 12.0)
    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 25.0, "CRPIX2": 20.0,
                          "CRVAL1": 150.1, "CRVAL2": 2.2, "CDELT1": -5.5e-5, "CDELT2": 5.5e-5, "BUNIT": "Jy"})
    data = (a + b).astype(np.float32)
    image = load_image(fits.PrimaryHDU(data, header))
    with np.errstate(invalid="ignore", divide="ignore"):
        frac_a = np.where(a + b > 0, a / (a + b), 0.0)
    attribution = np.stack([frac_a, 1.0 - frac_a]) * ((a + b) > 0.05)
    segment = np.where(attribution.sum(axis=0) > 0, np.argmax(attribution, axis=0) + 1, 0).astype(np.int32)
    return image, segment, attribution, a, b


def test_deblended_images_written_with_ids_and_the_celestial_wcs(tmp_path):
    image, segment, attribution, a, b = _image()
    cat = SourceCatalog(image, segment, products={"attribution": attribution})
    written = write_products(cat, tmp_path, "field", cubelets=False, regions=())
    path = tmp_path / "field_deblended.fits"
    assert path in written
    with fits.open(path) as hdul:
        planes, header = hdul[0].data, hdul[0].header
    assert planes.shape == (2, 40, 50) and planes.dtype == np.dtype(">f4")
    np.testing.assert_allclose(planes, cat.deblended_images.astype(np.float32))
    # inside the footprint the two planes add up to the data, and each is close to its own source
    footprint = attribution.sum(axis=0) > 0
    np.testing.assert_allclose(planes.sum(axis=0)[footprint], image.data[footprint], rtol=1e-5)
    np.testing.assert_allclose(planes[0][footprint], a[footprint], rtol=1e-4, atol=1e-5)
    assert [header["ID1"], header["ID2"]] == [1, 2] and header["CTYPE3"] == "SOURCE"
    assert header["BUNIT"] == "Jy"
    celestial = WCS(header).celestial
    assert celestial.wcs.ctype[0] == "RA---TAN"
    np.testing.assert_allclose(celestial.wcs.crval, [150.1, 2.2])


def test_no_deblended_file_without_an_attribution(tmp_path):
    image, segment, _, _, _ = _image()
    cat = SourceCatalog(image, segment)
    written = write_products(cat, tmp_path, "plain", cubelets=False, regions=())
    assert not (tmp_path / "plain_deblended.fits").exists() and written
    assert "deblended" not in product_paths(tmp_path, "plain", ndim=2)
    with pytest.raises(ValueError, match=r"deblended=True needs a catalogue whose finder attributes flux"):
        write_products(cat, tmp_path / "other", "plain", deblended=True, regions=())
    assert not (tmp_path / "other").exists()  # refused before anything was written
