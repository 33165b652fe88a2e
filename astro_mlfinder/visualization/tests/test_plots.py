"""Units on every axis of the moment maps and spectra (issue 8, item 6; issue 13, item 2).

A cube with two box-shaped sources of known brightness in Jy/beam and a beam of known area: the
moment-0 map must be the sum over the source masks times the channel width in km/s (a frequency
axis converted with the rest frequency, HI's when the header has none), zero where nothing was
detected (a bright undetected blob must not show), on RA/Dec axes; the spectrum must be the
footprint sum divided by the beam area in pixels (Jy) against velocity in km/s.
"""

import numpy as np
import pytest
from astropy.io import fits

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image

plt = pytest.importorskip("matplotlib.pyplot")

BMAJ_PIX, BMIN_PIX, CDELT_DEG = 4.0, 3.0, 5 / 3600
BEAM_AREA = np.pi * BMAJ_PIX * BMIN_PIX / (4 * np.log(2))  # pixels
C_KMS = 299792.458
HI_HZ = 1.420405752e9
DV_FREQ = C_KMS * 2.5e4 / HI_HZ  # radio velocity width of a 25 kHz channel (km/s)


def _catalog(spectral, bunit="Jy/beam", beam=True, galactic=False, restfrq=None):
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
    if restfrq:
        header["RESTFRQ"] = restfrq
    header["BUNIT"] = bunit
    if beam:
        header["BMAJ"], header["BMIN"], header["BPA"] = BMAJ_PIX * CDELT_DEG, BMIN_PIX * CDELT_DEG, 0.0
    return SourceCatalog(load_image(fits.PrimaryHDU(data, header)), segment)


def _expected_mom0(width):
    mom0 = np.zeros((30, 40))
    mom0[5:9, 6:12] = 4 * 0.5 * width
    mom0[20:22, 25:28] = 2 * 2.0 * width
    return mom0


@pytest.mark.parametrize(("spectral", "width"), [("VRAD", 5.0), ("FREQ", DV_FREQ)])
def test_moment_map_of_detected_emission_on_wcs_axes(spectral, width):
    from astropy.visualization.wcsaxes import WCSAxes

    from astro_mlfinder.visualization import plot_moment_map

    cat = _catalog(spectral)
    ax = plot_moment_map(cat)
    try:
        assert isinstance(ax, WCSAxes)
        np.testing.assert_allclose(ax.images[0].get_array(), _expected_mom0(width), rtol=1e-6)
        assert ax.images[0].colorbar.ax.get_ylabel() == "moment 0 [Jy/beam km/s]"
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


@pytest.mark.parametrize(("spectral", "restfrq", "x0", "step"), [
    ("VRAD", None, 1000.0, 5.0),
    ("FREQ", None, C_KMS * (1 - 1.4e9 / HI_HZ), -DV_FREQ),  # HI by default
    ("FREQ", 1.5e9, C_KMS * (1 - 1.4e9 / 1.5e9), -C_KMS * 2.5e4 / 1.5e9),  # the header's RESTFRQ
])
def test_spectrum_is_flux_density_against_radio_velocity(spectral, restfrq, x0, step):
    from astro_mlfinder.visualization import plot_spectrum

    cat = _catalog(spectral, restfrq=restfrq)
    ax = plot_spectrum(cat, 1)
    try:
        line = ax.get_lines()[0]
        np.testing.assert_allclose(line.get_xdata(), x0 + step * np.arange(12), rtol=1e-9)
        # the shaded window covers the mask's channels 2..5 edge to edge
        lo, hi = sorted(ax.patches[0].get_x() + np.array([0, ax.patches[0].get_width()]))
        np.testing.assert_allclose(sorted((lo, hi)), sorted((x0 + step * 1.5, x0 + step * 5.5)), rtol=1e-9)
        xlabel = "radio velocity [km/s]"
        expected = np.zeros(12)
        expected[2:6] = 24 * 0.5 / BEAM_AREA  # 24 footprint pixels of 0.5 Jy/beam
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-5)
        assert ax.get_xlabel() == xlabel
        assert ax.get_ylabel() == "flux density [Jy]"
    finally:
        plt.close(ax.figure)


def test_optical_velocity_of_a_frequency_axis():
    from astro_mlfinder.visualization import plot_spectrum

    ax = plot_spectrum(_catalog("FREQ"), 1, velocity="optical")
    try:
        freq = 1.4e9 + 2.5e4 * np.arange(12)
        np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), C_KMS * (HI_HZ / freq - 1), rtol=1e-9)
        assert ax.get_xlabel() == "optical velocity [km/s]"
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


def test_write_plots_writes_whole_files_and_refuses_existing_ones(tmp_path):
    from astro_mlfinder.visualization import plot_paths, write_plots

    cat = _catalog("VRAD")
    open_figures = len(plt.get_fignums())
    paths = write_plots(cat, tmp_path, "cube")
    assert paths == list(plot_paths(tmp_path, "cube").values())
    assert [p.name for p in paths] == ["cube_overview.png", "cube_spectra.png", "cube_pv.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left
    before = {p: p.stat().st_mtime_ns for p in paths}
    with pytest.raises(FileExistsError, match="cube_overview.png already exists"):
        write_plots(cat, tmp_path, "cube")
    assert {p: p.stat().st_mtime_ns for p in paths} == before
    assert write_plots(cat, tmp_path, "cube", overwrite=True) == paths
    assert len(plt.get_fignums()) == open_figures  # every figure closed
