"""A small cube is linked with numpy (core._small's union-find, no scipy): the same sources and statistics."""

import numpy as np
import pytest

from astro_mlfinder.classical.linker import link
from astro_mlfinder.classical.packed_mask import PackedMask
from astro_mlfinder.core import _small

FIELDS = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "n_pix", "f_min", "f_max", "f_sum", "fill", "mean",
          "std", "skew", "kurt", "flag", "m2")


@pytest.mark.parametrize("radii", [(1, 1), (1, 0), (2, 1), (0, 2)])
def test_small_cube_links_as_the_scipy_path(monkeypatch, radii):
    rng = np.random.default_rng(sum(radii))
    data = rng.standard_normal((30, 34, 31)).astype(np.float32)
    data[rng.random(data.shape) < 0.005] = np.nan
    mask = (np.abs(data) > 1.6) | (rng.random(data.shape) < 0.02)
    kwargs = dict(radius_xy=radii[0], radius_z=radii[1], min_size_xy=1, min_size_z=1, min_pixels=2,
                  remove_negative=False, global_rms=0.9)
    small = link(PackedMask.from_array(mask), data, **kwargs)
    monkeypatch.setattr(_small, "NUMPY_MAX_VOXELS", 0)
    large = link(PackedMask.from_array(mask), data, **kwargs)
    assert small.n_sources == large.n_sources > 20
    np.testing.assert_array_equal(small.labels, large.labels)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(small, name), getattr(large, name), err_msg=name)
    assert (small.flag & 4).any()  # blanked neighbours seen by both
