"""A small, fast stand-in for ALMA cubes in the unit tests: beam-convolved Gaussian sources with Gaussian lines.

Not a simulator of interferometric data (`astro_mlfinder.simulate.alma` is);
it gives the pipeline tests a cube with an exact truth in the layout of
`~astro_mlfinder.neural.models.deepfocus.dataset.CubeRecord` in milliseconds.
"""

import numpy as np
from astropy.io import fits
from scipy import ndimage

from astro_mlfinder.neural.models.deepfocus.dataset import CubeRecord

__all__ = ["synthetic_record", "record_hdu", "BEAM_FWHM"]

#: Beam FWHM of the synthetic cubes, pixels.
BEAM_FWHM = 4.0


def _source(shape, y, x, sx, sy, pa):
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    c, s = np.cos(np.radians(pa)), np.sin(np.radians(pa))
    dx, dy = xx - x, yy - y
    # pa counter-clockwise from +y: the major axis (sy) along (−sin, cos)
    u = dx * c + dy * s
    v = -dx * s + dy * c
    return np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))


def synthetic_record(seed, shape=(64, 64, 64), n_sources=3, noise=0.5, bright=1.0):
    """A cube with ``n_sources`` (the first one ``bright``, the others 0.3-0.6 of it) and its truth."""
    rng = np.random.default_rng(int(seed))
    nz, ny, nx = shape
    sky = np.zeros(shape, dtype=np.float64)
    rows = []
    sig_b = BEAM_FWHM / 2.3548
    for i in range(n_sources):
        amp = bright if i == 0 else bright * rng.uniform(0.3, 0.6)
        y, x = rng.uniform(12, ny - 12), rng.uniform(12, nx - 12)
        sx, sy = rng.uniform(1.0, 2.5), rng.uniform(1.0, 2.5)
        pa = rng.uniform(0, 180)
        zc, sz = rng.uniform(12, nz - 12), rng.uniform(1.5, 3.0)
        img = _source((ny, nx), y, x, sx, sy, pa)
        spec = np.exp(-0.5 * ((np.arange(nz) - zc) / sz) ** 2)
        sky += amp * spec[:, None, None] * img[None]
        m = img > 0.05
        ys, xs = np.nonzero(m)
        rows.append({"center": (y, x), "box": (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1),
                     "window": (int(zc - 2.3548 * sz), int(zc + 2.3548 * sz) + 1),
                     "fwhm_x": 2.3548 * sx, "fwhm_y": 2.3548 * sy, "pa": pa % 180, "flux_sky": float(amp * img.sum()
                     * spec[int(zc - 2.3548 * sz): int(zc + 2.3548 * sz) + 1].sum()), "amp": amp})
    beam_sum = 2 * np.pi * sig_b**2
    dirty = ndimage.gaussian_filter(sky, (0, sig_b, sig_b)) * beam_sum
    n = ndimage.gaussian_filter(rng.normal(0, 1, shape), (0, sig_b, sig_b))
    dirty += noise * n / n.std()
    truth = {
        "center": np.array([r["center"] for r in rows], float),
        "box": np.array([r["box"] for r in rows], int),
        "window": np.clip(np.array([r["window"] for r in rows], int), 0, nz),
        "fwhm_x": np.array([r["fwhm_x"] for r in rows]),
        "fwhm_y": np.array([r["fwhm_y"] for r in rows]),
        "pa": np.array([r["pa"] for r in rows]),
        "flux": np.array([r["flux_sky"] for r in rows]) * beam_sum,
        "snr": np.array([r["amp"] * beam_sum for r in rows]) / noise,
    }
    return CubeRecord(dirty.astype(np.float32), sky.astype(np.float32), truth)


def record_hdu(record, pixel_arcsec=0.1, chan_hz=10e6):
    """The dirty cube of ``record`` as a FITS HDU in Jy/beam with a beam and RA/Dec/FREQ axes."""
    nz, ny, nx = record.dirty.shape
    h = fits.Header()
    for i, (ctype, n, cdelt, crval, unit) in enumerate(
        (("RA---SIN", nx, -pixel_arcsec / 3600, 150.0, "deg"), ("DEC--SIN", ny, pixel_arcsec / 3600, 2.0, "deg"),
         ("FREQ", nz, chan_hz, 230e9, "Hz")), start=1):
        h[f"CTYPE{i}"], h[f"CRPIX{i}"], h[f"CDELT{i}"] = ctype, (n + 1) / 2, cdelt
        h[f"CRVAL{i}"], h[f"CUNIT{i}"] = crval, unit
    h["BUNIT"] = "Jy/beam"
    h["BMAJ"] = h["BMIN"] = BEAM_FWHM * pixel_arcsec / 3600
    h["BPA"] = 0.0
    return fits.PrimaryHDU(record.dirty, h)
