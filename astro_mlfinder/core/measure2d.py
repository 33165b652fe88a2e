"""Continuum measurements of the sources of a 2D image.

What a radio-continuum user reads besides SoFiA-2's columns
(`astro_mlfinder.core.measure`), computed from them and the image's WCS and
beam:

* ``peak_flux``: the peak flux density, SoFiA's ``f_max`` (data unit, Jy/beam
  for radio maps); ``err_peak_flux`` is the local noise around the source
  (`window_noise`: 1.4826 MAD about zero of the negative pixels outside
  every source in a square window reaching `NOISE_WINDOW_BEAMS` beam FWHMs, or
  `NOISE_WINDOW_PIXELS` pixels without a beam, beyond the source's bounding
  box, grown where it holds fewer than `MIN_NOISE_BEAMS` beam areas of
  negative pixels; SoFiA's ``rms`` uses the bounding box alone, which holds
  few background pixels around a compact source). About zero, the negative
  half needs no sample mean, so it is unbiased even for few independent beams
  (on beam-correlated Gaussian noise: within 1% of the true sigma in windows
  of 4 to 100 beam areas, with a scatter of 36% to 9% from one window to the
  next; see ``classical/tests/test_image2d.py``), where a sample standard
  deviation about the window's mean is biased low (by 11% at 4 beam areas).
* ``int_flux``: the integrated flux density, the sum over the source mask
  divided by the beam area in pixels at the source (Jy for Jy/beam data with
  a beam); ``err_int_flux = rms sqrt(n_pix / beam area)``, the noise of a sum
  over ``n_pix`` pixels whose noise is correlated over one beam. Without a beam the
  integrated flux is the plain sum in data units (an image in Jy/pixel,
  counts...); Jy/beam data without a beam have no integrated flux (NaN).
* ``size_maj, size_min, size_pa``: the source's FWHM ellipse on the sky from
  the flux-weighted second moments of its mask (SoFiA's ``ell_*``: ``ell =
  2 sigma``, FWHM = ``sqrt(2 ln 2) ell``), in arcsec, position angle east of
  north; ``deconv_maj, deconv_min, deconv_pa``: the same ellipse with the
  beam removed (covariance minus the beam's), 0 along an axis where the
  source is not larger than the beam (unresolved).

Sizes and beam areas are taken in the tangent plane at each source (the
WCS's Jacobian there), so they hold where projections stretch pixels far from
the reference point (a SIN map of a large field). The moments come from the
pixels in the mask, which stops at the detection threshold: for faint
sources the wings are cut and the sizes (and, less so, the integrated flux)
come out small; growing the mask (``ClassicalFinder(dilation=True)``)
reduces that bias.
"""

import math

import numpy as np
from astropy import units as u

__all__ = ["IMAGE_COLUMNS", "FWHM_PER_ELL", "NOISE_WINDOW_BEAMS", "NOISE_WINDOW_PIXELS", "MIN_NOISE_BEAMS",
           "deconvolve", "local_jacobian", "window_noise", "image_columns"]

#: The continuum columns of 2D images, in catalogue order.
IMAGE_COLUMNS = ("peak_flux", "err_peak_flux", "int_flux", "err_int_flux", "size_maj", "size_min", "size_pa",
                 "deconv_maj", "deconv_min", "deconv_pa")
#: FWHM of a Gaussian per SoFiA ``ell`` axis (``ell = 2 sigma``): ``sqrt(2 ln 2)``.
FWHM_PER_ELL = math.sqrt(2.0 * math.log(2.0))
#: Margin of the noise window around a source's bounding box, in beam FWHMs (with a beam) ...
NOISE_WINDOW_BEAMS = 5.0
#: ... or in pixels (without a beam).
NOISE_WINDOW_PIXELS = 15
#: Fewest beam areas of negative background pixels a noise window must hold (else it grows).
MIN_NOISE_BEAMS = 10.0
_MIN_NOISE_PIXELS = 25  # and at least this many pixels (images without a beam: this alone)
_FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))
_STEP = 0.5  # pix: half-step of the central differences of the Jacobian


def local_jacobian(wcs, x, y):
    """The WCS's Jacobian at pixels (x, y): sky offsets (east, north) in deg per pixel step.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`
        A 2D celestial WCS.
    x, y : array_like
        0-based pixel positions.

    Returns
    -------
    jac : `~numpy.ndarray`, shape (n, 2, 2)
        ``jac[i] @ (dx, dy)`` is the (east, north) offset in degrees of a
        pixel step ``(dx, dy)`` at source ``i``, measured in the plane tangent
        to the sky at the source.
    """
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import wcs_to_celestial_frame

    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    frame = wcs_to_celestial_frame(wcs)

    def sky(px, py):
        lon, lat = wcs.pixel_to_world_values(px, py)
        return SkyCoord(lon * u.deg, lat * u.deg, frame=frame)

    center = sky(x, y)
    jac = np.empty((x.size, 2, 2))
    for column, (dx, dy) in enumerate(((_STEP, 0.0), (0.0, _STEP))):
        plus = center.spherical_offsets_to(sky(x + dx, y + dy))
        minus = center.spherical_offsets_to(sky(x - dx, y - dy))
        jac[:, 0, column] = (plus[0] - minus[0]).to_value(u.deg) / (2 * _STEP)
        jac[:, 1, column] = (plus[1] - minus[1]).to_value(u.deg) / (2 * _STEP)
    return jac


def window_noise(data, labels, params, margin, fallback, min_pixels=_MIN_NOISE_PIXELS):
    """Local noise of each source: 1.4826 MAD about 0 of the negative background pixels in a window around it.

    Parameters
    ----------
    data, labels : `~numpy.ndarray`
        The 2D image and its label image (0 = background).
    params : dict
        SoFiA parameters (``x_min, x_max, y_min, y_max``) of the sources.
    margin : int
        Pixels added on each side of the bounding box.
    fallback : float
        Noise used where even the whole image holds fewer than ``min_pixels``
        negative background pixels.
    min_pixels : int
        Fewest negative background pixels a window must hold; a window with
        fewer (at an image edge, next to blanked pixels, in a crowded field)
        doubles its margin until it holds them.

    Returns
    -------
    noise : `~numpy.ndarray`
    """
    from .stats import MAD_TO_STD

    ny, nx = data.shape
    x0, x1 = np.asarray(params["x_min"], dtype=int), np.asarray(params["x_max"], dtype=int)
    y0, y1 = np.asarray(params["y_min"], dtype=int), np.asarray(params["y_max"], dtype=int)
    noise = np.full(x0.size, float(fallback))
    min_pixels = max(int(min_pixels), 1)
    for i in range(x0.size):
        grow = max(int(margin), 1)
        while True:
            window = (slice(max(y0[i] - grow, 0), min(y1[i] + grow + 1, ny)),
                      slice(max(x0[i] - grow, 0), min(x1[i] + grow + 1, nx)))
            values = data[window][labels[window] == 0]
            values = values[values < 0]  # the negative half: faint undetected sources do not bias it (NaN drops out)
            whole = window[0].start == 0 and window[1].start == 0 and window[0].stop == ny and window[1].stop == nx
            if values.size >= min_pixels or whole:
                break
            grow *= 2
        if values.size >= min_pixels:
            noise[i] = MAD_TO_STD * float(np.median(np.abs(values)))
    return noise


def _covariance(major, minor, angle):
    """2x2 covariance matrices of ellipses with axes ``major``/``minor`` (sigma units) along unit vectors.

    ``angle`` is the direction of the major axis as (u, v) components.
    """
    uu, vv = angle
    cov = np.empty((np.size(major), 2, 2))
    a2, b2 = np.asarray(major) ** 2, np.asarray(minor) ** 2
    cov[:, 0, 0] = a2 * uu * uu + b2 * vv * vv
    cov[:, 1, 1] = a2 * vv * vv + b2 * uu * uu
    cov[:, 0, 1] = cov[:, 1, 0] = (a2 - b2) * uu * vv
    return cov


def _ellipse_of(cov):
    """(major FWHM, minor FWHM, PA east of north in deg) of covariance matrices in (east, north)."""
    values, vectors = np.linalg.eigh(cov)  # ascending eigenvalues
    values = np.clip(values, 0.0, None)
    major = np.sqrt(values[:, 1]) / _FWHM_TO_SIGMA
    minor = np.sqrt(values[:, 0]) / _FWHM_TO_SIGMA
    east, north = vectors[:, 0, 1], vectors[:, 1, 1]
    pa = np.degrees(np.arctan2(east, north)) % 180.0
    return major, minor, pa


def deconvolve(major, minor, pa, beam_major, beam_minor, beam_pa):
    """Remove a Gaussian beam from Gaussian FWHM ellipses (covariance subtraction).

    Parameters
    ----------
    major, minor : array_like
        FWHM axes of the observed sources (any angular unit, the same as the beam's).
    pa : array_like
        Position angles of the major axes, deg east of north.
    beam_major, beam_minor, beam_pa : float
        The beam's FWHM axes and position angle (deg).

    Returns
    -------
    major, minor, pa : `~numpy.ndarray`
        The intrinsic FWHMs (0 along an axis where the source is not larger
        than the beam) and position angle in [0, 180) (that of the observed
        source when the result is round).
    """
    major, minor, pa = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (major, minor, pa))
    rad = np.radians(pa)
    observed = _covariance(major * _FWHM_TO_SIGMA, minor * _FWHM_TO_SIGMA, (np.sin(rad), np.cos(rad)))
    brad = math.radians(float(beam_pa))
    beam = _covariance(np.full(major.shape, beam_major * _FWHM_TO_SIGMA),
                       np.full(major.shape, beam_minor * _FWHM_TO_SIGMA), (math.sin(brad), math.cos(brad)))
    out_major, out_minor, out_pa = _ellipse_of(observed - beam)
    round_ = np.isclose(out_major, out_minor, rtol=1e-9, atol=1e-12 * np.maximum(major, 1e-300))
    out_pa = np.where(round_, pa % 180.0, out_pa)
    return out_major, out_minor, out_pa


def _pixel_covariance(ell_maj, ell_min, ell_pa):
    """Covariance (pix^2, sigma units) of SoFiA ellipses: axes ``ell = 2 sigma``, PA from +y towards -x."""
    rad = np.radians(ell_pa)
    return _covariance(np.asarray(ell_maj) / 2.0, np.asarray(ell_min) / 2.0, (-np.sin(rad), np.cos(rad)))


def image_columns(catalog, params, rms):
    """The continuum columns (`IMAGE_COLUMNS`) of every source of a 2D catalogue.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        A catalogue of a 2D image (supplies the image, its WCS, unit and beam).
    params : dict
        SoFiA parameters of all its sources (`astro_mlfinder.core.measure.parameterise`).
    rms : float
        The global noise in data units (used where a window holds too few
        background pixels).

    Returns
    -------
    columns : dict of str to `~astropy.units.Quantity`
    """
    image = catalog.image
    unit = image.unit
    n = len(np.asarray(params["f_sum"]))
    f_sum = np.asarray(params["f_sum"], dtype=float)
    n_pix = np.asarray(params["n_pix"], dtype=float)
    beam_px = None
    if image.beam and image.pixel_scale:
        beam_px = image.beam["bmaj"] / image.pixel_scale
    margin = int(math.ceil(NOISE_WINDOW_BEAMS * beam_px)) if beam_px else NOISE_WINDOW_PIXELS
    min_pixels = _MIN_NOISE_PIXELS
    if beam_px:
        beam_area_px = math.pi * beam_px * (image.beam["bmin"] / image.pixel_scale) / (4.0 * math.log(2.0))
        min_pixels = max(min_pixels, int(math.ceil(MIN_NOISE_BEAMS * beam_area_px)))
    rms = window_noise(image.data, catalog.segment, params, margin, rms, min_pixels)
    out = {"peak_flux": np.asarray(params["f_max"], dtype=float) * unit, "err_peak_flux": np.asarray(rms) * unit}
    nan = np.full(n, np.nan)
    beam = image.beam if image.beam and image.has_celestial else None
    per_beam = (unit * u.beam).physical_type == "spectral flux density"
    jac = None
    if image.has_celestial:
        jac = local_jacobian(image.wcs.celestial, params["x"], params["y"])
    if beam is not None and jac is not None:
        pixel_area = np.abs(np.linalg.det(jac))  # deg^2 per pixel at each source
        beam_sky = math.pi * beam["bmaj"] * beam["bmin"] / (4.0 * math.log(2.0))  # deg^2
        area = beam_sky / pixel_area
        flux_unit = unit * u.beam if per_beam else unit
        out["int_flux"] = (f_sum / area) * flux_unit
        out["err_int_flux"] = (np.asarray(rms) * np.sqrt(n_pix / area)) * flux_unit
    elif per_beam:  # Jy/beam without a beam: no integrated flux
        out["int_flux"] = nan * (unit * u.beam)
        out["err_int_flux"] = nan * (unit * u.beam)
    else:
        out["int_flux"] = f_sum * unit
        out["err_int_flux"] = np.asarray(rms) * np.sqrt(n_pix) * unit
    if jac is None:  # no celestial WCS: sizes in pixels, nothing to deconvolve
        major = np.asarray(params["ell_maj"], dtype=float) * FWHM_PER_ELL
        minor = np.asarray(params["ell_min"], dtype=float) * FWHM_PER_ELL
        out.update(size_maj=major * u.pix, size_min=minor * u.pix, size_pa=np.asarray(params["ell_pa"]) * u.deg,
                   deconv_maj=nan * u.pix, deconv_min=nan * u.pix, deconv_pa=nan * u.deg)
        return out
    cov_pix = _pixel_covariance(params["ell_maj"], params["ell_min"], params["ell_pa"])
    cov_sky = jac @ cov_pix @ np.transpose(jac, (0, 2, 1)) * 3600.0**2  # arcsec^2, (east, north)
    major, minor, pa = _ellipse_of(np.nan_to_num(cov_sky))
    out.update(size_maj=major * u.arcsec, size_min=minor * u.arcsec, size_pa=pa * u.deg)
    if beam is not None:
        dmaj, dmin, dpa = deconvolve(major, minor, pa, beam["bmaj"] * 3600.0, beam["bmin"] * 3600.0, beam["bpa"])
        out.update(deconv_maj=dmaj * u.arcsec, deconv_min=dmin * u.arcsec, deconv_pa=dpa * u.deg)
    else:
        out.update(deconv_maj=nan * u.arcsec, deconv_min=nan * u.arcsec, deconv_pa=nan * u.deg)
    return out
