"""Readers of SoFiA-2 catalogues: the VOTable (`read_sofia_xml`) and the plain text (`read_sofia_ascii`).

Both return a `~astropy.table.QTable` (not masked) with units parsed from
SoFiA's unit strings (`~astro_mlfinder.io.sofia_units.parse_sofia_unit`).
"""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from astropy import units as u

from .sofia_catalog import SOFIA_COLUMN_SPECS
from .sofia_units import parse_sofia_unit

__all__ = ["read_sofia_xml", "read_sofia_ascii"]


def _make_column(values, kind, unit):
    if kind == "char":
        return np.array(values, dtype=str)
    dtype = np.int64 if kind == "long" else np.float64
    array = np.array(values, dtype=dtype) if values else np.zeros(0, dtype=dtype)
    if unit is None:
        return array
    return u.Quantity(array, unit, dtype=dtype, copy=False)


def read_sofia_xml(path):
    """Read a SoFiA-2 VOTable catalogue.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    table : `~astropy.table.QTable`
        One column per FIELD (not masked): ``name`` as str, ``long`` fields as
        int64, ``double`` fields as float64; fields with a unit are
        Quantities.  Each column's ``info.meta`` holds ``ucd``, ``datatype``
        and the original ``sofia_unit`` string; ``table.meta`` holds every
        PARAM (``Time``, ``Creator`` and the control parameters) under
        ``'params'`` and the DESCRIPTION.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path} is not a valid XML file: {exc}") from None

    def local(tag):
        return tag.rsplit("}", 1)[-1]

    resource = next((e for e in root.iter() if local(e.tag) == "RESOURCE"), None)
    table_el = next((e for e in root.iter() if local(e.tag) == "TABLE"), None)
    if resource is None or table_el is None:
        raise ValueError(f"{path} holds no VOTable RESOURCE/TABLE")
    params = {e.get("name"): e.get("value", "") for e in resource if local(e.tag) == "PARAM"}
    description = next((e.text for e in resource if local(e.tag) == "DESCRIPTION"), None)
    fields = [e for e in table_el if local(e.tag) == "FIELD"]
    rows = [
        [(td.text or "") for td in tr if local(td.tag) == "TD"]
        for tr in table_el.iter()
        if local(tr.tag) == "TR"
    ]
    for number, row in enumerate(rows, start=1):
        if len(row) != len(fields):
            raise ValueError(f"{path}: row {number} has {len(row)} cells for {len(fields)} fields")
    from astropy.table import QTable  # imported on first use: slow to import

    table = QTable(meta={"params": params, "description": description})
    for j, field in enumerate(fields):
        name = field.get("name")
        datatype = field.get("datatype", "double")
        kind = (
            "char"
            if datatype in ("char", "unicodeChar")
            else ("long" if datatype in ("long", "int", "short", "unsignedByte") else "double")
        )
        unit_text = field.get("unit", "")
        column = [row[j].strip() if kind != "char" else row[j] for row in rows]
        if kind == "long":
            column = [int(v) for v in column]
        elif kind == "double":
            column = [float(v) for v in column]
        table[name] = _make_column(
            column, kind, parse_sofia_unit(unit_text) if kind != "char" else None
        )
        table[name].info.meta = {
            "ucd": field.get("ucd", ""),
            "datatype": kind,
            "sofia_unit": unit_text,
        }
    return table


def read_sofia_ascii(path):
    """Read a SoFiA-2 plain-text catalogue (limited precision; prefer the XML).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    table : `~astropy.table.QTable`
        Columns named from the second header row with units from the third;
        integer columns (SoFiA's ``%ld`` columns) as int64.  ``table.meta``
        holds ``creator`` and ``time`` from the header.
    """
    path = Path(path)
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    meta = {}
    header = []
    data = []
    for line in lines:
        if line.startswith("# Creator:"):
            meta["creator"] = line.split(":", 1)[1].strip()
        elif line.startswith("# Time:"):
            meta["time"] = line.split(":", 1)[1].strip()
        if line.startswith("#"):
            header.append(line)
        elif line.strip():
            data.append(line)
    # the last three comment lines before the data are numbers, names, units
    header_rows = [h for h in header if h[1:].split()][-3:]
    if len(header_rows) != 3 or header_rows[1][1:].split()[0] != "name":
        raise ValueError(f"{path} does not look like a SoFiA plain-text catalogue (no header rows)")
    names = header_rows[1][1:].split()
    units = header_rows[2][1:].split()
    if len(units) != len(names):
        raise ValueError(f"{path}: {len(names)} column names but {len(units)} units")
    pattern = re.compile(r'^\s*"([^"]*)"\s*(.*)$')
    idents, cells = [], []
    for number, line in enumerate(data, start=1):
        match = pattern.match(line)
        if match is None:
            raise ValueError(f"{path}: data row {number} does not start with a quoted name")
        idents.append(match.group(1))
        values = match.group(2).split()
        if len(values) != len(names) - 1:
            raise ValueError(
                f"{path}: data row {number} has {len(values) + 1} values for {len(names)} columns"
            )
        cells.append(values)
    from astropy.table import QTable  # imported on first use: slow to import

    table = QTable(meta=meta)
    table["name"] = np.array(idents, dtype=str)
    for j, (name, unit_text) in enumerate(zip(names[1:], units[1:], strict=True)):
        column = [row[j] for row in cells]
        if name in SOFIA_COLUMN_SPECS:
            kind = SOFIA_COLUMN_SPECS[name][0]
        else:
            kind = (
                "long" if all(re.fullmatch(r"[-+]?\d+", v) for v in column) and column else "double"
            )
        values = [int(v) for v in column] if kind == "long" else [float(v) for v in column]
        table[name] = _make_column(values, kind, parse_sofia_unit(unit_text))
        table[name].info.meta = {
            "datatype": kind,
            "sofia_unit": "" if unit_text == "-" else unit_text,
        }
    return table
