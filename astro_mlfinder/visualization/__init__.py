"""Pictures of catalogues: moment-0 maps and images with the sources on WCS axes, spectra in Jy against
km/s, position-velocity slices, truth comparisons, reliability diagnostics; and the physical table that
the command line prints.

matplotlib is optional (``pip install 'astro_mlfinder[plot]'``) and imported only when plotting.
Importing this package registers `plot_catalog` as ``SourceCatalog.plot``.
"""

from ._common import HI_REST_FREQUENCY
from .catalog_plots import PLOT_KINDS, plot_catalog, plot_paths, write_plots
from .images import moment0_map, plot_image, plot_moment_map
from .pv import plot_pv, plot_pv_slices, pv_slice
from .reliability import plot_reliability
from .spectra import plot_spectra, plot_spectrum, source_spectrum
from .table import format_table, physical_table
from .truth import plot_truth_comparison

__all__ = ["HI_REST_FREQUENCY", "PLOT_KINDS", "format_table", "moment0_map", "physical_table", "plot_catalog",
           "plot_image", "plot_moment_map", "plot_paths", "plot_pv", "plot_pv_slices", "plot_reliability",
           "plot_spectra", "plot_spectrum", "plot_truth_comparison", "pv_slice", "source_spectrum", "write_plots"]
