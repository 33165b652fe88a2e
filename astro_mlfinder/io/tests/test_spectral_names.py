"""Spectral column names follow SoFiA-2 2.5.1 (issue 8, item 8).

SoFiA-2 (DataCube.c) names the spectral world column after the header's CTYPE3 as written:
FREQ -> freq, VRAD -> v_rad, VOPT and FELO -> v_opt, VELO -> v_app, whatever wcslib makes of an
AIPS ``VELO-HEL`` axis (VOPT, or VRAD with VELREF > 256). The values are the header's linear
coordinates, CRVAL3 + CDELT3 (z + 1 - CRPIX3); for FELO axes the values are wcslib's (an
optical velocity on an axis linear in frequency), where SoFiA-2 takes the header's linear values.
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.wcs import WCS

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.io.products import write_products

CASES = [
    # CTYPE3, VELREF, SoFiA's column, its UCD
    ("VELO-HEL", None, "v_app", "spect.dopplerVeloc"),
    ("VELO-HEL", 257, "v_app", "spect.dopplerVeloc"),
    ("VELO-LSR", 1, "v_app", "spect.dopplerVeloc"),
    ("FELO-HEL", None, "v_opt", "spect.dopplerVeloc.opt"),
    ("VOPT", None, "v_opt", "spect.dopplerVeloc.opt"),
    ("VRAD", None, "v_rad", "spect.dopplerVeloc.radio"),
    ("FREQ", None, "freq", "em.freq"),
]


def _catalog(ctype3, velref):
    nz, ny, nx = 16, 20, 20
    data = np.random.default_rng(0).normal(0, 1e-3, (nz, ny, nx)).astype(np.float32)
    segment = np.zeros((nz, ny, nx), np.int32)
    segment[5:9, 8:12, 7:11] = 1
    data[segment == 1] += 0.01
    header = fits.Header()
    for i, (ctype, crpix, crval, cdelt) in enumerate(
        [("RA---SIN", 10.0, 150.0, -5 / 3600), ("DEC--SIN", 10.0, 30.0, 5 / 3600),
         (ctype3, 1.0, 1.42e9 if ctype3 == "FREQ" else 5.0e5, 1e5 if ctype3 == "FREQ" else 5000.0)], start=1):
        header[f"CTYPE{i}"], header[f"CRPIX{i}"], header[f"CRVAL{i}"], header[f"CDELT{i}"] = ctype, crpix, crval, cdelt
    header["RESTFRQ"] = 1.420405752e9
    if velref is not None:
        header["VELREF"] = velref
    header["BUNIT"] = "Jy/beam"
    header["BMAJ"] = header["BMIN"] = 15 / 3600
    return SourceCatalog(load_image(fits.PrimaryHDU(data, header)), segment), header


@pytest.mark.parametrize(("ctype3", "velref", "name", "ucd"), CASES)
def test_spectral_column_named_as_sofia(tmp_path, ctype3, velref, name, ucd):
    cat, header = _catalog(ctype3, velref)
    z = cat.z[0].value
    expected = header["CRVAL3"] + header["CDELT3"] * (z + 1 - header["CRPIX3"])
    if ctype3.startswith("FELO"):  # wcslib's VOPT-F2W: optical velocity on an axis linear in frequency
        expected = WCS(header).spectral.pixel_to_world_values(z)
    unit = u.Hz if name == "freq" else u.m / u.s
    for table in (cat.to_table(), cat.to_table(columns="sofia")):
        assert name in table.colnames
        assert not [c for c in table.colnames if c.startswith(("v_", "freq")) and c not in (name, name + "_peak")]
        assert table[name][0].to_value(unit) == pytest.approx(expected, rel=1e-9)
    write_products(cat, tmp_path, "s", mask=False, moments=False, cubelets=True, regions=())
    votable = parse_single_table(str(tmp_path / "s_cat.xml"))
    field = votable.get_field_by_id_or_name(name)
    assert field.ucd == ucd and u.Unit(field.unit) == unit
    assert votable.array[name][0] == pytest.approx(expected, rel=1e-9)
    names_line = [line for line in (tmp_path / "s_cat.txt").read_text().splitlines() if " id " in line][0]
    assert f" {name} " in names_line and f" {name}_peak" in names_line
    spectrum = (tmp_path / "s_cubelets" / "s_1_spec.txt").read_text().splitlines()
    assert [line.split() for line in spectrum if line.startswith("#") and "chan" in line.split()][-1] == [
        "#", "chan", name, "f_sum", "n_pix"]
