"""Issue 8 regressions for input normalisation: invalid beams, axis order, kept CTYPEs, one-line errors."""

import warnings

import numpy as np
import pytest
from astropy.io import fits

from astro_mlfinder.classical import ClassicalFinder
from astro_mlfinder.core.exceptions import AstroMLFinderWarning
from astro_mlfinder.core.inputs import load_image


def _header(shape=(24, 20, 20), ctype3="FREQ", cunit3="Hz", cdelt3=1e5, crval3=1.42e9):
    nz, ny, nx = shape
    h = fits.Header()
    h["NAXIS"] = 3
    for i, n in enumerate((nx, ny, nz), start=1):
        h[f"NAXIS{i}"] = n
    h.update({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CTYPE3": ctype3, "CDELT1": -2e-3,
              "CDELT2": 2e-3, "CDELT3": cdelt3, "CRVAL1": 150.0, "CRVAL2": 30.0, "CRVAL3": crval3,
              "CRPIX1": 10, "CRPIX2": 10, "CRPIX3": 1, "CUNIT1": "deg", "CUNIT2": "deg",
              "CUNIT3": cunit3, "BUNIT": "Jy/beam", "BMAJ": 6e-3, "BMIN": 6e-3, "BPA": 0.0})  # fmt: skip
    return h


def _cube(shape=(24, 20, 20), seed=1):
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, 1.0, shape).astype(np.float32)
    z, y, x = np.indices(shape)
    data += 8.0 * np.exp(-0.5 * (((z - 12) / 2.0) ** 2 + ((y - 7) / 1.5) ** 2 + ((x - 12) / 1.5) ** 2))
    return data


def _package_warnings(record):
    return [w for w in record if issubclass(w.category, AstroMLFinderWarning)]


# ------------------------------------------------------------------ item 2: invalid beams
@pytest.mark.parametrize(
    "cards",
    [
        {"BMAJ": -1.0, "BMIN": -1.0},
        {"BMAJ": 0.0, "BMIN": 0.0},
        {"BMAJ": 6e-3, "BMIN": -1.0},
        {"BMAJ": float("nan"), "BMIN": 6e-3},
        {"BMAJ": 6e-3, "BMIN": None},  # BMIN missing
    ],
)
def test_invalid_beam_is_no_beam_with_one_warning(cards):
    header = _header()
    for key, value in cards.items():
        if value is None:
            del header[key]
        elif value != value:
            header[key] = "NaN"  # astropy cannot write a NaN float card
        else:
            header[key] = value
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        image = load_image(fits.PrimaryHDU(_cube(), header))
    assert image.beam is None
    assert image.beam_area == 1.0
    found = _package_warnings(record)
    assert len(found) == 1, [str(w.message) for w in record]
    message = str(found[0].message)
    assert "BMAJ" in message and "no beam" in message
    assert repr(header.get("BMAJ")) in message


def test_invalid_beam_gives_the_same_catalogue_as_no_beam():
    data = _cube()
    bad = _header()
    bad["BMAJ"] = bad["BMIN"] = -1.0
    none = _header()
    del none["BMAJ"], none["BMIN"], none["BPA"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstroMLFinderWarning)
        cat_bad = ClassicalFinder(threshold=4.0)(fits.PrimaryHDU(data, bad), progress=False)
    cat_none = ClassicalFinder(threshold=4.0)(fits.PrimaryHDU(data, none), progress=False)
    assert len(cat_bad) == len(cat_none) >= 1
    cat_bad, cat_none = cat_bad.to_table(), cat_none.to_table()
    for name in cat_none.colnames:
        if getattr(cat_none[name], "dtype", np.dtype("O")).kind == "f":
            a, b = np.asarray(cat_bad[name], float), np.asarray(cat_none[name], float)
            assert np.all(np.isfinite(a) == np.isfinite(b)), name
            np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True, err_msg=name)


def test_valid_beam_is_kept():
    image = load_image(fits.PrimaryHDU(_cube(), _header()))
    assert image.beam == {"bmaj": 6e-3, "bmin": 6e-3, "bpa": 0.0}


# ------------------------------------------------------------------ item 8b: original CTYPE kept
def test_degenerate_stokes_axis_keeps_the_original_spectral_ctype():
    from astro_mlfinder.core.columns import spectral_column_name

    header = _header(ctype3="VELO-HEL", cunit3="km/s", cdelt3=5.0, crval3=500.0)
    header["NAXIS"] = 4
    header.update({"NAXIS4": 1, "CTYPE4": "STOKES", "CRVAL4": 1.0, "CDELT4": 1.0, "CRPIX4": 1.0})
    image = load_image(fits.PrimaryHDU(_cube()[np.newaxis], header))
    assert image.shape == (24, 20, 20)
    assert image.header["CTYPE3"] == "VELO-HEL"
    assert "CTYPE4" not in image.header
    assert spectral_column_name(image) == "v_app"
    # the values stay consistent with the unit written next to them
    spec = image.wcs.spectral
    assert abs(spec.pixel_to_world_values(0.0) - 5e5) < 1e-6
    rebuilt = load_image(fits.PrimaryHDU(image.read(), image.header))
    np.testing.assert_allclose(rebuilt.wcs.spectral.pixel_to_world_values(3.0), spec.pixel_to_world_values(3.0))


# ------------------------------------------------------------------ item 3: spectral axis not third
def _permuted(data, header, order):
    """``data``/``header`` with FITS axes in ``order`` (new axis i+1 = old axis order[i]+1)."""
    new = header.copy()
    for i, old in enumerate(order, start=1):
        for key in ("NAXIS", "CTYPE", "CRPIX", "CRVAL", "CDELT", "CUNIT"):
            new[f"{key}{i}"] = header[f"{key}{old + 1}"]
    permuted = data.transpose(tuple(2 - a for a in order[::-1]))
    return np.ascontiguousarray(permuted), new


@pytest.mark.parametrize("order", [(2, 0, 1), (0, 2, 1), (1, 0, 2)])
@pytest.mark.parametrize("as_file", [False, True])
def test_permuted_axes_give_the_same_catalogue(tmp_path, order, as_file):
    data, header = _cube(), _header()
    pdata, pheader = _permuted(data, header, order)
    assert pdata.shape != data.shape or order == (1, 0, 2)
    source = fits.PrimaryHDU(pdata, pheader)
    if as_file:
        source.writeto(tmp_path / "permuted.fits")
        source = tmp_path / "permuted.fits"
    image = load_image(source)
    assert image.shape == data.shape
    if as_file:  # a view of the file's memmap, not a copy
        assert isinstance(image.data, np.memmap) or isinstance(image.data.base, np.memmap)
    np.testing.assert_array_equal(image.read(), data)
    assert [c[:4] for c in image.wcs.wcs.ctype] == ["RA--", "DEC-", "FREQ"]
    assert image.header["CTYPE3"] == "FREQ" and image.header["NAXIS3"] == data.shape[0]
    normal = ClassicalFinder(threshold=4.0)(fits.PrimaryHDU(data, header), progress=False).to_table()
    moved = ClassicalFinder(threshold=4.0)(source, progress=False).to_table()
    assert len(normal) == len(moved) >= 1
    for name in ("x", "y", "z", "freq", "n_pix", "f_sum"):
        np.testing.assert_allclose(np.asarray(moved[name], float), np.asarray(normal[name], float), err_msg=name)
    assert np.all(moved["sky_centroid"].separation(normal["sky_centroid"]).arcsec < 1e-6)


# ------------------------------------------------------------------ item 12: one-line errors, --debug
def _bad_files(tmp_path):
    data, header = _cube(), _header()
    files = {}
    raw = bytearray()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, header)]).writeto(tmp_path / "ext.fits")
    raw = bytearray((tmp_path / "ext.fits").read_bytes())
    at = raw.find(b"XTENSION")
    raw[at : at + 80] = b"COMMENT".ljust(80)
    files["noxt"] = tmp_path / "noxt.fits"
    files["noxt"].write_bytes(bytes(raw))
    for name, key, value in (("boolctype", "CTYPE3", True), ("numctype", "CTYPE1", 5), ("numcunit", "CUNIT3", 1.0)):
        bad = header.copy()
        bad[key] = value
        files[name] = tmp_path / f"{name}.fits"
        fits.PrimaryHDU(data, bad).writeto(files[name])
    felo = header.copy()
    felo.update({"CTYPE3": "FELO-HEL", "CUNIT3": "m/s", "CDELT3": 5000.0, "CRVAL3": 5e5})
    files["felo"] = tmp_path / "felo.fits"
    fits.PrimaryHDU(data, felo).writeto(files["felo"])
    return files


_HINTS = {"noxt": "XTENSION", "boolctype": "CTYPE3", "numctype": "CTYPE1", "numcunit": "CUNIT3", "felo": "RESTFRQ"}


@pytest.mark.parametrize("name", sorted(_HINTS))
def test_bad_files_give_one_sentence_naming_the_input(tmp_path, name):
    path = _bad_files(tmp_path)[name]
    with pytest.raises(ValueError) as info:
        load_image(path)
    message = str(info.value)
    assert "\n" not in message and "ERROR" not in message and "wcsset" not in message
    assert str(path) in message and _HINTS[name] in message


@pytest.mark.parametrize("name", sorted(_HINTS))
def test_cli_find_bad_file_prints_one_line_and_exits_1(tmp_path, capsys, name):
    from astro_mlfinder.cli import main

    path = _bad_files(tmp_path)[name]
    assert main(["find", str(path), "--output-dir", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("astro-mlfinder: error:") and str(path) in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(ValueError):  # --debug: the traceback, after the command or before it
        main(["find", str(path), "--output-dir", str(tmp_path / "out"), "--no-progress", "--debug"])
    with pytest.raises(ValueError):
        main(["--debug", "find", str(path), "--output-dir", str(tmp_path / "out"), "--no-progress"])


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("kind", ["empty", "text", "pickle", "not_a_checkpoint", "missing"])
def test_train_resume_with_a_bad_file_gives_one_line(tmp_path, capsys, kind):
    torch = pytest.importorskip("torch")
    import pickle

    from astro_mlfinder.cli import main

    path = tmp_path / f"{kind}.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(_RunsCode()))
    elif kind == "not_a_checkpoint":
        torch.save({"weights": torch.zeros(3)}, path)
    args = ["train", "unet3d", "--resume", str(path), "--epochs", "1", "--steps-per-epoch", "1",
            "--output", str(tmp_path / "out" / "m.pt"), "--no-progress"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("astro-mlfinder: error:"), err
    assert str(path) in err and "astro-mlfinder train" in err
