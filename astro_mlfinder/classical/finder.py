"""`ClassicalFinder`: SoFiA-2's pipeline (smooth-and-clip, linker, reliability, dilation) in Python."""

import numbers
import warnings

import numpy as np

from ..core.catalog import SourceCatalog
from ..core.finder import Finder
from ..core.inputs import ImageData

__all__ = ["ClassicalFinder"]

_STATISTICS = ("std", "mad", "gauss")
_FLUX_RANGES = ("negative", "positive", "full")
_RELIABILITY_PARAMETERS = ("peak", "sum", "mean", "chan", "pix", "fill", "std", "skew", "kurt")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_nonneg_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


class ClassicalFinder(Finder):
    """SoFiA-2 2.5.1's source-finding pipeline, re-implemented with numpy/scipy/numba.

    The stages run in SoFiA-2's order: flagging, noise normalisation,
    continuum subtraction, ripple filter, the smooth-and-clip (S+C) and/or
    threshold finder, the linker, the reliability filter, mask dilation and
    parameterisation. Keyword names map one-to-one to SoFiA-2 parameters (see
    the SoFiA-2 parameter mapping in the docs and `from_sofia_par`).

    Parameters
    ----------
    kernels_xy : sequence of float
        Spatial Gaussian FWHMs in pixels (``scfind.kernelsXY``); 0 = no smoothing.
    kernels_z : sequence of int
        Spectral boxcar widths in channels (``scfind.kernelsZ``); 0 = none.
    threshold : float
        Clip level in units of the noise of each smoothed cube (``scfind.threshold``).
    replacement : float
        Already-detected pixels are replaced by sign(x) * replacement * rms
        before smoothing (``scfind.replacement``); negative disables.
    statistic : {'mad', 'std', 'gauss'}
        Noise statistic (``scfind.statistic``).
    flux_range : {'negative', 'positive', 'full'}
        Pixels used to measure the noise (``scfind.fluxRange``).
    scfind : bool
        Run the S+C finder (``scfind.enable``).
    radius_xy, radius_z : int
        Linker merging radii; 1/1 = face connectivity (``linker.radiusXY/Z``).
    min_size_xy, min_size_z, max_size_xy, max_size_z : int
        Bounding-box size limits (``linker.minSizeXY`` ...; 0 = off for max).
    min_pixels, max_pixels : int
        Voxel-count limits (0 = off for max).
    min_fill, max_fill : float
        Fill-factor limits (0 = off).
    positivity : bool
        Drop negative pixels while linking (``linker.positivity``).
    keep_negative : bool
        Keep sources with negative total flux (``linker.keepNegative``).
    reliability : bool
        Run the negative-source KDE reliability filter (``reliability.enable``).
    dilation : bool
        Dilate source masks (``dilation.enable``).
    physical : bool
        Report fluxes and widths in physical units (``parameter.physical``).
    **others
        The remaining SoFiA-2 stages: ``invert``, ``gain``, ``noise``, ``weights``,
        ``region``, ``flag_*``, ``contsub*``, ``scale_noise*``, ``ripple_*``,
        ``threshold_finder*``, ``reliability_*``, ``dilation_*``, ``offset``,
        ``name_prefix``, ``wcs_columns``; see the parameter-mapping table.

    Examples
    --------
    >>> from astro_mlfinder import ClassicalFinder
    >>> finder = ClassicalFinder(kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=5.0)
    >>> cat = finder("cube.fits")           # doctest: +SKIP
    >>> cat.to_table()                      # doctest: +SKIP
    """

    name = "classical"
    ndim = 3

    def __init__(
        self,
        kernels_xy=(0, 3, 6),
        kernels_z=(0, 3, 7, 15),
        threshold=5.0,
        *,
        replacement=2.0,
        statistic="mad",
        flux_range="negative",
        scfind=True,
        # input
        invert=False,
        gain=None,
        noise=None,
        weights=None,
        region=None,
        # flagging
        flag_regions=None,
        flag_catalog=None,
        flag_radius=5,
        flag_auto=False,
        flag_threshold=5.0,
        flag_log=False,
        # continuum subtraction
        contsub=False,
        contsub_order=0,
        contsub_threshold=2.0,
        contsub_shift=4,
        contsub_padding=3,
        # noise scaling
        scale_noise=None,
        scale_noise_statistic="mad",
        scale_noise_flux_range="negative",
        scale_noise_window_xy=25,
        scale_noise_window_z=15,
        scale_noise_grid_xy=0,
        scale_noise_grid_z=0,
        scale_noise_interpolate=False,
        scale_noise_scfind=False,
        # ripple filter
        ripple_filter=False,
        ripple_statistic="median",
        ripple_window_xy=31,
        ripple_window_z=15,
        ripple_grid_xy=0,
        ripple_grid_z=0,
        ripple_interpolate=False,
        # threshold finder
        threshold_finder=False,
        threshold_finder_threshold=5.0,
        threshold_finder_mode="relative",
        threshold_finder_statistic="mad",
        threshold_finder_flux_range="negative",
        # linker
        link=True,
        radius_xy=1,
        radius_z=1,
        min_size_xy=5,
        min_size_z=5,
        max_size_xy=0,
        max_size_z=0,
        min_pixels=0,
        max_pixels=0,
        min_fill=0.0,
        max_fill=0.0,
        positivity=False,
        keep_negative=False,
        # reliability
        reliability=False,
        reliability_parameters=("peak", "sum", "mean"),
        reliability_threshold=0.9,
        reliability_scale_kernel=0.4,
        reliability_min_snr=3.0,
        reliability_min_pixels=0,
        reliability_auto_kernel=False,
        reliability_iterations=30,
        reliability_tolerance=0.05,
        reliability_catalog=None,
        # dilation
        dilation=False,
        dilation_iterations_xy=10,
        dilation_iterations_z=5,
        dilation_threshold=0.001,
        # parameterisation
        physical=False,
        offset=False,
        name_prefix="SoFiA",
        wcs_columns=True,
    ):
        self.kernels_xy = tuple(float(k) for k in np.atleast_1d(kernels_xy))
        self.kernels_z = tuple(np.atleast_1d(kernels_z).tolist())
        self.threshold = threshold
        self.replacement = float(replacement)
        self.statistic = statistic
        self.flux_range = flux_range
        self.scfind = bool(scfind)
        self.invert = bool(invert)
        self.gain = gain
        self.noise = noise
        self.weights = weights
        self.region = None if region is None else tuple(int(v) for v in region)
        self.flag_regions = None if not flag_regions else [tuple(int(v) for v in r) for r in flag_regions]
        self.flag_catalog = flag_catalog
        self.flag_radius = flag_radius
        self.flag_auto = flag_auto
        self.flag_threshold = flag_threshold
        self.flag_log = flag_log
        self.contsub = bool(contsub)
        self.contsub_order = contsub_order
        self.contsub_threshold = contsub_threshold
        self.contsub_shift = contsub_shift
        self.contsub_padding = contsub_padding
        self.scale_noise = scale_noise or None
        self.scale_noise_statistic = scale_noise_statistic
        self.scale_noise_flux_range = scale_noise_flux_range
        self.scale_noise_window_xy = scale_noise_window_xy
        self.scale_noise_window_z = scale_noise_window_z
        self.scale_noise_grid_xy = scale_noise_grid_xy
        self.scale_noise_grid_z = scale_noise_grid_z
        self.scale_noise_interpolate = bool(scale_noise_interpolate)
        self.scale_noise_scfind = bool(scale_noise_scfind)
        self.ripple_filter = bool(ripple_filter)
        self.ripple_statistic = ripple_statistic
        self.ripple_window_xy = ripple_window_xy
        self.ripple_window_z = ripple_window_z
        self.ripple_grid_xy = ripple_grid_xy
        self.ripple_grid_z = ripple_grid_z
        self.ripple_interpolate = bool(ripple_interpolate)
        self.threshold_finder = bool(threshold_finder)
        self.threshold_finder_threshold = threshold_finder_threshold
        self.threshold_finder_mode = threshold_finder_mode
        self.threshold_finder_statistic = threshold_finder_statistic
        self.threshold_finder_flux_range = threshold_finder_flux_range
        self.link = bool(link)
        self.radius_xy = radius_xy
        self.radius_z = radius_z
        self.min_size_xy = min_size_xy
        self.min_size_z = min_size_z
        self.max_size_xy = max_size_xy
        self.max_size_z = max_size_z
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.min_fill = float(min_fill)
        self.max_fill = float(max_fill)
        self.positivity = bool(positivity)
        self.keep_negative = bool(keep_negative)
        self.reliability = bool(reliability)
        self.reliability_parameters = tuple(reliability_parameters)
        self.reliability_threshold = float(reliability_threshold)
        self.reliability_scale_kernel = float(reliability_scale_kernel)
        self.reliability_min_snr = float(reliability_min_snr)
        self.reliability_min_pixels = reliability_min_pixels
        self.reliability_auto_kernel = bool(reliability_auto_kernel)
        self.reliability_iterations = reliability_iterations
        self.reliability_tolerance = float(reliability_tolerance)
        self.reliability_catalog = reliability_catalog
        self.dilation = bool(dilation)
        self.dilation_iterations_xy = dilation_iterations_xy
        self.dilation_iterations_z = dilation_iterations_z
        self.dilation_threshold = float(dilation_threshold)
        self.physical = bool(physical)
        self.offset = bool(offset)
        self.name_prefix = name_prefix
        self.wcs_columns = bool(wcs_columns)
        self._validate()

    # ------------------------------------------------------------ validation
    def _validate(self):
        if not isinstance(self.threshold, numbers.Real) or not self.threshold > 0:
            raise ValueError(f"threshold must be a positive number, got {self.threshold!r}")
        for k in self.kernels_xy:
            if not np.isfinite(k) or k < 0:
                raise ValueError(f"kernels_xy must be non-negative FWHMs in pixels, got {self.kernels_xy}")
        for k in self.kernels_z:
            if not isinstance(k, numbers.Integral) or k < 0:
                raise ValueError(f"kernels_z must be non-negative integer widths in channels, got {self.kernels_z}")
        if not self.kernels_xy or not self.kernels_z:
            raise ValueError("kernels_xy and kernels_z need at least one kernel each (use 0 for no smoothing)")
        _check_choice("statistic", self.statistic, _STATISTICS)
        _check_choice("flux_range", self.flux_range, _FLUX_RANGES)
        _check_choice("scale_noise", self.scale_noise, (None, "spectral", "local"))
        _check_choice("scale_noise_statistic", self.scale_noise_statistic, _STATISTICS)
        _check_choice("scale_noise_flux_range", self.scale_noise_flux_range, _FLUX_RANGES)
        _check_choice("ripple_statistic", self.ripple_statistic, ("median", "mean"))
        _check_choice("threshold_finder_mode", self.threshold_finder_mode, ("relative", "absolute"))
        _check_choice("threshold_finder_statistic", self.threshold_finder_statistic, _STATISTICS)
        _check_choice("threshold_finder_flux_range", self.threshold_finder_flux_range, _FLUX_RANGES)
        _check_choice("flag_auto", self.flag_auto, (False, True, "channels", "pixels"))
        _check_choice("contsub_order", self.contsub_order, (0, 1))
        for name in ("radius_xy", "radius_z", "min_size_xy", "min_size_z", "max_size_xy", "max_size_z",
                     "min_pixels", "max_pixels", "reliability_min_pixels", "dilation_iterations_xy",
                     "dilation_iterations_z", "reliability_iterations", "flag_radius"):  # fmt: skip
            _check_nonneg_int(name, getattr(self, name))
        if self.threshold_finder and not self.threshold_finder_threshold > 0:
            raise ValueError("threshold_finder_threshold must be positive")
        if not (self.scfind or self.threshold_finder):
            raise ValueError("no finder enabled: set scfind=True or threshold_finder=True")
        if self.reliability:
            if self.keep_negative:
                raise ValueError("keep_negative cannot be used with reliability (negative sources define the noise)")
            if self.positivity:
                raise ValueError("positivity cannot be used with reliability (it removes the negative sources)")
            bad = [p for p in self.reliability_parameters if p not in _RELIABILITY_PARAMETERS]
            if bad or len(set(self.reliability_parameters)) < 2:
                raise ValueError(
                    f"reliability_parameters needs at least 2 of {_RELIABILITY_PARAMETERS}, "
                    f"got {self.reliability_parameters}"
                )
            if not 0 <= self.reliability_threshold <= 1:
                raise ValueError("reliability_threshold must lie in [0, 1]")
            if self.reliability_scale_kernel <= 0:
                raise ValueError("reliability_scale_kernel must be positive")
        if self.region is not None and len(self.region) != 6:
            raise ValueError("region must be (x_min, x_max, y_min, y_max, z_min, z_max)")

    def _check_kernels(self, shape):
        nz, ny, nx = shape
        for k in self.kernels_xy:
            if k >= min(nx, ny):
                raise ValueError(
                    f"spatial kernel {k:g} px is not smaller than the image ({nx} x {ny} px); "
                    "remove it from kernels_xy"
                )
        for k in self.kernels_z:
            if k >= nz:
                raise ValueError(
                    f"spectral kernel {k} channels is not smaller than the cube's {nz} channels; "
                    "remove it from kernels_z"
                )

    # -------------------------------------------------------------- SoFiA-2
    @classmethod
    def from_sofia_par(cls, path, **overrides):
        """Create a finder from a SoFiA-2 parameter file (keyword overrides win)."""
        from ..sofia.par import par_to_finder_kwargs, read_par

        kwargs = par_to_finder_kwargs(read_par(path))
        kwargs.update(overrides)
        return cls(**kwargs)

    def to_sofia_par(self, path=None, *, overwrite=False):
        """Return this finder's settings as SoFiA-2 parameters; write them to ``path`` if given."""
        from ..sofia.par import finder_kwargs_to_par, write_par

        params = finder_kwargs_to_par(self.get_params())
        if path is not None:
            write_par(params, path, overwrite=overwrite)
        return params

    # -------------------------------------------------------------- pipeline
    def _find(self, image, mask, progress):
        from . import dilation as dilation_mod
        from . import flagging, linker, noise, noise_scaling, reliability, smooth_clip, threshold
        from .contsub import continuum_subtract

        data = image.data
        offset = (0, 0, 0)
        if self.region is not None:
            image, offset = _cut_region(image, self.region)
            data = image.data
        self._check_kernels(data.shape)

        # ``base`` holds what the parameters are measured on; never the caller's array when modified.
        base = data
        owned = False

        def own():
            nonlocal base, owned
            if not owned:
                base = base.copy()
                owned = True

        if any(np.isinf(plane).any() for plane in base):  # plane by plane: no cube-sized temporary
            own()
            for plane in base:
                plane[np.isinf(plane)] = np.nan
        if mask is not None:
            own()
            base[mask] = np.nan
        if self.flag_regions:
            own()
            flagging.flag_regions(base, self.flag_regions)
        if self.flag_catalog is not None:
            own()
            flagging.flag_catalog(base, image.wcs, self.flag_catalog, self.flag_radius)
        if self.invert:
            own()
            np.negative(base, out=base)

        reload = self.noise is not None or self.weights is not None or self.scale_noise is not None
        precondition = reload or self.contsub or self.flag_auto or self.ripple_filter
        work = base.copy() if precondition else base
        products = {}
        if self.noise is not None:
            noise_cube = _aux_cube(self.noise, data.shape, "noise", self.region)
            with np.errstate(divide="ignore", invalid="ignore"):
                work /= noise_cube
            work[~np.isfinite(work)] = np.nan
        if self.weights is not None:
            weights_cube = _aux_cube(self.weights, data.shape, "weights", self.region)
            with np.errstate(invalid="ignore"):
                work *= np.sqrt(weights_cube)
        if self.contsub:
            continuum_subtract(work, order=self.contsub_order, threshold=self.contsub_threshold,
                               shift=self.contsub_shift, padding=self.contsub_padding)
        scale_noise_fn = None
        if self.scale_noise == "spectral":
            kw = dict(statistic=self.scale_noise_statistic, flux_range=self.scale_noise_flux_range)
            products["noise"] = noise_scaling.scale_noise_spectral(work, **kw)
            if self.scale_noise_scfind:
                def scale_noise_fn(cube, kw=kw):
                    noise_scaling.scale_noise_spectral(cube, **kw)
        elif self.scale_noise == "local":
            kw = dict(window_xy=self.scale_noise_window_xy, window_z=self.scale_noise_window_z,
                      grid_xy=self.scale_noise_grid_xy, grid_z=self.scale_noise_grid_z,
                      interpolate=self.scale_noise_interpolate, statistic=self.scale_noise_statistic,
                      flux_range=self.scale_noise_flux_range)  # fmt: skip
            products["noise"] = noise_scaling.scale_noise_local(work, **kw)
            if self.scale_noise_scfind:
                def scale_noise_fn(cube, kw=kw):
                    noise_scaling.scale_noise_local(cube, **kw)
        if self.flag_auto:
            mode = "true" if self.flag_auto is True else self.flag_auto
            flags = flagging.auto_flag(work, mode, self.flag_threshold)
            products["flag_log"] = flags
            if reload:
                flagging.apply_flags(base, flags)
        if self.ripple_filter:
            noise_scaling.ripple_filter(work, statistic=self.ripple_statistic, window_xy=self.ripple_window_xy,
                                        window_z=self.ripple_window_z, grid_xy=self.ripple_grid_xy,
                                        grid_z=self.ripple_grid_z, interpolate=self.ripple_interpolate)
        if precondition:
            products["filtered"] = work

        rms_global = noise.global_rms(work)
        raw = None
        passes = []
        if self.scfind:
            result = smooth_clip.smooth_clip(
                work, kernels_xy=self.kernels_xy, kernels_z=self.kernels_z, threshold=float(self.threshold),
                replacement=self.replacement, statistic=self.statistic, flux_range=self.flux_range,
                scale_noise=scale_noise_fn, progress=progress,
            )
            # one bit per voxel (1/32 of the cube); the linker reads it slab by slab and
            # np.asarray(cat.products["mask_raw"]) gives the uint8 0/1 mask back
            raw = result.packed
            passes = result.passes
            del result
        if self.threshold_finder:
            from .packed_mask import PackedMask

            raw = PackedMask.from_array(threshold.threshold_find(
                work, self.threshold_finder_threshold, mode=self.threshold_finder_mode,
                statistic=self.threshold_finder_statistic, flux_range=self.threshold_finder_flux_range,
                mask=None if raw is None else np.asarray(raw),
            ))
        products["mask_raw"] = raw
        meta = {"global_rms": rms_global, "scfind_passes": passes, "offset": offset if self.offset else None}

        if not self.link:
            raise ValueError("link=False stops after the raw mask; use link=True to get a catalogue "
                             "(the raw mask is in cat.products['mask_raw'])")
        linked = linker.link(
            raw, work, radius_xy=self.radius_xy, radius_z=self.radius_z, min_size_xy=self.min_size_xy,
            min_size_z=self.min_size_z, max_size_xy=self.max_size_xy, max_size_z=self.max_size_z,
            min_pixels=self.min_pixels, max_pixels=self.max_pixels, min_fill=self.min_fill,
            max_fill=self.max_fill, positivity=self.positivity,
            remove_negative=not (self.reliability or self.keep_negative), global_rms=rms_global,
        )
        labels = linked.labels
        keep = np.ones(len(linked.n_pix), dtype=bool)
        rel = np.zeros(len(linked.n_pix))
        if self.reliability and len(keep):
            rel_result = reliability.reliability(
                linked, parameters=self.reliability_parameters, threshold=self.reliability_threshold,
                scale_kernel=self.reliability_scale_kernel, min_snr=self.reliability_min_snr,
                min_pixels=self.reliability_min_pixels, auto_kernel=self.reliability_auto_kernel,
                iterations=self.reliability_iterations, tolerance=self.reliability_tolerance,
                beam_area=image.beam_area, exclude=self._reliability_exclusions(image, linked),
            )
            keep = np.asarray(rel_result.keep, dtype=bool)
            rel = np.asarray(rel_result.rel, dtype=float)
            meta["reliability"] = rel_result
            labels = reliability.relabel(labels, keep)
        elif self.reliability:
            warnings.warn("no sources were linked; reliability was not measured", UserWarning, stacklevel=3)

        linker_columns = {
            "rel": rel[keep],
            "flag": np.asarray(linked.flag)[keep].astype(np.int64),
        }
        for key in ("fill", "mean", "std", "skew", "kurt"):
            linker_columns[key] = np.asarray(getattr(linked, key))[keep]
        if self.dilation and keep.any():
            labels, flags_added = dilation_mod.dilate_mask(
                labels, work, np.asarray(linked.f_sum)[keep], iterations_xy=self.dilation_iterations_xy,
                iterations_z=self.dilation_iterations_z, threshold=self.dilation_threshold,
            )
            linker_columns["flag"] = linker_columns["flag"] | np.asarray(flags_added, dtype=np.int64)

        measure = base if reload else work
        if reload and self.gain is not None:
            measure = measure / np.float32(self.gain)
        measured_image = ImageData(measure, image.wcs if self.wcs_columns else None, image.header, image.unit,
                                   image.beam, image.filename)
        if not self.wcs_columns:
            measured_image.wcs = None
        return SourceCatalog(
            measured_image, labels, columns=linker_columns, products=products, meta=meta,
            physical=self.physical, name_prefix=self.name_prefix,
            pixel_offset=offset if self.offset else None,
        )

    def _reliability_exclusions(self, image, linked):
        if self.reliability_catalog is None:
            return None
        from .reliability import read_exclusion_catalog

        return read_exclusion_catalog(self.reliability_catalog, image.wcs)


def _cut_region(image, region):
    """Sub-cube for ``input.region`` (x1, x2, y1, y2, z1, z2 inclusive), with its WCS."""
    x1, x2, y1, y2, z1, z2 = region
    nz, ny, nx = image.shape
    if not (0 <= x1 <= x2 < nx and 0 <= y1 <= y2 < ny and 0 <= z1 <= z2 < nz):
        raise ValueError(f"region {region} lies outside the cube (x 0-{nx - 1}, y 0-{ny - 1}, z 0-{nz - 1})")
    slices = (slice(z1, z2 + 1), slice(y1, y2 + 1), slice(x1, x2 + 1))
    wcs = image.wcs.slice(slices) if image.wcs is not None else None
    header = image.header
    if header is not None:  # products take their WCS from the header: describe the sub-cube
        header = header.copy()
        for axis, (start, length) in enumerate(((x1, x2 - x1 + 1), (y1, y2 - y1 + 1), (z1, z2 - z1 + 1)), 1):
            if f"CRPIX{axis}" in header:
                header[f"CRPIX{axis}"] = float(header[f"CRPIX{axis}"]) - start
            header[f"NAXIS{axis}"] = length
    sub = ImageData(image.data[slices], wcs, header, image.unit, image.beam, image.filename)
    return sub, (x1, y1, z1)


def _aux_cube(value, shape, what, region):
    """Load a noise or weights cube given as array or path, cut to ``region``."""
    from ..core.inputs import load_image

    cube = load_image(value).data
    if region is not None and cube.shape != shape:
        x1, x2, y1, y2, z1, z2 = region
        cube = cube[z1 : z2 + 1, y1 : y2 + 1, x1 : x2 + 1]
    if cube.shape != shape:
        raise ValueError(f"the {what} cube has shape {cube.shape} but the data have {shape}")
    return cube
