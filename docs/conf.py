"""Sphinx configuration for astro_mlfinder."""

import datetime

import astro_mlfinder

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
]
numpydoc_show_class_members = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
default_role = "obj"
html_theme = "alabaster"
html_title = f"{project} {release}"
exclude_patterns = ["_build", "api/**/*.inc"]
suppress_warnings = ["config.cache"]
