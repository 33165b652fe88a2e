"""Small utilities shared across the package."""

from .progress import progress_bar

__all__ = ["progress_bar"]
