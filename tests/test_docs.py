"""The documentation: generated tables, the README's commands, inline markup, the gallery, the rendered pages.

The pages' own doctests run with the rest of the suite (``--doctest-rst``, see pyproject.toml).
The slow test builds the documentation (or takes the tree named by ``$ASTRO_MLFINDER_DOCS_HTML``,
as ``tox -e build_docs`` does after its build) and renders every page in headless Chromium.
"""

import importlib.util
import inspect
import os
import re
import runpy
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", DOCS / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages():
    skip = {"_build", "api", "auto_examples", "_ext"}
    return sorted(p for p in DOCS.rglob("*.rst") if not skip & set(p.relative_to(DOCS).parts))


# ----------------------------------------------------------------- generated tables
def test_classical_parameter_table_lists_every_keyword():
    from astro_mlfinder import ClassicalFinder

    text = _load("autotables").render_classical_parameters()
    params = [p for p in inspect.signature(ClassicalFinder.__init__).parameters.values()
              if p.name != "self" and p.kind is not p.VAR_KEYWORD]
    rows = re.findall(r"^   \* - ``(\w+)``\n     - (.*)$", text, re.M)
    assert [name for name, _ in rows] == [p.name for p in params]
    assert dict(rows)["threshold"] == "``5.0``"
    assert "   * - ``kernels_xy``\n     - ``(0, 3, 6)``\n     - ``scfind.kernelsXY``" in text


def test_model_parameter_table_lists_every_keyword_with_the_recorded_value():
    from astro_mlfinder.neural.models import get_model

    text = _load("autotables").render_model_parameters("unet3d")
    model = get_model("unet3d")
    assert re.findall(r"^   \* - ``(\w+)``", text, re.M) == list(model.keywords)
    # threshold: model default 0.5, 0.08 tuned and recorded with the bundled weights
    assert "   * - ``threshold``\n     - float in [0, 1]\n     - ``0.5``\n     - ``0.08``" in text
    assert "Recorded with unet3d 0.1.0" in text


def test_signature_table_documents_every_parameter():
    pytest.importorskip("numpydoc", reason="the signature tables read numpydoc sections (the docs extra)")
    text = _load("autotables").render_signature_parameters("astro_mlfinder.SofiaFinder")
    assert re.findall(r"^   \* - ``(\*{0,2}\w+)``", text, re.M) == ["par", "executable", "timeout", "**overrides"]
    assert "The SoFiA-2 binary" in text


def test_catalog_column_table_comes_from_a_real_catalogue():
    from astro_mlfinder import ClassicalFinder
    from astro_mlfinder.datasets import sample_path

    tables = _load("autotables")
    text = tables.render_catalog_columns("default")
    table = ClassicalFinder()(sample_path("sample_hi_cube.fits"), progress=False).to_table()
    rows = dict(re.findall(r"^   \* - ``(\w+)``\n     - (.*)$", text, re.M))
    assert list(rows) == table.colnames
    assert rows["f_sum"] == f"``{table['f_sum'].unit.to_string()}``"
    assert rows["sky_centroid"].startswith("SkyCoord")
    sofia = tables.render_catalog_columns("sofia")
    assert "``wm50``" in sofia and "``f_sum``" not in sofia


def test_sofia_parameter_page_is_current():
    module = _load("sofia_parameters")
    assert module.PAGE.read_text(encoding="utf-8") == module.render_mapping_rst()


# ----------------------------------------------------------------- the pages' text
def test_getting_started_has_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    page = (DOCS / "getting_started.rst").read_text(encoding="utf-8")
    commands = re.findall(r"^    (pip install .*)$", setup, re.M)
    assert len(commands) == 2
    for command in commands:
        assert f"    {command}\n" in page


_START_BEFORE = set(" \t\n-:/'\"<([{")
_END_AFTER = set(" \t\n-.,:;!?\\/'\")]}>")


def _ok(char, ascii_set, categories):
    return char in ascii_set or (ord(char) > 127 and unicodedata.category(char) in categories)


def _glued_literals(text):
    """Inline literals that docutils does not recognise: ``±``x```` or ````x``s`` (shown as raw markup).

    Literal blocks (after ``::``, ``code-block``) and doctest lines are left out; the lines of a
    paragraph are joined, so a literal may run over a line break.
    """
    paragraphs, current, in_block = [], [], False
    for line in text.splitlines() + [""]:
        stripped = line.strip()
        if in_block and line and not line[0].isspace():
            in_block = False
        if in_block or stripped.startswith((">>>", "...")):
            continue
        if not stripped:
            paragraphs.append(" ".join(current))
            current = []
            continue
        current.append(stripped)
        if stripped.endswith("::") or stripped.startswith(".. code-block"):
            paragraphs.append(" ".join(current))
            current, in_block = [], True
    found = []
    for paragraph in paragraphs:
        for m in re.finditer(r"(?<!`)``(?=\S)(.+?)(?<=\S)``(?!`)", paragraph):
            before = paragraph[m.start() - 1] if m.start() else " "
            after = paragraph[m.end()] if m.end() < len(paragraph) else " "
            if not _ok(before, _START_BEFORE, {"Pd", "Po", "Pi", "Pf", "Ps"}) or \
                    not _ok(after, _END_AFTER, {"Pd", "Po", "Pi", "Pf", "Pe"}):
                found.append(paragraph[max(0, m.start() - 30):m.end() + 30])
    return found


def test_glued_literal_check_finds_the_old_defect():
    assert _glued_literals("replaced by ±``replacement`` × rms") != []
    assert _glued_literals("replaced by ± ``replacement`` × rms, (``a``), ``b``.") == []


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_no_inline_literal_is_glued_to_a_word(page):
    assert _glued_literals(page.read_text(encoding="utf-8")) == []


# ----------------------------------------------------------------- the gallery
def _examples():
    return sorted(EXAMPLES.glob("plot_*.py"))


@pytest.mark.parametrize(
    "script",
    [pytest.param(p, marks=pytest.mark.slow) if "truth" in p.name else p for p in _examples()],
    ids=lambda p: p.name,
)
def test_gallery_example_runs(script, tmp_path, monkeypatch, capsys):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "truth" in script.name:
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    plt.close("all")
    runpy.run_path(str(script), run_name="__main__")
    figures = [plt.figure(n) for n in plt.get_fignums()]
    plt.close("all")
    assert figures, f"{script.name} drew no figure"
    for fig in figures:
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>" or not ax.has_data():
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), f"{script.name}: an axis without a label"
    out = capsys.readouterr().out
    if script.name == "plot_sample_overview.py":
        assert "5 sources" in out and "Jy km / s" in out


# ----------------------------------------------------------------- rendered pages
def _check_module():
    return _load("browser_check")


@pytest.fixture(scope="module")
def chromium():
    found = _check_module().find_chromium()
    if found is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")
    return found


def test_browser_check_finds_cut_off_code_and_raw_markup(tmp_path, chromium):
    """The checker itself, on two small pages: one broken, one right."""
    style = "<style>body{width:400px} pre{overflow-x:auto}</style>"
    (tmp_path / "bad.html").write_text(
        f"<html><head>{style}</head><body><p>replaced by ±``replacement`` rms</p>"
        f"<pre>{'x = 1 + ' * 40}</pre></body></html>", encoding="utf-8")
    (tmp_path / "good.html").write_text(
        f"<html><head>{style}</head><body><p>replaced by ± <code>replacement</code> rms</p>"
        "<pre>x = 1</pre></body></html>", encoding="utf-8")
    check = _check_module()
    results = {(r["page"], r["width"]): r for r in check.check_pages(tmp_path, chromium=chromium)}
    bad, good = results[("bad.html", 1280)], results[("good.html", 1280)]
    assert len(bad["cut"]) == 1 and bad["cut"][0]["scrollWidth"] > bad["cut"][0]["clientWidth"]
    assert {m["markup"] for m in bad["raw"]} == {"``", "±`"}
    assert good["cut"] == [] and good["raw"] == [] and good["pre"] == 1


def _built_docs(tmp_path_factory):
    given = os.environ.get("ASTRO_MLFINDER_DOCS_HTML")
    if given:
        root = Path(given)
        assert (root / "index.html").exists(), f"$ASTRO_MLFINDER_DOCS_HTML={given} holds no built documentation"
        return root
    pytest.importorskip("sphinx")
    for module in ("sphinx_gallery", "pydata_sphinx_theme", "sphinx_automodapi", "numpydoc"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("docs") / "html"
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-b", "html", str(DOCS), str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.mark.slow
def test_rendered_pages_have_no_cut_off_code_and_no_raw_markup(tmp_path_factory, chromium):
    root = _built_docs(tmp_path_factory)
    check = _check_module()
    pages = check.html_pages(root)
    for needed in ("getting_started.html", "finders/classical.html", "finders/unet3d.html", "catalog.html",
                   "regions.html", "neural.html", "auto_examples/index.html", "api.html"):
        assert needed in pages
    results = check.check_pages(root, pages, chromium=chromium)
    assert len(results) == len(pages) * len(check.WIDTHS)
    assert check.problems(results) == []
    by_page = {r["page"]: r for r in results if r["width"] == check.WIDTHS[0]}
    assert by_page["getting_started.html"]["pre"] >= 4  # the code blocks were there to be measured
    # a screenshot of the first page a reader opens: written, and not blank
    png = check.screenshot(root / "getting_started.html", tmp_path_factory.mktemp("shot") / "gs.png",
                           chromium=chromium)
    image = pytest.importorskip("matplotlib.image").imread(png)
    assert image.shape[1] == 1280 and image[..., :3].std() > 0.05


def _docstrings():
    import ast

    for path in sorted((ROOT / "astro_mlfinder").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    yield f"{path.relative_to(ROOT)}:{getattr(node, 'name', '')}", doc


def test_no_inline_literal_is_glued_to_a_word_in_docstrings():
    """The API pages render every docstring as reStructuredText."""
    found = [f"{where}: {bad}" for where, doc in _docstrings() for bad in _glued_literals(doc)]
    assert found == []
