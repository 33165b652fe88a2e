"""
Region files for DS9 and CARTA
==============================

``cat.write("sources.reg")`` and ``cat.write("sources.crtf")`` write one ellipse per source, labelled
with its id. DS9 draws regions on every slice of a cube and its format has no spectral range, so the
DS9 file carries each source's channels as a tag, a region group in DS9 named after DS9's 1-based
slice numbers. The CRTF file, which CARTA and CASA read, carries the spectral range of each source in
Hz (km/s for velocity axes) with the rest frequency; CASA and spectral-cube apply it, CARTA keeps it
without applying it per channel.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from astro_mlfinder import ClassicalFinder
from astro_mlfinder.datasets import sample_path

cat = ClassicalFinder()(sample_path("sample_hi_cube.fits"), progress=False)
outdir = Path(tempfile.mkdtemp())

# %%
# The DS9 file.
print(cat.write(outdir / "sample.reg").read_text())

# %%
# The CRTF file for CARTA and CASA.
print(cat.write(outdir / "sample.crtf").read_text())

# %%
# The same ellipses on the moment-0 map, as ``cat.plot()`` draws them.
ax = cat.plot()
plt.show()
