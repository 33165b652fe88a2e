"""Region files of a SourceCatalog: DS9 (``.reg``) and CRTF (``.crtf``).

The shapes come from `SourceCatalog.to_regions <astro_mlfinder.SourceCatalog.to_regions>`
(built in `astro_mlfinder.core.regions`): each carries its label and, for cube
sources, the spectral range in ``meta['range']``, which the `regions` CRTF
serialiser writes as ``range=[lo, hi]``. This module turns them into text and
files, and registers the catalogue formats ``ds9`` and ``crtf``
(``cat.write(path, format='ds9')``).
"""

from pathlib import Path

from ..core.registry import register_writer
from .atomic import atomic_path

__all__ = ["REGION_FORMATS", "serialize_regions", "write_regions"]

#: Region file formats and the extension of their files.
REGION_FORMATS = {"ds9": ".reg", "crtf": ".crtf"}


def _check_format(format):
    if format not in REGION_FORMATS:
        raise ValueError(f"unknown region format {format!r}; choose from {tuple(REGION_FORMATS)}")


def serialize_regions(regions, format, **kwargs):
    """Text of a `regions.Regions` in ``format`` ('ds9' or 'crtf').

    ``kwargs`` go to the `regions` serialiser (e.g. ``coordsys`` for CRTF).
    """
    _check_format(format)
    return regions.serialize(format=format, **kwargs)


def write_regions(catalog, path, format="ds9", overwrite=False, **kwargs):
    """Write the sources of ``catalog`` as a DS9 or CRTF region file; returns the path.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
    path : str or path-like
    format : {'ds9', 'crtf'}
    overwrite : bool
        Replace an existing file (default False). The file is written whole
        or not at all.
    **kwargs
        Passed to `SourceCatalog.to_regions <astro_mlfinder.SourceCatalog.to_regions>`
        (``kind``, ``sky``; ``sky`` defaults to whether the data have a
        celestial WCS). CRTF needs sky regions (written in ICRS).

    Raises
    ------
    ValueError
        For CRTF without sky coordinates.
    """
    _check_format(format)
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        sky = kwargs.pop("sky", catalog.image.has_celestial)
        regions = catalog.to_regions(sky=sky, **kwargs)
        if format == "crtf":
            if not sky:
                raise ValueError("CRTF regions need sky coordinates and the data have no celestial WCS; "
                                 "write ds9 regions instead")
            regions.write(tmp, format="crtf", coordsys="icrs")
        else:
            regions.write(tmp, format="ds9")
    return path


@register_writer("ds9", extensions=(".reg",))
def _write_ds9(catalog, path, overwrite=False, **kwargs):
    return write_regions(catalog, path, "ds9", overwrite=overwrite, **kwargs)


@register_writer("crtf", extensions=(".crtf",))
def _write_crtf(catalog, path, overwrite=False, **kwargs):
    return write_regions(catalog, path, "crtf", overwrite=overwrite, **kwargs)
