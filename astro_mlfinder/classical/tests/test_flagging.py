import numpy as np
import pytest
from astropy.wcs import WCS

from astro_mlfinder.classical.flagging import (
    FlagResult,
    apply_flags,
    auto_flag,
    find_infinite,
    flag_catalog,
    flag_log_lines,
    flag_regions,
    format_flag_log,
)


def _cube(shape=(40, 30, 20), seed=0):
    return np.random.default_rng(seed).normal(0.0, 1.0, shape).astype(np.float32)


def _wcs():
    w = WCS(naxis=3)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ"]
    w.wcs.crval = [150.0, 2.0, 1.4e9]
    w.wcs.crpix = [11.0, 16.0, 1.0]
    w.wcs.cdelt = [-6.0 / 3600, 6.0 / 3600, 18518.5]
    w.wcs.cunit = ["deg", "deg", "Hz"]
    return w


def test_find_infinite():
    cube = _cube()
    cube[3, 4, 5] = np.inf
    cube[7, 0, 1] = -np.inf
    cube[8, 1, 1] = np.nan
    assert find_infinite(cube) == [(5, 5, 4, 4, 3, 3), (1, 1, 0, 0, 7, 7)]
    assert find_infinite(cube[3]) == [(5, 5, 4, 4, 0, 0)]
    assert find_infinite(np.zeros((2, 2, 2), np.int32)) == []
    with pytest.raises(ValueError, match="2D"):
        find_infinite(np.zeros(3))


def test_flag_regions_inclusive_and_clipped():
    cube = _cube()
    applied = flag_regions(cube, [(2, 4, 0, 1, 5, 5), (18, 99, 28, 50, 39, 80)])
    assert applied == [(2, 4, 0, 1, 5, 5), (18, 19, 28, 29, 39, 39)]
    assert np.isnan(cube[5, 0:2, 2:5]).all()
    assert np.isnan(cube).sum() == 3 * 2 + 2 * 2
    assert np.isnan(cube[39, 28:, 18:]).all()


def test_flag_regions_flat_list_lower_bound_and_integer_mask():
    mask = np.ones((5, 6, 7), np.uint8)
    flag_regions(mask, [10, 2, 0, 0, 0, 4])   # x1 > x2 -> x1 = x2
    assert mask[:, 0, 2].sum() == 0
    assert mask.sum() == 5 * 6 * 7 - 5
    image = np.ones((6, 7), np.float32)
    flag_regions(image, [(1, 2, 1, 2, 0, 0)])
    assert np.isnan(image).sum() == 4


def test_flag_regions_validation():
    cube = _cube()
    with pytest.raises(ValueError, match="multiple of 6"):
        flag_regions(cube, [1, 2, 3])
    with pytest.raises(ValueError, match="integers >= 0"):
        flag_regions(cube, [(-1, 2, 0, 1, 0, 1)])
    with pytest.raises(ValueError, match="numpy array"):
        flag_regions([[1.0]], [(0, 0, 0, 0, 0, 0)])
    assert flag_regions(cube, None) == []


def test_flag_catalog_disc_all_channels(tmp_path):
    cube = _cube()
    wcs = _wcs()
    lon, lat = wcs.celestial.wcs_pix2world([[5.2, 20.0]], 0)[0]
    path = tmp_path / "cat.txt"
    path.write_text(f"# continuum sources\n{lon}, {lat}\n10.0 | 80.0\n")
    count = flag_catalog(cube, wcs, path, radius=2)
    assert count == 1                       # the second position is off the image
    blank = np.isnan(cube)
    assert blank.all(axis=0).sum() == 13    # disc of radius 2: 13 pixels
    assert (blank.any(axis=0) == blank.all(axis=0)).all()
    assert blank[:, 20, 5].all() and blank[:, 22, 5].all() and not blank[:, 22, 6].any()


def test_flag_catalog_array_and_skycoord():
    from astropy.coordinates import SkyCoord

    wcs = _wcs()
    lon, lat = wcs.celestial.wcs_pix2world([[3.0, 4.0]], 0)[0]
    cube = _cube()
    assert flag_catalog(cube, wcs, [[lon, lat]], radius=0) == 1
    assert np.isnan(cube[:, 4, 3]).all() and np.isnan(cube).sum() == 40
    cube = _cube()
    sc = SkyCoord(lon, lat, unit="deg", frame="icrs")
    assert flag_catalog(cube, wcs, sc, radius=1) == 1
    assert np.isnan(cube[0]).sum() == 5


def test_flag_catalog_bad_inputs(tmp_path):
    cube = _cube()
    path = tmp_path / "bad.txt"
    path.write_text("1 2 3\n")
    with pytest.warns(UserWarning, match="2 data columns"):
        assert flag_catalog(cube, _wcs(), path) == 0
    with pytest.raises(ValueError, match="needs a WCS"):
        flag_catalog(cube, None, [[1, 2]])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        flag_catalog(cube, _wcs(), [[1, 2, 3]])


def test_auto_flag_channels_and_pixels():
    cube = _cube((60, 30, 20))
    cube[17] *= 4.0
    cube[:, 9, 3] *= 6.0
    work = cube.copy()
    res = auto_flag(work, True, 5.0)
    assert isinstance(res, FlagResult)
    assert res.channels == [17]
    assert res.pixels == [(3, 9)]
    assert res.regions == [(0, 19, 0, 29, 17, 17), (3, 3, 9, 9, 0, 59)]
    assert res.log_lines == ["C 17", "P 3 9"]
    assert np.isnan(work[17]).all() and np.isnan(work[:, 9, 3]).all()
    assert np.isnan(work).sum() == 30 * 20 + 59
    # channel noise is 1.4826 x the (upper) median of |x|
    vals = np.sort(np.abs(cube[5]).ravel())
    assert res.channel_noise[5] == np.float32(1.482602218505602 * float(vals[vals.size // 2]))
    text = res.log_text()
    assert text.startswith("# Auto-flagging log file\n")
    assert text.endswith("\nC 17\nP 3 9\n")


def test_auto_flag_modes_and_apply():
    cube = _cube((60, 30, 20))
    cube[17] *= 4.0
    cube[:, 9, 3] *= 6.0
    untouched = cube.copy()
    res = auto_flag(cube, "channels", 5.0, apply=False)
    assert res.channels == [17] and res.pixels == []
    np.testing.assert_array_equal(cube, untouched)
    res = auto_flag(cube, "pixels", 5.0, apply=False)
    assert res.channels == [] and res.pixels == [(3, 9)]
    assert auto_flag(cube, False, 5.0).regions == []
    other = untouched.copy()
    apply_flags(other, res)
    assert np.isnan(other[:, 9, 3]).all() and np.isnan(other).sum() == 60
    with pytest.raises(ValueError, match="auto-flag mode"):
        auto_flag(cube, "spectral", 5.0)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        auto_flag(cube, True, 0.0)
    with pytest.raises(ValueError, match="3D"):
        auto_flag(cube[0], True, 5.0)


def test_flag_log_codes():
    regions = [(0, 9, 0, 9, 4, 4), (2, 2, 3, 3, 0, 19), (1, 5, 2, 6, 0, 19), (1, 5, 2, 6, 3, 8)]
    assert flag_log_lines(regions, 20) == ["C 4", "P 2 3", "R 1 5 2 6"]
    assert flag_log_lines(regions, 20, offset=(10, 20, 30)) == ["C 34", "P 12 23", "R 11 15 22 26"]
    text = format_flag_log(regions, 20, creator="test")
    assert "# Creator: test\n" in text
    assert "#   R x1 x2 y1 y2  =  spatial region (x1:x2, y1:y2)\n" in text
