"""
Position-velocity slices
========================

``cat.plot("pv")`` cuts the cube through each source along its kinematic position angle (``kin_pa``;
the ellipse's ``ell_pa`` where that is undefined) and shows the emission against the offset along the
slice and the radio velocity, with the source mask as a white contour: the rotation of each disk
appears as a tilted ridge, one side of the galaxy approaching, the other receding.
"""

import matplotlib.pyplot as plt

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
