"""Swapping ClassicalFinder for NeuralFinder in a script changes nothing else."""

import pytest
from astropy.table import QTable
from regions import Regions

from astro_mlfinder import ClassicalFinder, NeuralFinder, SourceCatalog

pytest.importorskip("torch")


def _script(finder, cube, outdir):
    """A user's script: only the finder differs between runs."""
    cat = finder(cube, progress=False)
    table = cat.to_table()
    cat.to_regions().write(outdir / "sources.reg", format="ds9")
    paths = cat.write_products(outdir, "cube", regions=("ds9", "crtf"))
    cat.write(outdir / "cube.ecsv")
    return cat, table, paths


def test_same_script_both_finders(tmp_path, small_sim):
    cube = small_sim.to_hdu()
    results = {}
    for name, finder in (("classical", ClassicalFinder(threshold=5.0)), ("unet3d", NeuralFinder("unet3d"))):
        outdir = tmp_path / name
        outdir.mkdir()
        cat, table, paths = _script(finder, cube, outdir)
        assert isinstance(cat, SourceCatalog)
        assert len(cat) >= len(small_sim.truth) - 1
        assert len(Regions.read(outdir / "sources.reg", format="ds9")) == len(cat)
        assert len(QTable.read(outdir / "cube.ecsv")) == len(cat)
        results[name] = (table, sorted(p.name for p in paths))
    classical_cols = results["classical"][0].colnames
    neural_cols = results["unet3d"][0].colnames
    assert [c for c in neural_cols if c != "score"] == classical_cols
    assert "score" in neural_cols
    assert results["classical"][1] == results["unet3d"][1]
