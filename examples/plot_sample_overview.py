"""
A catalogue, a region file and a moment-0 map
=============================================

The classical finder (SoFiA-2's smooth-and-clip) on the bundled sample HI cube: five simulated
galaxies in a 96-channel cube with a 30 arcsec beam. The catalogue is printed in physical units,
written with its DS9 regions, and drawn: ``cat.plot()`` shows the moment-0 map of the detected
emission on RA/Dec axes with every source's moment ellipse and id.
"""

# %%
# Search the cube. SoFiA-2's default kernels: 0, 3 and 6 pixels on the sky, 0, 3, 7 and 15 channels
# along the spectrum, a threshold of 5 times the noise of each smoothed cube.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from astro_mlfinder import ClassicalFinder
from astro_mlfinder.datasets import sample_path
from astro_mlfinder.visualization import format_table, physical_table

finder = ClassicalFinder(kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=5.0)
cat = finder(sample_path("sample_hi_cube.fits"), progress=False)
print(f"{len(cat)} sources")

# %%
# The table in physical units: positions as sexagesimal RA/Dec, the systemic velocity and the line
# widths in km/s, the integrated flux in Jy km/s and the integrated signal-to-noise ratio.
print(format_table(physical_table(cat)))

# %%
# Write the catalogue and the region files (DS9 and CRTF for CARTA) into a scratch folder.
outdir = Path(tempfile.mkdtemp())
for name in ("sample.ecsv", "sample.reg", "sample.crtf"):
    print("wrote", cat.write(outdir / name).name)

# %%
# The moment-0 map of the detected emission with the sources.
ax = cat.plot()
plt.show()
