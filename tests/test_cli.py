"""The astro-mlfinder command line, end to end."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from astro_mlfinder.cli import build_parser, main


def test_demo_writes_products(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "source(s) found" in text and "recall" in text
    names = {p.name for p in out.iterdir()}
    for suffix in ("_cat.txt", "_cat.xml", "_mask.fits", "_mom0.fits", ".reg", ".crtf"):
        assert any(n.endswith(suffix) for n in names), (suffix, names)
    mask = fits.getdata(next(out.glob("*_mask.fits")))
    assert mask.max() >= 1


def test_find_simulate_evaluate(tmp_path, capsys):
    assert main(["simulate", "hi", "--seed", "3", "--output", str(tmp_path), "--shape", "64,48,48",
                 "--n-sources", "3"]) == 0
    cube = tmp_path / "sim_hi_3.fits"
    truth = tmp_path / "sim_hi_3_truth.ecsv"
    assert cube.exists() and truth.exists()
    out = tmp_path / "out"
    assert main(["find", str(cube), "--output-dir", str(out), "--no-progress", "--regions", "ds9"]) == 0
    cat = next(out.glob("*_cat.ecsv"))
    assert len(QTable.read(cat)) >= 1
    capsys.readouterr()
    assert main(["evaluate", str(cat), str(truth)]) == 0
    assert "f1" in capsys.readouterr().out


def test_bad_input_is_one_line_error(tmp_path, capsys):
    assert main(["find", str(tmp_path / "missing.fits"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("astro-mlfinder: error:") and "not found" in err and "\n" not in err
    bad = tmp_path / "spectrum.fits"
    fits.PrimaryHDU(np.ones(16, np.float32)).writeto(bad)
    assert main(["find", str(bad), "--no-progress"]) == 1
    assert "must be a 2D image (y, x) or a 3D cube (z, y, x)" in capsys.readouterr().err
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.ones((16, 16), np.float32)).writeto(image)
    assert main(["find", str(image), "--threshold", "-1", "--no-progress"]) == 1
    assert "threshold must be a positive number" in capsys.readouterr().err


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "astro_mlfinder.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "find" in result.stdout


def test_weights_verify_refuses_names_and_removes_a_corrupted_cached_file(tmp_path, monkeypatch, capsys):
    """Issue 8 item 5: a corrupted cached weights file fails verify (exit 1), is named and removed."""
    import shutil

    from astro_mlfinder.neural import weights

    cache = tmp_path / "cache"
    monkeypatch.setenv("ASTRO_MLFINDER_CACHE_DIR", str(cache))
    monkeypatch.delenv("ASTRO_MLFINDER_WEIGHTS_URL", raising=False)
    (item,) = weights.entry_files(weights.get_entry("unet3d"))
    cache.mkdir()
    cached = cache / item["file"]
    shutil.copyfile(weights.bundled_weights_dir() / item["file"], cached)
    assert main(["weights", "verify", "unet3d"]) == 0
    assert "unet3d: sha256 OK" in capsys.readouterr().out

    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    cached.write_bytes(bytes(data))
    for argv in (["weights", "verify", "unet3d"], ["weights", "verify"]):
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert "sha256 OK" not in captured.out
        err = captured.err.strip()
        assert err.startswith("astro-mlfinder: error:") and "\n" not in err
        assert str(cached) in err and "astro-mlfinder weights fetch unet3d" in err
        assert not cached.exists()
        cached.write_bytes(bytes(data))
    # a named entry that is not cached fails; the all-entries form reports it and succeeds
    cached.unlink()
    assert main(["weights", "verify", "unet3d"]) == 1
    assert "not cached" in capsys.readouterr().err
    assert main(["weights", "verify"]) == 0
    assert "unet3d: not cached" in capsys.readouterr().out


# ---------------------------------------------------------------- issue 13: options, table, plots, quiet
SEXAGESIMAL = re.compile(r"\b\d\d:\d\d:\d\d\.\d\d [+-]\d\d:\d\d:\d\d\.\d\b")


def _subparsers(parser):
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    missing = [f"astro-mlfinder {a.dest}" for a in parser._actions if not (a.help or "").strip()]
    for name, sub in _subparsers(parser).items():
        missing += [f"{name} {a.option_strings or a.dest}" for a in sub._actions if not (a.help or "").strip()]
    assert missing == []
    assert len(_subparsers(parser)) == 6


def test_finder_choices_come_from_the_registry(monkeypatch):
    from astro_mlfinder.find import finder_names
    from astro_mlfinder.neural import models

    def choices():
        find = _subparsers(build_parser())["find"]
        return next(a for a in find._actions if a.dest == "finder").choices

    assert tuple(choices()) == finder_names()
    monkeypatch.setattr(models, "available_models", lambda: ("unet3d", "pretend"))
    assert tuple(choices()) == ("classical", "sofia", "unet3d", "pretend")


@pytest.fixture(scope="module")
def small_cube(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "hi", "--seed", "3", "--output", str(out), "--shape", "64,48,48", "--n-sources", "3",
                 "--quiet"]) == 0
    return out / "sim_hi_3.fits", out / "sim_hi_3_truth.ecsv"


def _files(directory):
    return sorted(str(p) for p in directory.rglob("*") if p.is_file())


def _wrote(text):
    """The files a command says it wrote; a ``wrote FOLDER/ (N files)`` line stands for the N files in FOLDER."""
    files = []
    for line in text.splitlines():
        if not line.startswith("wrote "):
            continue
        path = line.removeprefix("wrote ")
        if path.endswith(" files)"):
            folder, count = path.rsplit(" (", 1)
            inside = sorted(str(p) for p in Path(folder).rglob("*") if p.is_file())
            assert len(inside) == int(count.split()[0]), line
            files += inside
        else:
            files.append(path)
    return files


def test_find_prints_the_physical_table_and_writes_the_plots(small_cube, tmp_path, capfd):
    pytest.importorskip("matplotlib")
    cube, _ = small_cube
    out = tmp_path / "out"
    assert main(["find", str(cube), "--output-dir", str(out), "--plots", "--no-progress"]) == 0
    captured = capfd.readouterr()
    assert captured.err == ""  # --no-progress: no bar at all
    lines = captured.out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("id"))
    assert header.split() == ["id", "ra", "dec", "v_rad", "w20", "w50", "f_int", "snr", "n_pix", "flag"]
    assert "km / s" in captured.out and "Jy km / s" in captured.out
    assert SEXAGESIMAL.search(captured.out)
    assert max(len(line) for line in lines if not line.startswith("wrote ")) <= 100
    written = _wrote(captured.out)
    for name in ("sim_hi_3_overview.png", "sim_hi_3_spectra.png", "sim_hi_3_pv.png"):
        assert str(out / name) in written
    assert sorted(written) == _files(out)  # everything written is listed

    # an existing plot is refused before the search, and nothing else is written
    again = tmp_path / "again"
    again.mkdir()
    (again / "sim_hi_3_pv.png").write_bytes(b"mine")
    assert main(["find", str(cube), "--output-dir", str(again), "--plots", "--no-progress"]) == 1
    assert "sim_hi_3_pv.png already exists; use --overwrite" in capfd.readouterr().err
    assert [p.name for p in again.iterdir()] == ["sim_hi_3_pv.png"]


def test_progress_bars_show_unless_no_progress_or_quiet(small_cube, tmp_path, capfd):
    cube, _ = small_cube
    assert main(["find", str(cube), "--output-dir", str(tmp_path / "a"), "--regions", ""]) == 0
    assert "S+C" in capfd.readouterr().err  # the bar is there by default
    assert main(["find", str(cube), "--output-dir", str(tmp_path / "b"), "--regions", "", "--quiet"]) == 0
    assert capfd.readouterr() == ("", "")
    assert any((tmp_path / "b").iterdir())


def test_weights_download_bar_honours_no_progress_and_quiet(tmp_path, monkeypatch, capfd):
    monkeypatch.delenv("ASTRO_MLFINDER_WEIGHTS_URL", raising=False)  # the checkout's bundled file:// mirror
    for run, flags in enumerate(([], ["--no-progress"], ["--quiet"])):
        monkeypatch.setenv("ASTRO_MLFINDER_CACHE_DIR", str(tmp_path / f"cache{run}"))
        assert main(["weights", "fetch", "unet3d", *flags]) == 0
        out, err = capfd.readouterr()
        assert list((tmp_path / f"cache{run}").glob("*.pt")), "the weights were downloaded"
        if not flags:
            assert "MiB" in err and out.strip().endswith(".pt")
        elif flags == ["--no-progress"]:
            assert err == "" and out.strip().endswith(".pt")
        else:
            assert (out, err) == ("", "")


def test_neural_find_quiet_shows_no_download_or_inference_bar(small_cube, tmp_path, monkeypatch, capfd):
    pytest.importorskip("torch")
    monkeypatch.delenv("ASTRO_MLFINDER_WEIGHTS_URL", raising=False)
    monkeypatch.setenv("ASTRO_MLFINDER_CACHE_DIR", str(tmp_path / "cache"))  # empty: the weights are downloaded
    cube, _ = small_cube
    assert main(["find", str(cube), "--finder", "unet3d", "--device", "cpu", "--output-dir", str(tmp_path / "o"),
                 "--quiet"]) == 0
    assert capfd.readouterr() == ("", "")
    assert list((tmp_path / "cache").glob("*.pt")) and any((tmp_path / "o").iterdir())


def test_demo_lists_every_file_and_the_next_commands(tmp_path, capfd):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out), "--no-progress"]) == 0
    text, err = capfd.readouterr()
    assert err == ""
    written = _wrote(text)
    assert sorted(written) == _files(out)
    for name in ("overview", "spectra", "pv", "truth"):
        assert str(out / f"sample_hi_cube_{name}.png") in written
    assert SEXAGESIMAL.search(text) and "Jy km / s" in text
    tail = text[text.index("Next, try:"):].splitlines()
    assert any("--plots" in line for line in tail) and any("evaluate" in line and "--plot" in line for line in tail)
    assert any(line.strip().startswith("ds9 ") and line.strip().endswith("sample_hi_cube.reg") for line in tail)


def test_demo_without_matplotlib_says_how_to_get_the_plots(tmp_path, monkeypatch, capfd):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    monkeypatch.chdir(tmp_path)  # relative paths: no "matplotlib" from the test's name in the printed paths
    out = tmp_path / "demo"
    assert main(["demo", "--output-dir", "demo", "--no-progress"]) == 0
    text = capfd.readouterr().out
    notes = [line for line in text.splitlines() if "matplotlib" in line]
    assert notes == ["no plots written: matplotlib is not installed (pip install 'astro_mlfinder[plot]' to get them)"]
    assert "--plot" not in text  # the next commands do not offer what cannot run
    assert not list(out.glob("*.png"))
    assert sorted(str(tmp_path / p) for p in _wrote(text)) == _files(out)


def test_evaluate_plot(small_cube, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    cube, truth = small_cube
    assert main(["find", str(cube), "--output-dir", str(tmp_path), "--quiet"]) == 0
    catalog = tmp_path / "sim_hi_3_cat.ecsv"
    plot = tmp_path / "truth.png"
    assert main(["evaluate", str(catalog), str(truth), "--plot", str(plot)]) == 0
    assert "recall" in capsys.readouterr().out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["evaluate", str(catalog), str(truth), "--plot", str(plot)]) == 1
    assert "truth.png already exists; use --overwrite" in capsys.readouterr().err
    assert main(["evaluate", str(catalog), str(truth), "--plot", str(plot), "--overwrite"]) == 0


def test_find_reliability_neural_vets_the_candidates_and_refuses_sofia(small_cube, tmp_path, capfd):
    pytest.importorskip("torch")
    cube, truth = small_cube
    for finder in ("classical", "unet3d"):
        out = tmp_path / finder
        assert main(["find", str(cube), "--finder", finder, "--reliability", "neural", "--device", "cpu",
                     "--output-dir", str(out), "--regions", "", "--quiet"]) == 0
        table = QTable.read(out / "sim_hi_3_cat.ecsv")
        rel = np.asarray(table["rel"], float)
        # sources are found, each with the CNN's score
        assert len(table) >= 1 and np.all((rel >= 0) & (rel <= 1))
    capfd.readouterr()
    assert main(["find", str(cube), "--finder", "sofia", "--reliability", "neural", "--output-dir",
                 str(tmp_path / "s"), "--no-progress"]) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert err == ["astro-mlfinder: error: --reliability neural applies to the classical finder and the neural cube "
                   "finders, not 'sofia' (SoFiA-2's own filter is set in its --par file)"]


def test_find_pais_writes_the_deblended_images_and_checks_their_path_first(tmp_path, capsys):
    assert main(["simulate", "blends", "--seed", "5", "--output", str(tmp_path), "--shape", "64,64", "-q"]) == 0
    image = tmp_path / "sim_blends_5.fits"
    out = tmp_path / "out"
    assert main(["find", str(image), "--finder", "pais", "--device", "cpu", "--output-dir", str(out),
                 "--prefix", "f", "--no-progress", "--regions", ""]) == 0
    cat = QTable.read(out / "f_cat.ecsv")
    with fits.open(out / "f_deblended.fits") as hdul:
        planes, header = hdul[0].data, hdul[0].header
    assert len(cat) >= 1 and planes.shape == (len(cat), 64, 64)
    assert [header[f"ID{n + 1}"] for n in range(len(cat))] == [int(i) for i in cat["id"]]
    # each plane is its source's deblended flux: its sum is the catalogue's flux column
    np.testing.assert_allclose(planes.sum(axis=(1, 2)), np.asarray(getattr(cat["flux"], "value", cat["flux"])),
                               rtol=1e-4)
    # an existing deblended file (and no other) is refused before the search, and left as it was
    again = tmp_path / "again"
    again.mkdir()
    (again / "f_deblended.fits").write_bytes(b"keep")
    capsys.readouterr()
    assert main(["find", str(image), "--finder", "pais", "--device", "cpu", "--output-dir", str(again),
                 "--prefix", "f", "--no-progress", "--regions", ""]) == 1
    assert "f_deblended.fits" in capsys.readouterr().err
    assert sorted(p.name for p in again.iterdir()) == ["f_deblended.fits"]
    assert (again / "f_deblended.fits").read_bytes() == b"keep"


def test_train_pais_init_warm_starts_from_registered_weights(tmp_path):
    torch = pytest.importorskip("torch")
    out = tmp_path / "w.pt"
    assert main(["train", "pais", "--init", "pais", "--epochs", "1", "--train-images", "8", "--val-images", "0",
                 "--batch-size", "8", "--lr", "1e-9", "--output", str(out), "--no-progress", "--num-threads",
                 "1"]) == 0
    got = torch.load(out, weights_only=True)
    assert "--init pais" in got["meta"]["training"]["command"]
    from astro_mlfinder.neural.weights import fetch, get_entry

    entry = get_entry("pais")
    init = got["meta"]["training"]["init"]  # where the start came from is recorded, with its checksum
    assert init["source"] == "pais" and init["file"] == f"pais-{entry['version']}.pt"
    start = torch.load(fetch("pais", progress=False), weights_only=True)
    assert init["sha256"] and got["config"] == start["config"]
    key = next(k for k, v in start["state_dict"].items() if v.is_floating_point() and "weight" in k)
    # lr ~ 0: still the shipped (float16) values
    torch.testing.assert_close(got["state_dict"][key].float(), start["state_dict"][key].float(), atol=1e-6, rtol=0)
