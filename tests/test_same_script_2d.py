"""Issue 10: one script serves ClassicalFinder and NeuralFinder("convosource") on a continuum image.

The same lines tabulate the catalogue, plot it over the image on WCS axes (every label inside the
figure) and write DS9 and CRTF regions, whichever finder made it.
"""

import pytest

from astro_mlfinder import ClassicalFinder, NeuralFinder
from astro_mlfinder.simulate import simulate_continuum_image

pytest.importorskip("matplotlib")


def _drawn_outside_figure(ax):
    """Points by which everything drawn (tick labels, axis labels, title) sticks out of the figure."""
    fig = ax.figure
    fig.canvas.draw()
    drawn, page = fig.get_tightbbox(fig.canvas.get_renderer()), fig.bbox_inches
    return max(page.x0 - drawn.x0, page.y0 - drawn.y0, drawn.x1 - page.x1, drawn.y1 - page.y1, 0) * fig.dpi


def _one_script(finder, path, tmp_path, name):
    """What a user writes once and reuses with any finder."""
    cat = finder(path, progress=False)
    table = cat.to_table()
    ax = cat.plot()
    ax.figure.savefig(tmp_path / f"{name}.png")
    ds9 = cat.write(tmp_path / f"{name}.reg")
    crtf = cat.write(tmp_path / f"{name}.crtf")
    return cat, table, ax, ds9.read_text(), crtf.read_text()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("continuum")
    sim = simulate_continuum_image(shape=(256, 256), n_sources=150, seed=99)
    path, truth = folder / "img.fits", folder / "img_truth.ecsv"
    sim.write_all(path, truth)
    return path, sim


@pytest.mark.parametrize("name", ["classical", "convosource"])
def test_the_same_script_tabulates_plots_and_writes_regions(image, tmp_path, name):
    if name == "convosource":
        pytest.importorskip("torch")
        finder = NeuralFinder("convosource", device="cpu", progress=False)
    else:
        finder = ClassicalFinder()
    path, sim = image
    cat, table, ax, ds9, crtf = _one_script(finder, path, tmp_path, name)
    bright = sim.truth[sim.truth["snr_int"] > 10]
    assert len(bright) >= 3
    assert len(cat) >= len(bright)
    assert str(table["peak_flux"].unit) == "Jy / beam" and str(table["int_flux"].unit) == "Jy"
    # the brightest true source is found and measured within 15 %
    top = bright[bright["f_int"].argmax()]
    nearest = ((table["x"].value - top["x"]) ** 2 + (table["y"].value - top["y"]) ** 2).argmin()
    assert abs(table["int_flux"][nearest] / top["f_int"] - 1) < 0.15
    # WCS axes with their frames, and nothing drawn outside the figure
    assert "Right Ascension" in ax.coords[0].get_axislabel() and "Declination" in ax.coords[1].get_axislabel()
    assert _drawn_outside_figure(ax) < 1
    # one region per source, in both formats, no spectral ranges on an image
    assert ds9.count("ellipse(") == len(cat) and crtf.count("ellipse") == len(cat)
    assert "range=" not in crtf
