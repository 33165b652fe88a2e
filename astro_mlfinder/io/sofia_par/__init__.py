"""SoFiA-2 parameter files: read, validate, write and map to finder keywords.

This package knows all 101 parameters of SoFiA-2 2.5.1 with their defaults
and types, reads and writes parameter files with SoFiA's own syntax rules,
applies the sanity checks SoFiA applies when it starts, and translates
between SoFiA keys and the keyword arguments of
`astro_mlfinder.ClassicalFinder` and
`astro_mlfinder.io.products.write_products`.  It is shared by the classical
finder (``ClassicalFinder.from_sofia_par``), the SoFiA-2 wrapper
(`astro_mlfinder.SofiaFinder`) and the product writers, so it lives in io/.

Modules
-------
`~astro_mlfinder.io.sofia_par.table`
    The parameter table (`PARAMETERS`) and the typing of values.
`~astro_mlfinder.io.sofia_par.parfile`
    `SofiaParameters`, `read_par`, `write_par` and `check_par`.
`~astro_mlfinder.io.sofia_par.mapping`
    `FINDER_MAPPING` and the translations to and from finder keywords.

The documentation page ``docs/sofia_parameters.rst`` is generated from
`FINDER_MAPPING` by ``docs/_ext/sofia_parameters.py``.
"""

from .mapping import (
    FINDER_MAPPING,
    MappingEntry,
    finder_kwargs_to_par,
    output_options_to_par,
    par_call_arguments,
    par_output_options,
    par_to_finder_kwargs,
)
from .parfile import SofiaParameters, as_sofia_parameters, check_par, read_par, write_par
from .table import (
    NEWER_SOFIA_KEYS,
    PARAMETER_KEYS,
    PARAMETERS,
    SOFIA_VERSION,
    ParameterSpec,
    SofiaParameterWarning,
    UnknownSofiaParameterError,
)

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
    "as_sofia_parameters",
    "read_par",
    "write_par",
    "check_par",
    "par_to_finder_kwargs",
    "finder_kwargs_to_par",
    "par_output_options",
    "output_options_to_par",
    "par_call_arguments",
]
