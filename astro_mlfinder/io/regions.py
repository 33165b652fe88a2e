"""Region files of a SourceCatalog: DS9 (``.reg``) and CRTF (``.crtf``).

The shapes come from `SourceCatalog.to_regions <astro_mlfinder.SourceCatalog.to_regions>`
(built in `astro_mlfinder.core.regions`): each carries its id as label and,
for cube sources, its channels: the spectral range in ``meta['range']``,
which the `regions` CRTF serialiser writes as ``range=[lo, hi]``, and a DS9
tag ``slices a-b`` (DS9's region format has no spectral range; a tag is a
region group in DS9, so the sources of given channels can be selected
there). For a cube source of the bundled sample the two files hold::

    ellipse(149.93875903,30.05956417,0.01173047,0.00817080,177.61715104) # text={1} tag={slices 58-94}

    ellipse[[149.938759deg, 30.059564deg], [0.008171deg, 0.011730deg], 177.617151deg], label='1',
        restfreq=1420405752Hz, color=green, range=[1402850000Hz, 1404650000Hz]

(the CRTF region is one line). This module turns them into text and
files, and registers the catalogue formats ``ds9`` and ``crtf``
(``cat.write(path, format='ds9')``).

Sky regions are written in a frame the file names without ambiguity (see
`astro_mlfinder.core.regions.file_frame`; by default the kind of frame of the
data: ICRS, FK5 J2000, FK4 B1950 or Galactic, else ICRS), or in the ``frame``
asked for. The conversion is done here, positions and angles together, with
`astro_mlfinder.core.regions.transform_regions`: the `regions` serialisers
would keep an FK4 equinox when converting to FK5 and never rotate an angle.
"""

import re
from pathlib import Path

from ..core.registry import register_writer
from .atomic import write_text

__all__ = ["REGION_FORMATS", "serialize_regions", "write_regions"]

#: Region file formats and the extension of their files.
REGION_FORMATS = {"ds9": ".reg", "crtf": ".crtf"}


def _check_format(format):
    if format not in REGION_FORMATS:
        raise ValueError(f"unknown region format {format!r}; choose from {tuple(REGION_FORMATS)}")


def serialize_regions(regions, format, frame=None, **kwargs):
    """Text of a `regions.Regions` in ``format`` ('ds9' or 'crtf').

    Parameters
    ----------
    regions : `regions.Regions`
    format : {'ds9', 'crtf'}
    frame : str or `~astropy.coordinates.BaseCoordinateFrame`, optional
        Frame of the sky coordinates in the file: ``'icrs'``, ``'fk5'``
        (J2000), ``'fk4'`` (B1950) or ``'galactic'``. Default: the kind of
        frame of the regions (`~astro_mlfinder.core.regions.file_frame`).
        Positions are transformed and angles rotated into it. ``coordsys``
        (the `regions` CRTF keyword) is accepted as another name for it.
    **kwargs
        Passed to the `regions` serialiser (``precision`` for DS9, ``fmt``
        and ``radunit`` for CRTF).
    """
    from regions import SkyRegion  # imported here: regions imports matplotlib

    _check_format(format)
    coordsys = kwargs.pop("coordsys", None)
    frame = coordsys if frame is None else frame
    sky = [r for r in regions if isinstance(r, SkyRegion)]
    if sky:
        if frame is None:
            first = sky[0]
            frame = first.center if hasattr(first, "center") else first.vertices
        from ..core.regions import file_frame, transform_regions  # astropy.coordinates: slow import

        target = file_frame(frame)
        regions = transform_regions(regions, target)
        if format == "crtf":
            kwargs["coordsys"] = target.name
    text = regions.serialize(format=format, **kwargs)
    return _sorted_global_line(text) if format == "ds9" else text


# one ``key=value`` of a DS9 property list; a value is braced, quoted, or words up to the next key
_DS9_PROPERTY = re.compile(r"""\w+=(?:\{[^}]*\}|"[^"]*"|'[^']*'|\S+(?: (?!\w+=)\S+)*)""")


def _sorted_global_line(text):
    """DS9 text with the properties of its ``global`` line in alphabetical order.

    `regions` collects the properties all regions share from a set, so their
    order changed from one Python process to the next; sorted, the same
    catalogue always gives the same file.
    """
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("global "):
            lines[i] = "global " + " ".join(sorted(_DS9_PROPERTY.findall(line[len("global "):])))
    return "\n".join(lines)


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
        ``frame`` (see `serialize_regions`; default the kind of frame of the
        data), and ``kind`` and ``sky`` for
        `SourceCatalog.to_regions <astro_mlfinder.SourceCatalog.to_regions>`
        (``sky`` defaults to whether the data have a celestial WCS). CRTF
        needs sky regions.

    Raises
    ------
    ValueError
        For CRTF without sky coordinates.
    """
    _check_format(format)
    path = Path(path)
    frame = kwargs.pop("frame", None)
    sky = kwargs.pop("sky", catalog.image.has_celestial)
    if format == "crtf" and not sky:
        raise ValueError("CRTF regions need sky coordinates and the data have no celestial WCS; "
                         "write ds9 regions instead")
    text = serialize_regions(catalog.to_regions(sky=sky, **kwargs), format, frame=frame)
    return write_text(path, text, overwrite)


@register_writer("ds9", extensions=(".reg",))
def _write_ds9(catalog, path, overwrite=False, **kwargs):
    return write_regions(catalog, path, "ds9", overwrite=overwrite, **kwargs)


@register_writer("crtf", extensions=(".crtf",))
def _write_crtf(catalog, path, overwrite=False, **kwargs):
    return write_regions(catalog, path, "crtf", overwrite=overwrite, **kwargs)
