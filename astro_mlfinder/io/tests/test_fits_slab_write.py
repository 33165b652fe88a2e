"""Large product cubes are written slab by slab, byte for byte as astropy writes them."""

import numpy as np
import pytest
from astropy.io import fits

from astro_mlfinder.io import fits_headers


@pytest.mark.parametrize("dtype", ["int32", "float32", ">f4", "int16", "float64"])
def test_slab_write_equals_astropy(tmp_path, monkeypatch, dtype):
    data = (np.random.default_rng(0).standard_normal((9, 13, 11)) * 100).astype(dtype)
    data[0, 0, 0] = 0
    header = fits.Header({"CTYPE1": "RA---SIN", "BUNIT": " ", "HISTORY": "a history card"})
    monkeypatch.setattr(fits_headers, "_SLAB_WRITE_MIN", 10**15)
    fits_headers._write_fits(tmp_path / "astropy.fits", data, header.copy(), False)
    monkeypatch.setattr(fits_headers, "_SLAB_WRITE_MIN", 0)
    assert fits_headers._slab_writable(data)
    fits_headers._write_fits(tmp_path / "slabs.fits", data, header.copy(), False)
    assert (tmp_path / "slabs.fits").read_bytes() == (tmp_path / "astropy.fits").read_bytes()
    np.testing.assert_array_equal(fits.getdata(tmp_path / "slabs.fits"), data)
    with pytest.raises(FileExistsError):
        fits_headers._write_fits(tmp_path / "slabs.fits", data, header.copy(), False)


def test_small_or_byte_arrays_are_written_by_astropy():
    assert not fits_headers._slab_writable(np.zeros((4, 4), np.int32))  # below the size limit
    assert not fits_headers._slab_writable(np.zeros((4096, 4096 + 1), np.uint8))  # no byte order
