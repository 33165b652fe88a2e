"""Units on every axis of the moment maps and spectra (issue 8, item 6).

A cube with two box-shaped sources of known brightness in Jy/beam and a beam of known area: the
moment-0 map must be the sum over the source masks times the channel width (Jy/beam km/s on a
velocity axis, Jy/beam Hz on a frequency axis), zero where nothing was detected (a bright
undetected blob must not show), on RA/Dec axes; the spectrum must be the footprint sum divided by
the beam area in pixels (Jy) against velocity in km/s or frequency in MHz.
"""

import numpy as np
import pytest
from astropy.io import fits

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image

plt = pytest.importorskip("matplotlib.pyplot")

BMAJ_PIX, BMIN_PIX, CDELT_DEG = 4.0, 3.0, 5 / 3600
BEAM_AREA = np.pi * BMAJ_PIX * BMIN_PIX / (4 * np.log(2))  # pixels


def _catalog(spectral, bunit="Jy/beam", beam=True, galactic=False):
    nz, ny, nx = 12, 30, 40
    data = np.zeros((nz, ny, nx), np.float32)
    segment = np.zeros((nz, ny, nx), np.int32)
    segment[2:6, 5:9, 6:12] = 1  # 4 channels x 4 x 6 pixels
    data[2:6, 5:9, 6:12] = 0.5
    segment[7:9, 20:22, 25:28] = 2  # 2 channels x 2 x 3 pixels
    data[7:9, 20:22, 25:28] = 2.0
    data[:, 24:28, 2:6] = 100.0  # bright, but not in any source mask
    header = fits.Header()
    ctype3, crval3, cdelt3, cunit3 = {
        "VRAD": ("VRAD", 1.0e6, 5000.0, "m/s"),
        "FREQ": ("FREQ", 1.4e9, 2.5e4, "Hz"),
    }[spectral]
    celestial = ("GLON-CAR", "GLAT-CAR") if galactic else ("RA---SIN", "DEC--SIN")
    for i, (ctype, crval, cdelt, cunit) in enumerate(
        [(celestial[0], 150.0, -CDELT_DEG, "deg"), (celestial[1], 30.0, CDELT_DEG, "deg"),
         (ctype3, crval3, cdelt3, cunit3)], start=1):
        header[f"CTYPE{i}"], header[f"CRPIX{i}"], header[f"CRVAL{i}"] = ctype, 1.0, crval
        header[f"CDELT{i}"], header[f"CUNIT{i}"] = cdelt, cunit
    if galactic:
        header["CRVAL2"] = 0.0
    header["BUNIT"] = bunit
    if beam:
        header["BMAJ"], header["BMIN"], header["BPA"] = BMAJ_PIX * CDELT_DEG, BMIN_PIX * CDELT_DEG, 0.0
    return SourceCatalog(load_image(fits.PrimaryHDU(data, header)), segment)


def _expected_mom0(width):
    mom0 = np.zeros((30, 40))
    mom0[5:9, 6:12] = 4 * 0.5 * width
    mom0[20:22, 25:28] = 2 * 2.0 * width
    return mom0


@pytest.mark.parametrize(("spectral", "width", "units"), [("VRAD", 5.0, "Jy/beam km/s"),
                                                          ("FREQ", 2.5e4, "Jy/beam Hz")])
def test_moment_map_of_detected_emission_on_wcs_axes(spectral, width, units):
    from astropy.visualization.wcsaxes import WCSAxes

    from astro_mlfinder.visualization import plot_moment_map

    cat = _catalog(spectral)
    ax = plot_moment_map(cat)
    try:
        assert isinstance(ax, WCSAxes)
        np.testing.assert_allclose(ax.images[0].get_array(), _expected_mom0(width), rtol=1e-6)
        assert ax.images[0].colorbar.ax.get_ylabel() == f"moment 0 [{units}]"
        assert ax.coords[0].get_axislabel() == "Right Ascension (ICRS)"
        assert ax.coords[1].get_axislabel() == "Declination (ICRS)"
        assert ax.coords[0].get_format_unit().to_string() == "hourangle"
        assert len(ax.patches) == 2
    finally:
        plt.close(ax.figure)


def test_moment_map_of_one_source_and_galactic_axes():
    from astro_mlfinder.visualization import plot_moment_map

    cat = _catalog("VRAD", galactic=True)
    ax = plot_moment_map(cat[1])  # source 2 only
    try:
        expected = _expected_mom0(5.0)
        expected[5:9, 6:12] = 0
        np.testing.assert_allclose(ax.images[0].get_array(), expected, rtol=1e-6)
        assert ax.coords[0].get_axislabel() == "Galactic longitude"
        assert ax.coords[1].get_axislabel() == "Galactic latitude"
        assert ax.get_title() == "1 source(s)"
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize(("spectral", "xlabel", "x0", "step"), [
    ("VRAD", "radio velocity [km/s]", 1000.0, 5.0),
    ("FREQ", "frequency [MHz]", 1400.0, 0.025),
])
def test_spectrum_is_flux_density(spectral, xlabel, x0, step):
    from astro_mlfinder.visualization import plot_spectrum

    cat = _catalog(spectral)
    ax = plot_spectrum(cat, 1)
    try:
        line = ax.get_lines()[0]
        np.testing.assert_allclose(line.get_xdata(), x0 + step * np.arange(12), rtol=1e-9)
        expected = np.zeros(12)
        expected[2:6] = 24 * 0.5 / BEAM_AREA  # 24 footprint pixels of 0.5 Jy/beam
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-5)
        assert ax.get_xlabel() == xlabel
        assert ax.get_ylabel() == "flux density [Jy]"
    finally:
        plt.close(ax.figure)


def test_spectrum_without_beam_is_not_called_a_flux_density():
    from astro_mlfinder.visualization import plot_spectrum

    ax = plot_spectrum(_catalog("VRAD", beam=False), 2)
    try:
        np.testing.assert_allclose(max(ax.get_lines()[0].get_ydata()), 6 * 2.0, rtol=1e-6)
        assert ax.get_ylabel() == "sum over the source footprint [Jy/beam]"
    finally:
        plt.close(ax.figure)


def test_cli_overview_plot_is_a_moment0_map(tmp_path, monkeypatch):
    from astro_mlfinder.cli import _overview_plot

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at it
    cat = _catalog("VRAD")
    assert _overview_plot(cat, tmp_path / "overview.png") == [tmp_path / "overview.png"]
    assert (tmp_path / "overview.png").stat().st_size > 0
    ax = figures[0].axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), _expected_mom0(5.0), rtol=1e-6)
    assert ax.images[0].colorbar.ax.get_ylabel() == "moment 0 [Jy/beam km/s]"
    assert ax.coords[0].get_axislabel() == "Right Ascension (ICRS)"
    monkeypatch.undo()
    plt.close(figures[0])
