"""SoFiA-image-pipeline (SIP) as a real client of our products (issue 13, item 4).

SIP (PyPI ``sofia-image-pipeline``, command ``sofia_image_pipeline``) makes the figures HI astronomers
publish from SoFiA-2 products: per source a moment-0 map with column-density contours, SNR, velocity
field and dispersion maps, and the masked and aperture spectra. It reads the catalogue and the
``<prefix>_cubelets/`` folder that `write_products` writes by default. Here it runs offline
(``-s none``: no survey image is downloaded) on the products of a classical and a neural
(``unet3d``) search of the bundled sample cube, and must make every figure of every source, and
aperture spectra in which each source stands out in its channels.

The command is ``$ASTRO_MLFINDER_SIP`` when set (e.g. a SIP installed in its own virtual
environment), else ``sofia_image_pipeline`` on PATH (the ``test`` extra installs it); without it
the test is skipped with that reason, or fails when ``ASTRO_MLFINDER_REQUIRE_CLIENTS`` is set
(``.ci/run`` sets it where it installed the clients).
"""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from astro_mlfinder.datasets import sample_path

#: the figures SIP makes of each source of a cube in offline mode (PV diagrams need SoFiA's _pv files)
FIGURES = ("mom0", "snr", "mom1", "mom2", "spec", "specfull", "specboth")
MIN_BYTES = 10_000  # a figure with axes, labels and data; an empty PNG is a few hundred bytes


def _sip_command():
    explicit = os.environ.get("ASTRO_MLFINDER_SIP")
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            pytest.fail(f"ASTRO_MLFINDER_SIP={explicit!r} is not an executable file")
        return explicit
    found = shutil.which("sofia_image_pipeline")
    if found is None:
        if os.environ.get("ASTRO_MLFINDER_REQUIRE_CLIENTS"):
            pytest.fail("sofia_image_pipeline is not on PATH and ASTRO_MLFINDER_REQUIRE_CLIENTS is set")
        pytest.skip("SoFiA-image-pipeline is not installed (pip install sofia-image-pipeline, or set "
                    "ASTRO_MLFINDER_SIP to its sofia_image_pipeline command)")
    return found


def _search(finder_name):
    if finder_name == "classical":
        from astro_mlfinder import ClassicalFinder

        return ClassicalFinder()(sample_path("sample_hi_cube.fits"), progress=False)
    pytest.importorskip("torch")
    from astro_mlfinder import NeuralFinder

    return NeuralFinder("unet3d")(sample_path("sample_hi_cube.fits"), progress=False)


@pytest.fixture(scope="module")
def sip_runs(tmp_path_factory):
    """Products of both searches, and SIP run on each (both at once: it is mostly waiting on matplotlib)."""
    command = _sip_command()
    runs = {}
    for name in ("classical", "unet3d"):
        outdir = tmp_path_factory.mktemp(name)
        cat = _search(name)
        cat.write_products(outdir, "sample")
        # -o: the searched cube, so SIP measures each aperture spectrum over all channels with our _mask.fits
        args = [command, "-c", str(outdir / "sample_cat.xml"), "-s", "none",
                "-o", str(sample_path("sample_hi_cube.fits")), "-log", str(outdir / "sip.log")]
        env = dict(os.environ, MPLBACKEND="Agg")
        process = subprocess.Popen(args, cwd=outdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        runs[name] = (cat, outdir, process)
    results = {}
    for name, (cat, outdir, process) in runs.items():
        try:
            output, _ = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            pytest.fail(f"SoFiA-image-pipeline on the {name} products ran past 300 s:\n{output[-3000:]}")
        results[name] = (cat, outdir, process.returncode, output)
    return results


@pytest.mark.parametrize("name", ["classical", "unet3d"])
def test_sip_makes_every_figure_of_every_source(sip_runs, name):
    cat, outdir, returncode, output = sip_runs[name]
    tail = output[-3000:]
    assert returncode == 0, tail
    assert len(cat) >= 3, f"the {name} search found {len(cat)} sources in the sample cube"
    # SIP catches a failing source, logs it and goes on: its summary line says whether all worked
    assert f"DONE! Made images for {len(cat)} sources." in output, tail
    assert "Failed for" not in output and "Traceback" not in output, tail
    figures = outdir / "sample_figures"
    expected = sorted(f"sample_{int(sid)}_{kind}.png" for sid in cat.id for kind in FIGURES)
    made = sorted(p.name for p in figures.glob("*.png"))
    assert made == expected
    for png in expected:
        data = (figures / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > MIN_BYTES, (png, len(data))
    # the aperture spectra SIP measured through our 2-D masks: every channel of the cube, the source's
    # channels well above the noise of the others
    for source in cat:
        chan, f_sum, n_pix = _aperture_spectrum(figures / f"sample_{int(source.id)}_specfull.txt")
        assert np.array_equal(chan, np.arange(96)) and (n_pix > 0).all() and (n_pix == n_pix[0]).all()
        inside = (chan >= source.z_min.value) & (chan <= source.z_max.value)
        noise = f_sum[~inside].std()
        assert f_sum[inside].sum() > 5 * noise * np.sqrt(inside.sum()), int(source.id)


def _aperture_spectrum(path):
    """chan, f_sum, n_pix of SIP's ``_specfull.txt`` (a fixed-width table after its # comments)."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    names = lines[0].split()
    assert names == ["chan", "freq", "f_sum", "n_pix"] and set(lines[1]) <= {"-", " "}, lines[:2]
    rows = np.array([[float(v) for v in line.split()] for line in lines[2:]])
    return rows[:, 0].astype(int), rows[:, 2], rows[:, 3].astype(int)


def test_sip_reads_our_ascii_catalogue_too(sip_runs, tmp_path):
    """SIP also takes the SoFiA ASCII catalogue (header on line 18 as SoFiA-2 writes it)."""
    command = _sip_command()
    cat, outdir, _, _ = sip_runs["classical"]
    work = tmp_path / "ascii"
    shutil.copytree(outdir, work, ignore=shutil.ignore_patterns("sample_figures", "*.log"))
    sid = int(cat.id[0])
    args = [command, "-c", str(work / "sample_cat.txt"), "-s", "none", "-id", str(sid), "-spec",
            "-log", str(work / "sip.log")]
    done = subprocess.run(args, cwd=work, env=dict(os.environ, MPLBACKEND="Agg"), capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "DONE! Made images for 1 sources." in output, output[-3000:]
    spec = work / "sample_figures" / f"sample_{sid}_spec.png"
    assert spec.exists() and spec.stat().st_size > MIN_BYTES

