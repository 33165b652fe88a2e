"""Seeded fuzz test of input normalisation (issue 8): mutated headers and arrays end cleanly.

Every case ends in a result or one of the package's documented exceptions
(ValueError, TypeError, FileNotFoundError, KeyError, OSError) with a one-line
message: no IndexError, AttributeError, ZeroDivisionError, numba or wcslib
internals, no hang. Small cubes (24x20x20) and kernels that fit keep it well
under a minute.
"""

import time
import warnings

import numpy as np
import pytest
from astropy.io import fits

from astro_mlfinder.classical import ClassicalFinder
from astro_mlfinder.core.inputs import load_image

SHAPE = (24, 20, 20)
N_CASES = 300
DOCUMENTED = (ValueError, TypeError, FileNotFoundError, KeyError, OSError)
INTERNALS = ("wcsset", "ERROR ", "numba", "Traceback", "cextern", ".c:")

_KEYS = ["CTYPE1", "CTYPE2", "CTYPE3", "CUNIT1", "CUNIT2", "CUNIT3", "CDELT1", "CDELT2", "CDELT3",
         "CRVAL1", "CRVAL2", "CRVAL3", "CRPIX1", "CRPIX2", "CRPIX3", "BMAJ", "BMIN", "BPA", "BUNIT",
         "RESTFRQ", "EQUINOX", "EPOCH", "SPECSYS", "VELREF", "BLANK", "CROTA2", "PC1_2", "CD1_1"]  # fmt: skip
_VALUES = [True, False, 0, -1, 1, 0.0, -1.0, 1e30, -1e-30, "", " ", "NaN", "VELO-HEL", "FELO-HEL", "VRAD",
           "FREQ", "STOKES", "RA---NCP", "DEC--NCP", "GLON-CAR", "GLAT-CAR", "RA---SIN", "DEC--SIN", "XXXX-YYY",
           "KM/S", "HZ", "DEGREE", "JY/BEAM", "beam-1 Jy", "nonsense unit", "m/s", "deg", 1.42e9, 2000.0,
           1950.0, "B1950", 7, 0.5]  # fmt: skip


def _base():
    nz, ny, nx = SHAPE
    h = fits.Header()
    h.update({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CTYPE3": "FREQ", "CDELT1": -2e-3, "CDELT2": 2e-3,
              "CDELT3": 1e5, "CRVAL1": 150.0, "CRVAL2": 30.0, "CRVAL3": 1.42e9, "CRPIX1": 10.0, "CRPIX2": 10.0,
              "CRPIX3": 1.0, "CUNIT1": "deg", "CUNIT2": "deg", "CUNIT3": "Hz", "BUNIT": "Jy/beam",
              "BMAJ": 6e-3, "BMIN": 6e-3, "BPA": 0.0})  # fmt: skip
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 1.0, SHAPE).astype(np.float32)
    data[10:14, 8:12, 8:12] += 8.0
    return data, h


def _mutate(rng, data, header):
    data = data.copy()
    header = header.copy()
    for _ in range(int(rng.integers(1, 4))):
        choice = rng.integers(0, 12)
        if choice <= 4:  # a keyword gets a random (often wrong) value
            header[str(rng.choice(_KEYS))] = _VALUES[int(rng.integers(len(_VALUES)))]
        elif choice == 5:  # a keyword is removed
            header.remove(str(rng.choice(_KEYS)), ignore_missing=True)
        elif choice == 6:  # NaN / Inf pixels
            mask = rng.random(data.shape) < rng.choice([0.01, 0.5, 0.99, 1.0])
            data = np.where(mask, rng.choice([np.nan, np.inf, -np.inf]), data).astype(data.dtype)
        elif choice == 7:  # another dtype
            data = data.astype(rng.choice(["int16", "int32", "float64", "uint8", "bool"]))
        elif choice == 8:  # another shape: 2D, 4D with a Stokes axis, a length-1 or a tiny axis
            kind = int(rng.integers(0, 5))
            if kind == 0:
                data = data[0]
            elif kind == 1:
                data = data[np.newaxis]
                header["CTYPE4"] = str(rng.choice(["STOKES", "FREQ", "XXXX"]))
            elif kind == 2:
                data = data[:1]
            elif kind == 3:
                data = data[:, :2, :2]
            else:
                data = data[:2]
        elif choice == 9:  # a constant cube
            data = np.full(data.shape, float(rng.choice([0.0, 1.0, 1e30])), dtype=data.dtype)
        elif choice == 10:  # axes swapped in the header only
            a, b = rng.choice([1, 2, 3], size=2, replace=False)
            for key in ("CTYPE", "CUNIT", "CDELT", "CRVAL", "CRPIX"):
                va, vb = header.get(f"{key}{a}"), header.get(f"{key}{b}")
                if va is not None and vb is not None:
                    header[f"{key}{a}"], header[f"{key}{b}"] = vb, va
        else:  # a spectral axis stored first in the file
            data = np.ascontiguousarray(np.moveaxis(data, 0, -1)) if data.ndim == 3 else data
            for key in ("CTYPE", "CUNIT", "CDELT", "CRVAL", "CRPIX"):
                v1, v2, v3 = (header.get(f"{key}{i}") for i in (1, 2, 3))
                if None not in (v1, v2, v3):
                    header[f"{key}1"], header[f"{key}2"], header[f"{key}3"] = v3, v1, v2
    return data, header


def _run_case(data, header, tmp_path, index, as_file):
    try:
        hdu = fits.PrimaryHDU(data, header)
    except DOCUMENTED:
        return "rejected by astropy"
    source = hdu
    if as_file:
        source = tmp_path / f"case{index}.fits"
        try:
            hdu.writeto(source, output_verify="silentfix")
        except (DOCUMENTED, fits.VerifyError):
            return "not writable"
    try:
        image = load_image(source)
        if image.ndim == 3 and min(image.shape) >= 4:
            ClassicalFinder(kernels_xy=(0, 3), kernels_z=(0, 3), threshold=4.0)(image, progress=False)
    except DOCUMENTED as exc:
        message = str(exc)
        assert message and "\n" not in message, f"case {index}: multi-line {type(exc).__name__}: {message!r}"
        assert not any(word in message for word in INTERNALS), f"case {index}: internals in {message!r}"
        return type(exc).__name__
    return "ok"


def test_fuzzed_inputs_end_cleanly(tmp_path):
    rng = np.random.default_rng(20261130)
    base_data, base_header = _base()
    start = time.monotonic()
    outcomes = {}
    for index in range(N_CASES):
        with np.errstate(invalid="ignore"):  # NaN cast to integers: the point of the case
            data, header = _mutate(rng, base_data, base_header)
        as_file = index % 3 == 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                outcome = _run_case(data, header, tmp_path, index, as_file)
            except AssertionError:
                raise
            except Exception as exc:  # noqa: BLE001 - the point of the test
                pytest.fail(f"case {index} ({'file' if as_file else 'HDU'}): {type(exc).__name__}: {exc}\n{header!r}")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        assert time.monotonic() - start < 60, f"fuzzing took over a minute at case {index}"
    assert outcomes.get("ok", 0) > N_CASES // 4, outcomes
