"""
Spectra of the detected sources
===============================

``cat.plot("spectra")`` draws the integrated spectrum of each source: the flux density in Jy
(the cube summed over the source's footprint on the sky, divided by the beam area) against the
radio velocity in km/s, with the channels of the source's mask shaded. The double horns are the
rotating disks of the simulated galaxies.
"""

import matplotlib.pyplot as plt

from astro_mlfinder import ClassicalFinder
from astro_mlfinder.datasets import sample_path

cat = ClassicalFinder()(sample_path("sample_hi_cube.fits"), progress=False)

fig = cat.plot("spectra")
plt.show()

# %%
# One source on its own axes: ``source_id`` picks it.
ax = cat.plot("spectra", source_id=3)
plt.show()
