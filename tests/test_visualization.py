"""Plots of catalogues."""

import pytest

from astro_mlfinder import ClassicalFinder

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(scope="module")
def catalog(small_sim):
    return ClassicalFinder(threshold=5.0)(small_sim.to_hdu(), progress=False)


def test_moment_map_with_ellipses(catalog):
    from astro_mlfinder.visualization import plot_moment_map

    ax = plot_moment_map(catalog)
    assert len(ax.patches) == len(catalog)
    assert ax.get_title() == f"{len(catalog)} source(s)"
    plt.close(ax.figure)


def test_spectrum_in_wcs_units(catalog):
    from astro_mlfinder.visualization import plot_spectrum

    source_id = int(catalog.id[0])
    ax = plot_spectrum(catalog, source_id)
    assert "Hz" in ax.get_xlabel()
    line = ax.get_lines()[0]
    assert len(line.get_xdata()) == catalog.image.shape[0]
    assert max(line.get_ydata()) > 0
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="no source with id 999"):
        plot_spectrum(catalog, 999)
