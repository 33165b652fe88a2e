"""``SourceCatalog.plot``, the one call, and a unit on every axis of every picture (issue 13, item 2)."""

import re

import numpy as np
import pytest

from astro_mlfinder.visualization.tests.test_plots import _catalog

plt = pytest.importorskip("matplotlib.pyplot")

UNIT = re.compile(r"\[[^\]]+\]$")  # "radio velocity [km/s]"


def axis_labels(fig):
    """Every axis label of a figure's visible axes (colour bars included), WCS axes by their coordinates."""
    labels = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        if ax.get_label() == "<colorbar>":
            labels.append(ax.get_ylabel() or ax.get_xlabel())
        elif hasattr(ax, "coords"):
            labels += [ax.coords[0].get_axislabel(), ax.coords[1].get_axislabel()]
        else:
            labels += [ax.get_xlabel(), ax.get_ylabel()]
    return labels


def assert_every_axis_has_a_unit(fig):
    labels = axis_labels(fig)
    assert labels
    for text in labels:
        # celestial axes carry their units in the sexagesimal tick labels, the frame in the axis label
        if text.startswith(("Right Ascension", "Declination", "Galactic")):
            continue
        assert UNIT.search(text), f"axis label without a unit: {text!r} (all: {labels})"


@pytest.fixture(scope="module")
def cube_catalog():
    import astro_mlfinder.visualization  # noqa: F401  (registers the plots of SourceCatalog.plot)

    return _catalog("FREQ")


@pytest.mark.parametrize(("kind", "source_id"), [("overview", None), ("overview", 2), ("spectra", None),
                                                 ("spectra", 1), ("pv", None), ("pv", 2)])
def test_catalog_plot_kinds_label_every_axis(cube_catalog, kind, source_id):
    result = cube_catalog.plot(kind, source_id=source_id)
    fig = getattr(result, "figure", result)
    try:
        assert_every_axis_has_a_unit(fig)
        if kind == "overview":
            assert len(result.patches) == (2 if source_id is None else 1)
        elif source_id is None:  # a grid: one panel per source, and a colour bar per PV panel
            panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
            assert len(panels) == 2
    finally:
        plt.close(fig)


def test_every_picture_of_the_package_labels_its_axes(tmp_path):
    """Read back every figure the package draws: plot_catalog's, the truth comparison and a 2D image's."""
    from astropy.io import fits

    from astro_mlfinder.core.catalog import SourceCatalog
    from astro_mlfinder.core.inputs import load_image
    from astro_mlfinder.evaluate import match_catalogs
    from astro_mlfinder.visualization import moment0_map, plot_catalog, plot_image, plot_truth_comparison

    cat = _catalog("VRAD")
    figures = []
    for kind in ("overview", "spectra", "pv"):
        result = plot_catalog(cat, kind)
        figures.append(getattr(result, "figure", result))
    figures.append(plot_image(moment0_map(cat), wcs=cat.image.wcs, label="moment 0").figure)
    figures.append(plot_truth_comparison(cat, cat, match_catalogs(cat, cat)).figure)
    # a 2D catalogue (continuum-like image): its overview is the image with the sources
    image = np.zeros((30, 40), np.float32)
    image[5:9, 6:12] = 3.0
    header = fits.Header({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRVAL1": 150.0, "CRVAL2": 30.0,
                          "CDELT1": -1e-3, "CDELT2": 1e-3, "CRPIX1": 1, "CRPIX2": 1, "BUNIT": "Jy/beam"})
    flat = SourceCatalog(load_image(fits.PrimaryHDU(image, header)), (image > 0).astype(np.int32))
    ax = plot_catalog(flat)
    assert ax.images[0].colorbar.ax.get_ylabel() == "pixel value [Jy/beam]"
    figures.append(ax.figure)
    try:
        for fig in figures:
            assert_every_axis_has_a_unit(fig)
    finally:
        for fig in figures:
            plt.close(fig)
    with pytest.raises(ValueError, match="kind='spectra' needs a cube's catalogue"):
        plot_catalog(flat, "spectra")


def test_unknown_kind_is_named(cube_catalog):
    with pytest.raises(ValueError, match="unknown plot kind 'histogram'; choose one of overview, spectra, pv"):
        cube_catalog.plot("histogram")


def test_plot_without_the_visualization_package_says_what_to_import(cube_catalog, monkeypatch):
    from astro_mlfinder.core import catalog

    monkeypatch.setattr(catalog, "_PLOTTERS", {})
    with pytest.raises(ImportError, match="cat.plot draws with astro_mlfinder.visualization: import it first"):
        cube_catalog.plot()
