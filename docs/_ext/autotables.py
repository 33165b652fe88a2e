"""Tables of the documentation generated from the code, so that the pages cannot drift from it.

Directives (``docs/conf.py`` lists this extension):

``.. classical-parameters::``
    Every keyword of `~astro_mlfinder.ClassicalFinder` (read from its
    signature) with its default, the SoFiA-2 key it stands for and that key's
    meaning (`astro_mlfinder.io.sofia_par.mapping.FINDER_MAPPING`).
``.. signature-parameters:: dotted.name``
    The constructor parameters of a class: the name and default from its
    signature, the type and description from its numpydoc ``Parameters``.
``.. model-parameters:: model-name``
    The keywords a registered neural model accepts (its ``keywords``), the
    accepted values (its validators), the model default, the value recorded
    with the bundled weights and the meaning from the model's docstring.
``.. demo-output::``
    What ``astro-mlfinder demo`` prints, captured by running it (in a
    temporary directory, without progress bars) while the documentation
    is built; the temporary paths are shown as the demo's default output
    folder and the checkout's ``data/``, the cubelet files as one line.
``.. catalog-columns:: default|sofia``
    The columns of a real catalogue: the classical finder run on the bundled
    ``data/sample_hi_cube.fits``, once with ``physical=False`` and once with
    ``physical=True``; name, both units, the value of source 1 and the
    column's docstring.

Each directive renders reStructuredText with a ``render_*`` function that the
tests call as well; docutils and Sphinx are imported only by `setup`, so the
functions work without them.
"""

import inspect
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "SAMPLE_CUBE",
    "render_classical_parameters",
    "render_signature_parameters",
    "render_model_parameters",
    "render_catalog_columns",
    "render_demo_output",
    "setup",
]

#: The bundled sample cube the catalogue tables are measured on.
SAMPLE_CUBE = Path(__file__).resolve().parents[2] / "data" / "sample_hi_cube.fits"


def _literal(value):
    if value is inspect.Parameter.empty:
        return "(required)"
    return f"``{value!r}``"


def _one_line(text):
    """Collapse whitespace so that a description fits one list-table cell line."""
    return " ".join(str(text).split())


def _list_table(header, rows, widths):
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {' '.join(str(w) for w in widths)}", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines


# ----------------------------------------------------------------- classical
def render_classical_parameters():
    """Render the keyword table of `~astro_mlfinder.ClassicalFinder`.

    Returns
    -------
    text : str
        A ``list-table`` with one row per constructor keyword, in signature
        order (which follows SoFiA-2's stages).
    """
    from astro_mlfinder import ClassicalFinder
    from astro_mlfinder.io.sofia_par import FINDER_MAPPING

    mapping = {e.argument: e for e in FINDER_MAPPING if e.target == "finder"}
    rows = []
    for name, param in inspect.signature(ClassicalFinder.__init__).parameters.items():
        if name == "self" or param.kind is param.VAR_KEYWORD:
            continue
        entry = mapping.get(name)
        key = f"``{entry.sofia_key}``" if entry else "(none)"
        if entry:
            meaning = _one_line(entry.meaning + (f" {entry.note}" if entry.note else ""))
        else:  # a keyword without SoFiA-2 key: its description in the class docstring
            meaning = _one_line(" ".join(_class_parameters("astro_mlfinder.ClassicalFinder").get(name, ())))
        rows.append((f"``{name}``", _literal(param.default), key, meaning))
    return "\n".join(_list_table(("Keyword", "Default", "SoFiA-2 key", "Meaning"), rows, (20, 14, 24, 42)))


@lru_cache
def _class_parameters(dotted):
    """``{name: description lines}`` of the numpydoc ``Parameters`` of the class ``dotted``."""
    from numpydoc.docscrape import ClassDoc

    module, _, name = dotted.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    out = {}
    for param in ClassDoc(cls)["Parameters"]:
        for part in param.name.split(","):
            out[part.strip()] = tuple(param.desc)
    return out


# ----------------------------------------------------------------- any class
def render_signature_parameters(dotted):
    """Render the constructor parameters of the class ``dotted`` (``'astro_mlfinder.SofiaFinder'``).

    Parameters
    ----------
    dotted : str
        Importable dotted name of a class with a numpydoc docstring.

    Returns
    -------
    text : str
        A ``list-table``: parameter, default, type, description.
    """
    from numpydoc.docscrape import ClassDoc

    module, _, name = dotted.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    documented = {}
    for param in ClassDoc(cls)["Parameters"]:
        for part in param.name.split(","):
            documented[part.strip()] = param
    rows = []
    for pname, param in inspect.signature(cls.__init__).parameters.items():
        if pname == "self":
            continue
        shown = f"**{pname}" if param.kind is param.VAR_KEYWORD else pname
        doc = documented.get(shown) or documented.get(pname)
        default = "" if param.kind is param.VAR_KEYWORD else _literal(param.default)
        rows.append((f"``{shown}``", default, _one_line(doc.type) if doc else "",
                     _one_line(" ".join(doc.desc)) if doc else ""))
    return "\n".join(_list_table(("Parameter", "Default", "Type", "Description"), rows, (16, 14, 20, 50)))


# ----------------------------------------------------------------- neural models
_VALIDATORS = {
    "probability": "float in [0, 1]",
    "non_negative_int": "int >= 0",
    "positive_int": "int >= 1",
    "boolean": "bool",
    "per_axis": "int or (z, y, x)",
}


def _keyword_docs(cls):
    """``{keyword: text}`` from the ````kw````/indented-text blocks of a model's docstring."""
    docs, current = {}, []
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        names = re.findall(r"``(\w+)``", line) if line.startswith("``") else []
        if names:
            current = names
            for name in names:
                docs[name] = ""
        elif line.startswith(" ") and current:
            for name in current:
                docs[name] = (docs[name] + " " + line.strip()).strip()
        else:
            current = []
    return docs


def render_model_parameters(model):
    """Render the keywords a registered neural model accepts.

    Parameters
    ----------
    model : str
        Registered model name (``'unet3d'``).

    Returns
    -------
    text : str
        A ``list-table``: keyword, accepted values, model default, value
        recorded with the newest registered weights, meaning.
    """
    from astro_mlfinder.neural import weights
    from astro_mlfinder.neural.models import get_model

    cls = get_model(model)
    docs = _keyword_docs(cls)
    entries = [e for e in weights.load_registry() if e.get("model") == model]
    recorded = entries[-1].get("inference", {}) if entries else {}
    label = f"{entries[-1]['name']} {entries[-1]['version']}" if entries else "weights"
    rows = []
    for key, convert in cls.keywords.items():
        kind = _VALIDATORS.get(convert.__qualname__.split(".")[0], "")
        shown = _literal(recorded[key]) if key in recorded else "(model default)"
        rows.append((f"``{key}``", kind, _literal(cls.defaults.get(key)), shown, _one_line(docs.get(key, ""))))
    header = ("Keyword", "Values", "Model default", f"Recorded with {label}", "Meaning")
    return "\n".join(_list_table(header, rows, (14, 14, 16, 16, 40)))


# ----------------------------------------------------------------- catalogue
_EXTRA_MEANINGS = {
    "sky_centroid": "`~astropy.coordinates.SkyCoord` of (x, y) in the frame of the data's WCS.",
    "ra": "Right ascension of (x, y).",
    "dec": "Declination of (x, y).",
    "ra_peak": "Right ascension of (x_peak, y_peak).",
    "dec_peak": "Declination of (x_peak, y_peak).",
    "freq": "Frequency of z (named after the header's CTYPE3: ``freq``, ``v_rad``, ``v_opt`` or ``v_app``).",
    "freq_peak": "Frequency of z_peak.",
}


@lru_cache(maxsize=1)
def _sample_tables():
    from astro_mlfinder import ClassicalFinder

    plain = ClassicalFinder()(SAMPLE_CUBE, progress=False)
    physical = ClassicalFinder(physical=True)(SAMPLE_CUBE, progress=False)
    return {
        "default": (plain.to_table(), physical.to_table()),
        "sofia": (plain.to_table(columns="sofia"), physical.to_table(columns="sofia")),
    }


def _unit(column):
    unit = getattr(column, "unit", None)
    if unit is None:
        frame = getattr(column, "frame", None)
        return f"SkyCoord ({frame.name})" if frame is not None else ""
    return f"``{unit.to_string()}``" if unit.to_string() else ""


def _value(column):
    value = column[0]
    if hasattr(value, "to_string") and hasattr(value, "ra"):
        return f"``{value.to_string('hmsdms', precision=1)}``"
    if hasattr(value, "unit"):
        value = value.value
    if isinstance(value, float | np.floating):
        return f"``{value:.6g}``"
    return f"``{value}``"


def render_catalog_columns(which="default"):
    """Render the columns of the bundled sample cube's classical catalogue.

    Parameters
    ----------
    which : {'default', 'sofia'}
        ``'default'``: the columns of ``cat.to_table()``; ``'sofia'``: the
        further columns of ``cat.to_table(columns='sofia')``.

    Returns
    -------
    text : str
        A ``list-table``: column, unit, unit with ``physical=True``, value for
        source 1 of the sample cube, meaning.
    """
    from astro_mlfinder import SourceCatalog

    tables = _sample_tables()
    plain, physical = tables[which]
    shown = set(tables["default"][0].colnames) if which == "sofia" else set()
    rows = []
    for name in plain.colnames:
        if name in shown:
            continue
        prop = getattr(SourceCatalog, name, None)
        doc = _EXTRA_MEANINGS.get(name) or (inspect.getdoc(prop) if prop is not None else "") or ""
        phys = _unit(physical[name]) if name in physical.colnames else ""
        rows.append((f"``{name}``", _unit(plain[name]), phys, _value(plain[name]), _one_line(doc.split("\n\n")[0])))
    header = ("Column", "Unit", "Unit, ``physical=True``", "Source 1", "Meaning")
    return "\n".join(_list_table(header, rows, (12, 14, 16, 18, 40)))


# ----------------------------------------------------------------- the demo
def render_demo_output():
    """Run ``astro-mlfinder demo`` and render what it prints as a literal block.

    Returns
    -------
    text : str
        A ``code-block:: text`` with the demo's standard output; the
        temporary output folder is shown as ``astro_mlfinder_demo``, the
        bundled data folder as ``data``, and the files written into the
        cubelet folder are counted on one line.
    """
    import contextlib
    import io
    import os
    import tempfile

    from astro_mlfinder.cli import main
    from astro_mlfinder.datasets import data_dir

    buffer = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "astro_mlfinder_demo"
        with contextlib.redirect_stdout(buffer):
            code = main(["demo", "--output-dir", str(out), "--no-progress"])
    if code:
        raise RuntimeError(f"astro-mlfinder demo exited with {code}:\n{buffer.getvalue()}")
    text = buffer.getvalue().replace(str(out), "astro_mlfinder_demo").replace(str(data_dir()), "data")
    lines, cubelets = [], []
    for line in text.rstrip().splitlines():
        if "_cubelets" + os.sep in line and line.startswith("wrote "):
            cubelets.append(line)
            if len(cubelets) == 1:
                lines.append(None)
            continue
        lines.append(line)
    if cubelets:
        folder = cubelets[0].split()[1].rsplit(os.sep, 1)[0]
        summary = f"wrote {folder}{os.sep} ({len(cubelets)} files: cube, mask, moments, SNR map, spectrum per source)"
        lines = [summary if line is None else line for line in lines]
    return "\n".join([".. code-block:: text", ""] + [f"    {line}".rstrip() for line in lines])


# ----------------------------------------------------------------- directives
def _directives():
    """``{name: Directive class}``, each parsing its ``render_*`` text in place of the directive."""
    from docutils import nodes
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList
    from sphinx.util.nodes import nested_parse_with_titles

    def rendered(render, n_required=0, n_optional=0):
        class Rendered(Directive):
            required_arguments = n_required
            optional_arguments = n_optional

            def run(self):
                text = render(*self.arguments)
                container = nodes.container()
                lines = StringList(text.splitlines(), source="autotables")
                nested_parse_with_titles(self.state, lines, container)
                return container.children

        Rendered.__name__ = f"Rendered_{render.__name__}"
        return Rendered

    return {
        "classical-parameters": rendered(render_classical_parameters),
        "signature-parameters": rendered(render_signature_parameters, n_required=1),
        "model-parameters": rendered(render_model_parameters, n_required=1),
        "catalog-columns": rendered(render_catalog_columns, n_optional=1),
        "demo-output": rendered(render_demo_output),
    }


def setup(app):
    """Sphinx entry point: register the directives.

    Parameters
    ----------
    app : `sphinx.application.Sphinx`

    Returns
    -------
    metadata : dict
    """
    for name, directive in _directives().items():
        app.add_directive(name, directive)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
