import math
import time

import numpy as np
import pytest

from astro_mlfinder.core.measure import (
    COLUMNS_2D,
    COLUMNS_3D,
    MAD_TO_STD,
    beam_area_pixels,
    parameterise,
    source_names,
)


def _gauss_cube(shape=(40, 50, 60), centre=(20.0, 25.0, 30.0), sig=(4.0, 3.0, 6.0),
                amp=1.0, theta=0.0):
    zz, yy, xx = np.mgrid[:shape[0], :shape[1], :shape[2]].astype(np.float64)
    dx = xx - centre[2]
    dy = yy - centre[1]
    c, s = math.cos(theta), math.sin(theta)
    u = c * dx + s * dy
    v = -s * dx + c * dy
    return amp * np.exp(-0.5 * ((zz - centre[0]) ** 2 / sig[0] ** 2
                                + u ** 2 / sig[2] ** 2 + v ** 2 / sig[1] ** 2))


def test_symmetric_source_positions_and_fluxes():
    cube = _gauss_cube()
    labels = (cube > 0.05).astype(np.int32)
    cube[labels == 0] = 0.0
    cols = parameterise(cube.astype(np.float32), labels)
    assert tuple(cols) == COLUMNS_3D
    assert cols['id'].tolist() == [1]
    assert cols['x'][0] == pytest.approx(30.0, abs=1e-9)
    assert cols['y'][0] == pytest.approx(25.0, abs=1e-9)
    assert cols['z'][0] == pytest.approx(20.0, abs=1e-9)
    vals = cube.astype(np.float32)[labels > 0].astype(np.float64)
    assert cols['n_pix'][0] == labels.sum()
    assert cols['f_sum'][0] == pytest.approx(vals.sum(), rel=1e-12)
    assert cols['f_max'][0] == pytest.approx(vals.max())
    assert cols['f_min'][0] == pytest.approx(vals.min())
    assert (cols['x_peak'][0], cols['y_peak'][0], cols['z_peak'][0]) == (30, 25, 20)
    z, y, x = np.nonzero(labels)
    assert (cols['x_min'][0], cols['x_max'][0]) == (x.min(), x.max())
    assert (cols['z_min'][0], cols['z_max'][0]) == (z.min(), z.max())
    # no noise: rms of the (zero-valued) background is 0
    assert cols['rms'][0] == 0.0
    assert cols['err_f_sum'][0] == 0.0
    # ellipse: major axis along x -> PA -90 (PA 0 = +y, positive towards -x)
    assert cols['ell_maj'][0] > cols['ell_min'][0]
    assert cols['ell_pa'][0] == pytest.approx(-90.0, abs=1e-6)


def test_line_widths_of_gaussian_spectrum():
    sig = 6.0
    cube = _gauss_cube(shape=(80, 20, 20), centre=(40.0, 10.0, 10.0), sig=(sig, 2.0, 2.0))
    labels = (cube > 1e-4).astype(np.int32)
    cols = parameterise(cube, labels)
    fwhm = 2 * math.sqrt(2 * math.log(2)) * sig
    w20 = 2 * math.sqrt(2 * math.log(5)) * sig
    assert cols['w50'][0] == pytest.approx(fwhm, rel=0.01)
    assert cols['w20'][0] == pytest.approx(w20, rel=0.01)
    assert 0.5 * fwhm < cols['wm50'][0] < 2 * w20


def test_rotated_source_pa_and_physical_units():
    cube = _gauss_cube(theta=math.radians(30.0))
    labels = (cube > 0.05).astype(np.int32)
    cols = parameterise(cube, labels)
    # major axis at +30 deg from +x towards +y -> PA = 30 - 90 = -60
    assert cols['ell_pa'][0] == pytest.approx(-60.0, abs=0.5)
    phys = parameterise(cube, labels, physical=True, spectral_cdelt=-2.0, beam_area=4.0)
    assert phys['f_sum'][0] == pytest.approx(cols['f_sum'][0] * 2.0 / 4.0)
    assert phys['w50'][0] == pytest.approx(cols['w50'][0] * 2.0)
    assert phys['err_x'][0] == pytest.approx(cols['err_x'][0] * 2.0)
    assert phys['err_f_sum'][0] == pytest.approx(cols['err_f_sum'][0] * 2.0 / 2.0)
    with pytest.raises(ValueError, match='spectral_cdelt'):
        parameterise(cube, labels, physical=True)


def test_kinematic_pa_points_to_upper_channels():
    shape = (30, 40, 40)
    cube = np.zeros(shape)
    zz, yy, xx = np.mgrid[:shape[0], :shape[1], :shape[2]]
    for z in range(5, 25):
        cx = 10 + (z - 5) * 1.0    # centroid moves towards +x with channel
        cube[z] += np.exp(-((xx[z] - cx) ** 2 + (yy[z] - 20) ** 2) / 4.0)
    rng = np.random.default_rng(0)
    cube += rng.normal(0, 0.01, size=shape)
    labels = np.zeros(shape, dtype=np.int32)
    labels[5:25, 14:27, 6:34] = 1
    labels[cube < 0.02] = 0
    cols = parameterise(cube, labels)
    assert cols['kin_pa'][0] == pytest.approx(270.0, abs=1.0)
    # reverse the gradient -> 90 deg
    cols = parameterise(cube[:, :, ::-1].copy(), labels[:, :, ::-1].copy())
    assert cols['kin_pa'][0] == pytest.approx(90.0, abs=1.0)
    # single channel -> -1
    lab1 = np.zeros(shape, dtype=np.int32)
    lab1[15, 18:23, 18:23] = 1
    assert parameterise(cube, lab1)['kin_pa'][0] == -1.0


def test_local_rms_quirk_skips_first_background_pixel():
    data = np.full((3, 5, 6), 50.0, dtype=np.float32)   # outside the box
    labels = np.zeros(data.shape, dtype=np.int32)
    labels[1, 1:3, 1:4] = 1
    labels[0, 1, 1] = 1
    data[labels == 1] = 5.0
    # bounding box z 0-1, y 1-2, x 1-3: background pixels in raster order
    data[0, 1, 2] = 100.0     # first one: ignored by SoFiA's sampling
    data[0, 1, 3] = 0.1
    data[0, 2, 1] = -0.3
    data[0, 2, 2] = np.nan
    data[0, 2, 3] = 0.2
    cols = parameterise(data, labels)
    expected = MAD_TO_STD * np.median(np.abs(np.array([0.1, -0.3, 0.2], np.float32).astype(float)))
    assert cols['rms'][0] == pytest.approx(expected, rel=1e-12)
    assert cols['err_f_sum'][0] == pytest.approx(cols['rms'][0] * math.sqrt(7))
    cols = parameterise(data, labels, rms=0.5)
    assert cols['rms'][0] == 0.5
    with pytest.raises(ValueError, match='one value per source'):
        parameterise(data, labels, rms=[0.5, 0.2])


def test_negative_source_is_inverted():
    cube = -_gauss_cube()
    labels = (cube < -0.05).astype(np.int32) * 3
    cols = parameterise(cube, labels)
    pos = parameterise(-cube, labels)
    assert cols['id'].tolist() == [3]
    assert cols['f_sum'][0] == pytest.approx(-pos['f_sum'][0])
    assert cols['f_min'][0] == pytest.approx(-pos['f_max'][0])
    assert cols['f_max'][0] == pytest.approx(-pos['f_min'][0])
    for name in ('x', 'y', 'z', 'ell_maj', 'w20', 'x_peak'):
        assert cols[name][0] == pytest.approx(pos[name][0])


def test_2d_columns_and_errors():
    img = _gauss_cube(shape=(1, 50, 60), centre=(0.0, 25.0, 30.0))[0]
    rng = np.random.default_rng(1)
    img = img + rng.normal(0, 0.01, size=img.shape)
    labels = (img > 0.1).astype(np.int32)
    labels[0:3, 0:3] = 2
    cols = parameterise(img, labels)
    assert tuple(cols) == COLUMNS_2D
    assert cols['id'].tolist() == [1, 2]
    assert cols['x'][0] == pytest.approx(30.0, abs=0.05)
    assert cols['rms'][0] > 0
    with pytest.raises(ValueError, match='different shapes'):
        parameterise(img, labels[:-1])
    with pytest.raises(ValueError, match='integer'):
        parameterise(img, labels.astype(float))


def test_many_sources_reasonably_fast():
    rng = np.random.default_rng(2)
    shape = (64, 128, 128)
    data = rng.normal(size=shape).astype(np.float32)
    labels = np.zeros(shape, dtype=np.int32)
    k = 0
    for z in range(2, 60, 8):
        for y in range(2, 124, 8):
            for x in range(2, 124, 8):
                k += 1
                labels[z:z + 4, y:y + 4, x:x + 4] = k
                data[z:z + 4, y:y + 4, x:x + 4] += 3
    t0 = time.perf_counter()
    cols = parameterise(data, labels)
    elapsed = time.perf_counter() - t0
    assert cols['id'].size == k > 1500
    np.testing.assert_array_equal(cols['n_pix'], 64)
    assert elapsed < 30


def test_beam_area_pixels():
    # 3-pixel FWHM circular beam
    assert beam_area_pixels(0.005, 0.005, -0.005 / 3) == pytest.approx(
        math.pi * 9 / (4 * math.log(2)))
    with pytest.raises(ValueError):
        beam_area_pixels(0.0, 0.005, 0.001)


def test_source_names():
    assert source_names([149.919982], [-30.002053]) == ['SoFiA J095940.80-300007.4']
    # WALLABY: truncated seconds
    assert source_names([149.919982], [-30.002053], prefix='WALLABY') == \
        ['WALLABY J095940-300007']
    assert source_names([150.0], [12.5], equinox=1950) == ['SoFiA B100000.00+123000.0']
    assert source_names(None, None, ids=[1, 12]) == ['SoFiA-0001', 'SoFiA-0012']
    assert source_names([123.45678], [-1.5], galactic=True) == ['SoFiA 123.4568+-1.5000']
    with pytest.raises(ValueError):
        source_names(None, None)
