"""astro_mlfinder: classical and neural source finders for radio and optical data.

One photutils-style interface for SoFiA-2's smooth-and-clip pipeline
(`ClassicalFinder`), an installed SoFiA-2 binary (`SofiaFinder`) and deep
learning finders (`NeuralFinder`); all return a `SourceCatalog`.

This module only gathers the public API; no module of the package imports it
back (settings and the version live in `astro_mlfinder.config`).
"""

from . import (
    io,  # noqa: F401  (registers the catalogue, region and product writers)
    visualization,  # noqa: F401  (registers SourceCatalog.plot; matplotlib loads on first plot)
)
from .classical.finder import ClassicalFinder
from .config import conf
from .config import version as __version__
from .core.catalog import SourceCatalog
from .core.exceptions import AstroMLFinderWarning
from .core.finder import Finder
from .core.inputs import ImageData, load_image
from .core.segmentation import Segmentation
from .distributed import run as _run_tiled  # noqa: F401  (registers the tiled runner: finder(data, tiles=...))
from .find import find_sources
from .neural.finder import NeuralFinder
from .sofia.finder import SofiaFinder

__all__ = [
    "AstroMLFinderWarning",
    "ClassicalFinder",
    "Finder",
    "ImageData",
    "NeuralFinder",
    "Segmentation",
    "SofiaFinder",
    "SourceCatalog",
    "conf",
    "find_sources",
    "load_image",
    "__version__",
]
