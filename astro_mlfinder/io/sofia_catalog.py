"""SoFiA-2 catalogue formats: plain text, VOTable, SQL and Karma annotations.

The writers reproduce the files of SoFiA-2 2.5.1 byte for byte (apart from
the creation time): the plain-text catalogue with its 17 comment lines, three
header rows, the quoted name right-aligned in 28 characters and 14-character
columns; the VOTable 1.3 with the same RESOURCE/PARAM/TABLE/FIELD structure,
units, UCDs and datatypes; the MySQL table and the Karma annotation file.

The input is an `~astropy.table.Table` or `~astropy.table.QTable` with SoFiA
column names in SoFiA order (``name, id, x, y, z, x_min, ...``, see
`SOFIA_COLUMN_SPECS`), e.g. ``catalog.to_table(columns='sofia')``; columns
may be Quantities.  Integer columns (``id``, bounding box, ``n_pix``,
``flag``, peaks) are written with ``%ld``, all others as doubles.

The readers are in `astro_mlfinder.io.sofia_reader`, the unit strings in
`astro_mlfinder.io.sofia_units`.
"""

import math
import time
import warnings
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from astropy import units as u

from ..config import version
from ..core.columns import SOFIA_SPECTRAL_NAMES
from ..core.exceptions import AstroMLFinderWarning
from .atomic import write_text
from .sofia_units import parse_sofia_unit, sofia_unit_string

__all__ = [
    "SOFIA_CREATOR",
    "SOFIA_COLUMN_SPECS",
    "SOFIA_SPECTRAL_NAMES",
    "write_sofia_ascii",
    "write_sofia_xml",
    "write_sofia_sql",
    "write_karma",
]

#: The ``Creator`` of the SoFiA-2 version whose formats are reproduced.
SOFIA_CREATOR = "SoFiA 2.5.1 (16-Mar-2023)"
_VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"
_COLUMN_WIDTH = 14

#: SoFiA-2 catalogue columns: name -> (VOTable datatype, UCD).
SOFIA_COLUMN_SPECS = {
    "name": ("char", "meta.id"),
    "id": ("long", "meta.id"),
    "x": ("double", "pos.cartesian.x"),
    "y": ("double", "pos.cartesian.y"),
    "z": ("double", "pos.cartesian.z"),
    "x_min": ("long", "pos.cartesian.x;stat.min"),
    "x_max": ("long", "pos.cartesian.x;stat.max"),
    "y_min": ("long", "pos.cartesian.y;stat.min"),
    "y_max": ("long", "pos.cartesian.y;stat.max"),
    "z_min": ("long", "pos.cartesian.z;stat.min"),
    "z_max": ("long", "pos.cartesian.z;stat.max"),
    "n_pix": ("long", "meta.number;instr.pixel"),
    "f_min": ("double", "phot.flux.density;stat.min"),
    "f_max": ("double", "phot.flux.density;stat.max"),
    "f_sum": ("double", "phot.flux"),
    "rel": ("double", "stat.probability"),
    "flag": ("long", "meta.code.qual"),
    "fill": ("double", "stat.filling"),
    "mean": ("double", "phot.flux.density;stat.mean"),
    "std": ("double", "phot.flux.density;stat.stdev"),
    "skew": ("double", "stat.param"),
    "kurt": ("double", "stat.param"),
    "rms": ("double", "instr.det.noise"),
    "w20": ("double", "spect.line.width"),
    "w50": ("double", "spect.line.width"),
    "wm50": ("double", "spect.line.width"),
    "ell_maj": ("double", "phys.angSize"),
    "ell_min": ("double", "phys.angSize"),
    "ell_pa": ("double", "pos.posAng"),
    "ell3s_maj": ("double", "phys.angSize"),
    "ell3s_min": ("double", "phys.angSize"),
    "ell3s_pa": ("double", "pos.posAng"),
    "kin_pa": ("double", "pos.posAng"),
    "err_x": ("double", "stat.error;pos.cartesian.x"),
    "err_y": ("double", "stat.error;pos.cartesian.y"),
    "err_z": ("double", "stat.error;pos.cartesian.z"),
    "err_f_sum": ("double", "stat.error;phot.flux"),
    "x_peak": ("long", "pos.cartesian.x"),
    "y_peak": ("long", "pos.cartesian.y"),
    "z_peak": ("long", "pos.cartesian.z"),
}
#: Spectral world-coordinate column names by the first four letters of CTYPE, as SoFiA-2
#: names them; any other spectral type is ``spec``.
# world-coordinate columns, named after the WCS axis types as SoFiA does
_WORLD_UCDS = {
    "ra": "pos.eq.ra",
    "dec": "pos.eq.dec",
    "l": "pos.galactic.lon",
    "b": "pos.galactic.lat",
    "lon": "",
    "lat": "",
    "freq": "em.freq",
    "v_rad": "spect.dopplerVeloc.radio",
    "v_opt": "spect.dopplerVeloc.opt",
    "v_app": "spect.dopplerVeloc",
    "spec": "",
}
for _name, _ucd in _WORLD_UCDS.items():
    SOFIA_COLUMN_SPECS[_name] = ("double", _ucd)
    SOFIA_COLUMN_SPECS[_name + "_peak"] = ("double", _ucd)
del _name, _ucd



# --------------------------------------------------------------------------- helpers
def _time_string():
    return time.strftime("%a, %d %b %Y, %H:%M:%S", time.localtime())


def _default_creator():
    return f"astro_mlfinder {version}"


def _column_type(table, name):
    """'char', 'long' or 'double' for a column of ``table``."""
    col = table[name]
    datatype = (col.info.meta or {}).get("datatype")
    if datatype in ("char", "long", "double"):
        return datatype
    if name in SOFIA_COLUMN_SPECS:
        return SOFIA_COLUMN_SPECS[name][0]
    kind = np.asarray(getattr(col, "value", col)).dtype.kind
    if kind in "biu":
        return "long"
    if kind in "US O":
        return "char"
    return "double"


def _column_ucd(table, name):
    meta = table[name].info.meta or {}
    if meta.get("ucd") is not None:
        return meta["ucd"]
    return SOFIA_COLUMN_SPECS.get(name, ("", ""))[1]


def _column_unit(table, name):
    col = table[name]
    unit = getattr(col, "unit", None)
    if (
        name in ("mean", "std")
        and unit in (None, u.dimensionless_unscaled)
        and "f_min" in table.colnames
        and "sofia_unit" not in (col.info.meta or {})
    ):
        # SoFiA-2 labels mean and std with BUNIT although they are in units of the
        # global rms (sofia2.md section 8); the label is copied so files match SoFiA's.
        return _column_unit(table, "f_min")
    text = (col.info.meta or {}).get("sofia_unit")
    # keep SoFiA's own spelling read from a file, unless the unit has changed since
    if text is not None and parse_sofia_unit(text) == (
        None if unit == u.dimensionless_unscaled else unit
    ):
        return text
    return sofia_unit_string(unit)


def _values(table, name):
    col = table[name]
    values = col.value if isinstance(col, u.Quantity) else np.asarray(col)
    if np.ma.isMaskedArray(values):
        values = values.filled(np.nan if values.dtype.kind == "f" else 0)
    return values


def _prepare(table):
    """Return (names, types, units, ucds, rows) for the catalogue columns after ``name``."""
    if "name" in table.colnames:
        idents = [str(v) for v in _values(table, "name")]
    elif "id" in table.colnames:
        idents = [str(int(v)) for v in _values(table, "id")]
    else:
        raise ValueError("the catalogue table needs a 'name' or an 'id' column")
    names = [n for n in table.colnames if n != "name"]
    for name in names:
        if np.ndim(table[name]) != 1 or hasattr(table[name], "frame"):
            raise ValueError(
                f"column {name!r} is not a plain 1-D column; SoFiA catalogues hold "
                "numbers only (split SkyCoord columns into ra/dec)"
            )
    types = [_column_type(table, n) for n in names]
    units = [_column_unit(table, n) for n in names]
    ucds = [_column_ucd(table, n) for n in names]
    columns = []
    for name, kind in zip(names, types, strict=True):
        values = _values(table, name)
        if kind == "long":
            values = np.asarray(values)
            if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
                raise ValueError(f"integer column {name!r} holds non-finite values")
            values = values.astype(np.int64)
        else:
            values = np.asarray(values, dtype=np.float64)
        columns.append(values)
    rows = [(idents[i], [c[i] for c in columns]) for i in range(len(idents))]
    return names, types, units, ucds, rows


def _fmt_ascii(value, kind):
    if kind == "long":
        return f"{int(value):{_COLUMN_WIDTH}d}"
    value = float(value)
    if value != 0.0 and (abs(value) >= 1.0e4 or abs(value) < 1.0e-3):
        return f"{value:{_COLUMN_WIDTH}.5e}"
    return f"{value:{_COLUMN_WIDTH}.6f}"


def _fmt_exact(value, kind):
    if kind == "long":
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.15e}"


def _sanitise(text):
    """Replace non-printable/non-ASCII characters by '#', as SoFiA does."""
    return "".join(c if " " <= c <= "~" else "#" for c in str(text))


def _param_strings(params):
    if params is None:
        return None
    if hasattr(params, "to_strings"):
        return params.to_strings()
    if isinstance(params, Mapping):
        out = {}
        for key, value in params.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif value is None:
                value = ""
            elif isinstance(value, list | tuple):
                value = ", ".join(str(v) for v in value)
            out[str(key)] = str(value)
        return out
    raise TypeError(f"params must be SofiaParameters or a mapping, got {type(params).__name__}")


# --------------------------------------------------------------------------- writers
def write_sofia_ascii(table, path, *, creator=None, overwrite=False):
    """Write ``table`` as a SoFiA-2 plain-text catalogue (``_cat.txt``).

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
        SoFiA columns in SoFiA order (``name`` first).
    path : str or path-like
        Destination (written atomically).
    creator : str, optional
        Text of the ``# Creator:`` line; default ``'astro_mlfinder <version>'``
        (use `SOFIA_CREATOR` to reproduce SoFiA's files exactly).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : `~pathlib.Path`
    """
    creator = creator or _default_creator()
    names, types, units, _, rows = _prepare(table)
    w = _COLUMN_WIDTH
    lines = [
        "# SoFiA source catalogue",
        f"# Creator: {creator}",
        f"# Time:    {_time_string()}",
        "#",
        "# Note that the plain-text catalogue is solely intended for",
        "# visual inspection and should not be used for quantitative",
        "# analysis due to limited precision and the lack of Unified",
        "# Content Descriptors.  The XML catalogue should instead be",
        "# imported into Python or VO-compatible software to analyse",
        "# the source parameters measured by SoFiA, e.g. through the",
        "# astropy.io.votable module of Astropy.",
        "#",
        "# Header rows:",
        "#   1 = column number",
        "#   2 = parameter name",
        "#   3 = parameter unit",
        "#",
        "#" + f"{1:{2 * w}d}" + "".join(f"{j + 2:{w}d}" for j in range(len(names))),
        "#" + f"{'name':>{2 * w}}" + "".join(f"{n:>{w}}" for n in names),
        "#" + f"{'-':>{2 * w}}" + "".join(f"{(un or '-'):>{w}}" for un in units),
        "",
    ]
    for ident, values in rows:
        quoted = f'"{ident}"'
        lines.append(
            " "
            + f"{quoted:>{2 * w}}"
            + "".join(_fmt_ascii(v, k) for v, k in zip(values, types, strict=True))
        )
    return write_text(path, "\n".join(lines) + "\n", overwrite)


def write_sofia_xml(table, path, *, params=None, creator=None, overwrite=False):
    """Write ``table`` as a SoFiA-2 VOTable 1.3 catalogue (``_cat.xml``).

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
        SoFiA columns in SoFiA order (``name`` first).
    path : str or path-like
        Destination (written atomically).
    params : `~astro_mlfinder.sofia.SofiaParameters` or mapping, optional
        Control parameters, written as ``PARAM`` elements (``ucd='meta.note'``)
        as SoFiA does; omitted when None.
    creator : str, optional
        Value of the ``Creator`` PARAM; default ``'astro_mlfinder <version>'``.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : `~pathlib.Path`
    """
    creator = creator or _default_creator()
    names, types, units, ucds, rows = _prepare(table)
    if creator.startswith("SoFiA "):
        version = creator.split()[1]
        description = (
            f"Source catalogue created by the Source Finding Application (SoFiA {version})"
        )
    else:
        description = f"Source catalogue created by {creator}"
    t = "\t"
    out = [
        '<?xml version="1.0" ?>',
        '<VOTABLE version="1.3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns="{_VOTABLE_NS}">',
        f"{t}<RESOURCE>",
        f"{t * 2}<DESCRIPTION>{escape(description)}</DESCRIPTION>",
        f'{t * 2}<PARAM name="Time" datatype="char" arraysize="*" '
        f'value={quoteattr(_time_string())} ucd="time.creation"/>',
        f'{t * 2}<PARAM name="Creator" datatype="char" arraysize="*" value={quoteattr(creator)} '
        'ucd="meta.id;meta.software"/>',
    ]
    strings = _param_strings(params)
    if strings:
        for key, value in strings.items():
            out.append(
                f'{t * 2}<PARAM name={quoteattr(_sanitise(key))} datatype="char" arraysize="*" '
                f'value={quoteattr(_sanitise(value))} ucd="meta.note"/>'
            )
    out.append(f'{t * 2}<TABLE ID="SoFiA_source_catalogue" name="SoFiA source catalogue">')
    out.append(f'{t * 3}<FIELD arraysize="32" datatype="char" name="name" unit="" ucd="meta.id"/>')
    for name, kind, unit, ucd in zip(names, types, units, ucds, strict=True):
        kind = "long" if kind == "long" else "double"
        out.append(
            f'{t * 3}<FIELD datatype="{kind}" name={quoteattr(name)} unit={quoteattr(unit)} '
            f"ucd={quoteattr(ucd)}/>"
        )
    out += [f"{t * 3}<DATA>", f"{t * 4}<TABLEDATA>"]
    for ident, values in rows:
        out.append(f"{t * 5}<TR>")
        out.append(f"{t * 6}<TD>{escape(ident)}</TD>")
        out.extend(
            f"{t * 6}<TD>{_fmt_exact(v, k)}</TD>" for v, k in zip(values, types, strict=True)
        )
        out.append(f"{t * 5}</TR>")
    out += [
        f"{t * 4}</TABLEDATA>",
        f"{t * 3}</DATA>",
        f"{t * 2}</TABLE>",
        f"{t}</RESOURCE>",
        "</VOTABLE>",
    ]
    return write_text(path, "\n".join(out) + "\n", overwrite)


def write_sofia_sql(table, path, *, creator=None, overwrite=False):
    """Write ``table`` as SoFiA-2's MySQL catalogue (``_cat.sql``).

    Creates the table ```SoFiA-Catalogue``` (if it does not exist) and
    inserts all rows in one statement, as SoFiA does.

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
    path : str or path-like
    creator : str, optional
        Text of the ``-- Creator:`` line.
    overwrite : bool, optional

    Returns
    -------
    path : `~pathlib.Path`
    """
    creator = creator or _default_creator()
    names, types, _, _, rows = _prepare(table)
    version = creator.split()[1] if creator.startswith("SoFiA ") else creator
    out = [
        "-- SoFiA source catalogue",
        f"-- Creator: {creator}",
        f"-- Time:    {_time_string()}",
        "",
        'SET SQL_MODE = "NO_AUTO_VALUE_ON_ZERO";',
        "",
        "CREATE TABLE IF NOT EXISTS `SoFiA-Catalogue` (",
        "\t`name` VARCHAR(255) NOT NULL,",
    ]
    for name, kind in zip(names, types, strict=True):
        sql_type = "INTEGER" if kind == "long" else "DOUBLE PRECISION"
        out.append(f"\t`{name}` {sql_type} NOT NULL,")
    out += [
        "\tPRIMARY KEY (`id`),",
        "\tKEY (`id`)",
        f") COMMENT='SoFiA source catalogue; created with SoFiA version {version}';",
        "",
    ]
    if rows:  # an INSERT without values is not valid SQL
        out.append(
            "INSERT INTO `SoFiA-Catalogue` ("
            + ", ".join(f"`{n}`" for n in ["name", *names])
            + ") VALUES"
        )
    for i, (ident, values) in enumerate(rows):
        ident = ident.replace("'", "''")
        cells = ", ".join(_fmt_exact(v, k) for v, k in zip(values, types, strict=True))
        end = ")," if i + 1 < len(rows) else ");"
        out.append(f"('{ident}', {cells}{end}")
    return write_text(path, "\n".join(out) + "\n", overwrite)


def write_karma(table, path, *, creator=None, overwrite=False):
    """Write a Karma annotation file (``_cat.ann``) with a text label per source.

    Positions come from the ``ra``/``dec``, ``l``/``b`` or ``lon``/``lat``
    columns (degrees); each label is the row number (1..N), as in SoFiA.
    Without sky coordinates only the header is written and a warning issued,
    again as SoFiA does.

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
    path : str or path-like
    creator : str, optional
    overwrite : bool, optional

    Returns
    -------
    path : `~pathlib.Path`
    """
    creator = creator or _default_creator()
    out = [
        "# KARMA annotation file",
        f"# Creator: {creator}",
        f"# Time:    {_time_string()}",
        "#",
        "COORD W",
        "PA STANDARD",
        "COLOR GREEN",
        "",
    ]
    for lon_name, lat_name in (("ra", "dec"), ("l", "b"), ("lon", "lat")):
        if lon_name in table.colnames and lat_name in table.colnames:
            lon = table[lon_name]
            lat = table[lat_name]
            lon = (
                lon.to_value(u.deg) if isinstance(lon, u.Quantity) else np.asarray(lon, dtype=float)
            )
            lat = (
                lat.to_value(u.deg) if isinstance(lat, u.Quantity) else np.asarray(lat, dtype=float)
            )
            out.extend(
                f"TEXT W {a:e} {b:e} {i + 1}" for i, (a, b) in enumerate(zip(lon, lat, strict=True))
            )
            break
    else:
        if len(table):
            warnings.warn(
                "no sky coordinates (ra/dec, l/b or lon/lat) in the catalogue; the Karma "
                "annotation file holds no sources",
                AstroMLFinderWarning,
                stacklevel=2,
            )
    return write_text(path, "\n".join(out) + "\n", overwrite)
