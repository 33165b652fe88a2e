"""Locate the bundled sample data and shipped weights (the repository's ``data/`` folder)."""

from pathlib import Path

__all__ = ["data_dir", "sample_path"]


def data_dir():
    """Return the ``data/`` directory of the source checkout this package runs from.

    Raises
    ------
    FileNotFoundError
        When the package was installed without its source tree (a wheel);
        sample data then have to be made with ``astro-mlfinder simulate``.
    """
    candidate = Path(__file__).resolve().parents[1] / "data"
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(
        "the bundled data/ folder was not found next to the package; install from a source checkout "
        "with 'pip install -e .' or make data with 'astro-mlfinder simulate hi'"
    )


def sample_path(name):
    """Return the path of a bundled sample file, e.g. ``sample_path('sample_hi_cube.fits')``."""
    path = data_dir() / name
    if not path.exists():
        available = sorted(p.name for p in data_dir().iterdir() if p.is_file())
        raise FileNotFoundError(f"no bundled sample {name!r}; available: {available}")
    return path
