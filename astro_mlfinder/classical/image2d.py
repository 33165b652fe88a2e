"""`ClassicalFinder` on 2D images: the SoFiA-2 stages with spatial kernels only.

A 2D image is searched by the same stages as a cube (`astro_mlfinder.classical.pipeline`):
it goes through them as a one-plane (1, y, x) array, with the spectral
settings fixed so that nothing happens along the missing axis, and comes out
as a 2D `~astro_mlfinder.core.segmentation.Segmentation` (labels, products
and the measured image in (y, x)), so the catalogue has the 2D columns and
the image's own WCS.

The rules for images:

* spectral settings are not used: ``kernels_z`` (one pass per
  ``kernels_xy`` kernel, no spectral smoothing), ``radius_z``,
  ``min_size_z``/``max_size_z``, ``dilation_iterations_z``,
  ``scale_noise_window_z``/``grid_z`` and ``ripple_window_z``/``grid_z``;
* spectral operations are refused with a one-line error: continuum
  subtraction (``contsub``) and automatic flagging (``flag_auto``, which
  compares channels and the spectra of pixels);
* ``region`` is ``(x_min, x_max, y_min, y_max)`` (a cube's 6-tuple is accepted
  when its z range is ``0, 0``);
* the ripple filter is the image's background subtraction: its running
  median (or mean) is subtracted from the image that is searched *and*
  measured (SoFiA-2 measures cubes on the unfiltered data), and kept in
  ``cat.products['background']``;
* `IMAGE_DEFAULTS`: with ``image_defaults=True`` (the default), settings left
  at their cube (SoFiA-2) default take the continuum default instead (a
  setting passed with the cube default's value counts as left; pass
  ``image_defaults=False`` to run the settings as given):

  - local noise scaling (``scale_noise='local'``, interpolated), since the
    noise of a primary-beam-corrected mosaic varies across it, and the
    running-median background (``ripple_filter=True``, interpolated), both
    in a window of `NOISE_WINDOW_BEAMS` beam FWHMs on a side (at least 25
    pixels; `IMAGE_WINDOW_PIXELS` pixels without a beam), on a grid of half
    the window (on beam-correlated Gaussian noise the noise map is within
    1.3% of the true sigma: ``classical/tests/test_image2d.py``);
  - with a beam, ``min_size_xy=1`` and a linker radius of one beam FWHM
    (`link_radius`): in a restored image the noise is already smoothed by
    the beam, so a pixel above the clip is as significant as the beam it
    lies in (a 6-sigma point source crosses a 5-sigma clip in one or two
    pixels), and the pieces of a faint source that crossed it are linked;
    without a beam (noise of unknown correlation, e.g. an optical frame),
    ``min_size_xy=2`` and radius 1;
  - mask dilation (``dilation=True``) by up to one beam FWHM (the
    `link_radius` in pixels; SoFiA's 10 iterations without a beam), stopping
    earlier when the flux grows by less than ``dilation_threshold``: the
    detection mask stops at the clip level and the integrated flux needs
    the source's wings, while growing further adds noise (and, with a
    background, bias).

  The settings used are recorded in ``cat.meta['image_settings']``. They
  were chosen on the real Parkes 1904-66 map and the AMI-LA noise image of
  ../shared/fixtures/real (see ``tests/test_continuum_real.py``) and on
  three simulated images (`astro_mlfinder.simulate.continuum`, seeds
  123-125, which the 2D benchmark does not use), keeping SoFiA-2's
  threshold (5) and kernels (0, 3, 6 pixels).
"""

import copy
import math

import numpy as np

from ..core.inputs import ImageData
from ..core.segmentation import Segmentation

__all__ = ["IMAGE_DEFAULTS", "NOISE_WINDOW_BEAMS", "IMAGE_WINDOW_PIXELS", "MAX_IMAGE_RADIUS", "noise_window",
           "link_radius", "image_settings", "run_image"]

#: Settings that images take where the finder keeps the cube default (see `image_settings`).
IMAGE_DEFAULTS = {
    "scale_noise": "local",
    "scale_noise_interpolate": True,
    "ripple_filter": True,
    "ripple_interpolate": True,
    "dilation": True,
    "dilation_iterations_xy": 10,
}
#: Side of the local-noise window in beam FWHMs (forced odd, at least 25 pixels) ...
NOISE_WINDOW_BEAMS = 10.0
#: ... and in pixels for images without a beam.
IMAGE_WINDOW_PIXELS = 31
#: Largest linker radius (pixels) the image default (one beam FWHM) takes, and what `margin_for(2)` allows.
MAX_IMAGE_RADIUS = 10

_SPECTRAL_FIXED = {
    "kernels_z": (0,),
    "radius_z": 1,
    "min_size_z": 1,
    "max_size_z": 0,
    "dilation_iterations_z": 0,
    "scale_noise_window_z": 1,
    "scale_noise_grid_z": 1,
    "ripple_window_z": 1,
    "ripple_grid_z": 1,
}


def _cube_defaults(finder):
    import inspect

    signature = inspect.signature(type(finder).__init__)
    return {name: p.default for name, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}


def noise_window(image):
    """Side (pixels, odd) of the local-noise window for ``image``: `NOISE_WINDOW_BEAMS` beams, >= 25 px."""
    if image.beam and image.has_celestial:
        pixel = image.pixel_scale
        if pixel:
            side = max(25, int(math.ceil(NOISE_WINDOW_BEAMS * image.beam["bmaj"] / pixel)))
            return side | 1
    return IMAGE_WINDOW_PIXELS


def _has_beam(image):
    return bool(image.beam and image.has_celestial and image.pixel_scale)


def link_radius(image):
    """Linker radius (pixels) for ``image``: one beam FWHM (geometric mean of the axes), 1 to `MAX_IMAGE_RADIUS`.

    Pieces of one source closer than a beam are linked: in a restored image
    a faint source's pixels above the clip level can come in fragments.
    Images without a beam get 1 (face connectivity).
    """
    if _has_beam(image):
        fwhm = math.sqrt(image.beam["bmaj"] * image.beam["bmin"]) / image.pixel_scale
        return int(min(max(1, round(fwhm)), MAX_IMAGE_RADIUS))
    return 1


def image_settings(finder, image):
    """A copy of ``finder`` with the settings a 2D search of ``image`` uses.

    Parameters
    ----------
    finder : `~astro_mlfinder.ClassicalFinder`
    image : `~astro_mlfinder.core.inputs.ImageData`
        The 2D image (its beam sets the noise window).

    Returns
    -------
    settings : `~astro_mlfinder.ClassicalFinder`
        Spectral settings fixed (see the module notes), and, with
        ``finder.image_defaults``, every setting of `IMAGE_DEFAULTS` still at
        its cube default replaced by the image default.

    Raises
    ------
    ValueError
        For spectral operations (``contsub``, ``flag_auto``) or a region
        with a z range.
    """
    if finder.contsub:
        raise ValueError("contsub subtracts a spectral continuum and needs a cube; set contsub=False for a 2D image")
    if finder.flag_auto:
        raise ValueError("flag_auto compares channels and spectra and needs a cube; set flag_auto=False for a 2D image")
    settings = copy.copy(finder)
    if finder.image_defaults:
        defaults = _cube_defaults(finder)
        for name, value in IMAGE_DEFAULTS.items():
            if getattr(finder, name) == defaults[name]:
                setattr(settings, name, value)
        if finder.scale_noise_window_xy == defaults["scale_noise_window_xy"]:
            settings.scale_noise_window_xy = noise_window(image)
        if finder.ripple_window_xy == defaults["ripple_window_xy"]:
            settings.ripple_window_xy = noise_window(image)
        if finder.radius_xy == defaults["radius_xy"]:
            settings.radius_xy = link_radius(image)
        if finder.min_size_xy == defaults["min_size_xy"]:
            settings.min_size_xy = 1 if _has_beam(image) else 2
        if finder.dilation_iterations_xy == defaults["dilation_iterations_xy"] and _has_beam(image):
            settings.dilation_iterations_xy = link_radius(image)  # one beam FWHM
    for name, value in _SPECTRAL_FIXED.items():
        setattr(settings, name, value)
    settings.region = None  # cut here, in 2D
    return settings


def _region_2d(region, shape):
    if region is None:
        return None
    if len(region) == 6:
        if tuple(region[4:]) != (0, 0):
            raise ValueError(f"region {tuple(region)} has a z range; a 2D image takes (x_min, x_max, y_min, y_max)")
        region = region[:4]
    x1, x2, y1, y2 = region
    ny, nx = shape
    if not (0 <= x1 <= x2 < nx and 0 <= y1 <= y2 < ny):
        raise ValueError(f"region {tuple(region)} lies outside the image (x 0-{nx - 1}, y 0-{ny - 1})")
    return x1, x2, y1, y2


def _cut(image, region):
    x1, x2, y1, y2 = region
    slices = (slice(y1, y2 + 1), slice(x1, x2 + 1))
    wcs = image.wcs.slice(slices) if image.wcs is not None else None
    header = image.header
    if header is not None:
        header = header.copy()
        for axis, (start, length) in enumerate(((x1, x2 - x1 + 1), (y1, y2 - y1 + 1)), 1):
            if f"CRPIX{axis}" in header:
                header[f"CRPIX{axis}"] = float(header[f"CRPIX{axis}"]) - start
            header[f"NAXIS{axis}"] = length
    return ImageData(image.data[slices], wcs, header, image.unit, image.beam, image.filename), slices


def _plane(value):
    """A product of the one-plane search as a 2D array (bit-packed masks unpacked)."""
    array = np.asarray(value)
    return array[0] if array.ndim == 3 and array.shape[0] == 1 else array


def run_image(finder, image, mask=None, progress=True):
    """All stages on a 2D image; returns its 2D `~astro_mlfinder.core.segmentation.Segmentation`.

    Parameters
    ----------
    finder : `~astro_mlfinder.ClassicalFinder`
    image : `~astro_mlfinder.core.inputs.ImageData`
        A (y, x) image.
    mask : `~numpy.ndarray` of bool, optional
        Excluded pixels, (y, x).
    progress : bool
        Show progress bars.
    """
    from . import pipeline

    settings = image_settings(finder, image)
    region = _region_2d(finder.region, image.shape)
    offset = (0, 0, 0)
    if region is not None:
        image, slices = _cut(image, region)
        mask = None if mask is None else mask[slices]
        offset = (region[0], region[2], 0)
    # the one-plane array carries the image's celestial WCS (a dummy third axis): beam area and
    # catalogue flagging see the image's sky coordinates
    wcs3 = image.wcs.sub([1, 2, 0]) if image.wcs is not None else None
    data = image.read()
    owned = data is not image.data  # read() made a new array (else it is the caller's: never changed)
    data = data[None]
    background = None
    if settings.ripple_filter:  # the image's background: subtracted from what is searched and measured
        from .noise_scaling import local_grid

        search = data if mask is None else np.where(mask[None], np.nan, data)
        background = local_grid(search, settings.ripple_statistic, window_xy=settings.ripple_window_xy, window_z=1,
                                grid_xy=settings.ripple_grid_xy, grid_z=1, interpolate=settings.ripple_interpolate)
        if owned:
            np.subtract(data, background, out=data)
        else:
            data = data - background
        settings = copy.copy(settings)
        settings.ripple_filter = False
    plane = ImageData(data, wcs3, None, image.unit, image.beam, image.filename)
    state = pipeline.prepare(settings, plane, None if mask is None else mask[None])
    if background is not None:
        state.products["background"] = background
    state.offset = offset
    state.meta["offset"] = offset if finder.offset else None
    pipeline.detect(settings, state, progress)
    pipeline.link(settings, state)
    try:
        pipeline.reliability(settings, state)
    except np.linalg.LinAlgError:  # a degenerate covariance that LAPACK cannot decompose inside the filter
        from .reliability import ReliabilityError

        raise ReliabilityError(
            "the reliability parameters of the negative detections are degenerate (in an image, sources of one "
            "or two pixels have peak = sum = mean); use a lower threshold for more negative detections, a "
            "larger min_size_xy or min_pixels, or reliability=False"
        ) from None
    pipeline.dilate(settings, state)
    measure = state.base if state.reload else state.work
    if state.reload and finder.gain is not None:
        measure = measure / np.float32(finder.gain)
    wcs = image.wcs if finder.wcs_columns else None
    measured = ImageData(measure[0], wcs, image.header, image.unit, image.beam, image.filename)
    columns = dict(state.columns)
    if "flag" in columns:  # the one plane is not a spectral edge (SoFiA's flag 2 is for cubes)
        columns["flag"] = np.asarray(columns["flag"], dtype=np.int64) & ~np.int64(2)
    products = {key: _plane(value) for key, value in state.products.items() if key != "flag_log"}
    meta = dict(state.meta)
    meta["image_settings"] = {name: getattr(settings, name) for name in
                              (*IMAGE_DEFAULTS, "scale_noise_window_xy", "ripple_window_xy", "radius_xy",
                               "min_size_xy")}  # dilation_iterations_xy is in IMAGE_DEFAULTS
    meta["image_settings"]["ripple_filter"] = background is not None
    return Segmentation(
        np.ascontiguousarray(state.labels[0]), columns=columns, products=products, meta=meta, image=measured,
        physical=finder.physical, name_prefix=finder.name_prefix,
        pixel_offset=offset if finder.offset else None,
    )
