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
* integer data with ``BLANK`` become float32 with NaN.
"""

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS, FITSFixedWarning

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


@dataclass
class ImageData:
    """A normalised image or cube with its metadata.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 array, (z, y, x) for cubes or (y, x) for images; NaN marks
        blanked pixels.
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
    wcs: WCS | None = None
    header: fits.Header | None = None
    unit: u.UnitBase = field(default_factory=lambda: u.dimensionless_unscaled)
    beam: dict | None = None
    filename: str | None = None

    def read(self, slices=None):
        """Return the data (or the part ``slices`` selects) as a native-endian float32 `~numpy.ndarray`.

        Stages that compute on the pixel values call this instead of using
        ``data`` directly, which may be a lazy array (a FITS memmap or a dask
        array). In-memory native float32 data are returned as they are (no
        copy); anything else is converted into a new array.
        """
        data = self.data if slices is None else self.data[slices]
        if hasattr(data, "compute") and not isinstance(data, np.ndarray):  # dask array
            data = data.compute()
        if isinstance(data, np.ndarray) and data.dtype == np.float32 and data.dtype.isnative:
            return data if not isinstance(data, np.memmap) else np.array(data)
        return np.asarray(data, dtype=np.float32)

    @property
    def is_loaded(self):
        """True if ``data`` is an in-memory native-endian float32 array (not a memmap or dask array)."""
        data = self.data
        return (isinstance(data, np.ndarray) and not isinstance(data, np.memmap)
                and data.dtype == np.float32 and data.dtype.isnative)

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
    def has_spectral(self):
        """True if the WCS has a spectral axis (cubes only)."""
        return self.wcs is not None and self.ndim == 3 and self.wcs.wcs.spec >= 0

    @property
    def pixel_scale(self):
        """Celestial pixel size in degrees (mean of both axes), or None."""
        if not self.has_celestial:
            return None
        scales = np.abs(self.wcs.celestial.proj_plane_pixel_scales())
        return float(np.mean([s.to_value(u.deg) for s in scales]))

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
        warnings.warn(f"unrecognised BUNIT {text!r}; treating the data as dimensionless", AstropyWarning, stacklevel=3)
        return u.dimensionless_unscaled


def _beam_from_history(header):
    for card in header.get("HISTORY", []):
        text = str(card)
        m = re.search(r"BMAJ\s*=\s*([-+0-9.Ee]+)\s+BMIN\s*=\s*([-+0-9.Ee]+)\s+BPA\s*=\s*([-+0-9.Ee]+)", text)
        if m:
            return {"bmaj": float(m.group(1)), "bmin": float(m.group(2)), "bpa": float(m.group(3))}
    return None


def _beam_from_header(header):
    if header is None:
        return None
    if "BMAJ" in header and "BMIN" in header:
        try:
            return {
                "bmaj": float(header["BMAJ"]),
                "bmin": float(header["BMIN"]),
                "bpa": float(header.get("BPA", 0.0)),
            }
        except (TypeError, ValueError):
            return None
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
    for i in range(1, naxis + 1):
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


def _build_wcs(header, naxis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=naxis)
        try:
            wcs.fix(translate_units="sdh")
        except Exception:  # pragma: no cover - wcslib fix failures keep the unfixed WCS
            pass
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
    """Drop length-1 axes beyond the first three; error on multi-plane Stokes."""
    if data.ndim < 3 and wcs is None:
        return data, header, wcs
    fits_ndim = data.ndim
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
        if length == 1 and (kind in ("stokes", "other") or fits_ndim > 3):
            if kind in ("celestial",):
                keep.append(fits_axis)
            continue
        keep.append(fits_axis)
    if len(keep) == fits_ndim:
        return data, header, wcs
    squeeze_axes = tuple(fits_ndim - 1 - a for a in range(fits_ndim) if a not in keep)
    data = np.squeeze(data, axis=squeeze_axes)
    if wcs is not None:
        wcs = wcs.sub([a + 1 for a in keep])
    if header is not None:
        header = header.copy()
        for old in range(1, fits_ndim + 1):
            for key in ("NAXIS", "CTYPE", "CRPIX", "CRVAL", "CDELT", "CUNIT", "CROTA"):
                header.remove(f"{key}{old}", ignore_missing=True, remove_all=True)
        for key in list(header.keys()):  # linear-transform and projection keywords of the old axes
            if re.fullmatch(r"(CD|PC)\d+_\d+|P[VS]\d+_\d+", key):
                header.remove(key, ignore_missing=True, remove_all=True)
        if wcs is not None:
            header.update(wcs.to_header())
        header["NAXIS"] = data.ndim
        for i, length in enumerate(data.shape[::-1], start=1):
            header[f"NAXIS{i}"] = length
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


def _to_float32(data):
    data = np.asanyarray(data)
    if data.dtype.kind not in "biuf":
        raise ValueError(f"data must be numeric, got dtype {data.dtype}")
    if data.dtype.kind == "b":
        raise ValueError("data are boolean; pass the image or cube, not a mask")
    return np.asarray(data, dtype=np.float32)


def _from_array(data, header=None, wcs=None, unit=None, beam=None, filename=None):
    if isinstance(data, u.Quantity):
        unit = data.unit if unit is None else unit
        data = data.value
    if np.ma.isMaskedArray(data):
        data = np.ma.filled(data.astype(np.float32), np.nan)
    data = _to_float32(data)
    if header is not None and wcs is None:
        wcs = _build_wcs(header, naxis=data.ndim) if header.get("NAXIS", data.ndim) else None
        if wcs is not None and (not any(wcs.wcs.ctype) or wcs.naxis != data.ndim):
            wcs = None
    data, header, wcs = _drop_degenerate_axes(data, header, wcs)
    if data.ndim not in (2, 3):
        raise ValueError(
            f"data must be a 2D image (y, x) or a 3D cube (z, y, x); got {data.ndim}D with shape {data.shape}"
        )
    if wcs is not None and wcs.naxis != data.ndim:
        raise ValueError(f"the WCS has {wcs.naxis} axes but the data have {data.ndim}")
    if not np.isfinite(data).any():
        raise ValueError(f"data contain no finite values (shape {data.shape}): all pixels are NaN or Inf")
    if unit is None:
        unit = normalise_bunit(header.get("BUNIT") if header is not None else None)
    if beam is None:
        beam = _beam_from_header(header)
    return ImageData(data=data, wcs=wcs, header=header, unit=unit, beam=beam, filename=filename)


def _read_fits(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    try:
        with fits.open(path, memmap=False) as hdul:
            hdul.verify("silentfix")
            return _from_hdu(hdul, filename=str(path))
    except (OSError, TypeError) as exc:
        raise ValueError(f"cannot read {path} as FITS: {exc}") from exc
    except ValueError as exc:
        if "cannot reshape" in str(exc) or "buffer" in str(exc):
            raise ValueError(f"cannot read {path} as FITS: the file is truncated or corrupt ({exc})") from exc
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
    elif isinstance(data, NDData):
        arr = np.asarray(data.data)
        if data.mask is not None:
            arr = np.where(np.asarray(data.mask, dtype=bool), np.nan, arr.astype(np.float32))
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
    else:
        if isinstance(data, list | tuple):
            data = np.asarray(data)
        if not isinstance(data, np.ndarray):
            raise TypeError(
                f"unsupported input type {type(data).__name__}: pass an ndarray, Quantity, NDData, "
                "FITS HDU, FITS path or SpectralCube"
            )
        image = _from_array(data)
    if wcs is not None:
        if wcs.naxis != image.ndim:
            raise ValueError(f"the WCS has {wcs.naxis} axes but the data have {image.ndim}")
        image = ImageData(image.data, wcs, image.header, image.unit, image.beam, image.filename)
    if unit is not None:
        image = ImageData(image.data, image.wcs, image.header, u.Unit(unit), image.beam, image.filename)
    return image
