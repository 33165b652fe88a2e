"""The floors of ../shared/DESIGN.md ("Who imports whom"), checked on the source with `ast`.

Every import statement of the package is read, including those inside
functions, resolved to an absolute module name, and checked against the
floor of the importing module:

- core/ imports no other subpackage; io/ imports only core/;
- classical/, neural/ and sofia/ never import each other (what two finders
  share lives in core/), nor the floors above them;
- distributed/ knows the finders only through the Finder interface;
- no module imports the package ``__init__`` (its names come from
  ``astro_mlfinder.config`` and the subpackages).
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = "astro_mlfinder"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Top-level modules every floor may use (settings, version).
COMMON = {"config", "_version"}
FINDERS = {"classical", "neural", "sofia"}
#: What each part of the package may import from the package (besides itself and COMMON).
ALLOWED = {
    "core": set(),
    "io": {"core"},
    "simulate": {"core", "io"},
    "evaluate": {"core", "io"},
    "visualization": {"core", "io"},
    "classical": {"core", "io", "visualization"},
    "sofia": {"core", "io", "visualization"},
    "neural": {"core", "io", "visualization", "simulate", "evaluate"},
    "distributed": {"core", "io", "visualization"},
    "datasets": set(),
}
#: The top floor: may import anything but the package __init__.
TOP = {"cli", "find"}


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(path):
    return path.name == "__init__.py"


def _submodule_exists(dotted):
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    base = ROOT / rel
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path):
    """Yield (line, absolute module, imported names or None) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path)
    package = module if _is_package(path) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield node.lineno, target, [alias.name for alias in node.names]


def _source_files():
    for path in sorted(ROOT.rglob("*.py")):
        if "tests" in path.relative_to(ROOT).parts or path.name == "_version.py":
            continue
        yield path


def _violations(path):
    module = _module_name(path)
    parts = module.split(".")
    floor = parts[1] if len(parts) > 1 else None
    found = []
    for line, target, names in _imports(path):
        if target is None or not (target == PACKAGE or target.startswith(PACKAGE + ".")):
            continue
        where = f"{path.relative_to(ROOT.parent)}:{line}"
        if target == PACKAGE:
            # ``import astro_mlfinder`` or ``from astro_mlfinder import name`` (or ``from .. import name``):
            # allowed only for submodules, never for the names the package __init__ defines
            if module == PACKAGE:
                continue
            bad = ["<module>"] if names is None else [n for n in names if not _submodule_exists(f"{PACKAGE}.{n}")]
            if bad:
                found.append(f"{where}: {module} imports {bad} from the package __init__")
            targets = [] if names is None else [f"{PACKAGE}.{n}" for n in names if n not in bad]
        else:
            targets = [target]
        for dotted in targets:
            other = dotted.split(".")[1]
            if module == PACKAGE or floor in TOP or other == floor or other in COMMON:
                continue
            allowed = ALLOWED.get(floor)
            if allowed is None:
                found.append(f"{where}: {module} is in no floor of the import test; add it to ALLOWED or TOP")
            elif other not in allowed:
                found.append(f"{where}: {module} ({floor}/) imports {dotted} ({other}/), which its floor may not")
    return found


def test_every_module_is_on_a_floor():
    floors = {_module_name(p).split(".")[1] for p in _source_files() if _module_name(p) != PACKAGE}
    unknown = sorted(floors - set(ALLOWED) - TOP - COMMON)
    assert not unknown, f"modules outside every floor: {unknown}"


@pytest.mark.parametrize("path", list(_source_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_respect_the_floors(path):
    assert _violations(path) == []


def test_the_checker_catches_forbidden_directions(tmp_path, monkeypatch):
    """The checker itself: each forbidden direction is reported (a fake package tree)."""
    fake = tmp_path / PACKAGE
    for sub in ("core", "io", "classical", "neural", "sofia"):
        (fake / sub).mkdir(parents=True)
        (fake / sub / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "config.py").write_text("")
    cases = {
        "core/a.py": "from ..io import catalog\n",
        "io/b.py": "def f():\n    from ..classical import linker\n",
        "classical/c.py": "from ..sofia.par import read_par\n",
        "neural/d.py": "from astro_mlfinder.classical import noise\n",
        "sofia/e.py": "from .. import __version__\n",
        "sofia/f.py": "import astro_mlfinder\n",
    }
    for rel, text in cases.items():
        (fake / rel).write_text(text)
    ok = {"classical/g.py": "from ..core import stats\nfrom ..io import catalog\nfrom ..config import conf\n",
          "core/h.py": "from . import stats\nfrom .stats import MAD_TO_STD\n"}
    for rel, text in ok.items():
        (fake / rel).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    for rel in cases:
        assert _violations(fake / rel), f"{rel} should violate the floors"
    for rel in ok:
        assert _violations(fake / rel) == [], rel
