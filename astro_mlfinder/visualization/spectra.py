"""Integrated spectra of a cube's sources, in Jy against velocity in km/s.

In each channel the data are summed over the source's footprint (the pixels
of its mask in any channel); Jy/beam data with a beam are divided by the
beam area in pixels, which makes the sum a flux density in Jy (as
SoFiA-image-pipeline's spectra). The spectral axis is velocity in km/s (a
velocity axis in its own convention, a frequency axis converted to radio or
optical velocity with the header's rest frequency, HI's 1420.405752 MHz by
default), and the channels of the source mask are shaded.
"""

import numpy as np
from astropy import units as u

from ._common import as_list, pyplot, source_index, source_panels, spectral_axis, unit_text

__all__ = ["plot_spectra", "plot_spectrum", "source_spectrum"]


def source_spectrum(catalog, source_id, velocity=None):
    """The integrated spectrum of one source.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        A catalogue of a cube.
    source_id : int
    velocity : {None, 'radio', 'optical'}
        Velocity convention (None: the axis' own; radio for frequency axes).

    Returns
    -------
    spectral : `~astropy.units.Quantity` or `~numpy.ndarray`
        Spectral coordinate of every channel (km/s where possible; channel
        numbers without a spectral WCS).
    flux : `~astropy.units.Quantity`
        Flux density (Jy) per channel, or the footprint sum in the data unit.
    window : tuple of int
        First and last channel of the source mask (in the searched array).
    title : str
        What ``spectral`` is (``'radio velocity'``, ``'channel'``...).
    """
    if catalog.ndim != 3:
        raise ValueError("spectra need a cube; this catalogue is from a 2D image")
    catalog = as_list(catalog)
    i = source_index(catalog, source_id)
    ox, oy, oz = catalog.pixel_offset or (0, 0, 0)  # parameter.offset shifts the columns, not the arrays
    y0, y1 = int(catalog.y_min[i].value) - oy, int(catalog.y_max[i].value) - oy
    x0, x1 = int(catalog.x_min[i].value) - ox, int(catalog.x_max[i].value) - ox
    image = catalog.image
    cube = image.read((slice(None), slice(y0, y1 + 1), slice(x0, x1 + 1)))
    footprint = (catalog.segment[:, y0 : y1 + 1, x0 : x1 + 1] == int(source_id)).any(axis=0)
    flux = np.nansum(np.where(footprint, cube, 0.0), axis=(1, 2))
    if image.unit == u.Jy / u.beam and image.beam is not None:
        flux = flux / image.beam_area * u.Jy
    else:
        flux = flux * image.unit
    channels = np.arange(cube.shape[0])
    if image.has_spectral:
        spectral, title = spectral_axis(image, channels, velocity)
    else:
        spectral, title = channels, "channel"
    window = (int(catalog.z_min[i].value) - oz, int(catalog.z_max[i].value) - oz)
    return spectral, flux, window, title


def plot_spectrum(catalog, source_id, ax=None, *, velocity=None):
    """Plot the integrated spectrum of one source (Jy against km/s) with its channel window shaded.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        A catalogue of a cube.
    source_id : int
    ax : `matplotlib.axes.Axes`, optional
    velocity : {None, 'radio', 'optical'}
        Velocity convention (None: the axis' own; radio for frequency axes).

    Returns
    -------
    ax : `matplotlib.axes.Axes`
    """
    plt = pyplot()
    spectral, flux, (z0, z1), title = source_spectrum(catalog, source_id, velocity)
    x = u.Quantity(spectral).value
    xunit = unit_text(getattr(spectral, "unit", None))
    if flux.unit == u.Jy:
        ylabel = "flux density [Jy]"
    elif unit_text(flux.unit):
        ylabel = f"sum over the source footprint [{unit_text(flux.unit)}]"
    else:
        ylabel = "sum over the source footprint"
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    ax.step(x, flux.value, where="mid", color="k", lw=1)
    step = np.diff(x).mean() / 2 if x.size > 1 else 0.5  # shade whole channels
    lo, hi = sorted((x[z0] - step, x[z1] + step))
    ax.axvspan(lo, hi, color="tab:green", alpha=0.2, label="source mask")
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel(f"{title} [{xunit}]" if xunit else title)
    ax.set_ylabel(ylabel)
    ax.set_title(f"source {source_id}")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_spectra(catalog, ids=None, *, max_sources=12, ncols=3, velocity=None, zoom=True):
    """Plot the spectra of several sources on a grid of panels.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        A catalogue of a cube.
    ids : sequence of int, optional
        Sources to show (default: the first ``max_sources``).
    max_sources : int
        Most panels drawn when ``ids`` is not given.
    ncols : int
        Panels per row.
    velocity : {None, 'radio', 'optical'}
    zoom : bool
        Limit each panel to the source's window plus as many channels again
        on both sides (instead of the whole band).

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    catalog = as_list(catalog)
    fig, panels = source_panels(catalog, ids, max_sources=max_sources, ncols=ncols, panel_size=(4.2, 3.0))
    for ax, source_id in panels:
        plot_spectrum(catalog, source_id, ax, velocity=velocity)
        if zoom:
            i = source_index(catalog, source_id)
            oz = (catalog.pixel_offset or (0, 0, 0))[2]
            z0, z1 = int(catalog.z_min[i].value) - oz, int(catalog.z_max[i].value) - oz
            pad = max(z1 - z0 + 1, 5)
            x = ax.get_lines()[0].get_xdata()
            lo, hi = max(z0 - pad, 0), min(z1 + pad, len(x) - 1)
            ax.set_xlim(sorted((x[lo], x[hi])))
    return fig
