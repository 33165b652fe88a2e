"""
Position-velocity slices
========================

``cat.plot("pv")`` cuts the cube along the major axis of each source (its ``ell_pa``) and shows the
emission against offset along the slice and velocity: the rotation curve of each disk appears as
the S-shaped ridge.
"""

import matplotlib.pyplot as plt

import astro_mlfinder.visualization  # noqa: F401  (gives SourceCatalog.plot)
from astro_mlfinder import ClassicalFinder
from astro_mlfinder.datasets import sample_path

cat = ClassicalFinder()(sample_path("sample_hi_cube.fits"), progress=False)

fig = cat.plot("pv")
plt.show()

# %%
# One source, the brightest of the sample.
brightest = int(cat.id[cat.snr.argmax()])
ax = cat.plot("pv", source_id=brightest)
plt.show()
