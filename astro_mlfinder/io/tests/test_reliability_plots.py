"""write_products(reliability_plot=True) draws through ``catalog.meta['reliability'].plot()``."""

import numpy as np
import pytest

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.io.products import write_products


def _catalog(reliability):
    data = np.random.default_rng(2).normal(0.0, 1.0, (6, 20, 20))
    labels = np.zeros(data.shape, dtype=np.int32)
    labels[2:4, 5:9, 5:9] = 1
    return SourceCatalog(load_image(data), labels, meta={"reliability": reliability})


class _Result:
    """Stands in for a ReliabilityResult: anything with ``plot()`` returning two figures."""

    def __init__(self):
        self.calls = 0

    def plot(self, path=None, *, skellam_path=None):
        from matplotlib.figure import Figure

        self.calls += 1
        figs = (Figure(figsize=(2, 2)), Figure(figsize=(2, 2)))
        for fig in figs:
            fig.add_subplot(1, 1, 1).plot([0, 1], [0, 1])
        return figs


def test_plots_come_from_the_result(tmp_path):
    pytest.importorskip("matplotlib")
    result = _Result()
    paths = write_products(_catalog(result), tmp_path, "r", cat_xml=False, moments=False, mask=False,
                           cubelets=False, regions=(), reliability_plot=True)
    assert [p.name for p in paths] == ["r_cat.txt", "r_rel.png", "r_skellam.png"]
    assert result.calls == 1
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths[1:])
    # without the switch, or without a reliability measurement, no plots
    for paths in (write_products(_catalog(result), tmp_path / "b", "r", regions=()),
                  write_products(_catalog(None), tmp_path / "c", "r", regions=(), reliability_plot=True)):
        assert paths and not [p for p in paths if p.suffix == ".png"]
    assert result.calls == 1


def test_a_result_without_plot_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="plot"):
        write_products(_catalog({"rel": [1.0]}), tmp_path / "out", "r", reliability_plot=True)
    assert not (tmp_path / "out").exists()
