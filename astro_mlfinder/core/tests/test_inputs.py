"""Input normalisation: every accepted type, real headers and bad input."""

import gc
import hashlib
import math
import mmap
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.wcs import WCS

from astro_mlfinder.core.exceptions import AstroMLFinderWarning
from astro_mlfinder.core.finder import Finder
from astro_mlfinder.core.inputs import ImageData, load_image, normalise_bunit
from astro_mlfinder.core.segmentation import Segmentation

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


def test_unrecognised_bunit_warns_with_the_package_warning():
    with pytest.warns(AstroMLFinderWarning, match="unrecognised BUNIT"):
        assert normalise_bunit("furlongs per fortnight") == u.dimensionless_unscaled


# ------------------------------------------------------------------ lazy inputs
def _write_fits(path, shape, bitpix=-32, cards=(), planes=None, seed=0):
    """Write a primary-HDU FITS file plane by plane (never the whole cube in memory).

    ``planes(z)`` gives plane ``z`` (default: seeded normal noise); ``cards``
    are extra header cards (``BSCALE``, ``BLANK``, WCS...). The values are
    written as they are (no scaling applied).
    """
    dtype = np.dtype({8: "u1", 16: ">i2", 32: ">i4", -32: ">f4", -64: ">f8"}[bitpix])
    header = fits.Header([("SIMPLE", True), ("BITPIX", bitpix), ("NAXIS", len(shape))])
    for i, n in enumerate(shape[::-1], start=1):
        header[f"NAXIS{i}"] = n
    for key, value in cards:
        header[key] = value
    rng = np.random.default_rng(seed)
    if planes is None:

        def planes(z):
            return rng.standard_normal(shape[1:], dtype=np.float32)

    nbytes = 0
    with open(path, "wb") as fh:
        fh.write(header.tostring().encode("ascii"))
        for z in range(shape[0]):
            block = np.asarray(planes(z)).astype(dtype).tobytes()
            fh.write(block)
            nbytes += len(block)
        fh.write(b"\0" * (-nbytes % 2880))
    return path


def _old_read(path):
    """What load_image returned before lazy inputs: astropy's full read, as float32."""
    with fits.open(path, memmap=False) as hdul:
        return np.asarray(hdul[0].data, dtype=np.float32)


def _rss():
    """Resident set size of this process in bytes."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return psutil.Process().memory_info().rss
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        pytest.skip("cannot measure the resident set size on this platform")


def _fingerprint(path):
    stat = os.stat(path)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest(), stat.st_mtime_ns, stat.st_size


def _check_lazy_rss(tmp_path, shape):
    """Load a float32 cube of ``shape`` from a file and check what it costs in resident memory."""
    path = _write_fits(tmp_path / "big.fits", shape)
    size = math.prod(shape) * 4
    gc.collect()
    before = _rss()
    image = load_image(path)
    after_load = _rss() - before
    assert isinstance(image.data, np.memmap) and not image.is_loaded
    assert after_load < 0.25 * size, f"load_image grew RSS by {after_load / size:.0%} of the cube"
    data = image.read()
    after_read = _rss() - before
    assert data.dtype == np.float32 and data.dtype.isnative and data.shape == shape
    if getattr(mmap, "MADV_DONTNEED", None) is not None:  # the file pages are released as they are converted
        assert after_read < 1.5 * size, f"read() left RSS at {after_read / size:.2f}x the cube"
    np.testing.assert_array_equal(data[::17], _old_read(path)[::17])


def test_path_input_is_memory_mapped_not_read(tmp_path):
    """A 64 MB cube: loading it costs far less resident memory than the cube."""
    _check_lazy_rss(tmp_path, (64, 512, 512))


@pytest.mark.slow
def test_path_input_is_memory_mapped_not_read_large(tmp_path):
    """The same on a 512 MB cube."""
    _check_lazy_rss(tmp_path, (128, 1024, 1024))


@pytest.mark.parametrize(
    ("bitpix", "cards", "lazy"),
    [
        (-32, (), True),  # big-endian float32: memmap
        (-64, (), True),  # float64: memmap, converted by read()
        (16, (), True),  # int16 without scaling: memmap
        (-32, (("BLANK", -5),), True),  # BLANK is ignored on floating-point data (as astropy does)
        (16, (("BSCALE", 0.5), ("BZERO", 10.0), ("BLANK", -32768)), False),  # scaled: read whole
        (16, (("BLANK", -32768),), False),  # integer BLANK: NaN, read whole
        (16, (("BZERO", 32768),), False),  # unsigned convention: read whole
    ],
)
def test_read_equals_the_old_float32_read(tmp_path, bitpix, cards, lazy):
    shape = (9, 7, 6)
    rng = np.random.default_rng(3)
    values = rng.normal(0, 1000, shape)
    values[0] = np.nan if bitpix < 0 else -32768  # a blank (or BLANK-valued) first plane
    values[4, 2, 3] = -32768 if bitpix > 0 else -5
    path = _write_fits(tmp_path / "cube.fits", shape, bitpix, cards, planes=lambda z: values[z])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Invalid 'BLANK' keyword")
        expected = _old_read(path)
        image = load_image(path)
    assert isinstance(image.data, np.memmap) is lazy
    assert image.is_loaded is not lazy
    data = image.read()
    assert data.dtype == np.float32 and data.dtype.isnative
    np.testing.assert_array_equal(data, expected)
    np.testing.assert_array_equal(image.read((slice(3, 6), slice(None), 2)), expected[3:6, :, 2])
    np.testing.assert_array_equal(image.loaded().data, expected)
    assert image.loaded().is_loaded


def test_read_of_in_memory_float32_is_the_array_itself():
    data = np.ones((4, 5, 6), dtype=np.float32)
    image = load_image(data)
    assert image.is_loaded and image.loaded() is image
    assert image.read() is image.data
    assert np.shares_memory(image.read((slice(1, 3),)), image.data)


def test_read_converts_in_chunks(tmp_path, monkeypatch):
    """Chunks smaller than a plane (rows of one plane at a time) give the same values."""
    from astro_mlfinder.core import _lazy

    path = _write_fits(tmp_path / "cube.fits", (5, 40, 30))
    expected = _old_read(path)
    image = load_image(path)
    monkeypatch.setattr(_lazy, "_CHUNK_BYTES", 30 * 4 * 7)  # 7 rows
    np.testing.assert_array_equal(image.read(), expected)
    monkeypatch.setattr(_lazy, "_CHUNK_BYTES", 40 * 30 * 4 * 2)  # 2 planes
    np.testing.assert_array_equal(image.read(), expected)
    np.testing.assert_array_equal(image.read((slice(None, None, -1), slice(3, 9))), expected[::-1, 3:9])


def test_all_nan_file_is_found_without_reading_it_whole(tmp_path, monkeypatch):
    from astro_mlfinder.core import _lazy

    monkeypatch.setattr(_lazy, "_CHECK_BYTES", 1)  # plane by plane (row by row)
    path = _write_fits(tmp_path / "nan.fits", (6, 5, 4), planes=lambda z: np.full((5, 4), np.nan))
    with pytest.raises(ValueError, match="no finite values"):
        load_image(path)
    last = _write_fits(tmp_path / "last.fits", (6, 5, 4), planes=lambda z: np.full((5, 4), np.nan if z < 5 else 1.0))
    assert load_image(last).shape == (6, 5, 4)


def test_degenerate_stokes_axis_of_a_file_stays_a_memmap_view(tmp_path):
    cards = [
        ("CTYPE1", "RA---SIN"),
        ("CTYPE2", "DEC--SIN"),
        ("CTYPE3", "FREQ"),
        ("CTYPE4", "STOKES"),
        ("CDELT1", -1e-3),
        ("CDELT2", 1e-3),
        ("CDELT3", 1e4),
        ("CRVAL3", 1.4e9),
        ("CUNIT3", "HZ"),
    ]
    path = _write_fits(
        tmp_path / "stokes.fits",
        (1, 8, 6, 5),
        cards=cards,
        planes=lambda s: np.arange(240, dtype=np.float32).reshape(8, 6, 5),
    )
    image = load_image(path)
    assert image.shape == (8, 6, 5) and image.wcs.naxis == 3 and image.header["NAXIS"] == 3
    assert isinstance(image.data, np.memmap) and not image.data.flags.owndata  # a view, not a copy
    np.testing.assert_array_equal(image.read(), np.arange(240, dtype=np.float32).reshape(8, 6, 5))


def test_truncated_file_is_reported_before_mapping(tmp_path):
    path = _write_fits(tmp_path / "cut.fits", (10, 20, 20))
    path.write_bytes(path.read_bytes()[: 2880 + 4000])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="File may have been truncated")
        with pytest.raises(ValueError, match=r"cannot read .*cut\.fits as FITS: the file is truncated"):
            load_image(path)


def test_memmap_outlives_the_file_and_opens_no_file_for_writing(tmp_path):
    path = _write_fits(tmp_path / "cube.fits", (6, 7, 8))
    expected = _old_read(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        image = load_image(path)
        gc.collect()
    assert image.data.mode == "r" and not image.data.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        image.data[0, 0, 0] = 1.0
    np.testing.assert_array_equal(image.read(), expected)


def test_gzipped_file_is_read_whole(tmp_path):
    import gzip

    path = _write_fits(tmp_path / "cube.fits", (4, 5, 6))
    expected = _old_read(path)
    gz = tmp_path / "cube.fits.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    image = load_image(gz)
    assert image.is_loaded
    np.testing.assert_array_equal(image.data, expected)


class _ThresholdFinder(Finder):
    """A minimal finder: connected pixels above a threshold (reads the data in its first stage)."""

    name = "threshold"

    def __init__(self, threshold=3.0):
        self.threshold = threshold

    @property
    def margin(self):
        return (0, 0, 0)

    def segment(self, image, mask, progress):
        from scipy import ndimage

        data = image.read()
        labels, _ = ndimage.label(np.nan_to_num(data) > self.threshold)
        return Segmentation(labels.astype(np.int32))


def test_file_unchanged_after_a_run(tmp_path):
    shape = (12, 20, 24)
    cube = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    cube[5:8, 8:12, 10:14] += 8.0
    cube[0] = np.nan
    cards = [
        ("CTYPE1", "RA---SIN"),
        ("CTYPE2", "DEC--SIN"),
        ("CTYPE3", "FREQ"),
        ("CDELT1", -1e-3),
        ("CDELT2", 1e-3),
        ("CDELT3", 1e4),
        ("CRVAL3", 1.4e9),
        ("CUNIT3", "HZ"),
        ("BUNIT", "JY/BEAM"),
    ]
    path = _write_fits(tmp_path / "cube.fits", shape, cards=cards, planes=lambda z: cube[z])
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = _fingerprint(path)
    catalog = _ThresholdFinder()(path)
    table = catalog.to_table()
    assert len(table) >= 1 and catalog.image.is_loaded
    image = load_image(path)
    image.read()
    image.read((slice(2, 4),))
    del image, catalog
    gc.collect()
    assert _fingerprint(path) == before


# ------------------------------------------------------------------ dask
def _counting_dask_cube(shape, values, calls):
    """A dask array of ``values``, one plane per chunk, that records which planes are computed."""
    da = pytest.importorskip("dask.array")

    def plane(block, block_info=None):
        z = block_info[None]["chunk-location"][0]
        calls.append(z)
        return values[z : z + 1]

    return da.map_blocks(plane, da.zeros(shape, chunks=(1,) + shape[1:], dtype=np.float32), dtype=np.float32)


def test_dask_input_is_held_lazily_and_read_equals(monkeypatch):
    from astro_mlfinder.core import _lazy

    dask = pytest.importorskip("dask")
    monkeypatch.setattr(_lazy, "_CHECK_BYTES", 1)  # the finite check: chunk by chunk (a plane here)
    shape = (10, 6, 7)
    values = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    values[:2] = np.nan
    calls = []
    with dask.config.set(scheduler="synchronous"):
        lazy = _counting_dask_cube(shape, values, calls)
        image = load_image(lazy)
        assert hasattr(image.data, "__dask_graph__") and not image.is_loaded
        assert image.shape == shape
        assert sorted(calls) == [0, 1, 2], f"load_image computed planes {calls}"  # up to the first finite one
        calls.clear()
        np.testing.assert_array_equal(image.read((slice(3, 5),)), values[3:5])
        assert sorted(set(calls)) == [3, 4]
        np.testing.assert_array_equal(image.read(), values)
        np.testing.assert_array_equal(image.loaded().data, values)


def test_dask_input_checks():
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="no finite values"):
        load_image(da.full((3, 4, 5), np.nan, chunks=(1, 4, 5)))
    with pytest.raises(ValueError, match="boolean"):
        load_image(da.ones((3, 4, 5), dtype=bool))
    with pytest.raises(ValueError, match="got 5D"):
        load_image(da.ones((2, 2, 2, 2, 2)))
    image = load_image(da.ones((1, 3, 4, 5), dtype=np.int16, chunks=(1, 1, 4, 5)))  # degenerate axis dropped
    assert image.shape == (3, 4, 5) and hasattr(image.data, "__dask_graph__")
    np.testing.assert_array_equal(image.read(), np.ones((3, 4, 5), np.float32))
    nd = load_image(NDData(da.arange(60, chunks=20).reshape(3, 4, 5), unit="Jy"))
    assert hasattr(nd.data, "__dask_graph__") and nd.unit == u.Jy
    np.testing.assert_array_equal(nd.read(), np.arange(60, dtype=np.float32).reshape(3, 4, 5))


def test_numpy_memmap_input_is_not_copied(tmp_path):
    path = tmp_path / "raw.dat"
    values = np.random.default_rng(4).normal(size=(5, 6, 7))
    values.tofile(path)
    image = load_image(np.memmap(path, dtype=np.float64, mode="r", shape=(5, 6, 7)))
    assert isinstance(image.data, np.memmap) and image.data.dtype == np.float64
    np.testing.assert_array_equal(image.read(), values.astype(np.float32))
    assert isinstance(ImageData(image.read()).read(), np.ndarray)


def test_image_extension_and_user_opened_hdus_stay_memory_mapped(tmp_path):
    values = np.random.default_rng(6).normal(size=(4, 5, 6)).astype(np.float32)
    path = tmp_path / "ext.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(values, name="CUBE")]).writeto(path)
    image = load_image(path)  # the first HDU with data: the extension
    assert isinstance(image.data, np.memmap) and image.shape == (4, 5, 6)
    np.testing.assert_array_equal(image.read(), values)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with fits.open(path) as hdul:  # astropy's default memmap: not copied at load
            image = load_image(hdul)
        gc.collect()
    assert not image.is_loaded and image.data.dtype == np.dtype(">f4")
    np.testing.assert_array_equal(image.read(), values)  # still valid after the HDUList is closed
