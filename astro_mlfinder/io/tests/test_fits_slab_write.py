"""Large product cubes are written slab by slab, byte for byte as astropy writes them."""

import numpy as np
import pytest
from astropy.io import fits

from astro_mlfinder.core import _small
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


class _Image:
    """The parts of an ImageData the header builders read."""

    def __init__(self, header, beam=None):
        self.header, self.wcs, self.beam = header, None, beam


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", ">f4", "float64", "int16", "int64"])
@pytest.mark.parametrize("shape", [(7,), (5, 6), (4, 5, 6)])
def test_product_header_bytes_equal_astropy(tmp_path, dtype, shape):
    """`_ProductHeader` files are byte for byte what astropy writes for the equivalent Header."""
    source = fits.Header({"CTYPE1": "RA---SIN", "CRPIX1": 10.5, "CDELT1": -1.6667e-3, "CRVAL1": 150.0,
                          "CTYPE2": "DEC--SIN", "CRPIX2": 3, "CDELT2": 1.6667e-3, "CRVAL2": -30.0,
                          "CTYPE3": "FREQ", "CRPIX3": 1, "CDELT3": 18518.5185, "CRVAL3": 1.4e9, "CUNIT3": "Hz",
                          "PC1_2": 0.25, "RESTFRQ": 1.420405752e9, "SPECSYS": "BARYCENT"})
    image = _Image(source, beam={"bmaj": 5e-3, "bmin": 4e-3, "bpa": 12.5})
    history = ["  control parameters", "  scfind.threshold = 3.5", "  " + "x" * 70, "  a = " + "y" * 90]
    data = (np.random.default_rng(1).standard_normal(shape) * 50).astype(dtype)
    view = data[..., ::-1]  # not contiguous
    for array, name in ((data, "c"), (view, "view")):
        fast = fits_headers._product_header(image, min(len(shape), 3), bunit="Jy/beam", beam=True, history=history,
                                            obj_name="SoFiA J1", crpix_shift=(3, 1, 2)[: len(shape)])
        slow = fast.to_astropy()
        fits_headers._write_fits(tmp_path / f"fast{name}.fits", array, fast, False)
        fits.PrimaryHDU(data=array, header=slow).writeto(tmp_path / f"astropy{name}.fits")
        assert (tmp_path / f"fast{name}.fits").read_bytes() == (tmp_path / f"astropy{name}.fits").read_bytes()
        np.testing.assert_array_equal(fits.getdata(tmp_path / f"fast{name}.fits"), array)


def test_product_header_falls_back_to_astropy_for_other_types(tmp_path):
    header = fits_headers._ProductHeader([("BUNIT", " ")], ["  x"])
    data = np.arange(6, dtype=np.uint16).reshape(2, 3)  # astropy writes BZERO for it
    fits_headers._write_fits(tmp_path / "u16.fits", data, header, False)
    np.testing.assert_array_equal(fits.getdata(tmp_path / "u16.fits"), data)
    assert fits.getheader(tmp_path / "u16.fits")["BZERO"] == 32768


@pytest.mark.parametrize("dtype", ["int32", "int16", "int64"])
@pytest.mark.parametrize("last", [False, True])
def test_sparse_label_cube_equals_astropy(tmp_path, monkeypatch, dtype, last):
    """A mostly empty label cube is written as row ranges with holes between: the same bytes."""
    data = np.zeros((9, 13, 11), dtype=dtype)
    data[2, 3:5, 4:7] = 7
    data[2, 9, 0] = -3
    data[5, 0, 10] = 2
    if last:
        data[8, 12, 10] = 1
    header = fits.Header({"BUNIT": " "})
    fits.PrimaryHDU(data=data, header=header.copy()).writeto(tmp_path / "astropy.fits")
    monkeypatch.setattr(fits_headers, "_SLAB_WRITE_MIN", 0)
    monkeypatch.setattr(_small, "NUMPY_MAX_VOXELS", 0)  # a large cube's path: the sparse write
    calls = []
    sparse = fits_headers._write_sparse
    monkeypatch.setattr(fits_headers, "_write_sparse", lambda *a: calls.append(1) or sparse(*a))
    fits_headers._write_fits(tmp_path / "sparse.fits", data, header.copy(), False)
    assert calls == [1]
    assert (tmp_path / "sparse.fits").read_bytes() == (tmp_path / "astropy.fits").read_bytes()


def test_small_label_cube_is_written_without_loading_numba(tmp_path):
    """A label cube above the slab-write size but within core._small's limit (e.g. 180^3 int32) takes the
    plain slab loop, not the numba row scan of the sparse write: same bytes, and a small cube's run stays
    free of numba."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(fits_headers.__file__).resolve().parents[2]
    code = (
        "import json, sys\nimport numpy as np\nfrom astropy.io import fits\n"
        "from astro_mlfinder.io import fits_headers\n"
        "fits_headers._SLAB_WRITE_MIN = 0\n"
        "lab = np.zeros((6, 20, 30), np.int32); lab[2, 5:9, 3:7] = 4\n"
        f"fits_headers._write_fits({str(tmp_path / 'mask.fits')!r}, lab, fits.Header(), False)\n"
        "assert (fits.getdata(" + repr(str(tmp_path / "mask.fits")) + ") == lab).all()\n"
        "print(json.dumps('numba' in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False
    expected = tmp_path / "astropy.fits"
    lab = np.zeros((6, 20, 30), np.int32)
    lab[2, 5:9, 3:7] = 4
    fits.PrimaryHDU(lab, fits.Header()).writeto(expected)
    assert (tmp_path / "mask.fits").read_bytes() == expected.read_bytes()
