"""Core types: the Finder base class, input normalisation and SourceCatalog."""

from .catalog import SourceCatalog
from .finder import Finder
from .inputs import ImageData, load_image

__all__ = ["Finder", "ImageData", "SourceCatalog", "load_image"]
