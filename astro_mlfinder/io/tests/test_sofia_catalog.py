"""SoFiA-2 catalogue formats: byte-level agreement with SoFiA's files, readers, units."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io.votable import parse_single_table
from astropy.table import QTable

from astro_mlfinder.io.sofia_catalog import (
    SOFIA_CREATOR,
    write_karma,
    write_sofia_ascii,
    write_sofia_sql,
    write_sofia_xml,
)
from astro_mlfinder.io.sofia_reader import read_sofia_ascii, read_sofia_xml
from astro_mlfinder.io.sofia_units import parse_sofia_unit, sofia_unit_string

FIXTURES = Path(
    os.environ.get(
        "ASTRO_MLFINDER_SOFIA_FIXTURES",
        Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "sofia2-2.5.1-small",
    )
)


@pytest.fixture(scope="module")
def fixture_table():
    path = FIXTURES / "out_small" / "small_cat.xml"
    if not path.exists():
        pytest.skip("SoFiA-2 fixtures not available")
    return read_sofia_xml(path)


def control_params(table):
    return {k: v for k, v in table.meta["params"].items() if k not in ("Time", "Creator")}


def without_time(text):
    return [line for line in text.splitlines() if "Time" not in line]


def plain_table():
    """A small catalogue built with astropy units only (no SoFiA metadata)."""
    t = QTable()
    t["name"] = ["SoFiA J100000.00-300000.0", "A name with spaces"]
    t["id"] = [1, 2]
    t["x"] = [10.5, 20.25] * u.pix
    t["x_min"] = u.Quantity([8, 18], u.pix, dtype=np.int64)
    t["n_pix"] = [100, 2000]
    t["f_sum"] = [1.5e-3, 12345.678] * (u.Jy * u.Hz)
    t["rms"] = [9.99e-4, 0.0] * (u.Jy / u.beam)
    t["rel"] = [np.nan, 1.0]
    t["flag"] = [0, 4]
    t["ra"] = [150.0, 150.1] * u.deg
    t["dec"] = [-30.0, -29.9] * u.deg
    t["freq"] = [1.4e9, 1.41e9] * u.Hz
    return t


# --------------------------------------------------------------------------- fixture round trips
def test_ascii_identical_to_sofias_file(fixture_table, tmp_path):
    path = write_sofia_ascii(fixture_table, tmp_path / "cat.txt", creator=SOFIA_CREATOR)
    expected = (FIXTURES / "out_small" / "small_cat.txt").read_text()
    assert without_time(path.read_text()) == without_time(expected)
    lines = path.read_text().splitlines()
    assert len([line for line in lines if line.startswith("#")]) == 20  # 17 comments + 3 rows
    assert lines[20] == "" and lines[21].startswith('  "SoFiA J095940.80-300007.4"')


def test_votable_identical_to_sofias_file(fixture_table, tmp_path):
    path = write_sofia_xml(
        fixture_table,
        tmp_path / "cat.xml",
        creator=SOFIA_CREATOR,
        params=control_params(fixture_table),
    )
    expected = (FIXTURES / "out_small" / "small_cat.xml").read_text()
    assert without_time(path.read_text()) == without_time(expected)


def test_votable_fields_units_ucds_values(fixture_table, tmp_path):
    """Fields, units, UCDs, datatypes and values survive the default (astro_mlfinder) writer."""
    path = write_sofia_xml(fixture_table, tmp_path / "cat.xml")
    back = read_sofia_xml(path)
    assert back.colnames == fixture_table.colnames
    assert back.meta["params"]["Creator"].startswith("astro_mlfinder")
    for name in fixture_table.colnames:
        assert back[name].info.meta == fixture_table[name].info.meta, name
        assert np.array_equal(np.asarray(back[name]), np.asarray(fixture_table[name])), name
        assert getattr(back[name], "unit", None) == getattr(fixture_table[name], "unit", None)
    # astropy's own VOTable reader accepts it without warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        votable = parse_single_table(str(path)).to_table()
    # SoFiA's unit strings are not VOUnit: astropy keeps them as unrecognised units
    assert len(votable) == 5 and str(votable["f_sum"].unit) == "Jy*Hz"


def test_read_xml_types_and_units(fixture_table):
    t = fixture_table
    assert isinstance(t, QTable) and not t.masked
    assert t["id"].dtype == np.int64 and t["x_min"].dtype == np.int64 and t["x_min"].unit == u.pix
    assert t["f_min"].unit == u.Jy / u.beam
    assert t["f_sum"].unit == u.Jy * u.Hz
    assert t["w20"].unit == u.Hz and t["ra"].unit == u.deg
    assert not hasattr(t["rel"], "unit") or t["rel"].unit is None
    assert t["name"][0] == "SoFiA J095940.80-300007.4"
    assert t["ra"].info.meta["ucd"] == "pos.eq.ra"
    assert t.meta["params"]["scfind.threshold"] == "4.0"


def test_read_ascii_matches_the_xml(fixture_table):
    t = read_sofia_ascii(FIXTURES / "out_small" / "small_cat.txt")
    assert t.colnames == fixture_table.colnames
    assert t.meta["creator"] == SOFIA_CREATOR
    for name in t.colnames[1:]:
        ours = np.asarray(getattr(t[name], "value", t[name]), dtype=float)
        ref = np.asarray(getattr(fixture_table[name], "value", fixture_table[name]), dtype=float)
        assert np.allclose(ours, ref, rtol=1e-5, atol=1e-6), name
        assert getattr(t[name], "unit", None) == getattr(fixture_table[name], "unit", None), name
    assert t["n_pix"].dtype == np.int64 and list(t["name"]) == list(fixture_table["name"])


def test_sql_and_karma(fixture_table, tmp_path):
    sql = write_sofia_sql(fixture_table, tmp_path / "cat.sql", creator=SOFIA_CREATOR).read_text()
    assert "CREATE TABLE IF NOT EXISTS `SoFiA-Catalogue` (" in sql
    assert "\t`x_min` INTEGER NOT NULL," in sql and "\t`f_sum` DOUBLE PRECISION NOT NULL," in sql
    assert "created with SoFiA version 2.5.1';" in sql
    rows = [line for line in sql.splitlines() if line.startswith("('")]
    assert len(rows) == 5 and rows[-1].endswith(");") and rows[0].endswith("),")
    assert rows[0].startswith("('SoFiA J095940.80-300007.4', 1, 1.055776390529135e+02, ")
    ann = write_karma(fixture_table, tmp_path / "cat.ann", creator=SOFIA_CREATOR).read_text()
    assert ann.splitlines()[4:7] == ["COORD W", "PA STANDARD", "COLOR GREEN"]
    assert ann.splitlines()[8] == "TEXT W 1.499200e+02 -3.000205e+01 1"
    assert len(ann.splitlines()) == 13


# --------------------------------------------------------------------------- plain tables
def test_plain_astropy_table(tmp_path):
    t = plain_table()
    path = write_sofia_ascii(t, tmp_path / "p.txt")
    lines = path.read_text().splitlines()
    assert lines[1].startswith("# Creator: astro_mlfinder")
    assert lines[18].split() == [
        "#",
        "name",
        "id",
        "x",
        "x_min",
        "n_pix",
        "f_sum",
        "rms",
        "rel",
        "flag",
        "ra",
        "dec",
        "freq",
    ]
    assert lines[19].split() == [
        "#",
        "-",
        "-",
        "pix",
        "pix",
        "-",
        "Jy*Hz",
        "Jy/beam",
        "-",
        "-",
        "deg",
        "deg",
        "Hz",
    ]
    row = lines[21]
    assert row.startswith('  "SoFiA J100000.00-300000.0"')
    assert row[29:].split() == [
        "1",
        "10.500000",
        "8",
        "100",
        "0.001500",
        "9.99000e-04",
        "nan",
        "0",
        "150.000000",
        "-30.000000",
        "1.40000e+09",
    ]
    assert lines[22].startswith('         "A name with spaces"')
    assert lines[22][29:].split()[5] == "0.000000"  # zero is printed with %f
    back = read_sofia_ascii(path)
    assert list(back["name"]) == list(t["name"])
    assert back["x_min"].dtype == np.int64 and back["f_sum"].unit == u.Jy * u.Hz
    xml = read_sofia_xml(write_sofia_xml(t, tmp_path / "p.xml"))
    assert xml["f_sum"].info.meta["sofia_unit"] == "Jy*Hz"
    assert np.isnan(xml["rel"][0]) and xml["f_sum"][1].value == 12345.678
    assert xml["flag"].info.meta["datatype"] == "long"


def test_changed_unit_is_not_taken_from_stale_metadata(fixture_table, tmp_path):
    t = fixture_table.copy()
    t["f_sum"] = t["f_sum"].to(u.mJy * u.Hz)
    text = write_sofia_ascii(t, tmp_path / "c.txt").read_text()
    units = text.splitlines()[19].split()
    assert units[1 + t.colnames.index("f_sum")] == "mJy*Hz"  # after '#'
    assert units[1 + t.colnames.index("f_min")] == "Jy/beam"


def test_empty_table_and_errors(tmp_path):
    t = plain_table()[:0]
    lines = write_sofia_ascii(t, tmp_path / "e.txt").read_text().splitlines()
    assert len(lines) == 21 and lines[-1] == ""
    assert len(read_sofia_xml(write_sofia_xml(t, tmp_path / "e.xml"))) == 0
    sql = write_sofia_sql(t, tmp_path / "e.sql").read_text()
    assert "CREATE TABLE" in sql and "INSERT" not in sql
    with pytest.raises(FileExistsError, match="e.txt"):
        write_sofia_ascii(t, tmp_path / "e.txt")
    write_sofia_ascii(plain_table(), tmp_path / "e.txt", overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    bad = QTable({"x": [1.0]})
    with pytest.raises(ValueError, match="'name' or an 'id'"):
        write_sofia_ascii(bad, tmp_path / "bad.txt")
    assert not (tmp_path / "bad.txt").exists()
    with pytest.raises(ValueError, match="not look like a SoFiA"):
        read_sofia_ascii(tmp_path / "e.xml")


def test_karma_without_sky_coordinates_warns(tmp_path):
    t = plain_table()
    t.remove_columns(["ra", "dec"])
    with pytest.warns(UserWarning, match="no sky coordinates"):
        text = write_karma(t, tmp_path / "k.ann").read_text()
    assert "TEXT" not in text


@pytest.mark.parametrize("unit, text", [
    (u.Jy / u.beam, "Jy/beam"), (u.Jy * u.Hz, "Jy*Hz"), (u.Jy / u.beam * u.Hz, "Jy/beam*Hz"),
    (u.Jy * u.km / u.s, "Jy*km/s"), (u.km / u.s, "km/s"), (u.pix, "pix"), (u.deg, "deg"),
    (u.Hz, "Hz"), (u.K * u.km / u.s, "K*km/s"), (None, ""), (u.dimensionless_unscaled, ""),
])  # fmt: skip
def test_unit_strings(unit, text):
    assert sofia_unit_string(unit) == text
    if text:
        assert parse_sofia_unit(text) == unit


def test_parse_left_to_right():
    assert parse_sofia_unit("Jy/beam*Hz") == u.Jy / u.beam * u.Hz  # not Jy / (beam Hz)
    assert parse_sofia_unit("-") is None
    assert isinstance(parse_sofia_unit("???"), u.UnrecognizedUnit)
