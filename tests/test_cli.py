"""The astro-mlfinder command line, end to end."""

import subprocess
import sys

import numpy as np
from astropy.io import fits
from astropy.table import QTable

from astro_mlfinder.cli import main


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
