"""SofiaFinder: a fake SoFiA executable for the wrapper logic, the real binary when installed."""

import gzip
import json
import os
import shutil
import stat
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.io.sofia_par import SofiaParameters, read_par
from astro_mlfinder.io.sofia_reader import read_sofia_xml
from astro_mlfinder.sofia.binary import SofiaVersionWarning, find_sofia_executable, sofia_version, strip_ansi
from astro_mlfinder.sofia.finder import SofiaFinder
from astro_mlfinder.sofia.outputs import sofia_outputs_to_catalog

FIXTURES = Path(
    os.environ.get(
        "ASTRO_MLFINDER_SOFIA_FIXTURES",
        Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "sofia2-2.5.1-small",
    )
)

# A stand-in for the SoFiA binary: prints SoFiA-like output, records the parameter file and the
# input cube it was given, and exits with the code in FAKE_SOFIA_RC (copying fixture outputs
# into the output directory on 0).
FAKE_SOFIA = """#!{python}
import os, re, shutil, sys, time, json
version = os.environ.get("FAKE_SOFIA_VERSION", "2.5.1 (16-Mar-2023)")
bar = "\\x1b[36m" + "_" * 76 + "\\x1b[0;1m"
def status(text):
    print(bar + "\\n\\n " + text + "\\n\\x1b[0;36m" + "_" * 76 + "\\x1b[0m\\n", flush=True)
status("Pipeline started")
print("  Using:    Source Finding Application (SoFiA)")
print("  Version:  " + version)
if len(sys.argv) < 2:
    sys.stderr.write("\\n\\x1b[31mERROR: Unexpected number of command line arguments.\\n"
                     "       Terminating with error code 7.\\x1b[0m\\n")
    sys.exit(7)
par = {{}}
for line in open(sys.argv[1]):
    line = line.strip()
    if line and line[0].isalnum() and "=" in line:
        key, value = line.split("=", 1)
        par[key.strip()] = value.split("#")[0].strip()
record = os.environ.get("FAKE_SOFIA_RECORD")
if record:
    shutil.copy(sys.argv[1], os.path.join(record, "received.par"))
    shutil.copy(par["input.data"], os.path.join(record, "received.fits"))
status("Loading parameter settings")
status("Loading data cube")
print("  Progress:  |\\x1b[33m====      \\x1b[0m| 40%\\r"
      "  Progress:  |\\x1b[33m==========\\x1b[0m| 100%")
time.sleep(float(os.environ.get("FAKE_SOFIA_SLEEP", "0")))
rc = int(os.environ.get("FAKE_SOFIA_RC", "0"))
messages = {{
    1: "No negative sources found. Cannot proceed.",
    5: "Failed to read data cube. Please ensure\\n       that the file exists and is readable.",
    7: "Illegal spectral kernel size encountered.",
    8: "No sources left after linking. Terminating pipeline.",
}}
if rc:
    sys.stderr.write("\\x1b[33mWARNING: Something odd happened.\\x1b[0m\\n")
    sys.stderr.write("\\n\\x1b[31mERROR: " + messages.get(rc, "Unexpected failure.") +
                     "\\n       Terminating with error code %d.\\x1b[0m\\n\\n" % rc)
    sys.exit(rc)
status("Running S+C finder")
base = os.path.join(par["output.directory"], par["output.filename"])
fixtures = os.environ["FAKE_SOFIA_FIXTURES"]
shutil.copy(os.path.join(fixtures, "out_small", "small_cat.xml"), base + "_cat.xml")
import gzip
for name in ("mask", "mask-raw"):
    with gzip.open(os.path.join(fixtures, "out_small", "small_%s.fits.gz" % name)) as src:
        open(base + "_%s.fits" % name, "wb").write(src.read())
status("Pipeline finished")
"""


@pytest.fixture
def fake_sofia(tmp_path, monkeypatch):
    """Path of the fake executable; SOFIA2_BIN points to it."""
    path = tmp_path / "bin" / "sofia"
    path.parent.mkdir()
    path.write_text(FAKE_SOFIA.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("SOFIA2_BIN", str(path))
    monkeypatch.setenv("FAKE_SOFIA_RECORD", str(record))
    monkeypatch.setenv("FAKE_SOFIA_FIXTURES", str(FIXTURES))
    monkeypatch.delenv("FAKE_SOFIA_RC", raising=False)
    return path


def small_cube(nz=20, ny=16, nx=16, seed=1):
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, 1e-3, (nz, ny, nx)).astype(np.float32)
    wcs = WCS(naxis=3)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ"]
    wcs.wcs.cunit = ["deg", "deg", "Hz"]
    wcs.wcs.cdelt = [-1.0 / 600, 1.0 / 600, 18518.5]
    wcs.wcs.crval = [150.0, -30.0, 1.4e9]
    wcs.wcs.crpix = [nx / 2, ny / 2, 1]
    hdu = fits.PrimaryHDU(data=data, header=wcs.to_header())
    hdu.header["BUNIT"] = "Jy/beam"
    hdu.header["BMAJ"] = hdu.header["BMIN"] = 0.005
    hdu.header["BPA"] = 0.0
    return hdu


def fixture_dir():
    if not (FIXTURES / "out_small" / "small_cat.xml").exists():
        pytest.skip("SoFiA-2 fixtures not available")
    return FIXTURES


@pytest.fixture(scope="module")
def fixture_image():
    path = fixture_dir()
    return load_image(path / "small_cube.fits.gz")


# --------------------------------------------------------------------------- discovery and version
def test_find_executable(fake_sofia, monkeypatch, tmp_path):
    assert find_sofia_executable() == str(fake_sofia)
    assert find_sofia_executable(fake_sofia) == str(fake_sofia)
    with pytest.raises(FileNotFoundError, match="not found or not executable"):
        find_sofia_executable(tmp_path / "missing" / "sofia")
    monkeypatch.setenv("SOFIA2_BIN", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="SOFIA2_BIN"):
        find_sofia_executable()
    monkeypatch.delenv("SOFIA2_BIN")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="compile.sh"):
        find_sofia_executable()
    monkeypatch.setenv("PATH", str(fake_sofia.parent))
    assert find_sofia_executable() == str(fake_sofia)


def test_version_from_the_banner(fake_sofia, monkeypatch):
    assert sofia_version(fake_sofia) == (2, 5, 1, "2.5.1 (16-Mar-2023)")


def test_strip_ansi():
    assert strip_ansi("\x1b[31mERROR: x\x1b[0m \x1b[0;36mok\x1b[0m") == "ERROR: x ok"


# --------------------------------------------------------------------------- exit codes
def test_exit_code_0_reads_the_catalogue(fake_sofia, fixture_image, tmp_path):
    finder = SofiaFinder(threshold=4.0, reliability=True)
    cat = finder(fixture_image, progress=False)
    assert len(cat) == 5
    expected_mask = fits.getdata(FIXTURES / "out_small" / "small_mask.fits.gz")
    assert np.array_equal(cat.segment, expected_mask)
    assert cat.products["mask_raw"].dtype == np.uint8
    assert cat.meta["sofia_exit_code"] == 0
    assert cat.meta["sofia_version"] == "2.5.1 (16-Mar-2023)"
    assert "Running S+C finder" in cat.meta["sofia_log"]
    assert cat.meta["finder"]["name"] == "sofia"
    assert cat.meta["finder"]["params"]["par"] == {
        "scfind.threshold": "4.0",
        "reliability.enable": "true",
    }
    # what SoFiA was given: a complete parameter file with lowercase booleans and absolute paths
    received = read_par(tmp_path / "record" / "received.par", resolve_paths=False)
    assert received["scfind.threshold"] == 4.0 and received["reliability.enable"] is True
    assert os.path.isabs(received["input.data"]) and os.path.isabs(received["output.directory"])
    assert received["output.writeCatXML"] and received["output.writeMask"]
    assert not received["output.writeCubelets"] and not received["reliability.plot"]
    text = (tmp_path / "record" / "received.par").read_text()
    assert "True" not in text and "False" not in text
    # the catalogue holds SoFiA's own values
    table = read_sofia_xml(FIXTURES / "out_small" / "small_cat.xml")
    for name in ("x", "f_sum", "rel", "fill", "mean", "kurt", "w20", "kin_pa"):
        assert np.array_equal(np.asarray(cat._column(name)), np.asarray(table[name]))


def test_exit_code_7_is_a_value_error_with_sofias_message(fake_sofia, monkeypatch):
    monkeypatch.setenv("FAKE_SOFIA_RC", "7")
    with pytest.raises(ValueError, match="exit code 7") as info:
        SofiaFinder()(small_cube(), progress=False)
    message = str(info.value)
    assert "Illegal spectral kernel size encountered." in message
    assert "Something odd happened" in message  # SoFiA's warnings are passed on
    assert "\x1b" not in message and "Terminating with error code" not in message


def test_exit_code_8_gives_an_empty_catalogue(fake_sofia, monkeypatch):
    monkeypatch.setenv("FAKE_SOFIA_RC", "8")
    cat = SofiaFinder()(small_cube(), progress=False)
    assert len(cat) == 0
    assert not cat.segment.any() and cat.segment.shape == (20, 16, 16)
    assert "No sources left after linking" in cat.meta["sofia_message"]


@pytest.mark.parametrize(
    "rc, match",
    [
        (1, r"exit code 1 \(failure\): No negative sources found"),
        (5, r"exit code 5 \(file access error\): Failed to read"),
        (139, r"exit code 139 \(unknown error\)"),
    ],
)
def test_other_exit_codes_are_runtime_errors(fake_sofia, monkeypatch, rc, match):
    monkeypatch.setenv("FAKE_SOFIA_RC", str(rc))
    with pytest.raises(RuntimeError, match=match):
        SofiaFinder()(small_cube(), progress=True)


def test_timeout(fake_sofia, monkeypatch):
    monkeypatch.setenv("FAKE_SOFIA_SLEEP", "20")
    with pytest.raises(TimeoutError, match="1 s"):
        SofiaFinder(timeout=1)(small_cube(), progress=False)
    with pytest.raises(ValueError, match="timeout"):
        SofiaFinder(timeout=0)


# --------------------------------------------------------------------------- input handling
def test_mask_blanks_pixels_in_the_cube_sofia_sees(fake_sofia, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_SOFIA_RC", "8")
    hdu = small_cube()
    mask = np.zeros(hdu.data.shape, dtype=bool)
    mask[:, :4, :] = True
    SofiaFinder()(hdu, mask=mask, progress=False)
    written = fits.open(tmp_path / "record" / "received.fits")[0]
    assert np.isnan(written.data[:, :4, :]).all()
    assert np.array_equal(written.data[:, 4:, :], hdu.data[:, 4:, :])
    assert written.header["BUNIT"] == "Jy/beam" and written.header["BMAJ"] == 0.005
    assert WCS(written.header).wcs.compare(WCS(hdu.header).wcs, tolerance=1e-12)


def test_plain_fits_file_is_passed_as_is(fake_sofia, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_SOFIA_RC", "8")
    path = tmp_path / "cube.fits"
    small_cube().writeto(path)
    SofiaFinder()(str(path), progress=False)
    received = read_par(tmp_path / "record" / "received.par", resolve_paths=False)
    assert received["input.data"] == str(path.resolve())


def test_kernels_checked_against_the_cube_before_running(fake_sofia, tmp_path):
    with pytest.raises(ValueError, match="spectral kernel 15 .* 10"):
        SofiaFinder()(small_cube(nz=10), progress=False)
    assert not (tmp_path / "record" / "received.par").exists()


def test_newer_sofia_gets_a_warning_and_both_spellings(fake_sofia, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_SOFIA_VERSION", "2.6.0 (01-Jan-2025)")
    monkeypatch.setenv("FAKE_SOFIA_RC", "8")
    with pytest.warns(SofiaVersionWarning, match="filter.minSNR"):
        SofiaFinder(reliability_min_snr=4.0)(small_cube(), progress=False)
    text = (tmp_path / "record" / "received.par").read_text()
    assert "filter.minSNR = 4.0" in text and "filter.discardNegative = true" in text
    assert "pipeline.pedantic" in text and "=  false" in text.split("pipeline.pedantic")[1][:20]


def test_constructor_validation(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'threshold'"):
        SofiaFinder(treshold=4.0)
    with pytest.raises(ValueError, match="keepNegative"):
        SofiaFinder(reliability=True, keep_negative=True)
    par = tmp_path / "x.par"
    par.write_text("scfind.threshold = 3.0\nlinker.radiusZ = 2\n")
    finder = SofiaFinder(par, radius_z=3)
    assert finder.params["scfind.threshold"] == 3.0 and finder.params["linker.radiusZ"] == 3
    assert finder.get_params()["par"] == {"scfind.threshold": "3.0", "linker.radiusZ": "3"}
    again = SofiaFinder(finder.get_params()["par"])  # get_params is enough to re-create it
    assert again.params == finder.params
    assert SofiaFinder(SofiaParameters({"linker.radiusZ": 2})).params["linker.radiusZ"] == 2
    with pytest.raises(ValueError, match="accepts 3D cubes"):
        SofiaFinder()(np.zeros((8, 8), dtype=np.float32) + 1.0, progress=False)


# --------------------------------------------------------------------------- recorded outputs
def test_recorded_outputs_into_a_catalogue(fixture_image):
    path = fixture_dir()
    params = read_par(path / "small.par")
    cat = sofia_outputs_to_catalog(
        fixture_image,
        path / "out_small" / "small_cat.xml",
        path / "out_small" / "small_mask.fits.gz",
        params=params,
        raw_mask=path / "out_small" / "small_mask-raw.fits.gz",
    )
    table = read_sofia_xml(path / "out_small" / "small_cat.xml")
    assert len(cat) == len(table) == 5
    assert list(cat.id) == list(table["id"])
    assert cat.physical and cat.meta["sofia_params"] is params
    assert cat.meta["sofia_catalog_params"]["Creator"] == "SoFiA 2.5.1 (16-Mar-2023)"
    assert cat.products["mask_raw"].sum() == 8275  # the S+C voxel count of the reference run
    for name in table.colnames:
        if name in ("name", "id"):
            continue
        ours = cat._column(name)
        assert np.array_equal(np.asarray(ours), np.asarray(table[name])), name
        assert getattr(ours, "unit", None) == getattr(table[name], "unit", None), name
    assert list(cat._column("name")) == list(table["name"])


def test_recorded_outputs_with_a_region(fixture_image):
    """input.region outputs are embedded so every position refers to the full cube."""
    path = fixture_dir()
    full = fits.getdata(path / "out_small" / "small_mask.fits.gz")
    region = (5, 127, 8, 127, 20, 255)  # holds every source
    sub = full[20:, 8:, 5:]
    params = SofiaParameters({"input.region": region})
    cat = sofia_outputs_to_catalog(
        fixture_image, path / "out_small" / "small_cat.xml", sub, params=params, region=region
    )
    assert np.array_equal(cat.segment, full)
    table = read_sofia_xml(path / "out_small" / "small_cat.xml")
    assert np.array_equal(np.asarray(cat._column("x_min")), np.asarray(table["x_min"]) + 5)
    assert np.array_equal(np.asarray(cat._column("z_peak")), np.asarray(table["z_peak"]) + 20)
    assert np.allclose(np.asarray(cat._column("y")), np.asarray(table["y"]) + 8)


def test_mismatched_outputs_are_refused(fixture_image):
    path = fixture_dir()
    with pytest.raises(RuntimeError, match="do not match"):
        sofia_outputs_to_catalog(
            fixture_image,
            path / "out_small" / "small_cat.xml",
            np.zeros(fixture_image.shape, dtype=np.int32),
        )


# --------------------------------------------------------------------------- the real binary
def real_sofia():
    try:
        path = find_sofia_executable()
    except FileNotFoundError:
        pytest.skip("no SoFiA-2 binary (set SOFIA2_BIN or put 'sofia' on PATH)")
    major, minor, _, _ = sofia_version(path)
    if (major, minor) != (2, 5):
        pytest.skip(f"SoFiA-2 {major}.{minor} is not the 2.5.x reference version")
    return path


@pytest.fixture(scope="module")
def fixture_cube_file(tmp_path_factory):
    path = fixture_dir()
    target = tmp_path_factory.mktemp("cube") / "small_cube.fits"
    with gzip.open(path / "small_cube.fits.gz") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def test_real_binary_reproduces_the_fixtures(fixture_cube_file):
    real_sofia()
    path = fixture_dir()
    finder = SofiaFinder(path / "small.par")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # physical=True notice of SourceCatalog
        cat = finder(str(fixture_cube_file), progress=False)
    assert np.array_equal(cat.segment, fits.getdata(path / "out_small" / "small_mask.fits.gz"))
    assert np.array_equal(
        cat.products["mask_raw"], fits.getdata(path / "out_small" / "small_mask-raw.fits.gz")
    )
    table = read_sofia_xml(path / "out_small" / "small_cat.xml")
    for name in table.colnames:
        if name != "id":
            assert np.array_equal(np.asarray(cat._column(name)), np.asarray(table[name])), name
    assert cat.meta["sofia_version"].startswith("2.5.")
    assert "Pipeline finished" in cat.meta["sofia_log"]


@pytest.mark.slow
def test_real_binary_no_sources_and_invalid_input(fixture_cube_file, tmp_path):
    real_sofia()
    cat = SofiaFinder(threshold=50.0)(str(fixture_cube_file), progress=False)
    assert len(cat) == 0 and cat.meta["sofia_exit_code"] == 8
    bad_mask = tmp_path / "mask.fits"
    fits.PrimaryHDU(np.zeros((4, 4, 4), dtype=np.int32)).writeto(bad_mask)
    with pytest.raises(ValueError, match="different sizes"):
        SofiaFinder(par={"input.mask": str(bad_mask)})(str(fixture_cube_file), progress=False)


@pytest.mark.slow
def test_real_binary_on_an_array_with_a_mask(fixture_cube_file):
    real_sofia()
    data = fits.getdata(fixture_cube_file)
    header = fits.getheader(fixture_cube_file)
    mask = np.zeros(data.shape, dtype=bool)
    mask[:, :, 64:] = True  # exclude the right half
    cat = SofiaFinder(threshold=5.0)(fits.PrimaryHDU(data, header), mask=mask, progress=False)
    assert len(cat) > 0
    assert not cat.segment[:, :, 64:].any()
    assert json.dumps(cat.meta["finder"]["params"])  # serialisable provenance
