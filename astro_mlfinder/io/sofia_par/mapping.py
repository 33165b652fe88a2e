"""Mapping between SoFiA-2 parameters and this package's keyword arguments.

`FINDER_MAPPING` says, for each of the 101 SoFiA-2 2.5.1 parameters, which
keyword of `astro_mlfinder.ClassicalFinder`, which switch of
`astro_mlfinder.io.products.write_products` or which argument of the finder
call it becomes.  It is a table of names only: this module imports no finder.
`par_to_finder_kwargs`, `par_output_options` and `par_call_arguments` go
from SoFiA parameters to keywords, `finder_kwargs_to_par` and
`output_options_to_par` the other way.
"""

import os
from dataclasses import dataclass

from .parfile import SofiaParameters, as_sofia_parameters
from .table import _SPECS, _closest

__all__ = [
    "FINDER_MAPPING",
    "MappingEntry",
    "finder_kwargs_to_par",
    "output_options_to_par",
    "par_call_arguments",
    "par_output_options",
    "par_to_finder_kwargs",
]


@dataclass(frozen=True)
class MappingEntry:
    """How one SoFiA-2 key maps onto this package.

    Attributes
    ----------
    sofia_key : str
        SoFiA-2 parameter name.
    argument : str or None
        Keyword argument it becomes, or None when it has no equivalent.
    target : str
        ``'finder'`` (a `~astro_mlfinder.ClassicalFinder` keyword), ``'output'`` (a
        `~astro_mlfinder.io.products.write_products` switch, see
        `par_output_options`), ``'call'`` (an argument of the finder call)
        or ``'none'``.
    note : str
        What is special about the mapping (empty when it is one to one).
    """

    sofia_key: str
    argument: str | None
    target: str
    note: str = ""

    @property
    def default(self):
        """The default of ``argument`` implied by SoFiA's default."""
        defaults = SofiaParameters()
        if self.target == "finder":
            return par_to_finder_kwargs(defaults).get(self.argument)
        if self.target == "output":
            return par_output_options(defaults).get(self.argument)
        return _SPECS[self.sofia_key].default

    @property
    def meaning(self):
        """What the parameter does."""
        return _SPECS[self.sofia_key].doc


def _m(key, argument, target="finder", note=""):
    return MappingEntry(key, argument, target, note)


#: SoFiA-2 key -> `~astro_mlfinder.ClassicalFinder` keyword / output switch / call argument,
#: for all 101 parameters (rendered into ``docs/sofia_parameters.rst``).
# fmt: off
FINDER_MAPPING = (
    _m("pipeline.verbose", None, "none", "Use Python warnings/logging."),
    _m("pipeline.pedantic", None, "none", "read_par(pedantic=...) controls unknown keys."),
    _m("pipeline.threads", None, "none", "NumPy/Numba follow the usual thread settings."),
    _m("input.data", "data", "call", "The data argument of ``finder(data)``."),
    _m("input.region", "region"),
    _m("input.gain", "gain"),
    _m("input.noise", "noise"),
    _m("input.weights", "weights"),
    _m("input.mask", "mask", "call", "Merged with the detections; see par_call_arguments."),
    _m("input.invert", "invert"),
    _m("flag.region", "flag_regions", note="A list of 6-tuples instead of one flat list."),
    _m("flag.catalog", "flag_catalog"),
    _m("flag.radius", "flag_radius"),
    _m("flag.auto", "flag_auto", note="False, True, 'channels' or 'pixels'."),
    _m("flag.threshold", "flag_threshold"),
    _m("flag.log", "flag_log"),
    _m("contsub.enable", "contsub"),
    _m("contsub.order", "contsub_order"),
    _m("contsub.threshold", "contsub_threshold"),
    _m("contsub.shift", "contsub_shift"),
    _m("contsub.padding", "contsub_padding"),
    _m("scaleNoise.enable", "scale_noise", note="With scaleNoise.mode: None if off, else mode."),
    _m("scaleNoise.mode", "scale_noise", note="'spectral' or 'local' if scaleNoise.enable."),
    _m("scaleNoise.statistic", "scale_noise_statistic"),
    _m("scaleNoise.fluxRange", "scale_noise_flux_range"),
    _m("scaleNoise.windowXY", "scale_noise_window_xy"),
    _m("scaleNoise.windowZ", "scale_noise_window_z"),
    _m("scaleNoise.gridXY", "scale_noise_grid_xy"),
    _m("scaleNoise.gridZ", "scale_noise_grid_z"),
    _m("scaleNoise.interpolate", "scale_noise_interpolate"),
    _m("scaleNoise.scfind", "scale_noise_scfind"),
    _m("rippleFilter.enable", "ripple_filter"),
    _m("rippleFilter.statistic", "ripple_statistic"),
    _m("rippleFilter.windowXY", "ripple_window_xy"),
    _m("rippleFilter.windowZ", "ripple_window_z"),
    _m("rippleFilter.gridXY", "ripple_grid_xy"),
    _m("rippleFilter.gridZ", "ripple_grid_z"),
    _m("rippleFilter.interpolate", "ripple_interpolate"),
    _m("scfind.enable", "scfind"),
    _m("scfind.kernelsXY", "kernels_xy"),
    _m("scfind.kernelsZ", "kernels_z"),
    _m("scfind.threshold", "threshold"),
    _m("scfind.replacement", "replacement"),
    _m("scfind.statistic", "statistic"),
    _m("scfind.fluxRange", "flux_range"),
    _m("threshold.enable", "threshold_finder"),
    _m("threshold.threshold", "threshold_finder_threshold"),
    _m("threshold.mode", "threshold_finder_mode"),
    _m("threshold.statistic", "threshold_finder_statistic"),
    _m("threshold.fluxRange", "threshold_finder_flux_range"),
    _m("linker.enable", "link"),
    _m("linker.radiusXY", "radius_xy"),
    _m("linker.radiusZ", "radius_z"),
    _m("linker.minSizeXY", "min_size_xy"),
    _m("linker.minSizeZ", "min_size_z"),
    _m("linker.maxSizeXY", "max_size_xy"),
    _m("linker.maxSizeZ", "max_size_z"),
    _m("linker.minPixels", "min_pixels"),
    _m("linker.maxPixels", "max_pixels"),
    _m("linker.minFill", "min_fill"),
    _m("linker.maxFill", "max_fill"),
    _m("linker.positivity", "positivity"),
    _m("linker.keepNegative", "keep_negative"),
    _m("reliability.enable", "reliability", note=(
        "ClassicalFinder also takes reliability='neural': candidates scored by the hi_reliability 3D CNN "
        "(astro_mlfinder.neural, needs PyTorch; threshold reliability_neural_threshold, weights "
        "reliability_neural_weights), which has no SoFiA-2 equivalent: such a finder cannot be written as a "
        "parameter file.")),
    _m("reliability.parameters", "reliability_parameters"),
    _m("reliability.threshold", "reliability_threshold"),
    _m("reliability.scaleKernel", "reliability_scale_kernel"),
    _m("reliability.minSNR", "reliability_min_snr"),
    _m("reliability.minPixels", "reliability_min_pixels"),
    _m("reliability.autoKernel", "reliability_auto_kernel"),
    _m("reliability.iterations", "reliability_iterations"),
    _m("reliability.tolerance", "reliability_tolerance"),
    _m("reliability.catalog", "reliability_catalog"),
    _m("reliability.plot", "reliability_plot", "output",
       "PNG plots ``_rel.png`` and ``_skellam.png`` (matplotlib) instead of EPS."),
    _m("reliability.debug", None, "none", "Debugging catalogues are not produced."),
    _m("dilation.enable", "dilation"),
    _m("dilation.iterationsXY", "dilation_iterations_xy"),
    _m("dilation.iterationsZ", "dilation_iterations_z"),
    _m("dilation.threshold", "dilation_threshold"),
    _m("parameter.enable", None, "none", "Catalogue columns are always measured (lazily)."),
    _m("parameter.wcs", "wcs_columns"),
    _m("parameter.physical", "physical"),
    _m("parameter.prefix", "name_prefix"),
    _m("parameter.offset", "offset"),
    _m("output.directory", "directory", "output", "Default: the directory of input.data."),
    _m("output.filename", "filename", "output", "Default: the input file name without extension."),
    _m("output.writeCatASCII", "cat_ascii", "output"),
    _m("output.writeCatXML", "cat_xml", "output"),
    _m("output.writeCatSQL", "cat_sql", "output"),
    _m("output.writeNoise", "noise", "output"),
    _m("output.writeFiltered", "filtered", "output"),
    _m("output.writeMask", "mask", "output"),
    _m("output.writeMask2d", "mask_2d", "output"),
    _m("output.writeRawMask", "raw_mask", "output"),
    _m("output.writeMoments", "moments", "output"),
    _m("output.writeCubelets", "cubelets", "output"),
    _m("output.writePV", None, "none", "PV diagrams are not produced."),
    _m("output.writeKarma", "karma", "output"),
    _m("output.marginCubelets", "margin_cubelets", "output"),
    _m("output.thresholdMom12", "threshold_mom12", "output"),
    _m("output.overwrite", "overwrite", "output"),
)
# fmt: on

_FINDER_ARGS = {e.argument: e.sofia_key for e in FINDER_MAPPING if e.target == "finder"}
#: ClassicalFinder keywords of a named candidate scorer (reliability='neural'): no SoFiA-2 key.
_SCORER_ARGS = ("reliability_neural_threshold", "reliability_neural_weights")
_OUTPUT_ARGS = {e.argument: e.sofia_key for e in FINDER_MAPPING if e.target == "output"}


def _to_python(value):
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return [tuple(v) for v in value]
    return value


def par_to_finder_kwargs(params):
    """Translate SoFiA-2 parameters into `~astro_mlfinder.ClassicalFinder` keyword arguments.

    Parameters
    ----------
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`, mapping or path
        The settings (a path is read with `~astro_mlfinder.io.sofia_par.parfile.read_par`).

    Returns
    -------
    kwargs : dict
        Every `~astro_mlfinder.ClassicalFinder` keyword (see `FINDER_MAPPING`).  Output
        switches are returned by `par_output_options`, the data and mask
        paths by `par_call_arguments`.
    """
    params = as_sofia_parameters(params)
    kwargs = {}
    for entry in FINDER_MAPPING:
        if entry.target != "finder" or entry.argument in kwargs:
            continue
        if entry.argument == "scale_noise":
            kwargs["scale_noise"] = (
                params["scaleNoise.mode"] if params["scaleNoise.enable"] else None
            )
            continue
        kwargs[entry.argument] = _to_python(params[entry.sofia_key])
    return kwargs


def finder_kwargs_to_par(kwargs, params=None):
    """Translate `~astro_mlfinder.ClassicalFinder` keyword arguments into SoFiA-2 parameters.

    Parameters
    ----------
    kwargs : mapping
        `~astro_mlfinder.ClassicalFinder` keywords; missing ones keep SoFiA's default (or the
        value in ``params``).
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`, optional
        Starting point (a copy is modified); SoFiA's defaults if omitted.

    Returns
    -------
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`

    Raises
    ------
    ValueError
        For an unknown keyword (naming the closest valid one) or an invalid value.
    """
    params = SofiaParameters() if params is None else as_sofia_parameters(params).copy()
    for name, value in kwargs.items():
        if name == "reliability" and isinstance(value, str):
            raise ValueError(f"reliability={value!r} (a candidate scorer of astro_mlfinder) has no SoFiA-2 "
                             "equivalent (reliability.enable is true or false); use ClassicalFinder for it, or "
                             "reliability=True for SoFiA-2's filter")
        if name in _SCORER_ARGS:
            raise ValueError(f"{name} belongs to ClassicalFinder(reliability='neural'), which has no SoFiA-2 "
                             "equivalent; use ClassicalFinder for it")
        if name not in _FINDER_ARGS:
            closest = _closest(name, list(_FINDER_ARGS))
            raise ValueError(f"unknown ClassicalFinder keyword {name!r}; did you mean {closest!r}?")
        if name == "scale_noise":
            if value is None or value is False:
                params["scaleNoise.enable"] = False
            elif value in ("spectral", "local"):
                params["scaleNoise.enable"] = True
                params["scaleNoise.mode"] = value
            else:
                raise ValueError(
                    f"invalid value {value!r} for scale_noise: must be None, 'spectral' or 'local'"
                )
            continue
        params[_FINDER_ARGS[name]] = value
    return params


def par_output_options(params):
    """Return the ``output.*`` settings as `write_products` switches.

    Parameters
    ----------
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`, mapping or path

    Returns
    -------
    options : dict
        ``directory`` and ``filename`` (SoFiA's output directory and base
        name, defaulting as SoFiA does to the directory and the name of
        ``input.data``, or None), ``overwrite``, and the switches of
        `~astro_mlfinder.io.products.write_products`: ``cat_ascii``,
        ``cat_xml``, ``cat_sql``, ``karma``, ``noise``, ``filtered``,
        ``mask``, ``mask_2d``, ``raw_mask``, ``moments``, ``cubelets``,
        ``margin_cubelets``, ``threshold_mom12``.
    """
    params = as_sofia_parameters(params)
    options = {arg: params[key] for arg, key in _OUTPUT_ARGS.items()}
    data = params["input.data"]
    if options["directory"] is None and data:
        options["directory"] = os.path.dirname(data) or "."
    name = options["filename"] or (os.path.basename(data) if data else None)
    # SoFiA appends '.fits' when missing and then strips the extension
    options["filename"] = name.removesuffix(".fits") if name else None
    return options


def output_options_to_par(options, params=None):
    """Translate `write_products` switches (and ``directory``/``filename``) into SoFiA parameters.

    Parameters
    ----------
    options : mapping
        Keys as returned by `par_output_options`.
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`, optional
        Starting point (a copy is modified).

    Returns
    -------
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`
    """
    params = SofiaParameters() if params is None else as_sofia_parameters(params).copy()
    for name, value in options.items():
        if name not in _OUTPUT_ARGS:
            closest = _closest(name, list(_OUTPUT_ARGS))
            raise ValueError(f"unknown output option {name!r}; did you mean {closest!r}?")
        params[_OUTPUT_ARGS[name]] = value
    return params


def par_call_arguments(params):
    """Return the arguments of the finder call given by the ``input.*`` settings.

    Parameters
    ----------
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`, mapping or path

    Returns
    -------
    arguments : dict
        ``{'data': input.data, 'mask': input.mask}`` (paths or None).
    """
    params = as_sofia_parameters(params)
    return {"data": params["input.data"], "mask": params["input.mask"]}
