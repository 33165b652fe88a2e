"""Write a SourceCatalog to disk in any registered format (atomically).

The table formats (``ecsv``, ``fits``, ``votable``) and SoFiA-2's catalogues
(``sofia-ascii``, ``sofia-xml``) are registered here in
`astro_mlfinder.core.registry.catalog_writers`, the region files (``ds9``,
``crtf``) in `astro_mlfinder.io.regions`; `SourceCatalog.write
<astro_mlfinder.SourceCatalog.write>` and `write_catalog` look them up there.
Every writer writes its file whole or not at all and refuses to replace an
existing file unless ``overwrite=True``.
"""

import functools
from pathlib import Path

import numpy as np
from astropy import units as u

from ..core.registry import catalog_writers, register_writer
from .atomic import atomic_path

__all__ = ["write_catalog", "CATALOG_FORMATS", "guess_format"]

#: The catalogue formats astro_mlfinder writes (each registered in `~astro_mlfinder.core.registry`).
CATALOG_FORMATS = ("ecsv", "fits", "votable", "sofia-ascii", "sofia-xml", "ds9", "crtf")


def guess_format(path):
    """Return the catalogue format implied by a file name, or raise ValueError."""
    return catalog_writers.identify_format(path)


def _split_skycoord(table):
    """VOTable cannot hold SkyCoord columns: replace them by lon/lat Quantities."""
    from astropy.coordinates import SkyCoord  # imported on first use: slow to import
    from astropy.table import QTable

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


def _atomic_writer(name, extensions):
    """Register ``body(catalog, tmp_path, **kwargs)`` as the writer ``name``, run on a temporary
    file that replaces the target only when the body succeeds."""

    def decorator(body):
        @register_writer(name, extensions=extensions)
        @functools.wraps(body)
        def writer(catalog, path, overwrite=False, **kwargs):
            path = Path(path)
            with atomic_path(path, overwrite=overwrite) as tmp:
                body(catalog, tmp, **kwargs)
            return path

        return writer

    return decorator


@_atomic_writer("ecsv", (".ecsv",))
def _write_ecsv(catalog, path, columns=None):
    catalog.to_table(columns=columns).write(path, format="ascii.ecsv")


@_atomic_writer("fits", (".fits", ".fit"))
def _write_fits_table(catalog, path, columns=None):
    _plain_meta(catalog.to_table(columns=columns)).write(path, format="fits")


@_atomic_writer("votable", (".xml", ".vot"))
def _write_votable(catalog, path, columns=None):
    _plain_meta(_split_skycoord(catalog.to_table(columns=columns))).write(path, format="votable")


@_atomic_writer("sofia-ascii", (".txt",))
def _write_sofia_ascii(catalog, path):
    from .sofia_catalog import write_sofia_ascii

    write_sofia_ascii(catalog.to_table(columns="sofia"), path, overwrite=True)


@_atomic_writer("sofia-xml", ())
def _write_sofia_xml(catalog, path):
    from .sofia_catalog import write_sofia_xml

    params = catalog.meta.get("sofia_params")
    write_sofia_xml(catalog.to_table(columns="sofia"), path, params=params, overwrite=True)


def write_catalog(catalog, path, format=None, overwrite=False, **kwargs):
    """Write ``catalog`` to ``path`` in ``format``; returns the path.

    ``format`` is one of the registered catalogue formats (`CATALOG_FORMATS`),
    identified from the extension of ``path`` when omitted. Nothing is left
    behind on failure, and an existing file is only replaced with
    ``overwrite=True``. ``kwargs`` go to the writer (``columns`` for ecsv,
    fits and votable; ``kind`` and ``sky`` for ds9 and crtf).
    """
    return catalog_writers.write(catalog, path, format=format, overwrite=overwrite, **kwargs)
