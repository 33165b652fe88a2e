"""Plots of catalogues: moment maps with source ellipses, spectra, reliability diagnostics.

matplotlib is optional (``pip install 'astro_mlfinder[plot]'``) and imported only when plotting.
"""

from .plots import plot_moment_map, plot_spectrum
from .reliability import plot_reliability

__all__ = ["plot_moment_map", "plot_reliability", "plot_spectrum"]
