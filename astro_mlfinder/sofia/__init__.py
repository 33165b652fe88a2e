"""SoFiA-2 interoperability: parameter files and the `SofiaFinder` wrapper of the real binary."""

from .finder import *  # noqa: F401,F403
from .finder import __all__ as _finder_all
from .par import *  # noqa: F401,F403
from .par import __all__ as _par_all

__all__ = [*_par_all, *_finder_all]
