"""A 2D image with regions on WCS axes, position-velocity slices and the truth comparison (issue 13, item 2)."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable

from astro_mlfinder.visualization.tests.test_plots import C_KMS, HI_HZ, _catalog, _expected_mom0

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture
def figures():
    """Close the figures a test opened."""
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def test_plot_image_of_a_moment0_map_with_sky_regions(figures):
    from astropy.visualization.wcsaxes import WCSAxes

    from astro_mlfinder.visualization import moment0_map, plot_image

    cat = _catalog("VRAD")
    mom0 = moment0_map(cat)
    assert mom0.unit == u.Jy / u.beam * u.km / u.s
    np.testing.assert_allclose(mom0.value, _expected_mom0(5.0), rtol=1e-6)
    regions = cat.to_regions()  # sky regions, converted back with the WCS
    ax = plot_image(mom0, wcs=cat.image.wcs, regions=regions, labels=["a", "b"], label="moment 0")
    assert isinstance(ax, WCSAxes)
    assert ax.images[0].colorbar.ax.get_ylabel() == "moment 0 [Jy/beam km/s]"
    assert ax.coords[0].get_axislabel() == "Right Ascension (ICRS)"
    assert ax.coords[1].get_axislabel() == "Declination (ICRS)"
    assert len(ax.patches) == 2
    assert [t.get_text() for t in ax.texts] == [" a", " b"]
    # the first ellipse is drawn at source 1's centroid, in pixels
    centre = ax.patches[0].get_center()
    np.testing.assert_allclose(centre, (8.5, 6.5), atol=1e-6)


def test_plot_image_of_a_plain_array_has_pixel_axes(figures):
    from regions import CirclePixelRegion, PixCoord

    from astro_mlfinder.visualization import plot_image

    image = np.arange(200.0).reshape(10, 20)
    region = CirclePixelRegion(PixCoord(3, 4), 2)
    region.meta["text"] = "src"
    region.visual["color"] = "red"
    ax = plot_image(image * u.mJy, regions=[region])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x [pix]", "y [pix]")
    assert ax.images[0].colorbar.ax.get_ylabel() == "pixel value [mJy]"
    assert [t.get_text() for t in ax.texts] == [" src"]
    assert region.visual == {"color": "red"}  # the caller's region is not changed (a copy is drawn)


def test_plot_image_errors(figures):
    from astro_mlfinder.visualization import plot_image

    with pytest.raises(ValueError, match="draws 2D images; this one has shape"):
        plot_image(np.zeros((3, 4, 5)))
    cat = _catalog("VRAD")
    with pytest.raises(ValueError, match="sky regions need the image's celestial WCS"):
        plot_image(np.zeros((30, 40)), regions=cat.to_regions())
    with pytest.raises(ValueError, match="3 labels for 2 regions"):
        plot_image(np.zeros((30, 40)), regions=cat.to_regions(sky=False), labels=["a", "b", "c"])


def test_pv_slice_through_a_box_source():
    from astro_mlfinder.visualization import pv_slice

    cat = _catalog("VRAD")
    pv, offsets, spectral, mask, meta = pv_slice(cat, 1, angle=90, half_length=4)
    # PA 90: along -x through the centroid (8.5, 6.5); the box spans x 6..11, channels 2..5
    np.testing.assert_array_equal(offsets.to_value(u.arcsec), 5.0 * np.arange(-4, 5))
    np.testing.assert_allclose(spectral.to_value(u.km / u.s), 1000 + 5.0 * np.arange(0, 11))  # channels 0..10
    inside = np.abs(np.arange(-4, 5)) <= 2
    np.testing.assert_allclose(pv[2:6][:, inside], 0.5, rtol=1e-6)
    np.testing.assert_allclose(pv[:2], 0.0)
    np.testing.assert_allclose(pv[6:], 0.0)
    assert mask[2:6][:, inside].all() and not mask[:2].any() and not mask[6:].any()
    assert meta["angle"] == 90 and meta["unit"] == u.Jy / u.beam


def test_plot_pv_has_velocity_upwards_and_units(figures):
    from astro_mlfinder.visualization import plot_pv

    ax = plot_pv(_catalog("FREQ"), 2, angle=0)
    assert ax.get_xlabel() == "offset along PA 0 deg [arcsec]"
    assert ax.get_ylabel() == "radio velocity [km/s]"
    assert ax.images[0].colorbar.ax.get_ylabel() == "pixel value [Jy/beam]"
    left, right, bottom, top = ax.images[0].get_extent()
    assert bottom < top  # frequency grows with channel, radio velocity falls: the rows were flipped
    v_last = C_KMS * (1 - (1.4e9 + 2.5e4 * 11) / HI_HZ)
    assert bottom == pytest.approx(v_last - C_KMS * 2.5e4 / HI_HZ / 2)
    with pytest.raises(ValueError, match="no source with id 7; ids are 1, 2"):
        plot_pv(_catalog("VRAD"), 7)


def test_truth_comparison_markers(figures):
    from astro_mlfinder.evaluate import match_catalogs
    from astro_mlfinder.visualization import plot_truth_comparison

    detected = QTable({"id": [1, 2, 3], "x": [10.0, 30.0, 50.0], "y": [10.0, 30.0, 5.0], "z": [5.0, 5.0, 5.0]})
    truth = QTable({"id": [1, 2, 3], "x": [11.0, 29.0, 70.0], "y": [10.0, 31.0, 40.0], "z": [5.0, 6.0, 5.0]})
    match = match_catalogs(detected, truth)
    ax = plot_truth_comparison(detected, truth, match)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["matched (2)", "true position", "missed (1)", "false positive (1)"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["missed (1)"].get_xydata(), [[70.0, 40.0]])
    np.testing.assert_array_equal(lines["false positive (1)"].get_xydata(), [[50.0, 5.0]])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x [pix]", "y [pix]")
    assert ax.get_title().startswith("2 matched, 1 missed, 1 false")
