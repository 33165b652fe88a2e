"""FITS headers of SoFiA-style products: WCS cards, BUNIT, beam and the HISTORY block.

The headers follow SoFiA-2 2.5.1: the WCS and related keywords of the input
for the product's axes (reference pixels shifted for cut-outs), ``ORIGIN``,
``DATE``, ``BUNIT`` (SoFiA's unit strings), the beam, and the control
parameters as HISTORY cards in 70-character chunks.
"""

import datetime
import functools
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..core import _small
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


def _wcs_pairs(image, naxis):
    """WCS and related keywords of ``image`` for the first ``naxis`` axes, as ``[(key, value)]``."""
    source = image.header
    if source is None and image.wcs is not None:
        source = image.wcs.sub(naxis).to_header()
    if source is None:
        return []
    cards = {}
    for i in range(1, naxis + 1):
        for key in _WCS_KEYS:
            name = f"{key}{i}"
            if name in source:
                cards[name] = source[name]
    for i in range(1, naxis + 1):
        for j in range(1, naxis + 1):
            for key in (f"PC{i}_{j}", f"CD{i}_{j}", f"PC{i:03d}{j:03d}"):
                if key in source:
                    cards[key] = source[key]
    for key in _MISC_KEYS:
        if key in source:
            cards[key] = source[key]
    return list(cards.items())


def _shifted(pairs, naxis, crpix_shift):
    """``pairs`` with ``CRPIXi`` reduced by ``crpix_shift[i - 1]`` (a cut-out's origin)."""
    if crpix_shift is None:
        return list(pairs)
    shifts = {f"CRPIX{i}": shift for i, shift in enumerate(crpix_shift[:naxis], start=1)}
    return [(key, float(value) - shifts[key]) if key in shifts else (key, value) for key, value in pairs]


def _wcs_cards(image, naxis, crpix_shift=None):
    """WCS and related keywords of ``image`` for the first ``naxis`` axes (astropy header)."""
    header = fits.Header()
    for key, value in _shifted(_wcs_pairs(image, naxis), naxis, crpix_shift):
        header[key] = value
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


class _ProductHeader:
    """The cards of a product header as ``(key, value)`` pairs plus the HISTORY lines.

    `_write_fits` renders it with astropy's card formatting (each distinct card
    rendered once per process) instead of building an `astropy.io.fits.Header`,
    which costs milliseconds per file for the long HISTORY block (a run writes
    seven cubelet files per source); `to_astropy` gives the equivalent header.
    """

    __slots__ = ("cards", "history")

    def __init__(self, cards, history):
        self.cards = list(cards)
        self.history = tuple(history)

    def __setitem__(self, key, value):
        for i, (name, _) in enumerate(self.cards):
            if name == key:
                self.cards[i] = (key, value)
                return
        self.cards.append((key, value))

    def to_astropy(self):
        header = fits.Header()
        for key, value in self.cards:
            header[key] = value
        for line in self.history:
            header.add_history(line)
        return header


def _product_header(image, naxis, *, bunit, beam, history, obj_name=None, crpix_shift=None, wcs_pairs=None):
    """`_ProductHeader` of a product with ``naxis`` axes (what `_make_header` returns as astropy header).

    ``wcs_pairs`` is ``_wcs_pairs(image, naxis)`` when the caller has it (cubelets: once per run).
    """
    if wcs_pairs is None:
        wcs_pairs = _wcs_pairs(image, naxis)
    header = _ProductHeader(_shifted(wcs_pairs, naxis, crpix_shift), history)
    header["ORIGIN"] = _origin()
    header["DATE"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    header["BUNIT"] = bunit if bunit else " "
    if beam and image.beam:
        header["BMAJ"] = float(image.beam["bmaj"])
        header["BMIN"] = float(image.beam["bmin"])
        header["BPA"] = float(image.beam.get("bpa", 0.0))
    if obj_name is not None:
        header["OBJECT"] = str(obj_name)
    return header


def _make_header(image, naxis, *, bunit, beam, history, obj_name=None, crpix_shift=None):
    return _product_header(image, naxis, bunit=bunit, beam=beam, history=history, obj_name=obj_name,
                           crpix_shift=crpix_shift).to_astropy()


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
    """Write ``data`` with ``header`` (astropy `~astropy.io.fits.Header` or `_ProductHeader`) as the
    bytes of ``PrimaryHDU(data, header).writeto(path)``, atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        head = _fast_header_bytes(data, header) if isinstance(header, _ProductHeader) else None
        if head is None:
            if isinstance(header, _ProductHeader):
                header = header.to_astropy()
            hdu = fits.PrimaryHDU(data=data, header=header)
            if not _slab_writable(data):
                hdu.writeto(tmp)
                return Path(path)
            head = hdu.header.tostring().encode("ascii")
        _write_data(tmp, head, data)
    return Path(path)


#: FITS BITPIX of the data types `_fast_header_bytes` writes itself (astropy writes the others)
_BITPIX = {"uint8": 8, "int16": 16, "int32": 32, "int64": 64, "float32": -32, "float64": -64}


@functools.lru_cache(maxsize=8192, typed=True)
def _card(key, value, comment=""):
    return fits.Card(key, value, comment).image


@functools.lru_cache(maxsize=64)
def _history_block(lines):
    header = fits.Header()
    for line in lines:
        header.add_history(line)
    return header.tostring(endcard=False, padding=False)


def _fast_header_bytes(data, header):
    """The header block astropy writes for ``PrimaryHDU(data, header.to_astropy())``, or None for data
    it would write differently (other types, no data; astropy then writes)."""
    bitpix = _BITPIX.get(getattr(data, "dtype", np.dtype("O")).name)
    if bitpix is None or data.ndim == 0 or data.size == 0:
        return None
    try:
        cards = [_card(key, value) for key, value in header.cards]
    except TypeError:  # an unhashable value: no cache
        cards = [fits.Card(key, value).image for key, value in header.cards]
    parts = [_card("SIMPLE", True, "conforms to FITS standard"), _card("BITPIX", bitpix, "array data type"),
             _card("NAXIS", data.ndim, "number of array dimensions")]
    parts += [_card(f"NAXIS{i}", int(n)) for i, n in enumerate(reversed(data.shape), start=1)]
    parts += cards
    parts.append(_history_block(header.history))
    parts.append("END".ljust(80))
    text = "".join(parts)
    return (text + " " * (-len(text) % 2880)).encode("ascii")


def _slab_writable(data):
    return (getattr(data, "nbytes", 0) > _SLAB_WRITE_MIN and data.ndim >= 2 and data.flags.c_contiguous
            and data.dtype.kind in "iuf" and data.dtype.itemsize > 1 and data.dtype.name in
            ("int16", "int32", "int64", "float32", "float64"))


def _write_data(path, head, data):
    """Header block ``head``, then ``data`` big-endian (slab by slab: astropy swaps the whole array in
    place, which makes every page of a mostly empty, lazily allocated label cube resident), padded."""
    big = data.dtype.newbyteorder(">")
    with open(path, "wb") as fh:
        fh.write(head)
        if data.dtype.itemsize == 1 or data.dtype == big:
            fh.write(memoryview(np.ascontiguousarray(data)).cast("B"))
        elif (data.ndim == 3 and data.dtype.kind in "iu" and data.nbytes > _SLAB_WRITE_MIN
              and not _small.numba_not_worth_it(data.size)):  # a small cube's mask: the same bytes, no numba
            _write_sparse(fh, data, big)
        else:
            step = max(1, (4 * 2**20) // max(1, data[0].nbytes)) if data.ndim > 1 else data.shape[0]
            for i in range(0, data.shape[0], step):
                fh.write(data[i:i + step].astype(big).tobytes())
        pad = -data.nbytes % 2880
        if pad:
            fh.seek(len(head) + data.nbytes)
            fh.write(b"\0" * pad)
        else:
            fh.truncate(len(head) + data.nbytes)  # trailing zero planes skipped by _write_sparse


def _write_sparse(fh, data, big):
    """Write an integer cube (z, y, x) big-endian from ``fh``'s position, only the rows from the first to the
    last non-zero row of each plane: the zeros in between planes' row ranges are left as holes of the file,
    which read back as zeros (a label cube is mostly empty: no conversion, no copy into the page cache)."""
    from ._row_extents import row_extents

    start = fh.tell()
    plane = data[0].nbytes
    row = data[0, 0].nbytes
    for z, (y0, y1) in enumerate(row_extents(data).tolist()):
        if y0 >= 0:
            fh.seek(start + z * plane + y0 * row)
            fh.write(data[z, y0:y1 + 1].astype(big).tobytes())


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

