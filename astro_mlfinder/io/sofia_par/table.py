"""The SoFiA-2 2.5.1 parameter table and the typing of its values.

SoFiA-2 (version 2.5.1, the version this package is anchored to) is driven by
a plain-text parameter file with one ``key = value`` setting per line.  This
module holds all 101 parameters of SoFiA-2 2.5.1 (`PARAMETERS`) with their
defaults, types and meanings, and the rules that turn SoFiA's strings into
typed values and back:

* a boolean is true **only** for the exact lowercase ``true``; anything else
  (``True``, ``1``, ``yes``) means false.  SoFiA does that silently; here a
  `SofiaParameterWarning` says so;
* lists are comma separated;
* an unknown or misspelt key is an `UnknownSofiaParameterError` that names
  the closest valid key (or, for keys of SoFiA >= 2.6, the 2.5.1 equivalent).

Unlike SoFiA, invalid values (a statistic ``foo``, a non-numeric threshold)
are errors here: SoFiA-2 2.5.1 silently falls back to ``std`` for an unknown
statistic and to 0 for a non-numeric number.

Reading and writing files is in `astro_mlfinder.io.sofia_par.parfile`, the
mapping onto finder keywords in `astro_mlfinder.io.sofia_par.mapping`.
"""

import difflib
import math
import os
import warnings
from dataclasses import dataclass

from ...core.exceptions import AstroMLFinderWarning

__all__ = [
    "SOFIA_VERSION",
    "PARAMETERS",
    "PARAMETER_KEYS",
    "NEWER_SOFIA_KEYS",
    "ParameterSpec",
    "SofiaParameterWarning",
    "UnknownSofiaParameterError",
]

#: SoFiA-2 version whose parameter set this package implements.
SOFIA_VERSION = "2.5.1"

_STATISTICS = ("std", "mad", "gauss")
_FLUX_RANGES = ("negative", "full", "positive")
_RELIABILITY_NAMES = ("peak", "sum", "mean", "chan", "pix", "fill", "std", "skew", "kurt")


class SofiaParameterWarning(AstroMLFinderWarning):
    """A SoFiA parameter setting that SoFiA accepts but that probably does not do what was meant."""


class UnknownSofiaParameterError(ValueError, KeyError):
    """An unknown or misspelt SoFiA parameter name (a `ValueError` and a `KeyError`)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ParameterSpec:
    """Definition of one SoFiA-2 control parameter.

    Attributes
    ----------
    key : str
        Full parameter name, e.g. ``'scfind.threshold'``.
    kind : str
        Value type: ``'bool'``, ``'int'``, ``'float'``, ``'str'``, ``'path'``,
        ``'choice'``, ``'flag_auto'``, ``'region'`` (6 integers),
        ``'regions'`` (a multiple of 6 integers), ``'float_list'``,
        ``'int_list'`` or ``'name_list'``.
    default : object
        The typed default of SoFiA-2 2.5.1 (``None`` for an empty setting).
    doc : str
        What the parameter does.
    choices : tuple
        Allowed values for ``'choice'`` and ``'name_list'`` kinds (and for
        integer parameters with a fixed set of values).
    minimum : float or None
        Smallest allowed value of a number (or of each list element).
    """

    key: str
    kind: str
    default: object
    doc: str
    choices: tuple = ()
    minimum: float | None = None


def _p(key, kind, default, doc, choices=(), minimum=None):
    return ParameterSpec(key, kind, default, doc, tuple(choices), minimum)


#: All 101 control parameters of SoFiA-2 2.5.1 in SoFiA's own order, with
#: the defaults hard-coded in SoFiA's ``Parameter_default()``.
# fmt: off
PARAMETERS = (
    _p("pipeline.verbose", "bool", False, "Print additional messages and warnings."),
    _p("pipeline.pedantic", "bool", True, "Treat unknown parameter names as an error."),
    _p("pipeline.threads", "int", 0,
       "Number of OpenMP threads; 0 lets OMP_NUM_THREADS decide.", minimum=0),
    _p("input.data", "path", None, "FITS cube to search (primary HDU)."),
    _p("input.region", "region", None,
       "Sub-cube to load: x_min, x_max, y_min, y_max, z_min, z_max (0-based, inclusive)."),
    _p("input.gain", "path", None,
       "Gain cube; the data are divided by it before parameterisation (SoFiA applies it only "
       "when the cube is reloaded)."),
    _p("input.noise", "path", None,
       "Noise cube; the data are divided by it before source finding."),
    _p("input.weights", "path", None,
       "Weights cube; the data are multiplied by its square root before source finding."),
    _p("input.mask", "path", None,
       "Integer mask cube merged with the source-finder output (non-zero = detected)."),
    _p("input.invert", "bool", False, "Multiply the data by -1 (search for absorption)."),
    _p("flag.region", "regions", None, "Regions set to blank before processing, 6 integers each."),
    _p("flag.catalog", "path", None,
       "Two-column lon/lat file; a disc around each position is blanked in all channels."),
    _p("flag.radius", "int", 5, "Radius of the flag.catalog discs in pixels.", minimum=0),
    _p("flag.auto", "flag_auto", False,
       "Automatic flagging of noisy channels, pixels or both (false, channels, pixels, true)."),
    _p("flag.threshold", "float", 5.0,
       "Auto-flagging threshold in units of the robust scatter of the per-channel/per-pixel "
       "rms."),
    _p("flag.log", "bool", False, "Write the auto-flagged channels and pixels to _flags.log."),
    _p("contsub.enable", "bool", False, "Subtract residual continuum from each spectrum."),
    _p("contsub.order", "int", 0,
       "Polynomial order of the continuum fit (0 or 1).", choices=(0, 1)),
    _p("contsub.threshold", "float", 2.0,
       "Clip level for line emission during the fit, in units of the robust rms."),
    _p("contsub.shift", "int", 4, "Channel shift used to find line emission.", minimum=0),
    _p("contsub.padding", "int", 3, "Channels padded around clipped line emission.", minimum=0),
    _p("scaleNoise.enable", "bool", False, "Divide the data by a measured noise level."),
    _p("scaleNoise.mode", "choice", "spectral",
       "Per-channel ('spectral') or running-window ('local') noise.",
       choices=("spectral", "local")),
    _p("scaleNoise.statistic", "choice", "mad",
       "Noise statistic of the noise scaling.", choices=_STATISTICS),
    _p("scaleNoise.fluxRange", "choice", "negative",
       "Pixels used to measure the noise.", choices=_FLUX_RANGES),
    _p("scaleNoise.windowXY", "int", 25,
       "Spatial window of local noise scaling in pixels (odd; 0 = 25).", minimum=0),
    _p("scaleNoise.windowZ", "int", 15,
       "Spectral window of local noise scaling in channels (odd; 0 = 15).", minimum=0),
    _p("scaleNoise.gridXY", "int", 0,
       "Spatial grid step of local noise scaling (0 = half the window).", minimum=0),
    _p("scaleNoise.gridZ", "int", 0,
       "Spectral grid step of local noise scaling (0 = half the window).", minimum=0),
    _p("scaleNoise.interpolate", "bool", False,
       "Interpolate the local noise linearly between grid points."),
    _p("scaleNoise.scfind", "bool", False,
       "Repeat the noise scaling on every smoothed copy in S+C."),
    _p("rippleFilter.enable", "bool", False, "Subtract a running-window mean or median."),
    _p("rippleFilter.statistic", "choice", "median",
       "Statistic of the ripple filter.", choices=('median', 'mean')),
    _p("rippleFilter.windowXY", "int", 31,
       "Spatial window of the ripple filter in pixels.", minimum=0),
    _p("rippleFilter.windowZ", "int", 15,
       "Spectral window of the ripple filter in channels.", minimum=0),
    _p("rippleFilter.gridXY", "int", 0,
       "Spatial grid step of the ripple filter (0 = half the window).", minimum=0),
    _p("rippleFilter.gridZ", "int", 0,
       "Spectral grid step of the ripple filter (0 = half the window).", minimum=0),
    _p("rippleFilter.interpolate", "bool", False,
       "Interpolate the ripple filter between grid points."),
    _p("scfind.enable", "bool", True, "Run the smooth-and-clip (S+C) finder."),
    _p("scfind.kernelsXY", "float_list", (0, 3, 6),
       "Spatial Gaussian kernel FWHMs in pixels.", minimum=0),
    _p("scfind.kernelsZ", "int_list", (0, 3, 7, 15),
       "Spectral boxcar kernel widths in channels.", minimum=0),
    _p("scfind.threshold", "float", 5.0,
       "Detection threshold in units of the noise of each smoothed cube."),
    _p("scfind.replacement", "float", 2.0,
       "Already detected pixels are replaced by this many times the noise before smoothing (< "
       "0 disables)."),
    _p("scfind.statistic", "choice", "mad", "Noise statistic of S+C.", choices=_STATISTICS),
    _p("scfind.fluxRange", "choice", "negative",
       "Pixels used to measure the S+C noise.", choices=_FLUX_RANGES),
    _p("threshold.enable", "bool", False, "Run the simple threshold finder."),
    _p("threshold.threshold", "float", 5.0, "Threshold of the threshold finder."),
    _p("threshold.mode", "choice", "relative",
       "Threshold in units of the noise ('relative') or of the data ('absolute').",
       choices=("relative", "absolute")),
    _p("threshold.statistic", "choice", "mad",
       "Noise statistic of the threshold finder.", choices=_STATISTICS),
    _p("threshold.fluxRange", "choice", "negative",
       "Pixels used to measure the threshold-finder noise.", choices=_FLUX_RANGES),
    _p("linker.enable", "bool", True, "Link detected pixels into sources."),
    _p("linker.radiusXY", "int", 1,
       "Spatial semi-axis of the linking ellipsoid in pixels.", minimum=0),
    _p("linker.radiusZ", "int", 1,
       "Spectral semi-axis of the linking ellipsoid in channels.", minimum=0),
    _p("linker.minSizeXY", "int", 5, "Minimum bounding-box extent in x and in y.", minimum=0),
    _p("linker.minSizeZ", "int", 5, "Minimum bounding-box extent in z.", minimum=0),
    _p("linker.maxSizeXY", "int", 0,
       "Maximum bounding-box extent in x and in y (0 = no limit).", minimum=0),
    _p("linker.maxSizeZ", "int", 0, "Maximum bounding-box extent in z (0 = no limit).", minimum=0),
    _p("linker.minPixels", "int", 0, "Minimum number of pixels of a source.", minimum=0),
    _p("linker.maxPixels", "int", 0,
       "Maximum number of pixels of a source (0 = no limit).", minimum=0),
    _p("linker.minFill", "float", 0.0,
       "Minimum filling factor of the bounding box (0 = off).", minimum=0),
    _p("linker.maxFill", "float", 0.0,
       "Maximum filling factor of the bounding box (0 = off).", minimum=0),
    _p("linker.positivity", "bool", False,
       "Drop negative pixels while linking (not with reliability)."),
    _p("linker.keepNegative", "bool", False,
       "Keep sources with negative total flux (not with reliability)."),
    _p("reliability.enable", "bool", False,
       "Measure reliability from the negative detections and drop unreliable sources."),
    _p("reliability.parameters", "name_list", ("peak", "sum", "mean"),
       "Parameter space of the reliability KDE (at least 2 of peak, sum, mean, chan, pix, "
       "fill, std, skew, kurt).", choices=_RELIABILITY_NAMES),
    _p("reliability.threshold", "float", 0.9, "Minimum reliability of a kept source.", minimum=0),
    _p("reliability.scaleKernel", "float", 0.4,
       "KDE kernel size as a multiple of the covariance of the negative sources.", minimum=0),
    _p("reliability.minSNR", "float", 3.0, "Minimum integrated SNR of a kept source.", minimum=0),
    _p("reliability.minPixels", "int", 0,
       "A kept source must have more pixels than this.", minimum=0),
    _p("reliability.autoKernel", "bool", False,
       "Choose the kernel scale from the Skellam distribution."),
    _p("reliability.iterations", "int", 30, "Maximum iterations of autoKernel.", minimum=0),
    _p("reliability.tolerance", "float", 0.05, "Convergence tolerance of autoKernel.", minimum=0),
    _p("reliability.catalog", "path", None,
       "lon/lat positions of artefacts; negative sources there are excluded from the noise "
       "sample."),
    _p("reliability.plot", "bool", True, "Write the reliability diagnostic plots (EPS)."),
    _p("reliability.debug", "bool", False, "Write the reliability debugging catalogues."),
    _p("dilation.enable", "bool", False, "Grow the source masks while the flux keeps increasing."),
    _p("dilation.iterationsXY", "int", 10, "Maximum spatial dilation radius in pixels.", minimum=0),
    _p("dilation.iterationsZ", "int", 5, "Maximum spectral dilation in channels.", minimum=0),
    _p("dilation.threshold", "float", 0.001,
       "Minimum relative flux gain of a dilation step (< 0 dilates fully)."),
    _p("parameter.enable", "bool", True, "Measure the source parameters (catalogue columns)."),
    _p("parameter.wcs", "bool", True, "Add world-coordinate columns and WCS-based source names."),
    _p("parameter.physical", "bool", False,
       "Report f_sum in Jy times the spectral unit and widths in spectral units (needs Jy/beam"
       " data)."),
    _p("parameter.prefix", "str", "SoFiA", "Prefix of the source names."),
    _p("parameter.offset", "bool", False, "Add the input.region origin to the pixel positions."),
    _p("output.directory", "path", None,
       "Output directory (default: the directory of input.data)."),
    _p("output.filename", "str", None,
       "Base name of the output files (default: the input file name)."),
    _p("output.writeCatASCII", "bool", True, "Write the plain-text catalogue (_cat.txt)."),
    _p("output.writeCatXML", "bool", True, "Write the VOTable catalogue (_cat.xml)."),
    _p("output.writeCatSQL", "bool", False, "Write the SQL catalogue (_cat.sql)."),
    _p("output.writeNoise", "bool", False,
       "Write the noise cube or spectrum of the noise scaling."),
    _p("output.writeFiltered", "bool", False, "Write the pre-conditioned cube (_filtered.fits)."),
    _p("output.writeMask", "bool", False, "Write the source mask (_mask.fits, int32 ids)."),
    _p("output.writeMask2d", "bool", False, "Write the projected 2-D mask (_mask-2d.fits)."),
    _p("output.writeRawMask", "bool", False,
       "Write the finder mask before linking (_mask-raw.fits)."),
    _p("output.writeMoments", "bool", False, "Write moment 0, 1, 2 and channel maps."),
    _p("output.writeCubelets", "bool", False,
       "Write cut-outs, moment maps and spectra per source."),
    _p("output.writePV", "bool", False, "Write position-velocity diagrams with the cubelets."),
    _p("output.writeKarma", "bool", False, "Write a Karma annotation file (_cat.ann)."),
    _p("output.marginCubelets", "int", 10,
       "Margin around each cubelet in pixels/channels.", minimum=0),
    _p("output.thresholdMom12", "float", 0.0,
       "Flux threshold of cubelet moments 1 and 2 in units of the local rms."),
    _p("output.overwrite", "bool", True, "Replace existing output files."),
)
# fmt: on

_SPECS = {spec.key: spec for spec in PARAMETERS}
#: Parameter names of SoFiA-2 2.5.1 in SoFiA's order.
PARAMETER_KEYS = tuple(_SPECS)

#: Parameters of newer SoFiA-2 releases (GitLab >= 2.6) and their 2.5.1 equivalent.
NEWER_SOFIA_KEYS = {
    "filter.minSNR": "reliability.minSNR",
    "filter.minPixels": "reliability.minPixels",
    "filter.discardNegative": "linker.keepNegative (with the opposite meaning)",
    "reliability.plotExtra": None,
}

_PATH_KINDS = ("path",)


# --------------------------------------------------------------------------- value handling
def _closest(word, candidates):
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.0)
    return match[0] if match else None


def _unknown_key_message(key):
    if key in NEWER_SOFIA_KEYS or key.startswith("filter."):
        equivalent = NEWER_SOFIA_KEYS.get(key)
        hint = (
            f"; in SoFiA-2 {SOFIA_VERSION} use {equivalent!r}"
            if equivalent
            else (f"; SoFiA-2 {SOFIA_VERSION} has no equivalent")
        )
        return (
            f"parameter {key!r} belongs to a newer SoFiA-2 (GitLab release >= 2.6), not to "
            f"SoFiA-2 {SOFIA_VERSION}{hint}"
        )
    closest = _closest(key, PARAMETER_KEYS)
    return f"unknown SoFiA-2 parameter {key!r}; did you mean {closest!r}?"


def _spec(key):
    try:
        return _SPECS[key]
    except KeyError:
        raise UnknownSofiaParameterError(_unknown_key_message(key)) from None


def _bad_value(key, value, expected):
    return ValueError(f"invalid value {value!r} for SoFiA-2 parameter {key!r}: {expected}")


def _parse_number(key, text, integer):
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise _bad_value(
            key, text, "expected an integer" if integer else "expected a number"
        ) from None
    if not math.isfinite(value):
        raise _bad_value(key, text, "expected a finite number")
    if integer:
        if not value.is_integer():
            raise _bad_value(key, text, "expected an integer")
        return int(value)
    return value


def _compact_number(value):
    """An integral float becomes an int (3.0 -> 3), other numbers are kept."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_minimum(spec, value, shown):
    if spec.minimum is not None and value < spec.minimum:
        raise _bad_value(spec.key, shown, f"must be >= {_compact_number(float(spec.minimum))}")
    if spec.choices and spec.kind == "int" and value not in spec.choices:
        raise _bad_value(spec.key, shown, f"must be one of {', '.join(map(str, spec.choices))}")


def _check_choice(spec, value):
    if value not in spec.choices:
        closest = _closest(str(value), spec.choices)
        raise _bad_value(
            spec.key, value, f"must be one of {', '.join(spec.choices)} (did you mean {closest!r}?)"
        )


def _check_region(spec, values, shown):
    if spec.kind == "region" and len(values) != 6:
        raise _bad_value(
            spec.key, shown, "expected 6 integers x_min, x_max, y_min, y_max, z_min, z_max"
        )
    if spec.kind == "regions" and len(values) % 6:
        raise _bad_value(
            spec.key,
            shown,
            "expected a multiple of 6 integers "
            "(x_min, x_max, y_min, y_max, z_min, z_max per region)",
        )
    for i in range(0, len(values), 6):
        box = values[i : i + 6]
        if any(v < 0 for v in box) or box[0] > box[1] or box[2] > box[3] or box[4] > box[5]:
            raise _bad_value(
                spec.key, shown, f"region {tuple(box)} needs 0 <= min <= max on every axis"
            )
    if spec.kind == "region":
        return tuple(values)
    return tuple(tuple(values[i : i + 6]) for i in range(0, len(values), 6))


def _parse_value(key, text):
    """Parse SoFiA's string ``text`` for ``key`` into the typed value."""
    spec = _spec(key)
    text = text.strip()
    kind = spec.kind
    if kind == "bool":
        if text == "true":
            return True
        if text != "false":
            warnings.warn(
                f"{key} = {text!r} is read as false by SoFiA-2, which takes only the exact "
                "lowercase 'true' as true; write 'true' or 'false'",
                SofiaParameterWarning,
                stacklevel=2,
            )
        return False
    if kind in ("path", "str"):
        return text or None
    if kind == "flag_auto":
        if text in ("true", "false"):
            return text == "true"
        if text in ("channels", "pixels"):
            return text
        closest = _closest(text, ("false", "channels", "pixels", "true"))
        raise _bad_value(
            key, text, f"must be one of false, channels, pixels, true (did you mean {closest!r}?)"
        )
    if kind == "choice":
        _check_choice(spec, text)
        return text
    if kind in ("int", "float"):
        if not text:
            raise _bad_value(key, text, "a value is required")
        value = _parse_number(key, text, kind == "int")
        _check_minimum(spec, value, text)
        return value
    # lists
    items = [item.strip() for item in text.split(",")] if text else []
    if any(not item for item in items):
        raise _bad_value(key, text, "empty list element")
    if kind == "name_list":
        for item in items:
            if item not in spec.choices:
                closest = _closest(item, spec.choices)
                raise _bad_value(
                    key,
                    text,
                    f"unknown name {item!r}; valid names are "
                    f"{', '.join(spec.choices)} (did you mean {closest!r}?)",
                )
        return tuple(items)
    if kind in ("region", "regions"):
        if not items:
            return None
        values = [_parse_number(key, item, True) for item in items]
        return _check_region(spec, values, text)
    if not items:
        raise _bad_value(key, text, "at least one value is required")
    values = [_parse_number(key, item, kind == "int_list") for item in items]
    for value in values:
        _check_minimum(spec, value, text)
    return tuple(_compact_number(v) for v in values)


def _coerce_value(key, value):
    """Validate a Python ``value`` for ``key`` and return the typed value."""
    spec = _spec(key)
    if isinstance(value, str):
        return _parse_value(key, value)
    kind = spec.kind
    if value is None:
        if kind in ("path", "str", "region", "regions"):
            return None
        raise _bad_value(key, value, "None is only allowed for paths, names and regions")
    if kind == "bool" or (kind == "flag_auto" and not isinstance(value, str)):
        if hasattr(value, "dtype") and value.dtype.kind == "b":
            value = bool(value)
        if not isinstance(value, bool):
            raise _bad_value(key, value, "expected True or False")
        return value
    if kind == "path":
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise _bad_value(key, value, "expected a path")
    if kind in ("int", "float"):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            and not hasattr(value, "__float__")
        ):
            raise _bad_value(key, value, "expected a number")
        number = float(value)
        if not math.isfinite(number):
            raise _bad_value(key, value, "expected a finite number")
        if kind == "int":
            if not number.is_integer():
                raise _bad_value(key, value, "expected an integer")
            number = int(number)
        _check_minimum(spec, number, value)
        return number
    if kind == "name_list":
        return _parse_value(key, ", ".join(str(v) for v in value))
    if kind in ("region", "regions"):
        flat = []
        for item in value:
            if isinstance(item, list | tuple) or hasattr(item, "__len__"):
                flat.extend(item)
            else:
                flat.append(item)
        return _parse_value(
            key, ", ".join(str(int(v)) if float(v).is_integer() else str(v) for v in flat)
        )
    if kind in ("float_list", "int_list"):
        try:
            items = list(value)
        except TypeError:
            items = [value]
        return _parse_value(key, ", ".join(_format_number(v) for v in items))
    raise _bad_value(key, value, f"cannot interpret a {type(value).__name__}")  # pragma: no cover


def _format_number(value):
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    value = float(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _format_value(key, value):
    """Return SoFiA's string form of the typed ``value`` of ``key``."""
    spec = _spec(key)
    kind = spec.kind
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "flag_auto":
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if kind == "float":
        return repr(float(value))
    if kind == "int":
        return str(int(value))
    if kind in ("path", "str", "choice"):
        return str(value)
    if kind == "name_list":
        return ", ".join(value)
    if kind == "regions":
        return ", ".join(str(int(v)) for box in value for v in box)
    return ", ".join(_format_number(v) for v in value)

