"""SoFiA-2 parameter files: read, validate, write and map to `ClassicalFinder` keywords.

SoFiA-2 (version 2.5.1, the version this package is anchored to) is driven by
a plain-text parameter file with one ``key = value`` setting per line.  This
module knows all 101 parameters of SoFiA-2 2.5.1 with their defaults and
types, reads and writes such files with SoFiA's own syntax rules, applies the
sanity checks SoFiA applies when it starts, and translates between SoFiA keys
and the keyword arguments of `astro_mlfinder.ClassicalFinder` and
`astro_mlfinder.io.products.write_products`.

Syntax rules mirrored from SoFiA-2 2.5.1:

* one ``key = value`` per line; a line whose first non-blank character is not
  alphanumeric is skipped (so ``#`` starts a comment line);
* anything after ``#`` in a value is a comment;
* a boolean is true **only** for the exact lowercase ``true``; anything else
  (``True``, ``1``, ``yes``) means false.  SoFiA does that silently; here a
  `SofiaParameterWarning` says so;
* lists are comma separated;
* with ``pipeline.pedantic = true`` an unknown key is an error.

Unlike SoFiA, invalid values (a statistic ``foo``, a non-numeric threshold)
are errors here: SoFiA-2 2.5.1 silently falls back to ``std`` for an unknown
statistic and to 0 for a non-numeric number.
"""

import difflib
import math
import os
import warnings
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from astropy.utils.exceptions import AstropyUserWarning

from ..io.atomic import atomic_path

__all__ = [
    "SOFIA_VERSION",
    "PARAMETERS",
    "PARAMETER_KEYS",
    "NEWER_SOFIA_KEYS",
    "FINDER_MAPPING",
    "ParameterSpec",
    "MappingEntry",
    "SofiaParameters",
    "SofiaParameterWarning",
    "UnknownSofiaParameterError",
    "read_par",
    "write_par",
    "check_par",
    "par_to_finder_kwargs",
    "finder_kwargs_to_par",
    "par_output_options",
    "output_options_to_par",
    "par_call_arguments",
    "render_mapping_rst",
]

#: SoFiA-2 version whose parameter set this module implements.
SOFIA_VERSION = "2.5.1"

_STATISTICS = ("std", "mad", "gauss")
_FLUX_RANGES = ("negative", "full", "positive")
_RELIABILITY_NAMES = ("peak", "sum", "mean", "chan", "pix", "fill", "std", "skew", "kurt")


class SofiaParameterWarning(AstropyUserWarning):
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


# --------------------------------------------------------------------------- parameter set
class SofiaParameters(MutableMapping):
    """Ordered, typed and validated set of SoFiA-2 2.5.1 parameters.

    Every one of the 101 keys is always present, starting from SoFiA's
    defaults.  Values are typed (bool, int, float, str, tuples; ``None`` for
    an empty setting) and validated on assignment; strings are parsed with
    SoFiA's rules.  ``del params[key]`` restores the default.

    Parameters
    ----------
    values : mapping, optional
        Settings applied on top of the defaults (typed values or SoFiA strings).
    source : str, optional
        Path of the parameter file the settings came from.

    Raises
    ------
    UnknownSofiaParameterError
        For an unknown key (a `ValueError` that names the closest valid key).
    ValueError
        For an invalid value.

    Examples
    --------
    >>> from astro_mlfinder.sofia import SofiaParameters
    >>> params = SofiaParameters({"scfind.threshold": "4.0"})
    >>> params["scfind.threshold"]
    4.0
    >>> params["scfind.kernelsZ"]
    (0, 3, 7, 15)
    """

    def __init__(self, values=None, *, source=None):
        self._values = {spec.key: spec.default for spec in PARAMETERS}
        self.source = None if source is None else str(source)
        if values is not None:
            self.update(values)

    def __getitem__(self, key):
        if key not in self._values:
            raise UnknownSofiaParameterError(_unknown_key_message(key))
        return self._values[key]

    def __setitem__(self, key, value):
        self._values[key] = _coerce_value(key, value)

    def __delitem__(self, key):
        self._values[key] = _spec(key).default

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __contains__(self, key):
        return key in self._values

    def __repr__(self):
        changed = ", ".join(f"{k!r}: {v!r}" for k, v in self.changed().items())
        return f"SofiaParameters({{{changed}}})"

    def __eq__(self, other):
        if isinstance(other, SofiaParameters):
            return self._values == other._values
        return NotImplemented

    def copy(self):
        """Return an independent copy."""
        new = SofiaParameters(source=self.source)
        new._values = dict(self._values)
        return new

    def changed(self):
        """Return ``{key: value}`` for every setting that differs from SoFiA's default."""
        return {k: v for k, v in self._values.items() if v != _SPECS[k].default}

    def string(self, key):
        """Return the value of ``key`` as SoFiA writes it (lowercase booleans, comma lists)."""
        return _format_value(key, self[key])

    def to_strings(self):
        """Return ``{key: SoFiA string}`` for all 101 parameters, in SoFiA's order."""
        return {k: _format_value(k, v) for k, v in self._values.items()}

    def to_text(self, header=None):
        """Return the parameters as the text of a SoFiA-2 parameter file."""
        lines = [f"# {line}" if line else "#" for line in (header or "").splitlines()]
        width = max(len(k) for k in self._values)
        group = None
        for key, text in self.to_strings().items():
            section = key.split(".")[0]
            if group is not None and section != group:
                lines.append("")
            group = section
            lines.append(f"{key:<{width}}  =  {text}".rstrip())
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- checks
def check_par(params):
    """Apply the sanity checks SoFiA-2 makes when it starts.

    Parameters
    ----------
    params : `SofiaParameters` or mapping

    Raises
    ------
    ValueError
        If ``linker.keepNegative`` or ``linker.positivity`` is combined with
        reliability filtering, if reliability is on with fewer than two valid
        names in ``reliability.parameters``, or if no source finder is
        enabled and no input mask is given (SoFiA's exit code 7).

    Warns
    -----
    SofiaParameterWarning
        For settings SoFiA warns about: kernels without a 0 entry, spatial
        kernels between 0 and 3 pixels, even or unit spectral widths, and a
        noise cube combined with a weights cube.
    """
    params = params if isinstance(params, SofiaParameters) else SofiaParameters(params)
    reliability = params["reliability.enable"]
    if params["linker.keepNegative"] and reliability:
        raise ValueError(
            "linker.keepNegative = true cannot be combined with reliability.enable = true: "
            "negative detections are always discarded by the reliability filter; set "
            "linker.keepNegative = false or disable reliability filtering"
        )
    if params["linker.positivity"] and reliability:
        raise ValueError(
            "linker.positivity = true cannot be combined with reliability.enable = true: "
            "there would be no negative detections for the reliability filter to work on"
        )
    if reliability and len(set(params["reliability.parameters"])) < 2:
        raise ValueError(
            f"reliability.parameters = {params.string('reliability.parameters')!r} gives a "
            "parameter space with < 2 dimensions; list at least two of "
            f"{', '.join(_RELIABILITY_NAMES)}"
        )
    if not (params["scfind.enable"] or params["threshold.enable"] or params["input.mask"]):
        raise ValueError(
            "no input mask (input.mask) and no source finder (scfind.enable, "
            "threshold.enable) selected; SoFiA cannot proceed"
        )
    if params["scfind.enable"]:
        xy = params["scfind.kernelsXY"]
        z = params["scfind.kernelsZ"]
        if 0 not in xy or 0 not in z:
            warnings.warn(
                "scfind.kernelsXY and scfind.kernelsZ should include 0 (no smoothing)",
                SofiaParameterWarning,
                stacklevel=2,
            )
        if any(0 < k < 3 for k in xy):
            warnings.warn(
                "spatial kernels between 0 and 3 pixels cannot be accurately modelled by "
                "SoFiA's iterated boxcar",
                SofiaParameterWarning,
                stacklevel=2,
            )
        if any(k == 1 or (k > 0 and k % 2 == 0) for k in z):
            warnings.warn(
                "SoFiA uses an even spectral kernel width w as w + 1 and a width of 1 as 0",
                SofiaParameterWarning,
                stacklevel=2,
            )
    if params["input.noise"] and params["input.weights"]:
        warnings.warn(
            "both a noise cube and a weights cube are applied", SofiaParameterWarning, stacklevel=2
        )


# --------------------------------------------------------------------------- files
def _split_line(line):
    """Split one parameter-file line as SoFiA does; None for skipped lines."""
    trimmed = line.strip()
    if not trimmed or not trimmed[0].isalnum():
        return None
    key, sep, rest = trimmed.partition("=")
    key = key.strip()
    value = rest.split("#", 1)[0].strip() if sep else ""
    return key, value


def read_par(path, pedantic=True, *, resolve_paths=True):
    """Read a SoFiA-2 parameter file.

    Parameters
    ----------
    path : str or path-like
        The parameter file.
    pedantic : bool, optional
        If True (default) an unknown key is an error, as in SoFiA with
        ``pipeline.pedantic = true``; a file that itself sets
        ``pipeline.pedantic = false`` relaxes this to a warning, as SoFiA
        does.  If False unknown keys only give a warning.
    resolve_paths : bool, optional
        Make relative paths (``input.*``, ``flag.catalog``,
        ``reliability.catalog``, ``output.directory``) absolute with respect
        to the parameter file's directory.  SoFiA itself resolves them
        against the current working directory.

    Returns
    -------
    params : `SofiaParameters`

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UnknownSofiaParameterError
        For an unknown or misspelt key, naming the closest valid key (or, for
        ``filter.*`` keys of SoFiA >= 2.6, the 2.5.1 equivalent).
    ValueError
        For an invalid value (naming key and value) or a failed sanity check
        (see `check_par`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SoFiA parameter file not found: {path}")
    params = SofiaParameters(source=path)
    unknown = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            parsed = _split_line(line)
            if parsed is None:
                continue
            key, value = parsed
            if key not in params:
                unknown.append((number, key))
                continue
            try:
                params[key] = value
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: {exc}") from None
    if unknown:
        messages = "; ".join(f"line {n}: {_unknown_key_message(k)}" for n, k in unknown)
        if pedantic and params["pipeline.pedantic"]:
            raise UnknownSofiaParameterError(f"{path}: {messages}")
        warnings.warn(f"{path}: ignored {messages}", SofiaParameterWarning, stacklevel=2)
    if resolve_paths:
        base = path.resolve().parent
        for spec in PARAMETERS:
            value = params[spec.key]
            if spec.kind in _PATH_KINDS and value and not os.path.isabs(value):
                params[spec.key] = os.path.normpath(base / value)
    check_par(params)
    return params


def write_par(params, path, overwrite=False):
    """Write a SoFiA-2 parameter file with all 101 parameters.

    Booleans are written in lowercase, lists comma separated.  The file is
    written to a temporary file in the same directory and moved into place.

    Parameters
    ----------
    params : `SofiaParameters` or mapping
        Settings; a plain mapping is applied on top of SoFiA's defaults.
    path : str or path-like
        Destination.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : `~pathlib.Path`

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If the settings fail `check_par`.
    """
    params = params if isinstance(params, SofiaParameters) else SofiaParameters(params)
    check_par(params)
    path = Path(path)
    text = params.to_text(
        header=f"SoFiA-2 {SOFIA_VERSION} parameter file written by astro_mlfinder"
    )
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return path


def _as_params(params):
    if isinstance(params, SofiaParameters):
        return params
    if isinstance(params, str | os.PathLike):
        return read_par(params)
    if isinstance(params, Mapping):
        return SofiaParameters(params)
    raise TypeError(
        f"expected SofiaParameters, a mapping or a parameter-file path, got {type(params).__name__}"
    )


# --------------------------------------------------------------------------- mapping
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
        ``'finder'`` (a `ClassicalFinder` keyword), ``'output'`` (a
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


#: SoFiA-2 key -> `ClassicalFinder` keyword / output switch / call argument,
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
    _m("reliability.enable", "reliability"),
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

_BY_KEY = {entry.sofia_key: entry for entry in FINDER_MAPPING}
_FINDER_ARGS = {e.argument: e.sofia_key for e in FINDER_MAPPING if e.target == "finder"}
_OUTPUT_ARGS = {e.argument: e.sofia_key for e in FINDER_MAPPING if e.target == "output"}


def _to_python(value):
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return [tuple(v) for v in value]
    return value


def par_to_finder_kwargs(params):
    """Translate SoFiA-2 parameters into `ClassicalFinder` keyword arguments.

    Parameters
    ----------
    params : `SofiaParameters`, mapping or path
        The settings (a path is read with `read_par`).

    Returns
    -------
    kwargs : dict
        Every `ClassicalFinder` keyword (see `FINDER_MAPPING`).  Output
        switches are returned by `par_output_options`, the data and mask
        paths by `par_call_arguments`.
    """
    params = _as_params(params)
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
    """Translate `ClassicalFinder` keyword arguments into SoFiA-2 parameters.

    Parameters
    ----------
    kwargs : mapping
        `ClassicalFinder` keywords; missing ones keep SoFiA's default (or the
        value in ``params``).
    params : `SofiaParameters`, optional
        Starting point (a copy is modified); SoFiA's defaults if omitted.

    Returns
    -------
    params : `SofiaParameters`

    Raises
    ------
    ValueError
        For an unknown keyword (naming the closest valid one) or an invalid value.
    """
    params = SofiaParameters() if params is None else _as_params(params).copy()
    for name, value in kwargs.items():
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
    params : `SofiaParameters`, mapping or path

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
    params = _as_params(params)
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
    params : `SofiaParameters`, optional
        Starting point (a copy is modified).

    Returns
    -------
    params : `SofiaParameters`
    """
    params = SofiaParameters() if params is None else _as_params(params).copy()
    for name, value in options.items():
        if name not in _OUTPUT_ARGS:
            closest = _closest(name, list(_OUTPUT_ARGS))
            raise ValueError(f"unknown output option {name!r}; did you mean {closest!r}?")
        params[_OUTPUT_ARGS[name]] = value
    return params


def par_call_arguments(params):
    """Return ``{'data': input.data, 'mask': input.mask}`` (paths or None)."""
    params = _as_params(params)
    return {"data": params["input.data"], "mask": params["input.mask"]}


# --------------------------------------------------------------------------- documentation
def _rst_literal(value):
    if value is None:
        return "None"
    return f"``{value!r}``"


def render_mapping_rst():
    """Render `FINDER_MAPPING` as the reStructuredText page ``docs/sofia_parameters.rst``.

    Returns
    -------
    text : str
    """
    title = "SoFiA-2 parameter mapping"
    lines = [
        ".. This file is generated by astro_mlfinder.sofia.par.render_mapping_rst(); do not edit.",
        "",
        title,
        "=" * len(title),
        "",
        f"`~astro_mlfinder.ClassicalFinder` takes one keyword argument per SoFiA-2 {SOFIA_VERSION}",
        "control parameter.  `~astro_mlfinder.sofia.read_par` reads a SoFiA-2 parameter file,",
        "`~astro_mlfinder.sofia.par_to_finder_kwargs` turns it into finder keywords,",
        "`~astro_mlfinder.sofia.par_output_options` into",
        "`~astro_mlfinder.io.products.write_products` switches, and",
        "`~astro_mlfinder.sofia.finder_kwargs_to_par` and `~astro_mlfinder.sofia.write_par`",
        "go the other way.  ``ClassicalFinder.from_sofia_par('sofia.par')`` does it in one step.",
        "",
        "Parameter-file syntax follows SoFiA-2: one ``key = value`` per line, ``#`` starts a",
        "comment, lists are comma separated and a boolean is true *only* for the lowercase",
        "``true`` (``True`` silently means false in SoFiA; ``read_par`` warns).  Unknown or",
        "misspelt keys are errors that name the closest valid key; keys of SoFiA-2 >= 2.6",
        "(``filter.minSNR``, ``filter.minPixels``, ``filter.discardNegative``,",
        "``reliability.plotExtra``) are recognised and their 2.5.1 equivalent is named.",
        "",
        "Columns: the SoFiA-2 key, the keyword it becomes (*finder* =",
        "`~astro_mlfinder.ClassicalFinder` keyword, *output* =",
        "`~astro_mlfinder.io.products.write_products` switch, *call* = argument of the finder",
        "call, *none* = no equivalent), its default (equal to SoFiA's default) and its",
        "meaning.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 22 22 14 42",
        "",
        "   * - SoFiA-2 key",
        "     - Argument",
        "     - Default",
        "     - Meaning",
    ]
    for entry in FINDER_MAPPING:
        argument = f"``{entry.argument}`` ({entry.target})" if entry.argument else "(none)"
        meaning = entry.meaning + (f" {entry.note}" if entry.note else "")
        lines += [
            f"   * - ``{entry.sofia_key}``",
            f"     - {argument}",
            f"     - {_rst_literal(entry.default)}",
            f"     - {meaning}",
        ]
    return "\n".join(lines) + "\n" + _DOC_EPILOGUE


_DOC_EPILOGUE = """
Sanity checks
-------------

`~astro_mlfinder.sofia.check_par` (run by ``read_par``, ``write_par`` and ``SofiaFinder``)
rejects what SoFiA-2 rejects when it starts (its exit code 7): ``linker.keepNegative`` or
``linker.positivity`` together with reliability filtering, reliability with fewer than two
parameter-space dimensions, and no source finder without an input mask.  It warns where SoFiA
warns: kernels lists without 0, spatial kernels between 0 and 3 pixels, even or unit spectral
widths, and a noise cube combined with a weights cube.  Unlike SoFiA-2 2.5.1, which silently
uses ``std`` for an unknown statistic and 0 for a non-numeric number, invalid values are errors.

Output products
---------------

`~astro_mlfinder.io.products.write_products` (also ``cat.write_products``) writes SoFiA-2's
product set with SoFiA's file names: ``<prefix>_cat.txt``, ``_cat.xml`` (VOTable 1.3),
``_cat.sql``, ``_cat.ann`` (Karma), ``_mask.fits`` (int32 ids), ``_mask-raw.fits`` (uint8),
``_mask-2d.fits``, ``_mom0.fits``, ``_mom1.fits``, ``_mom2.fits``, ``_chan.fits``,
``_noise.fits``, ``_filtered.fits``, the ``<prefix>_cubelets/`` directory (cut-out cube, mask,
moment, channel and SNR maps and the integrated spectrum per source) and region files.  Every
file is written to a temporary file and moved into place; with ``overwrite=False`` all targets
are checked before anything is written.

The moment maps follow SoFiA: moment 0 is the sum over the mask times the channel width (0
outside sources), moments 1 and 2 use only voxels with positive flux (above
``threshold_mom12`` times the local rms in cubelets) and are NaN elsewhere.  On SoFiA's own
mask they reproduce SoFiA's maps bit for bit.  PV diagrams and reliability plots are not
produced.

SofiaFinder
-----------

`~astro_mlfinder.SofiaFinder` runs an installed SoFiA-2 2.5.x binary (``executable=``, the
``SOFIA2_BIN`` environment variable, or ``sofia``/``sofia2`` on ``PATH``; SoFiA-2 is built
from source with ``./compile.sh -fopenmp`` and needs wcslib).  It checks the ``Version:``
line of the binary, writes the cube and a complete parameter file to a temporary directory,
shows SoFiA's pipeline stages as a progress bar and maps the exit codes: 0 gives the
catalogue, 8 (no sources) an empty catalogue, 7 (invalid input) a `ValueError` and any other
code a `RuntimeError`, each with SoFiA's own message without its colour codes.  The returned
catalogue holds SoFiA's catalogue values, its mask as ``segment`` and the raw mask as
``products['mask_raw']``.  A binary newer than 2.5 gets a warning: SoFiA >= 2.6 renamed
``reliability.minSNR``, ``reliability.minPixels`` and ``linker.keepNegative`` to ``filter.*``.

SoFiA-2 behaviours worth knowing
--------------------------------

* The spatial "Gaussian" of S+C is an iterated boxcar (3 to 6 passes) with zero-padded edges;
  the noise is 1.4826 times the median absolute value *about zero* of a strided sample.
* The default linker radii (1, 1) link face neighbours only (6-connectivity); size limits
  apply to bounding-box extents; source ids follow reverse raster order.
* ``mean``, ``std``, ``skew``, ``kurt`` and ``fill`` come from the linker: ``mean`` and
  ``std`` are in units of the global noise although SoFiA labels them with BUNIT.
* ``rel`` is 0 when reliability is off.  Reliability needs negative detections (SoFiA stops
  with exit code 1 without any) and uses (P - N) / P.
* ``input.gain`` is only applied when SoFiA reloads the cube (after noise scaling, a noise or a
  weights cube); continuum subtraction and the ripple filter are lost on a reload.
* The recorded value of ``reliability.parameters`` is cut to its first entry in SoFiA's own
  VOTable and FITS headers (a side effect of its parser); the run uses the full list.
"""
