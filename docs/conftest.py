"""pytest configuration of the documentation's doctests (``--doctest-rst``, see pyproject.toml).

The ``.rst`` pages are collected as doctests; the Sphinx configuration, the local extensions and the
generated trees (``_build``, ``api``, ``auto_examples``) are not. Every doctest runs in a fresh
temporary directory, so the files the pages write (``sample.reg``, ...) never land in the checkout,
with matplotlib's non-interactive backend.
"""

import pytest

collect_ignore = ["conf.py"]
collect_ignore_glob = ["_build/*", "_ext/*", "api/*", "auto_examples/*"]


@pytest.fixture(autouse=True)
def _doctest_in_tmp_path(request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        import matplotlib
    except ImportError:
        yield
        return
    backend = matplotlib.get_backend()
    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
    matplotlib.use(backend)
