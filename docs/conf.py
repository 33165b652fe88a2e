"""Sphinx configuration for astro_mlfinder.

Build with ``tox -e build_docs`` (``sphinx-build -W -b html docs docs/_build/html``): warnings are
errors. The example gallery (``examples/plot_*.py``) runs during the build and makes the figures of
the pages; the tables of finder parameters and catalogue columns are generated from the code
(``docs/_ext``).
"""

import datetime
import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

HERE = Path(__file__).resolve().parent
# document (and run the gallery with) the package of this checkout, also when another copy is installed
sys.path.insert(0, str(HERE.parent))
# docs/_ext holds local extensions: sofia_parameters writes sofia_parameters.rst from the parameter
# table, autotables renders the finder-parameter and catalogue-column tables
sys.path.insert(0, str(HERE / "_ext"))

import astro_mlfinder  # noqa: E402

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
    "sphinx_gallery.gen_gallery",
    "sofia_parameters",
    "autotables",
    "pytest_doctestplus.sphinx.doctestplus",
]
numpydoc_show_class_members = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
default_role = "obj"
exclude_patterns = ["_build", "_ext", "api/**/*.inc", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.codeobj.json"]
suppress_warnings = ["config.cache"]

# ---------------------------------------------------------------- example gallery
#: the gallery's order: the first search, then each kind of picture, then the comparison
EXAMPLE_ORDER = ("plot_sample_overview.py", "plot_spectra.py", "plot_pv.py", "plot_regions.py",
                 "plot_truth_comparison.py")


def example_order(filename):
    """Sort key of the gallery scripts: their place in `EXAMPLE_ORDER`, new ones last by name."""
    name = Path(filename).name
    return (EXAMPLE_ORDER.index(name), "") if name in EXAMPLE_ORDER else (len(EXAMPLE_ORDER), name)


sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": str(HERE / "auto_examples"),
    "filename_pattern": r"/plot_",
    "within_subsection_order": example_order,
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "plot_gallery": "True",
    "write_computation_times": False,
}

# ---------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# the section navigation only on the API pages (many of them); the guides and the gallery give its
# width to the text, the tables and the code
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_sidebars.update({page: [] for page in (
    "index", "getting_started", "finders", "finders/classical", "finders/unet3d", "finders/sofia", "catalog",
    "regions", "neural", "sofia_parameters", "performance", "auto_examples/index",
    *(f"auto_examples/{p.stem}" for p in (HERE.parent / "examples").glob("plot_*.py")),
)})
html_show_sourcelink = False
