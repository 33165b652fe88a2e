"""Sphinx configuration for astro_mlfinder."""

import datetime
import sys
from pathlib import Path

import astro_mlfinder

# docs/_ext holds local extensions; sofia_parameters writes sofia_parameters.rst from the parameter table
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "astro_mlfinder"
author = "astro_mlfinder developers"
copyright = f"{datetime.date.today().year}, {author}"
version = astro_mlfinder.__version__.split("+")[0]
release = astro_mlfinder.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
    "numpydoc",
    "sofia_parameters",
]
numpydoc_show_class_members = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
default_role = "obj"
html_theme = "alabaster"
html_title = f"{project} {release}"
exclude_patterns = ["_build", "_ext", "api/**/*.inc"]
suppress_warnings = ["config.cache"]
