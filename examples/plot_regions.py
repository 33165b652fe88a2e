"""
Region files for DS9 and CARTA
==============================

``cat.write("sources.reg")`` and ``cat.write("sources.crtf")`` write one ellipse per source, labelled
with its id. DS9's region format has no spectral range, so the DS9 file carries each source's
channels as a tag (``slices a-b``, DS9's 1-based slice numbers), a region group in DS9; the CRTF
file, which CARTA reads, carries ``range=[lo, hi]`` in Hz (km/s for velocity axes) with the rest
frequency.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import astro_mlfinder.visualization  # noqa: F401  (gives SourceCatalog.plot)
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
