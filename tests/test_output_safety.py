"""Products stay where they belong (issue 8, items 9, 10 and 11).

9: a prefix never leads outside the output directory, an empty prefix writes inside it, and no
   write ever replaces the input file, with or without overwrite;
10: ``find --par`` honours the .par's ``output.*`` keys as SoFiA-2 does, command-line options win;
11: ``find`` refuses outputs that already exist before it searches.
"""

import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

import astro_mlfinder.find
from astro_mlfinder.cli import main
from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.datasets import sample_path
from astro_mlfinder.io.products import write_products


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def cube(tmp_path):
    path = tmp_path / "data" / "cube.fits"
    path.parent.mkdir()
    shutil.copy(sample_path("sample_hi_cube.fits"), path)
    return path


def _catalog(path):
    """A catalogue read from ``path`` (a FITS cube), with one box source."""
    image = load_image(path)
    segment = np.zeros(image.shape, np.int32)
    segment[60:70, 40:50, 40:50] = 1
    return SourceCatalog(image, segment)


@pytest.fixture
def no_search(monkeypatch):
    """Fail the test if the CLI gets as far as building a finder."""

    def refuse(*args, **kwargs):
        raise AssertionError("the search started")

    monkeypatch.setattr(astro_mlfinder.find, "make_finder", refuse)


# ------------------------------------------------------------------ item 9: write_products, cat.write
@pytest.mark.parametrize("prefix", ["../escaped", "ABSOLUTE", "sub/name", "..", "a\\b"])
def test_prefix_outside_the_directory_is_refused(tmp_path, cube, prefix):
    if prefix == "ABSOLUTE":
        prefix = str(tmp_path / "elsewhere")
    cat = _catalog(cube)
    out = tmp_path / "out"
    before = _tree(tmp_path)
    with pytest.raises(ValueError, match=r"product prefix .* is not a plain file name.*--output-dir") as info:
        write_products(cat, out, prefix, regions=())
    assert repr(prefix) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="is not a plain file name"):
        cat.write_products(out, prefix, regions=())
    assert _tree(tmp_path) == before


def test_empty_prefix_writes_inside_the_directory(tmp_path, cube):
    out = tmp_path / "out"
    paths = write_products(_catalog(cube), out, "", cubelets=True, regions=("ds9", "crtf"))
    assert paths and all(out in p.parents for p in paths)
    assert {p.name for p in out.iterdir()} >= {"_cat.txt", "_cat.xml", "_mask.fits", "_mom0.fits", ".reg",
                                                ".crtf", "_cubelets"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_products_never_replace_the_input(tmp_path, cube, overwrite):
    victim = cube.parent / "cube_mask.fits"  # the user searches a file named like a product
    shutil.copy(cube, victim)
    original = victim.read_bytes()
    cat = _catalog(victim)
    with pytest.raises(ValueError, match=r"refusing to write .*cube_mask.fits: it is the input file"):
        write_products(cat, cube.parent, "cube", overwrite=overwrite, regions=())
    link = tmp_path / "link"
    link.symlink_to(cube.parent)  # the same file through another path
    with pytest.raises(ValueError, match="it is the input file"):
        write_products(cat, link, "cube", overwrite=overwrite, regions=())
    os.link(victim, tmp_path / "hard.fits")  # and through a hard link
    with pytest.raises(ValueError, match="it is the input file"):
        cat.write(tmp_path / "hard.fits", format="fits", overwrite=overwrite)
    with pytest.raises(ValueError, match="it is the input file"):
        cat.write(victim, format="fits", overwrite=overwrite)
    assert victim.read_bytes() == original
    assert sorted(p.name for p in cube.parent.iterdir()) == ["cube.fits", "cube_mask.fits"]


def test_cli_never_replaces_the_input(tmp_path, cube, capsys, no_search):
    victim = cube.parent / "x_mask.fits"
    shutil.copy(cube, victim)
    original = victim.read_bytes()
    code = main(["find", str(victim), "--prefix", "x", "--output-dir", str(cube.parent), "--overwrite",
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert err.startswith("astro-mlfinder: error: refusing to write") and "x_mask.fits: it is the input" in err
    assert victim.read_bytes() == original


@pytest.mark.parametrize("prefix", ["../x", "ABSOLUTE"])
def test_cli_prefix_outside_is_refused(tmp_path, cube, capsys, no_search, prefix):
    if prefix == "ABSOLUTE":
        prefix = str(tmp_path / "x")
    before = _tree(tmp_path)
    assert main(["find", str(cube), "--prefix", prefix, "--output-dir", str(tmp_path / "o"),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert f"product prefix {prefix!r} is not a plain file name" in err and "\n" not in err
    assert _tree(tmp_path) == before


def test_par_filename_outside_is_refused(tmp_path, cube, capsys, no_search):
    par = tmp_path / "run.par"
    par.write_text("output.filename = ../../escaped\n")
    assert main(["find", str(cube), "--par", str(par), "--no-progress"]) == 1
    assert "product prefix '../../escaped' is not a plain file name" in capsys.readouterr().err


# ------------------------------------------------------------------ item 10: --par output.* keys
def test_find_honours_par_output_keys(tmp_path, cube, capsys):
    par = tmp_path / "run.par"
    par.write_text(
        "scfind.threshold = 5.0\n"
        f"output.directory = {tmp_path / 'parout'}\n"
        "output.filename = mine\n"
        "output.writeCatXML = false\n"
        "output.writeMask = false\n"
        "output.writeMoments = true\n"
        "output.writeCubelets = true\n"
        "output.marginCubelets = 3\n"
        "output.overwrite = false\n"
    )
    assert main(["find", str(cube), "--par", str(par), "--regions", "ds9", "--no-progress"]) == 0
    out = tmp_path / "parout"
    names = {p.name for p in out.iterdir()}
    assert names == {"mine_cat.txt", "mine_mom0.fits", "mine_mom1.fits", "mine_mom2.fits", "mine_chan.fits",
                     "mine_cubelets", "mine.reg", "mine_cat.ecsv"}
    cubelet = fits.getdata(out / "mine_cubelets" / "mine_1_mask.fits")
    mask_extent = np.argwhere(cubelet > 0)
    assert (mask_extent.min(axis=0) == 3).all()  # marginCubelets = 3
    assert sorted(p.name for p in cube.parent.iterdir()) == ["cube.fits"]
    capsys.readouterr()
    # output.overwrite = false: a second run is refused, --overwrite wins
    assert main(["find", str(cube), "--par", str(par), "--regions", "ds9", "--no-progress"]) == 1
    assert "mine_cat.txt already exists" in capsys.readouterr().err
    assert main(["find", str(cube), "--par", str(par), "--regions", "ds9", "--overwrite", "--no-progress"]) == 0


def test_par_defaults_follow_sofia_and_command_line_wins(tmp_path, cube, capsys):
    par = tmp_path / "run.par"
    par.write_text("scfind.threshold = 5.0\noutput.writeMask = true\n")
    # no output.directory / output.filename: next to the input, named after it (SoFiA-2)
    assert main(["find", str(cube), "--par", str(par), "--regions", "", "--no-progress"]) == 0
    assert {p.name for p in cube.parent.iterdir()} == {"cube.fits", "cube_cat.txt", "cube_cat.xml",
                                                       "cube_mask.fits", "cube_cat.ecsv"}
    # output.overwrite defaults to true in SoFiA-2: the rerun replaces; --no-overwrite wins
    assert main(["find", str(cube), "--par", str(par), "--regions", "", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["find", str(cube), "--par", str(par), "--regions", "", "--no-overwrite", "--no-progress"]) == 1
    assert "already exists" in capsys.readouterr().err
    par.write_text(f"scfind.threshold = 5.0\noutput.directory = {tmp_path / 'ignored'}\noutput.filename = no\n")
    out = tmp_path / "cli"
    assert main(["find", str(cube), "--par", str(par), "--output-dir", str(out), "--prefix", "yes",
                 "--regions", "", "--no-progress"]) == 0
    assert {p.name for p in out.iterdir()} == {"yes_cat.txt", "yes_cat.xml", "yes_cat.ecsv"}
    assert not (tmp_path / "ignored").exists()


# ------------------------------------------------------------------ item 11: refuse before searching
@pytest.mark.parametrize("existing", ["c_mom0.fits", "c.crtf", "c_cat.ecsv"])
def test_existing_outputs_are_refused_before_the_search(tmp_path, cube, capsys, no_search, existing):
    out = tmp_path / "o"
    out.mkdir()
    shutil.copy(cube, tmp_path / "c.fits")
    (out / existing).write_text("keep me")
    assert main(["find", str(tmp_path / "c.fits"), "--output-dir", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"astro-mlfinder: error: {out / existing} already exists; use --overwrite to replace it"
    assert [p.name for p in out.iterdir()] == [existing]
    assert (out / existing).read_text() == "keep me"
