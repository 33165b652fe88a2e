"""Sphinx configuration for astro_mlfinder."""

import datetime

from sphinx_astropy.conf.v2 import *  # noqa: F403

import astro_mlfinder

project = "astro_mlfinder"
author = "astro_mlfinder developers"
copyright = f"{datetime.date.today().year}, {author}"
version = astro_mlfinder.__version__.split("+")[0]
release = astro_mlfinder.__version__

extensions += ["sphinx_automodapi.automodapi", "numpydoc"]  # noqa: F405
numpydoc_show_class_members = False
automodapi_toctreedirnm = "api"
html_title = f"{project} {release}"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nitpicky = False
intersphinx_mapping = {}
suppress_warnings = ["config.cache"]
