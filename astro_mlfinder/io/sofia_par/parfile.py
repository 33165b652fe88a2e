"""SoFiA-2 parameter sets and parameter files: `SofiaParameters`, `read_par`, `write_par`, `check_par`.

Syntax rules mirrored from SoFiA-2 2.5.1:

* one ``key = value`` per line; a line whose first non-blank character is not
  alphanumeric is skipped (so ``#`` starts a comment line);
* anything after ``#`` in a value is a comment;
* booleans and lists follow the rules of `astro_mlfinder.io.sofia_par.table`;
* with ``pipeline.pedantic = true`` an unknown key is an error.

`check_par` applies the sanity checks SoFiA applies when it starts.
"""

import os
import warnings
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from ..atomic import atomic_path
from .table import (
    _PATH_KINDS,
    _RELIABILITY_NAMES,
    _SPECS,
    PARAMETERS,
    SOFIA_VERSION,
    SofiaParameterWarning,
    UnknownSofiaParameterError,
    _coerce_value,
    _format_value,
    _spec,
    _unknown_key_message,
)

__all__ = [
    "SofiaParameters",
    "as_sofia_parameters",
    "check_par",
    "read_par",
    "write_par",
]


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
    >>> from astro_mlfinder.io.sofia_par import SofiaParameters
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


def as_sofia_parameters(params):
    """Return ``params`` as a `SofiaParameters`.

    Parameters
    ----------
    params : `SofiaParameters`, mapping, str or path-like
        A parameter set (returned as is, not copied), a mapping of settings
        (applied on top of SoFiA's defaults) or the path of a parameter file
        (read with `read_par`).

    Returns
    -------
    params : `SofiaParameters`

    Raises
    ------
    TypeError
        For any other type.
    """
    if isinstance(params, SofiaParameters):
        return params
    if isinstance(params, str | os.PathLike):
        return read_par(params)
    if isinstance(params, Mapping):
        return SofiaParameters(params)
    raise TypeError(
        f"expected SofiaParameters, a mapping or a parameter-file path, got {type(params).__name__}"
    )
