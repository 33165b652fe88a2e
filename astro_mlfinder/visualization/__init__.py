"""Plots of catalogues: moment maps with source ellipses, spectra (matplotlib optional)."""

from .plots import plot_moment_map, plot_spectrum

__all__ = ["plot_moment_map", "plot_spectrum"]
