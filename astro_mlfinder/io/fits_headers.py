"""FITS headers of SoFiA-style products: WCS cards, BUNIT, beam and the HISTORY block.

The headers follow SoFiA-2 2.5.1: the WCS and related keywords of the input
for the product's axes (reference pixels shifted for cut-outs), ``ORIGIN``,
``DATE``, ``BUNIT`` (SoFiA's unit strings), the beam, and the control
parameters as HISTORY cards in 70-character chunks.
"""

import datetime
from pathlib import Path

from astropy.io import fits

from .atomic import atomic_path
from .sofia_catalog import _default_creator, _param_strings, _sanitise
from .sofia_units import sofia_unit_string

__all__ = []

_WCS_KEYS = ("CTYPE", "CRPIX", "CDELT", "CRVAL", "CUNIT", "CROTA")
_MISC_KEYS = ("RESTFREQ", "RESTFRQ", "VELREF", "SPECSYS", "SPECSYS1", "SPECSYS2", "SPECSYS3",
              "EQUINOX", "EPOCH", "RADESYS", "LONPOLE", "LATPOLE")  # fmt: skip
_JY_BEAM = ("JY/BEAM", "Jy/Beam", "Jy*beam-1", "beam-1*Jy")


def _origin():
    return _default_creator()


def _normalise_bunit_text(text):
    text = str(text).strip().replace(" ", "*")
    return "Jy/beam" if text in _JY_BEAM else text


def _bunit(image):
    text = sofia_unit_string(image.unit)
    if not text and image.header is not None and str(image.header.get("BUNIT", "")).strip():
        text = _normalise_bunit_text(image.header["BUNIT"])
    return text


def _wcs_cards(image, naxis, crpix_shift=None):
    """WCS and related keywords of ``image`` for the first ``naxis`` axes."""
    header = fits.Header()
    source = image.header
    if source is None and image.wcs is not None:
        source = image.wcs.sub(naxis).to_header()
    if source is None:
        return header
    for i in range(1, naxis + 1):
        for key in _WCS_KEYS:
            name = f"{key}{i}"
            if name in source:
                header[name] = source[name]
    for i in range(1, naxis + 1):
        for j in range(1, naxis + 1):
            for key in (f"PC{i}_{j}", f"CD{i}_{j}", f"PC{i:03d}{j:03d}"):
                if key in source:
                    header[key] = source[key]
    for key in _MISC_KEYS:
        if key in source:
            header[key] = source[key]
    if crpix_shift is not None:
        for i, shift in enumerate(crpix_shift[:naxis], start=1):
            if f"CRPIX{i}" in header:
                header[f"CRPIX{i}"] = float(header[f"CRPIX{i}"]) - shift
    return header


def _history_lines(params):
    strings = _param_strings(params)
    if strings is None:
        return []
    title = "SoFiA control parameters" if hasattr(params, "to_strings") else "control parameters"
    lines = [f"  {title}"]
    for key, value in strings.items():
        lines.extend(_history_cards(_sanitise(f"{key} = {value}")))
    return lines


def _history_cards(text, width=70):
    """Split one HISTORY entry as SoFiA's ``Header_comment`` does: 70-character chunks, each on
    its own card after the 10-character key field (astropy reads the two padding blanks back)."""
    chunks = [text[i : i + width] for i in range(0, len(text), width)] or [""]
    return [f"  {chunk}" for chunk in chunks]


def _make_header(image, naxis, *, bunit, beam, history, obj_name=None, crpix_shift=None):
    header = _wcs_cards(image, naxis, crpix_shift=crpix_shift)
    header["ORIGIN"] = _origin()
    header["DATE"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    header["BUNIT"] = bunit if bunit else " "
    if beam and image.beam:
        header["BMAJ"] = float(image.beam["bmaj"])
        header["BMIN"] = float(image.beam["bmin"])
        header["BPA"] = float(image.beam.get("bpa", 0.0))
    if obj_name is not None:
        header["OBJECT"] = str(obj_name)
    for line in history:
        header.add_history(line)
    return header


def _filtered_header(image, history):
    """The input header (data keywords removed) plus the HISTORY block, as SoFiA keeps it."""
    if image.header is None:
        return _make_header(image, image.ndim, bunit=_bunit(image), beam=True, history=history)
    header = image.header.copy()
    for key in (
        "SIMPLE",
        "BITPIX",
        "NAXIS",
        "EXTEND",
        "BSCALE",
        "BZERO",
        "BLANK",
        "XTENSION",
        "PCOUNT",
        "GCOUNT",
        "CHECKSUM",
        "DATASUM",
    ):
        header.remove(key, ignore_missing=True, remove_all=True)
    for i in range(1, 10):
        header.remove(f"NAXIS{i}", ignore_missing=True, remove_all=True)
    for line in history:
        header.add_history(line)
    return header



#: Arrays larger than this (bytes) are written slab by slab by `_write_fits`.
_SLAB_WRITE_MIN = 16 * 2**20


def _write_fits(path, data, header, overwrite):
    with atomic_path(path, overwrite=overwrite) as tmp:
        hdu = fits.PrimaryHDU(data=data, header=header)
        if _slab_writable(data):
            _write_slabs(tmp, hdu.header, data)
        else:
            hdu.writeto(tmp)
    return Path(path)


def _slab_writable(data):
    return (getattr(data, "nbytes", 0) > _SLAB_WRITE_MIN and data.ndim >= 2 and data.flags.c_contiguous
            and data.dtype.kind in "iuf" and data.dtype.itemsize > 1 and data.dtype.name in
            ("int16", "int32", "int64", "float32", "float64"))


def _write_slabs(path, header, data):
    """The bytes of ``PrimaryHDU(data, header).writeto(path)``, the data converted to big-endian
    slab by slab (astropy swaps the whole array in place, which makes every page of a mostly
    empty, lazily allocated label cube resident)."""
    big = data.dtype.newbyteorder(">")
    step = max(1, (4 * 2**20) // max(1, data[0].nbytes))
    with open(path, "wb") as fh:
        fh.write(header.tostring().encode("ascii"))
        for i in range(0, data.shape[0], step):
            fh.write(data[i:i + step].astype(big).tobytes())
        pad = -data.nbytes % 2880
        if pad:
            fh.write(b"\0" * pad)


def _param_flag(params, key, default):
    """A boolean SoFiA setting from SofiaParameters or a plain mapping (bools or SoFiA strings)."""
    if params is None:
        return default
    try:
        value = params[key]
    except (KeyError, ValueError):
        return default
    if isinstance(value, str):
        return value.strip() == "true"
    return bool(value)


def _resolve_params(catalog, params):
    """SofiaParameters (or a plain mapping) for the HISTORY block and the VOTable PARAMs."""
    if params is not None:
        return params
    meta = getattr(catalog, "meta", {}) or {}
    if meta.get("sofia_params") is not None:
        return meta["sofia_params"]
    finder = meta.get("finder")
    if isinstance(finder, dict):
        kwargs = finder.get("params", finder)
        if finder.get("class") == "ClassicalFinder" or finder.get("name") == "classical":
            from .sofia_par import finder_kwargs_to_par

            try:
                return finder_kwargs_to_par({k: v for k, v in kwargs.items()})
            except (ValueError, TypeError):
                pass
        if isinstance(kwargs, dict):
            return {f"{finder.get('name', 'finder')}.{k}": v for k, v in kwargs.items()}
    return None

