"""The printed table in physical units: sexagesimal positions, km/s, Jy km/s (issue 13, items 1 and 7).

Numbers are checked on the two box-shaped sources of test_plots: source 1 fills channels 2..5 with
0.5 Jy/beam on 4 x 6 pixels (n_pix 96), source 2 channels 7..8 with 2 Jy/beam on 2 x 3 pixels.
"""

import numpy as np
import pytest
from astropy import units as u

from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.visualization import format_table, physical_table
from astro_mlfinder.visualization.tests.test_plots import BEAM_AREA, C_KMS, DV_FREQ, HI_HZ, _catalog


def test_velocity_axis_table():
    cat = _catalog("VRAD")
    table = physical_table(cat)
    assert table.colnames == ["id", "ra", "dec", "v_rad", "w20", "w50", "f_int", "snr", "n_pix", "flag"]
    assert table["v_rad"].unit == u.km / u.s and table["f_int"].unit == u.Jy * u.km / u.s
    # centroid channels 3.5 and 7.5 of an axis starting at 1000 km/s in 5 km/s steps
    np.testing.assert_allclose(table["v_rad"].value, [1017.5, 1037.5])
    # integrated flux: the mask sum in Jy/beam over the beam area, times 5 km/s
    np.testing.assert_allclose(table["f_int"].value, [96 * 0.5 / BEAM_AREA * 5, 12 * 2.0 / BEAM_AREA * 5], rtol=1e-5)
    for width in ("w20", "w50"):  # SoFiA's widths in channels, times 5 km/s
        assert getattr(cat, width).unit == u.pix
        np.testing.assert_allclose(table[width].value, getattr(cat, width).value * 5.0)
    assert table["w20"][0].value > 0
    assert list(table["n_pix"]) == [96, 12]
    # the reference pixel (0, 0) is at 10h +30d; source 1's centroid (8.5, 6.5) is 42.5" west (3.27 s of RA at
    # Dec 30) and 32.5" north of it
    assert (table["ra"][0], table["dec"][0]) == ("09:59:56.73", "+30:00:32.5")


def test_frequency_axis_is_converted_with_the_rest_frequency():
    cat = _catalog("FREQ")
    table = physical_table(cat)
    z = np.array([3.5, 7.5])
    np.testing.assert_allclose(table["v_rad"].value, C_KMS * (1 - (1.4e9 + 2.5e4 * z) / HI_HZ), rtol=1e-9)
    np.testing.assert_allclose(table["f_int"].value, [96 * 0.5 / BEAM_AREA * DV_FREQ, 12 * 2.0 / BEAM_AREA * DV_FREQ],
                               rtol=1e-5)
    optical = physical_table(cat, velocity="optical")
    assert "v_opt" in optical.colnames
    np.testing.assert_allclose(optical["v_opt"].value, C_KMS * (HI_HZ / (1.4e9 + 2.5e4 * z) - 1), rtol=1e-9)


def test_physical_catalogue_gives_the_same_table():
    """SoFiA's parameter.physical changes f_sum and the widths' units, not what is printed."""
    cat = _catalog("FREQ")
    physical = SourceCatalog(cat.image, cat.segment, physical=True)
    a, b = physical_table(cat), physical_table(physical)
    for name in ("v_rad", "w20", "w50", "f_int"):
        np.testing.assert_allclose(a[name].value, b[name].value, rtol=1e-6)


def test_galactic_and_no_wcs_and_no_beam():
    table = physical_table(_catalog("VRAD", galactic=True))
    assert table.colnames[:3] == ["id", "l", "b"] and table["l"].unit == u.deg
    no_beam = physical_table(_catalog("VRAD", beam=False))
    assert no_beam["f_int"].unit == u.Jy / u.beam * u.km / u.s
    np.testing.assert_allclose(no_beam["f_int"].value, [96 * 0.5 * 5, 12 * 2.0 * 5], rtol=1e-5)
    from astro_mlfinder.core.inputs import load_image

    cat = _catalog("VRAD")
    bare = SourceCatalog(load_image(np.asarray(cat.image.data)), cat.segment)
    table = physical_table(bare)
    assert table.colnames == ["id", "x", "y", "z", "w20", "w50", "f_int", "snr", "n_pix", "flag"]
    assert table["w50"].unit == u.pix


def test_printed_lines_fit_100_characters():
    text = format_table(physical_table(_catalog("FREQ")))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "km / s" in lines[1] and "Jy km / s" in lines[1]
    assert "..." not in text  # every column fits


def test_velocity_convention_is_checked():
    with pytest.raises(ValueError, match="velocity must be 'radio' or 'optical'"):
        physical_table(_catalog("FREQ"), velocity="relativistic")


def test_pixel_offset_changes_no_physical_value():
    """SoFiA's parameter.offset shifts the pixel columns of a sub-cube's catalogue, not its sky or velocities."""
    from astro_mlfinder.visualization import pv_slice

    cat = _catalog("FREQ")
    shifted = SourceCatalog(cat.image, cat.segment, pixel_offset=(100, 200, 30))
    a, b = physical_table(cat), physical_table(shifted)
    for name in a.colnames:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)
    for got, expected in zip(pv_slice(shifted, 1)[:4], pv_slice(cat, 1)[:4], strict=True):
        np.testing.assert_array_equal(u.Quantity(got).value, u.Quantity(expected).value)
