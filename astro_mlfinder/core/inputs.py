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
import mmap
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy import units as u
from astropy.io import fits

from .exceptions import AstroMLFinderWarning

if TYPE_CHECKING:  # astropy.wcs is imported when a WCS is built: it is slow to import
    from astropy.wcs import WCS

__all__ = ["ImageData", "load_image", "normalise_bunit", "normalise_header"]

_CUNIT_FIXES = {
    "KM/S": "km/s",
    "KM/SEC": "km/s",
    "M/S": "m/s",
    "M/SEC": "m/s",
    "HZ": "Hz",
    "KHZ": "kHz",
    "MHZ": "MHz",
    "GHZ": "GHz",
    "DEGREE": "deg",
    "DEGREES": "deg",
    "DEG": "deg",
}

_JY_BEAM_SPELLINGS = re.compile(
    r"^\s*(jy\s*/\s*beam|jy\s*\*?\s*beam\s*\*\*?\s*-1|jy\s*\*?\s*beam-1|beam-1\s*\*?\s*jy|"
    r"jy\s+beam-1|jy\s*/\s*bm)\s*$",
    re.IGNORECASE,
)


#: Size of the chunks `ImageData.read` converts at a time (bytes of float32 output).
_CHUNK_BYTES = 32 * 2**20
#: Size of the blocks the finite-value check at load reads at a time (plane by plane up to this).
_CHECK_BYTES = 4 * 2**20
#: FITS BITPIX -> on-disk dtype (FITS is big-endian).
_BITPIX_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


# ---------------------------------------------------------------- lazy arrays
def _is_duck_lazy(data):
    """True for a dask array or another lazy array (``compute`` or ``__dask_graph__``, with shape and dtype)."""
    return (
        not isinstance(data, np.ndarray)
        and hasattr(data, "shape")
        and hasattr(data, "dtype")
        and (hasattr(data, "__dask_graph__") or callable(getattr(data, "compute", None)))
    )


def _mmap_of(array):
    """The `mmap.mmap` whose memory ``array`` views, or None (an in-memory array)."""
    base = array
    while isinstance(base, np.ndarray | memoryview):
        base = base.obj if isinstance(base, memoryview) else base.base
    return base if isinstance(base, mmap.mmap) else None


def _memmap_mode(array):
    """The mode of the `numpy.memmap` ``array`` views (``'r'``, ``'c'``, ...), or None."""
    base = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap) and getattr(base, "mode", None):
            return base.mode
        base = base.base
    return None


def _is_lazy(data):
    """True if ``data`` is not an in-memory array: a file-backed (memory-mapped) array or a lazy array."""
    if isinstance(data, np.ndarray):
        return _mmap_of(data) is not None
    return _is_duck_lazy(data)


def _compute(block):
    """A block of a lazy array as an ndarray (computed if lazy)."""
    if _is_duck_lazy(block):
        block = block.compute()
    return np.asarray(block)


def _blocks(shape, itemsize, target):
    """Index tuples cutting a C-ordered array into contiguous blocks of at most ``target`` bytes.

    Blocks run along axis 0 (several planes at a time) when a plane fits in
    ``target``, else along the first axis whose trailing block fits (at least
    one row of the last axis).
    """
    ndim = len(shape)
    axis = 0
    while axis < ndim - 1 and math.prod(shape[axis + 1 :]) * itemsize > target:
        axis += 1
    step = max(1, target // max(1, math.prod(shape[axis + 1 :]) * itemsize))
    for outer in np.ndindex(*shape[:axis]):
        for start in range(0, shape[axis], step):
            yield outer + (slice(start, min(start + step, shape[axis])),)


def _lazy_blocks(data, target):
    """Slices along axis 0 of a lazy array, on its chunk boundaries, of about ``target`` bytes (one chunk at least).

    Whole chunks only: computing part of a chunk may compute the whole chunk.
    """
    n0 = data.shape[0]
    plane = math.prod(data.shape[1:]) * max(np.dtype(data.dtype).itemsize, 4)
    chunks = getattr(data, "chunks", None)
    if chunks and isinstance(chunks[0], tuple):  # dask / xarray: sizes of the chunks of each axis
        edges = np.cumsum((0,) + tuple(int(c) for c in chunks[0])).tolist()
    elif chunks and isinstance(chunks[0], int | np.integer):  # zarr-like: one chunk shape
        edges = list(range(0, n0, int(chunks[0]))) + [n0]
    else:
        edges = list(range(0, n0, max(1, target // max(plane, 1)))) + [n0]
    start = previous = edges[0]
    for edge in edges[1:]:
        if (edge - start) * plane > target and previous > start:
            yield (slice(start, previous),)
            start = previous
        previous = edge
    if previous > start:
        yield (slice(start, previous),)


def _byte_bounds(array):
    """(first, one past the last) memory address of ``array``'s elements."""
    low = high = array.__array_interface__["data"][0]
    for n, stride in zip(array.shape, array.strides, strict=True):
        if n == 0:
            return low, low
        if stride < 0:
            low += (n - 1) * stride
        else:
            high += (n - 1) * stride
    return low, high + array.itemsize


def _page_releaser(array):
    """A function ``release(view)`` that drops the pages of ``view`` (a part of ``array``) from this process.

    Only for a `numpy.memmap` whose mapping is shared with the file (modes
    ``r``, ``r+``, ``w+``): its pages are re-read from the file (page cache)
    when touched again, so no value is lost. A private (copy-on-write) mapping,
    an in-memory array or a platform without ``madvise`` gets a no-op.
    """
    mm = _mmap_of(array)
    shared = _memmap_mode(array) in ("r", "r+", "w+")
    if mm is None or not shared or _MADV_DONTNEED is None or not hasattr(mm, "madvise"):
        return lambda view: None
    try:
        base = np.frombuffer(mm, dtype=np.uint8).__array_interface__["data"][0]
    except (ValueError, TypeError, BufferError):  # pragma: no cover - closed or unexportable mapping
        return lambda view: None
    size = len(mm)
    page = mmap.PAGESIZE

    def release(view):
        low, high = _byte_bounds(view)
        start = (low - base) // page * page
        stop = min(high - base, size)
        if 0 <= start < stop:
            try:
                mm.madvise(_MADV_DONTNEED, start, stop - start)
            except (OSError, ValueError):  # pragma: no cover - advice refused: the pages just stay
                pass

    return release


def _read_float32(data):
    """``data`` (a memmap, a lazy array or any numeric array) as a new native float32 ndarray.

    Converted chunk by chunk into one preallocated array: the peak is the
    output plus one chunk, and the pages of a memory-mapped file are released
    once their chunk is converted.
    """
    out = np.empty(data.shape, dtype=np.float32)
    if out.size == 0:
        return out
    if _is_duck_lazy(data):
        for index in _lazy_blocks(data, _CHUNK_BYTES):
            out[index] = _compute(data[index])
        return out
    data = np.asanyarray(data)
    if data.ndim == 0:
        out[...] = data
        return out
    release = _page_releaser(data)
    for index in _blocks(data.shape, max(data.dtype.itemsize, 4), _CHUNK_BYTES):
        part = data[index]
        np.copyto(out[index], part, casting="unsafe")
        release(part)
    return out


def _is_loaded(data):
    """True for an in-memory (not file-backed) native-endian float32 ndarray."""
    return isinstance(data, np.ndarray) and data.dtype == np.float32 and data.dtype.isnative and _mmap_of(data) is None


def _any_finite(block):
    found = np.isfinite(block).any()
    if _is_duck_lazy(found):
        found = found.compute()
    return bool(found)


def _has_finite(data):
    """True if ``data`` hold a finite value; lazy data are read block by block up to the first finite one."""
    if np.dtype(data.dtype).kind in "iu":
        return data.size > 0
    if not _is_lazy(data):
        return bool(np.isfinite(data).any())
    if _is_duck_lazy(data):
        return any(_any_finite(data[index]) for index in _lazy_blocks(data, _CHECK_BYTES))
    release = _page_releaser(data)
    for index in _blocks(data.shape, data.dtype.itemsize, _CHECK_BYTES):
        part = data[index]
        found = bool(np.isfinite(part).any())
        release(part)
        if found:
            return True
    return False


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


def normalise_bunit(bunit):
    """Return an astropy unit for a FITS ``BUNIT`` string, fixing common radio spellings."""
    if bunit is None:
        return u.dimensionless_unscaled
    if isinstance(bunit, u.UnitBase):
        return bunit
    text = str(bunit).strip()
    if not text:
        return u.dimensionless_unscaled
    if _JY_BEAM_SPELLINGS.match(text):
        return u.Jy / u.beam
    try:
        return u.Unit(text, format="fits", parse_strict="raise")
    except ValueError:
        pass
    try:
        return u.Unit(text.replace("JY", "Jy").replace("BEAM", "beam"), parse_strict="raise")
    except ValueError:
        warnings.warn(
            f"unrecognised BUNIT {text!r}; treating the data as dimensionless", AstroMLFinderWarning, stacklevel=3
        )
        return u.dimensionless_unscaled


def _valid_beam(bmaj, bmin, bpa, source):
    """A beam dict from header values, or None with one warning naming them when they are not a beam.

    A beam needs finite, positive ``BMAJ`` and ``BMIN`` (``-1`` or ``0`` mean
    "no beam" in some writers, e.g. WSRT); a non-finite ``BPA`` becomes 0.
    """
    try:
        values = (float(bmaj), float(bmin))
    except (TypeError, ValueError):
        values = None
    if values is None or not all(math.isfinite(v) and v > 0 for v in values):
        warnings.warn(
            f"{source} BMAJ = {bmaj!r}, BMIN = {bmin!r} is not a valid beam (both must be finite and > 0); "
            "treating the data as having no beam (set BMAJ/BMIN in degrees to use one)",
            AstroMLFinderWarning,
            stacklevel=4,
        )
        return None
    try:
        pa = float(bpa)
    except (TypeError, ValueError):
        pa = 0.0
    return {"bmaj": values[0], "bmin": values[1], "bpa": pa if math.isfinite(pa) else 0.0}


def _beam_from_history(header):
    for card in header.get("HISTORY", []):
        text = str(card)
        m = re.search(r"BMAJ\s*=\s*([-+0-9.Ee]+)\s+BMIN\s*=\s*([-+0-9.Ee]+)\s+BPA\s*=\s*([-+0-9.Ee]+)", text)
        if m:
            return _valid_beam(m.group(1), m.group(2), m.group(3), "HISTORY")
    return None


def _beam_from_header(header):
    if header is None:
        return None
    if "BMAJ" in header or "BMIN" in header:
        return _valid_beam(header.get("BMAJ"), header.get("BMIN"), header.get("BPA", 0.0), "header")
    return _beam_from_history(header)


def normalise_header(header):
    """Return a copy of ``header`` with non-standard axis keywords fixed.

    Upper-case or non-standard ``CUNITn`` are translated; a missing ``CUNITn``
    on a ``VELO``/``FELO`` axis that HISTORY or convention says is in m/s is set
    explicitly; AIPS-style ``VELO-LSR``/``FELO-HEL`` types are translated into
    ``VRAD``/``VOPT`` with ``SPECSYS`` by wcslib's ``spcfix`` when the WCS is built.
    """
    header = header.copy()
    naxis = header.get("NAXIS", 0)
    if not isinstance(naxis, int | np.integer) or isinstance(naxis, bool) or naxis < 0:
        raise ValueError(f"header keyword NAXIS = {naxis!r} is not a number of axes: fix or remove it")
    for i in range(1, naxis + 1):
        for name in (f"CTYPE{i}", f"CUNIT{i}"):
            if name in header and not isinstance(header[name], str):
                raise ValueError(
                    f"header keyword {name} = {header[name]!r} is not a string: set it to the axis "
                    f"{'type' if name.startswith('CTYPE') else 'unit'} (e.g. "
                    f"{'RA---SIN, FREQ' if name.startswith('CTYPE') else 'deg, Hz, m/s'}) or remove it"
                )
        key = f"CUNIT{i}"
        if key in header:
            value = str(header[key]).strip()
            fixed = _CUNIT_FIXES.get(value.upper())
            if fixed is not None:
                header[key] = fixed
        ctype = str(header.get(f"CTYPE{i}", "")).upper()
        if key not in header and ctype[:4] in ("VELO", "FELO", "VRAD", "VOPT"):
            header[key] = "m/s"
        if key not in header and ctype[:4] == "FREQ":
            header[key] = "Hz"
    if "EPOCH" in header and "EQUINOX" not in header:
        try:
            header["EQUINOX"] = float(header["EPOCH"])
        except (TypeError, ValueError):
            pass
    return header


def _wcslib_message(exc):
    """wcslib's multi-line C message (``ERROR 3 in wcsset() at line 2868 ...``) as one sentence."""
    lines = [line.strip() for line in str(exc).splitlines()]
    text = [line.rstrip(".") for line in lines if line and not re.match(r"ERROR \d+ in \w+\(\)", line)]
    return "; ".join(dict.fromkeys(text)) or type(exc).__name__


def _build_wcs(header, naxis):
    from astropy.wcs import WCS, FITSFixedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header, naxis=naxis)
            try:
                wcs.fix(translate_units="sdh")
            except Exception:  # pragma: no cover - wcslib fix failures keep the unfixed WCS
                pass
            wcs.wcs.set()  # the errors of a WCS that cannot be used: now, not after the search
    except MemoryError:  # pragma: no cover
        raise
    except Exception as exc:
        message = _wcslib_message(exc)
        hint = "fix the header's WCS keywords (CTYPEn, CUNITn, CRVALn, CDELTn, CRPIXn, CDi_j/PCi_j)"
        if "rest frequency" in message.lower():
            hint = "add RESTFRQ (Hz) to the header"
        raise ValueError(f"the header's world coordinates are invalid ({message}): {hint}") from None
    return wcs


def _axis_type(ctype):
    ctype = ctype.upper()
    if ctype.startswith("STOKES"):
        return "stokes"
    if ctype[:4] in ("RA--", "DEC-", "GLON", "GLAT", "ELON", "ELAT", "SLON", "SLAT") or ctype in (
        "RA",
        "DEC",
    ):
        return "celestial"
    if ctype[:4] in ("FREQ", "VELO", "VRAD", "VOPT", "FELO", "ZOPT", "WAVE", "AWAV", "ENER", "VELOCITY"):
        return "spectral"
    return "other"


def _drop_degenerate_axes(data, header, wcs):
    """Drop length-1 axes beyond the first three; error on multi-plane Stokes.

    A length-1 spectral axis beside two celestial axes is dropped too: a
    continuum image written with ``NAXIS3 = 1`` (``FREQ``) is a 2D image, not a
    one-channel cube. Its frequency is kept in the header as ``FREQ`` (Hz)
    when the axis is a frequency axis (see `ImageData.frequency`).
    """
    if data.ndim < 3 and wcs is None:
        return data, header, wcs
    fits_ndim = data.ndim
    kinds = [_axis_type(wcs.wcs.ctype[a]) if wcs is not None and a < wcs.naxis else "" for a in range(fits_ndim)]
    image_plane = kinds.count("celestial") == 2 and all(
        data.shape[fits_ndim - 1 - a] == 1 for a in range(fits_ndim) if kinds[a] != "celestial"
    )
    frequency = None
    keep = []
    for fits_axis in range(fits_ndim):  # FITS order (0 = NAXIS1)
        length = data.shape[fits_ndim - 1 - fits_axis]
        ctype = wcs.wcs.ctype[fits_axis] if wcs is not None and fits_axis < wcs.naxis else ""
        kind = _axis_type(ctype)
        if kind == "stokes" and length > 1:
            raise ValueError(
                f"data have a STOKES axis with {length} planes (shape {data.shape}); "
                "select one Stokes plane (e.g. data[0]) before searching"
            )
        if length == 1 and (kind in ("stokes", "other") or fits_ndim > 3 or (image_plane and kind == "spectral")):
            if kind in ("celestial",):
                keep.append(fits_axis)
                continue
            if kind == "spectral" and wcs.wcs.ctype[fits_axis].upper().startswith("FREQ"):
                frequency = _axis_value_hz(wcs, fits_axis)
            continue
        keep.append(fits_axis)
    if len(keep) == fits_ndim:
        return data, header, wcs
    squeeze_axes = tuple(fits_ndim - 1 - a for a in range(fits_ndim) if a not in keep)
    # indexing, not squeeze: a view that stays a memmap (np.memmap.squeeze gives a plain ndarray), lazy for dask
    data = data[tuple(0 if axis in squeeze_axes else slice(None) for axis in range(fits_ndim))]
    if wcs is not None:
        wcs = wcs.sub([a + 1 for a in keep])
    if header is not None:
        header = _rebuild_axis_header(header, wcs, data, keep, fits_ndim)
        if frequency is not None and "FREQ" not in header:
            header["FREQ"] = (frequency, "[Hz] frequency of the dropped length-1 axis")
    return data, header, wcs


def _axis_value_hz(wcs, fits_axis):
    """World value (Hz) at pixel 0 of the frequency axis ``fits_axis`` of ``wcs``, or None."""
    try:
        value = wcs.sub([fits_axis + 1]).pixel_to_world_values(0.0)
        unit = u.Unit(wcs.wcs.cunit[fits_axis] or "Hz")
        value = float((float(np.asarray(value)) * unit).to_value(u.Hz))
    except (ValueError, TypeError, u.UnitsError):  # pragma: no cover - an unusable frequency axis
        return None
    return value if math.isfinite(value) else None


def _rebuild_axis_header(header, wcs, data, kept, old_ndim):
    """A copy of ``header`` whose axis keywords describe ``wcs`` (axes ``kept`` of the old header, in order).

    The keywords come from ``wcs.to_header()``, but each kept axis keeps its
    original ``CTYPEn`` card (e.g. ``VELO-HEL``, which wcslib's fix turns into
    ``VOPT``): the catalogue names its spectral column from it. ``CUNITn``
    stays as wcslib writes it, since ``CRVALn``/``CDELTn`` are written in
    that (SI) unit.
    """
    original = {}
    for new, old in enumerate(kept, start=1):
        if isinstance(header.get(f"CTYPE{old + 1}"), str):
            original[f"CTYPE{new}"] = header[f"CTYPE{old + 1}"]
    header = header.copy()
    for old in range(1, old_ndim + 1):
        for key in ("NAXIS", "CTYPE", "CRPIX", "CRVAL", "CDELT", "CUNIT", "CROTA"):
            header.remove(f"{key}{old}", ignore_missing=True, remove_all=True)
    for key in list(header.keys()):  # linear-transform and projection keywords of the old axes
        if re.fullmatch(r"(CD|PC)\d+_\d+|P[VS]\d+_\d+", key):
            header.remove(key, ignore_missing=True, remove_all=True)
    if wcs is not None:
        header.update(wcs.to_header())
        header.update(original)
    header["NAXIS"] = data.ndim
    for i, length in enumerate(data.shape[::-1], start=1):
        header[f"NAXIS{i}"] = length
    return header


def _reorder_axes(data, header, wcs):
    """Put a cube's axes in (spectral, lat, lon) numpy order (FITS: lon, lat, spectral), as spectral-cube does.

    A spectral axis stored as FITS axis 1 or 2 would otherwise be smoothed as
    if it were spatial. The data are transposed (a view: a memmap stays a
    memmap, dask stays lazy), the WCS is reordered with `~astropy.wcs.WCS.sub`
    and the header's axis keywords are rebuilt to match.
    """
    if wcs is None or data.ndim != 3 or wcs.naxis != 3:
        return data, header, wcs
    spec, lng, lat = wcs.wcs.spec, wcs.wcs.lng, wcs.wcs.lat
    if spec < 0 or lng < 0 or lat < 0 or (lng, lat, spec) == (0, 1, 2):
        return data, header, wcs
    order = [lng, lat, spec]  # new FITS axis i <- old FITS axis order[i]
    data = data.transpose(tuple(2 - a for a in order[::-1]))
    if isinstance(data, np.ndarray) and _mmap_of(data) is None:
        data = np.ascontiguousarray(data)
    wcs = wcs.sub([a + 1 for a in order])
    if header is not None:
        header = _rebuild_axis_header(header, wcs, data, order, 3)
    return data, header, wcs


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
