"""Diagnostic plots of the reliability filter."""

import numpy as np
import pytest

from astro_mlfinder.classical.reliability import reliability
from astro_mlfinder.classical.tests.test_reliability import _fake_sources
from astro_mlfinder.visualization import plot_reliability as exported
from astro_mlfinder.visualization.reliability import _ellipse_xy, plot_reliability


def test_plot_reliability(tmp_path):
    pytest.importorskip('matplotlib')
    src = _fake_sources()
    res = reliability(src)
    fig, fig2 = plot_reliability(res, tmp_path / 'rel.png',
                                 skellam_path=tmp_path / 'sk.png')
    assert (tmp_path / 'rel.png').stat().st_size > 0
    assert (tmp_path / 'sk.png').stat().st_size > 0
    assert len(fig.axes) == 4  # 3 projections + colour bar
    assert len(fig2.axes) == 1
    assert exported is plot_reliability


def test_plot_reliability_without_paths_saves_nothing(tmp_path, monkeypatch):
    pytest.importorskip('matplotlib')
    monkeypatch.chdir(tmp_path)
    res = reliability(_fake_sources(), parameters=('peak', 'sum'))
    fig, fig2 = plot_reliability(res)
    assert len(fig.axes) == 2  # one projection + colour bar
    assert len(fig2.axes) == 1
    assert list(tmp_path.iterdir()) == []


def test_ellipse_is_the_one_sigma_contour():
    cov = np.array([[4.0, 1.0], [1.0, 2.0]])
    x, y = _ellipse_xy(cov, npts=50)
    xy = np.stack([x, y])
    # every point has Mahalanobis distance 1
    np.testing.assert_allclose(np.einsum('in,ij,jn->n', xy, np.linalg.inv(cov), xy), 1.0)
    x3, y3 = _ellipse_xy(cov, n_sigma=3.0, npts=50)
    np.testing.assert_allclose(x3, 3 * x)
