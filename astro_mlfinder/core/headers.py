"""FITS headers as found in radio data, normalised before a WCS is built.

Fixes AIPS/Miriad spectral types, NCP projections and non-standard ``CUNITn``
(`normalise_header`), radio ``BUNIT`` spellings (`normalise_bunit`), beams
that are missing, in HISTORY or invalid, and the axes of the cube: a
degenerate STOKES or FREQ axis is dropped, a spectral axis that is not the
third FITS axis is moved there (`_drop_degenerate_axes`, `_reorder_axes`).
"""

import math
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np
from astropy import units as u

from ._lazy import _mmap_of
from .exceptions import AstroMLFinderWarning

if TYPE_CHECKING:  # astropy.wcs is imported when a WCS is built: it is slow to import
    pass


__all__ = ["normalise_bunit", "normalise_header"]

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
