"""Normalisation of every accepted input into one `ImageData` container.

Finders accept a numpy array, a `~astropy.units.Quantity`, an
`~astropy.nddata.NDData`/`~astropy.nddata.CCDData`, a FITS HDU or HDU list,
a path to a FITS file, or a ``SpectralCube``.  `load_image` turns any of these
into an `ImageData`: a float32 array in (z, y, x) or (y, x) order with NaN for
blanked pixels, a WCS of the same dimensionality, the unit and the beam.

Real-header quirks handled here:

* a degenerate STOKES (or any other length-1 non-celestial, non-spectral) axis
  is dropped, a STOKES axis with several planes is an error;
* AIPS/Miriad spectral types (``VELO-LSR``, ``FELO-HEL``), NCP projections and
  upper-case or non-standard ``CUNITn`` values (``KM/S``, ``M/S``, ``HZ``,
  ``DEGREE``) are normalised before the WCS is built;
* ``BUNIT`` spellings such as ``JY/BEAM``, ``Jy/Beam`` or ``beam-1 Jy`` become
  ``Jy/beam``;
* integer data with ``BLANK`` become float32 with NaN;
* a cube whose spectral axis is not the third FITS axis is reordered to
  (spectral, lat, lon) numpy order, data (a view), WCS and header together;
* ``BMAJ``/``BMIN`` that are missing, NaN, zero or negative (WSRT writes -1)
  mean "no beam", with one `AstroMLFinderWarning` naming them;
* a header that cannot make a WCS (a non-string ``CTYPEn``, wcslib errors such
  as ``FELO-HEL`` without ``RESTFRQ``) is a one-line `ValueError` naming the
  input, raised before any search.

Large inputs stay lazy: a FITS file whose image HDU can be memory-mapped as it
is (uncompressed, no ``BSCALE``/``BZERO`` scaling, no integer ``BLANK``) is held
as a read-only `numpy.memmap` of its big-endian values, a dask array (or any
array with ``compute``) is held as it is, and a memmap or HDU passed in is not
copied. The checks above run on them plane by plane without reading the data
whole; `ImageData.read` converts to float32 in chunks, when a stage needs the
values. Files are only ever opened read-only.
"""


import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy import units as u
from astropy.io import fits

from ._lazy import _BITPIX_DTYPES, _has_finite, _is_duck_lazy, _is_lazy, _is_loaded, _read_float32
from .headers import (
    _beam_from_header,
    _build_wcs,
    _drop_degenerate_axes,
    _reorder_axes,
    normalise_bunit,
    normalise_header,
)

if TYPE_CHECKING:  # astropy.wcs is imported when a WCS is built: it is slow to import
    from astropy.wcs import WCS



__all__ = ["ImageData", "load_image", "normalise_bunit", "normalise_header"]



@dataclass
class ImageData:
    """A normalised image or cube with its metadata.

    Attributes
    ----------
    data : `~numpy.ndarray`, `~numpy.memmap` or dask array
        (z, y, x) for cubes or (y, x) for images; NaN marks blanked pixels.
        In-memory inputs are float32; a FITS file or a memmap is held
        memory-mapped in its own dtype (big-endian ``>f4``, or integers
        without scaling) and a dask array lazily. Compute on `read` (or on
        `loaded`), never on ``data`` directly.
    wcs : `~astropy.wcs.WCS` or None
        World coordinates with the same number of axes as ``data``.
    header : `~astropy.io.fits.Header` or None
        The (normalised) FITS header, with dropped axes removed.
    unit : `~astropy.units.UnitBase`
        Unit of the pixel values (dimensionless when unknown).
    beam : dict or None
        ``{'bmaj', 'bmin', 'bpa'}`` in degrees.
    filename : str or None
        Path of the file the data were read from.
    """

    data: np.ndarray
    wcs: "WCS | None" = None
    header: fits.Header | None = None
    unit: u.UnitBase = field(default_factory=lambda: u.dimensionless_unscaled)
    beam: dict | None = None
    filename: str | None = None

    def read(self, slices=None):
        """Return the data (or the part ``slices`` selects) as a native-endian float32 `~numpy.ndarray`.

        Stages that compute on the pixel values call this instead of using
        ``data`` directly, which may be a lazy array (a FITS memmap or a dask
        array). In-memory native float32 data are returned as they are (no
        copy; a view for ``slices``); anything else is converted chunk by chunk
        into one new array, so the peak memory is the result plus one chunk
        (about 32 MB), and the file pages of a memmap are released as they are
        converted. Only the selected part of a lazy array is read.

        Parameters
        ----------
        slices : slice, tuple of slices or index, optional
            The part to read, as for ``data[slices]``.
        """
        data = self.data if slices is None else self.data[slices]
        if _is_loaded(data):
            return data
        return _read_float32(data)

    @property
    def is_loaded(self):
        """True if ``data`` is an in-memory native-endian float32 array (not a memmap or dask array)."""
        return _is_loaded(self.data)

    def loaded(self):
        """This image with its data in memory as native float32 (``self`` when it already is)."""
        if self.is_loaded:
            return self
        return ImageData(self.read(), self.wcs, self.header, self.unit, self.beam, self.filename)

    @property
    def ndim(self):
        """Number of data axes (2 or 3)."""
        return self.data.ndim

    @property
    def shape(self):
        """Shape of the data array."""
        return self.data.shape

    @property
    def has_celestial(self):
        """True if the WCS has two celestial axes."""
        return self.wcs is not None and self.wcs.has_celestial

    @property
    def frequency(self):
        """Observing frequency of an image as a Quantity (Hz), or None.

        From the ``FREQ`` keyword (written when a length-1 frequency axis is
        dropped) or a 2D header's ``RESTFRQ``/``RESTFREQ``; cubes carry their
        frequencies on the spectral axis and return None.
        """
        if self.ndim != 2 or self.header is None:
            return None
        for key in ("FREQ", "RESTFRQ", "RESTFREQ"):
            value = self.header.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
                return float(value) * u.Hz
        return None

    @property
    def has_spectral(self):
        """True if the WCS has a spectral axis (cubes only)."""
        return self.wcs is not None and self.ndim == 3 and self.wcs.wcs.spec >= 0

    @property
    def pixel_scale(self):
        """Celestial pixel size in degrees (mean of both axes), or None."""
        if not self.has_celestial:
            return None
        scales = self.wcs.celestial.proj_plane_pixel_scales()  # a list of Quantities
        return float(np.mean([abs(u.Quantity(s, u.deg).to_value(u.deg)) for s in scales]))

    @property
    def spectral_cdelt(self):
        """Channel width in the WCS spectral unit (signed), or None."""
        if not self.has_spectral:
            return None
        spec = self.wcs.spectral
        return float(spec.pixel_to_world_values(1.0) - spec.pixel_to_world_values(0.0))

    @property
    def spectral_unit(self):
        """Unit of the spectral WCS axis, or None."""
        if not self.has_spectral:
            return None
        return u.Unit(self.wcs.spectral.wcs.cunit[0])

    @property
    def beam_area(self):
        """Beam solid angle in pixels, pi*bmaj*bmin/(4 ln 2 cdelt^2); 1 without a beam.

        As SoFiA-2, the pixel size is taken from the second (latitude) axis.
        """
        if not self.beam or not self.has_celestial:
            return 1.0
        bmaj, bmin = self.beam.get("bmaj"), self.beam.get("bmin")
        if not all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in (bmaj, bmin)):
            return 1.0  # not a beam (set by hand): never used as a number
        cdelt = abs(self.wcs.celestial.pixel_scale_matrix[1, 1])
        if cdelt == 0:
            cdelt = self.pixel_scale
        return float(np.pi * self.beam["bmaj"] * self.beam["bmin"] / (4.0 * np.log(2.0) * cdelt**2))


def _from_hdu(hdu, filename=None):
    if isinstance(hdu, fits.HDUList):
        chosen = next((h for h in hdu if h.is_image and h.data is not None and h.data.size), None)
        if chosen is None:
            where = f" in {filename}" if filename else ""
            raise ValueError(f"no image data found{where}: every HDU is empty or a table")
        hdu = chosen
    if not getattr(hdu, "is_image", False):
        raise ValueError(f"{type(hdu).__name__} is not an image HDU; a table cannot be searched for sources")
    data = hdu.data
    if data is None:
        raise ValueError("the FITS HDU holds no data")
    header = normalise_header(hdu.header)
    if data.dtype.kind in "iu" and "BLANK" in header:  # in-memory HDUs keep BLANK values as integers
        data = np.where(data == header["BLANK"], np.nan, data.astype(np.float32))
    return _from_array(data, header=header, filename=filename)


def _check_numeric(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise ValueError(f"data must be numeric, got dtype {dtype}")
    if dtype.kind == "b":
        raise ValueError("data are boolean; pass the image or cube, not a mask")


def _to_float32(data):
    data = np.asanyarray(data)
    _check_numeric(data.dtype)
    return np.asarray(data, dtype=np.float32)


def _check_lazy(data):
    """Validate a lazy array (memmap or dask) without reading it; it stays lazy (converted by `ImageData.read`)."""
    _check_numeric(data.dtype)
    if any(not isinstance(n, int | np.integer) or n < 0 for n in data.shape):  # dask: unknown chunk sizes
        raise ValueError(
            f"the lazy array has an unknown shape {data.shape}; compute its chunk sizes first "
            "(dask: array.compute_chunk_sizes())"
        )
    return data


def _from_array(data, header=None, wcs=None, unit=None, beam=None, filename=None):
    if isinstance(data, u.Quantity):
        unit = data.unit if unit is None else unit
        data = data.value
    if np.ma.isMaskedArray(data):
        data = np.ma.filled(data.astype(np.float32), np.nan)
    data = _check_lazy(data) if _is_lazy(data) else _to_float32(data)
    if header is not None and wcs is None:
        wcs = _build_wcs(header, naxis=data.ndim) if header.get("NAXIS", data.ndim) else None
        if wcs is not None and (not any(wcs.wcs.ctype) or wcs.naxis != data.ndim):
            wcs = None
    data, header, wcs = _drop_degenerate_axes(data, header, wcs)
    data, header, wcs = _reorder_axes(data, header, wcs)
    if data.ndim not in (2, 3):
        raise ValueError(
            f"data must be a 2D image (y, x) or a 3D cube (z, y, x); got {data.ndim}D with shape {data.shape}"
        )
    if wcs is not None and wcs.naxis != data.ndim:
        raise ValueError(f"the WCS has {wcs.naxis} axes but the data have {data.ndim}")
    if not _has_finite(data):  # lazy data: block by block, up to the first finite value
        raise ValueError(f"data contain no finite values (shape {data.shape}): all pixels are NaN or Inf")
    if unit is None:
        unit = normalise_bunit(header.get("BUNIT") if header is not None else None)
    if beam is None:
        beam = _beam_from_header(header)
    return ImageData(data=data, wcs=wcs, header=header, unit=unit, beam=beam, filename=filename)


def _image_hdu_index(hdul, filename):
    """Index of the first image HDU with data, judged from the headers (no data read)."""
    for index, hdu in enumerate(hdul):
        if hdu.is_image and hdu.shape and math.prod(hdu.shape) > 0:
            return index
    raise ValueError(f"no image data found in {filename}: every HDU is empty or a table")


def _memmap_hdu(path, hdul, index):
    """The data of ``hdul[index]`` as a read-only `numpy.memmap` of the file, or None where they need decoding.

    Possible for an uncompressed file's primary or image HDU stored as it is
    read: no ``BSCALE``/``BZERO`` scaling and, for integers, no ``BLANK``
    (astropy ignores ``BLANK`` on floating-point data). Tile-compressed,
    gzip'ed or scaled data return None and are read whole by astropy.
    """
    hdu = hdul[index]
    if type(hdu) not in (fits.PrimaryHDU, fits.ImageHDU):  # not CompImageHDU, GroupsHDU
        return None
    header = hdu.header
    dtype = _BITPIX_DTYPES.get(header.get("BITPIX"))
    if dtype is None:
        return None
    try:
        if float(header.get("BSCALE", 1)) != 1 or float(header.get("BZERO", 0)) != 0:
            return None
    except (TypeError, ValueError):
        return None
    if header["BITPIX"] > 0 and "BLANK" in header:
        return None
    with open(path, "rb") as fh:
        if fh.read(6) != b"SIMPLE":  # gzip, bzip2, zip...: not mappable
            return None
    shape = tuple(int(n) for n in hdu.shape)
    offset = int(hdul.fileinfo(index)["datLoc"])
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    size = os.path.getsize(path)
    if offset + nbytes > size:
        raise ValueError(
            f"cannot read {path} as FITS: the file is truncated or corrupt "
            f"({size} bytes, but its data need {offset + nbytes})"
        )
    # mode 'r': a read-only mapping shared with the file (never written; pages can be released)
    try:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    except OSError:  # a file system that cannot map files: read it whole instead
        return None


def _read_fits(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    try:
        with fits.open(path, mode="readonly", memmap=False) as hdul:
            hdul.verify("silentfix")
            index = _image_hdu_index(hdul, path)
            data = _memmap_hdu(path, hdul, index)
            if data is None:  # scaled, BLANK'ed or compressed: read whole, as astropy decodes it
                return _from_hdu(hdul[index], filename=str(path))
            # the memmap holds its own mapping: it stays valid after the file is closed
            return _from_array(data, header=normalise_header(hdul[index].header), filename=str(path))
    except (OSError, TypeError) as exc:
        raise ValueError(f"cannot read {path} as FITS: {' '.join(str(exc).split())}") from exc
    except fits.VerifyError as exc:
        problems = [
            line.split(":", 1)[-1].strip().rstrip(".")
            for line in str(exc).splitlines()
            if line.strip().lower().startswith(("unfixable error", "error"))
        ]
        raise ValueError(
            f"cannot read {path} as FITS: {'; '.join(problems) or 'the file does not verify'} "
            "(e.g. an extension header without XTENSION); rewrite the file with a FITS writer and check it "
            "with fitsverify"
        ) from exc
    except ValueError as exc:
        if "cannot reshape" in str(exc) or "buffer" in str(exc):
            raise ValueError(f"cannot read {path} as FITS: the file is truncated or corrupt ({exc})") from exc
        if str(path) not in str(exc):
            raise ValueError(f"{path}: {exc}") from exc
        raise


def load_image(data, wcs=None, *, unit=None):
    """Normalise any supported input into an `ImageData`.

    Parameters
    ----------
    data : array-like, `~astropy.nddata.NDData`, HDU, HDUList, str, path or SpectralCube
        The image or cube. FITS order is handled: numpy arrays are (z, y, x).
    wcs : `~astropy.wcs.WCS`, optional
        Overrides the WCS carried by ``data``.
    unit : `~astropy.units.Unit`, optional
        Overrides the unit carried by ``data``.

    Returns
    -------
    image : `ImageData`

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        On data that are not 2D or 3D (after dropping a degenerate Stokes axis),
        non-numeric, all-NaN, or unreadable as FITS.
    """
    if isinstance(data, ImageData):
        image = data
    elif isinstance(data, str | os.PathLike):
        image = _read_fits(data)
    elif isinstance(data, fits.HDUList | fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
        image = _from_hdu(data)
    elif isinstance(data, fits.BinTableHDU | fits.TableHDU):
        raise ValueError("a FITS table HDU cannot be searched for sources; pass an image HDU")
    elif "astropy.nddata" in sys.modules and isinstance(data, sys.modules["astropy.nddata"].NDData):
        arr = data.data if data.mask is None and _is_lazy(data.data) else np.asarray(data.data)
        if data.mask is not None:
            arr = np.where(np.asarray(data.mask, dtype=bool), np.nan, arr.astype(np.float32))
        from astropy.wcs import WCS

        nd_wcs = data.wcs if isinstance(data.wcs, WCS) else None
        header = None
        meta = getattr(data, "meta", None)
        if isinstance(meta, fits.Header):
            header = normalise_header(meta)
        elif meta and "BMAJ" in meta:
            header = fits.Header({k: v for k, v in meta.items() if len(str(k)) <= 8})
        image = _from_array(arr, header=header, wcs=nd_wcs, unit=data.unit, filename=None)
    elif hasattr(data, "hdu") and hasattr(data, "spectral_axis"):  # SpectralCube duck type
        hdu = data.hdu
        image = _from_hdu(hdu)
        beam = getattr(data, "beam", None)
        if beam is not None and image.beam is None:
            image.beam = {
                "bmaj": beam.major.to_value(u.deg),
                "bmin": beam.minor.to_value(u.deg),
                "bpa": beam.pa.to_value(u.deg),
            }
    elif _is_duck_lazy(data):  # dask array: held lazily
        image = _from_array(data)
    else:
        if isinstance(data, list | tuple):
            data = np.asarray(data)
        if not isinstance(data, np.ndarray):
            raise TypeError(
                f"unsupported input type {type(data).__name__}: pass an ndarray, Quantity, NDData, "
                "FITS HDU, FITS path, SpectralCube or dask array"
            )
        image = _from_array(data)
    if wcs is not None:
        if wcs.naxis != image.ndim:
            raise ValueError(f"the WCS has {wcs.naxis} axes but the data have {image.ndim}")
        image = ImageData(image.data, wcs, image.header, image.unit, image.beam, image.filename)
    if unit is not None:
        image = ImageData(image.data, image.wcs, image.header, u.Unit(unit), image.beam, image.filename)
    return image
