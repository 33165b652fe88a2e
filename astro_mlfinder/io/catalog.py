"""Write a SourceCatalog to disk in any supported format (atomically)."""

from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable

from .atomic import atomic_path

__all__ = ["write_catalog", "CATALOG_FORMATS", "guess_format"]

CATALOG_FORMATS = ("ecsv", "fits", "votable", "sofia-ascii", "sofia-xml", "ds9", "crtf")
_EXTENSIONS = {
    ".ecsv": "ecsv",
    ".fits": "fits",
    ".fit": "fits",
    ".xml": "votable",
    ".vot": "votable",
    ".txt": "sofia-ascii",
    ".reg": "ds9",
    ".crtf": "crtf",
}


def guess_format(path):
    """Return the catalogue format implied by a file name, or raise ValueError."""
    suffix = Path(path).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    raise ValueError(f"cannot guess the format of {path!r}; pass format= one of {CATALOG_FORMATS}")


def _split_skycoord(table):
    """VOTable cannot hold SkyCoord columns: replace them by lon/lat Quantities."""
    out = QTable(meta=table.meta)
    for name in table.colnames:
        col = table[name]
        if isinstance(col, SkyCoord):
            sph = col.spherical
            out[f"{name}_ra"] = sph.lon.to(u.deg)
            out[f"{name}_dec"] = sph.lat.to(u.deg)
        else:
            out[name] = col
    return out


def _plain_meta(table):
    """Keep table meta serialisable in FITS/VOTable headers."""
    table.meta = {k: v for k, v in table.meta.items() if isinstance(v, str | int | float | np.number)}
    return table


def write_catalog(catalog, path, format=None, overwrite=False, **kwargs):
    """Write ``catalog`` to ``path`` in ``format``; returns the path.

    Nothing is left behind on failure, and an existing file is only replaced
    with ``overwrite=True``.
    """
    fmt = format or guess_format(path)
    if fmt not in CATALOG_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {CATALOG_FORMATS}")
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        if fmt in ("ds9", "crtf"):
            sky = kwargs.pop("sky", catalog.image.has_celestial)
            regions = catalog.to_regions(sky=sky, **kwargs)
            if fmt == "crtf":
                if not sky:
                    raise ValueError("CRTF regions need sky coordinates and the data have no celestial WCS; "
                                     "write ds9 regions instead")
                regions.write(tmp, format="crtf", coordsys="icrs")
            else:
                regions.write(tmp, format="ds9")
        elif fmt == "sofia-ascii":
            from .sofia_catalog import write_sofia_ascii

            write_sofia_ascii(catalog.to_table(columns="sofia"), tmp, overwrite=True)
        elif fmt == "sofia-xml":
            from .sofia_catalog import write_sofia_xml

            params = catalog.meta.get("sofia_params")
            write_sofia_xml(catalog.to_table(columns="sofia"), tmp, params=params, overwrite=True)
        else:
            table = catalog.to_table(columns=kwargs.pop("columns", None))
            if fmt == "ecsv":
                table.write(tmp, format="ascii.ecsv")
            elif fmt == "fits":
                _plain_meta(table).write(tmp, format="fits")
            else:
                _plain_meta(_split_skycoord(table)).write(tmp, format="votable")
    return path
