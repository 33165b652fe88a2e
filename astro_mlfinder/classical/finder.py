"""`ClassicalFinder`: SoFiA-2's pipeline (smooth-and-clip, linker, reliability, dilation) in Python."""

import numbers

import numpy as np

from ..core.finder import Finder, smooth_clip_margin
from . import pipeline

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


def _make_scorer(name, weights, threshold):
    """The registered candidate scorer ``name`` (`astro_mlfinder.core.scorers`), created now so that a
    missing dependency or weights file is reported before any search."""
    from ..core.scorers import get_scorer

    options = {}
    if weights is not None:
        options["weights"] = weights
    if threshold is not None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"reliability_neural_threshold must lie in [0, 1], got {threshold!r}")
        options["threshold"] = threshold
    return get_scorer(name, **options)


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
    reliability : bool or str
        ``True``: run SoFiA-2's negative-source KDE reliability filter
        (``reliability.enable``); ``False`` (default): no filter; a name
        registered in `astro_mlfinder.core.scorers`, such as ``'neural'``
        (the ``hi_reliability`` 3D CNN, needs PyTorch: ``pip install
        'astro_mlfinder[neural]'``), scores every candidate, keeps those whose
        score reaches ``reliability_neural_threshold`` and puts the score in
        the ``rel`` column. ``'neural'`` is meant for cubes searched at a low
        threshold (3-3.5) and has no SoFiA-2 parameter-file equivalent.
    reliability_neural_threshold : float or None
        Minimum score of a kept candidate with a named scorer; None: the
        threshold tuned on validation cubes and stored with the weights.
    reliability_neural_weights : str or None
        Weights of a named scorer: a registry name or a file; None: the
        scorer's default (``'hi_reliability'``).
    dilation : bool
        Dilate source masks (``dilation.enable``).
    physical : bool
        Report fluxes and widths in physical units (``parameter.physical``).
    image_defaults : bool
        For 2D images, settings left at their cube default take the
        continuum defaults of `astro_mlfinder.classical.image2d.IMAGE_DEFAULTS`
        (local noise scaling and background subtraction in a window of 10
        beams; with a beam ``min_size_xy=1`` and a linker radius of one
        beam, else ``min_size_xy=2``; mask dilation by up to a beam).
        Spectral settings (``kernels_z``, ``*_z``) are not used for images.
        Not a SoFiA-2 parameter: ``from_sofia_par`` sets it False.
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
    ndim = (2, 3)

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
        reliability_neural_threshold=None,
        reliability_neural_weights=None,
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
        # 2D images
        image_defaults=True,
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
        self.reliability = reliability if isinstance(reliability, str) else bool(reliability)
        self.reliability_parameters = tuple(reliability_parameters)
        self.reliability_threshold = float(reliability_threshold)
        self.reliability_scale_kernel = float(reliability_scale_kernel)
        self.reliability_min_snr = float(reliability_min_snr)
        self.reliability_min_pixels = reliability_min_pixels
        self.reliability_auto_kernel = bool(reliability_auto_kernel)
        self.reliability_iterations = reliability_iterations
        self.reliability_tolerance = float(reliability_tolerance)
        self.reliability_catalog = reliability_catalog
        self.reliability_neural_threshold = (None if reliability_neural_threshold is None
                                             else float(reliability_neural_threshold))
        self.reliability_neural_weights = reliability_neural_weights
        self.dilation = bool(dilation)
        self.dilation_iterations_xy = dilation_iterations_xy
        self.dilation_iterations_z = dilation_iterations_z
        self.dilation_threshold = float(dilation_threshold)
        self.physical = bool(physical)
        self.offset = bool(offset)
        self.name_prefix = name_prefix
        self.wcs_columns = bool(wcs_columns)
        self.image_defaults = bool(image_defaults)
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
        self._scorer = None
        if isinstance(self.reliability, str):
            self._scorer = _make_scorer(self.reliability, self.reliability_neural_weights,
                                        self.reliability_neural_threshold)
        elif self.reliability:
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
        if self.region is not None and len(self.region) not in (4, 6):
            raise ValueError("region must be (x_min, x_max, y_min, y_max, z_min, z_max), or (x_min, x_max, y_min, "
                             "y_max) for 2D images")

    def _check_kernels(self, shape):
        nz, ny, nx = (1, *shape) if len(shape) == 2 else shape
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
        from ..io.sofia_par import par_to_finder_kwargs, read_par

        kwargs = par_to_finder_kwargs(read_par(path))
        kwargs["image_defaults"] = False  # a parameter file states every setting, as SoFiA-2 runs it
        kwargs.update(overrides)
        return cls(**kwargs)

    def to_sofia_par(self, path=None, *, overwrite=False):
        """Return this finder's settings as SoFiA-2 parameters; write them to ``path`` if given."""
        from ..io.sofia_par import finder_kwargs_to_par, write_par

        if isinstance(self.reliability, str):
            raise ValueError(f"reliability={self.reliability!r} (a candidate scorer of astro_mlfinder) has no "
                             "SoFiA-2 equivalent; use reliability=True (SoFiA-2's filter) or False to write a "
                             "parameter file")
        skip = ("image_defaults", "reliability_neural_threshold", "reliability_neural_weights")
        params = finder_kwargs_to_par({k: v for k, v in self.get_params().items() if k not in skip})
        if path is not None:
            write_par(params, path, overwrite=overwrite)
        return params

    # -------------------------------------------------------------- pipeline
    @property
    def margin(self):
        """Per-axis (z, y, x) tile overlap: largest kernel + linker radius + largest source (+ dilation).

        See `~astro_mlfinder.core.finder.smooth_clip_margin`; the largest
        source is ``max_size_z``/``max_size_xy`` where set.
        """
        return smooth_clip_margin(
            self.kernels_xy if self.scfind else (), self.kernels_z if self.scfind else (),
            radius_xy=self.radius_xy, radius_z=self.radius_z, max_size_xy=self.max_size_xy,
            max_size_z=self.max_size_z, dilation_xy=self.dilation_iterations_xy if self.dilation else 0,
            dilation_z=self.dilation_iterations_z if self.dilation else 0,
        )

    def margin_for(self, ndim):
        """`margin` for ``ndim``-dimensional data; for images, with the image settings (spatial only)."""
        if ndim != 2:
            return super().margin_for(ndim)
        from .image2d import IMAGE_DEFAULTS, MAX_IMAGE_RADIUS, _cube_defaults

        defaults = _cube_defaults(self)

        def setting(name):
            value = getattr(self, name)
            if self.image_defaults and name in IMAGE_DEFAULTS and value == defaults[name]:
                return IMAGE_DEFAULTS[name]
            return value

        radius = self.radius_xy
        if self.image_defaults and radius == defaults["radius_xy"]:  # one beam, at most MAX_IMAGE_RADIUS
            radius = MAX_IMAGE_RADIUS
        margin = smooth_clip_margin(
            self.kernels_xy if self.scfind else (), (), radius_xy=radius, max_size_xy=self.max_size_xy,
            dilation_xy=setting("dilation_iterations_xy") if setting("dilation") else 0,
        )
        return margin[1:]

    # ---------------------------------------------------- tiled runs (see astro_mlfinder.classical.tiled)
    def tile_halo(self, ndim):
        """Halo of a tiled run: kernel support plus linker radius (the global mask makes sources whole)."""
        from . import tiled

        return tiled.tile_halo(self, ndim)

    def tiled_hooks(self):
        """The module with the global pass, per-tile and per-source steps of a tiled run."""
        from . import tiled

        return tiled

    def segment(self, image, mask, progress):
        """Run the stages of `astro_mlfinder.classical.pipeline` in SoFiA-2's order.

        prepare (region, flagging, noise normalisation, continuum subtraction,
        noise scaling, ripple filter), detect (smooth-and-clip, threshold
        finder), link, reliability, dilate. A 2D image runs them with spatial
        kernels only (`astro_mlfinder.classical.image2d`).
        """
        if image.ndim == 2:
            from .image2d import run_image

            if isinstance(self.reliability, str):
                raise ValueError(f"reliability={self.reliability!r} scores cube candidates; use reliability=True "
                                 "(SoFiA-2's filter) or False for 2D images")

            return run_image(self, image, mask, progress)
        if self.region is not None and len(self.region) != 6:
            raise ValueError(f"region {self.region} has no z range; a cube takes (x_min, x_max, y_min, y_max, "
                             "z_min, z_max)")
        return pipeline.run(self, image, mask, progress)
