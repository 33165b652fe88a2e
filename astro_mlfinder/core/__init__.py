"""The ground floor shared by every finder.

Inputs (`ImageData`, `load_image`), the `Finder` base and its seam
(`Segmentation`), measurement (`astro_mlfinder.core.measure`), robust noise
statistics (`astro_mlfinder.core.stats`), tiling and the one result type
`SourceCatalog`. Nothing here imports another subpackage of astro_mlfinder.
"""

from .catalog import SourceCatalog
from .exceptions import AstroMLFinderWarning
from .finder import Finder
from .inputs import ImageData, load_image
from .segmentation import Segmentation

__all__ = ["AstroMLFinderWarning", "Finder", "ImageData", "Segmentation", "SourceCatalog", "load_image"]
