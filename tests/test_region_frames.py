"""Region files are right in every frame: positions and position angles against astropy (issue 8, item 1).

Each cube holds two elongated sources at different position angles, with a celestial WCS in FK4
(B1950, NCP projection as in WHISP cubes), FK5 (J2000), ICRS or Galactic coordinates. The regions
written in every format and output frame are read back with the `regions` readers and compared with
an independent astropy transformation: the catalogue's sky centroid, and the direction of each
ellipse's major axis taken from the pixel ellipse through the header's WCS, transformed frame to
frame into the frame the file names (DS9 ``fk5`` / CRTF ``J2000`` = FK5 J2000, DS9 ``fk4`` / CRTF
``B1950`` = FK4 B1950).
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import FK4, FK5, ICRS, Galactic, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from regions import Regions

from astro_mlfinder import ClassicalFinder

#: what the frame names of DS9 and CRTF files mean
FILE_MEANING = {"icrs": ICRS(), "fk5": FK5(equinox="J2000"), "fk4": FK4(equinox="B1950"), "galactic": Galactic()}
INPUTS = {
    "fk4_b1950": {"radesys": "FK4", "equinox": 1950.0, "ctype": ("RA---NCP", "DEC--NCP"), "crval": (142.4, 21.7)},
    "fk5_j2000": {"radesys": "FK5", "equinox": 2000.0, "ctype": ("RA---SIN", "DEC--SIN"), "crval": (150.0, 30.0)},
    "icrs": {"radesys": "ICRS", "ctype": ("RA---SIN", "DEC--SIN"), "crval": (210.0, -45.0)},
    "galactic": {"ctype": ("GLON-SIN", "GLAT-SIN"), "crval": (120.0, 60.0)},
}
NATIVE = {"fk4_b1950": "fk4", "fk5_j2000": "fk5", "icrs": "icrs", "galactic": "galactic"}
SOURCES = ((18.3, 44.7, 150.0), (46.6, 19.2, 130.0))  # x, y, ell_pa (deg, 0 = +y, towards -x)


def _cube(radesys=None, equinox=None, ctype=("RA---SIN", "DEC--SIN"), crval=(150.0, 30.0)):
    rng = np.random.default_rng(8)
    nz, ny, nx = 24, 64, 64
    data = rng.normal(0, 1e-3, (nz, ny, nx))
    zz, yy, xx = np.mgrid[:nz, :ny, :nx]
    for x0, y0, pa in SOURCES:
        t = np.deg2rad(pa)
        along = -(xx - x0) * np.sin(t) + (yy - y0) * np.cos(t)
        across = (xx - x0) * np.cos(t) + (yy - y0) * np.sin(t)
        data += 0.05 * np.exp(-(along**2 / (2 * 6.0**2) + across**2 / (2 * 2.0**2)) - (zz - 12) ** 2 / 18)
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"], header["CTYPE3"] = (*ctype, "FREQ")
    header["CRPIX1"], header["CRPIX2"], header["CRPIX3"] = 32.0, 32.0, 1.0
    header["CRVAL1"], header["CRVAL2"], header["CRVAL3"] = (*crval, 1.42e9)
    header["CDELT1"], header["CDELT2"], header["CDELT3"] = -10 / 3600, 10 / 3600, 1e5
    header["CUNIT1"], header["CUNIT2"], header["CUNIT3"] = "deg", "deg", "Hz"
    if radesys:
        header["RADESYS"] = radesys
    if equinox is not None:
        header["EQUINOX"] = equinox
    header["BUNIT"] = "Jy/beam"
    header["BMAJ"] = header["BMIN"] = 30 / 3600
    return fits.PrimaryHDU(data.astype(np.float32), header)


@pytest.fixture(scope="module", params=sorted(INPUTS))
def searched(request):
    hdu = _cube(**INPUTS[request.param])
    cat = ClassicalFinder(threshold=5.0)(hdu, progress=False)
    assert len(cat) == 2
    return request.param, cat, WCS(hdu.header).celestial


def _to(coord, frame):
    return SkyCoord(coord.frame.transform_to(frame))  # frame to frame: no equinox carried over


def _expected(cat, wcs, frame):
    """Centres and major-axis position angles (east of north) in ``frame``, from astropy alone."""
    x, y, pa = cat.x.value, cat.y.value, np.deg2rad(cat.ell_pa.value)
    step = 0.01  # pix along the major axis: +y rotated towards -x by ell_pa
    centre = _to(wcs.pixel_to_world(x, y), frame)
    tip = _to(wcs.pixel_to_world(x - step * np.sin(pa), y + step * np.cos(pa)), frame)
    return _to(cat.sky_centroid, frame), centre.position_angle(tip).to(u.deg)


def _check(regions, cat, wcs, frame_name):
    assert len(regions) == len(cat)
    for i, region in enumerate(regions):
        frame = FILE_MEANING[region.center.frame.name]  # what the file says
        centroid, pa = _expected(cat, wcs, frame)
        centre = _to(region.center, frame)
        assert centre.separation(centroid[i]) < 0.1 * u.arcsec
        assert region.width >= region.height  # the angle is that of the major axis
        # regions' sky angle runs anticlockwise from the longitude axis: PA = angle - 90 deg
        difference = (region.angle.to(u.deg) - 90 * u.deg - pa[i] + 90 * u.deg) % (180 * u.deg) - 90 * u.deg
        assert abs(difference) < 0.1 * u.deg
        assert region.center.frame.name == frame_name


@pytest.mark.parametrize("fmt", ["ds9", "crtf"])
@pytest.mark.parametrize("frame", [None, "icrs", "fk5", "fk4", "galactic"])
def test_region_files_in_every_frame(tmp_path, searched, fmt, frame):
    name, cat, wcs = searched
    path = tmp_path / f"src.{fmt}"
    kwargs = {} if frame is None else {"frame": frame}
    cat.write(path, format=fmt, **kwargs)
    _check(Regions.read(path, format=fmt), cat, wcs, frame or NATIVE[name])


def test_product_region_files(tmp_path, searched):
    name, cat, wcs = searched
    cat.write_products(tmp_path, "p", cat_xml=False, cat_ascii=False, mask=False, moments=False,
                       regions=("ds9", "crtf"))
    _check(Regions.read(tmp_path / "p.reg", format="ds9"), cat, wcs, NATIVE[name])
    _check(Regions.read(tmp_path / "p.crtf", format="crtf"), cat, wcs, NATIVE[name])


@pytest.mark.parametrize("frame", ["icrs", "fk5", "fk4", "galactic"])
def test_to_regions_frame(searched, frame):
    name, cat, wcs = searched
    _check(cat.to_regions(frame=frame), cat, wcs, frame)


def test_unknown_frame_is_refused(searched):
    _, cat, _ = searched
    with pytest.raises(ValueError, match="unknown region frame 'ecliptic'"):
        cat.to_regions(frame="ecliptic")
    with pytest.raises(ValueError, match="pixel regions"):
        cat.to_regions(sky=False, frame="icrs")
