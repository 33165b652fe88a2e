"""SoFiA-2 interoperability: parameter files and the `SofiaFinder` wrapper of the real binary."""

from .par import *  # noqa: F401,F403
from .par import __all__ as _par_all

__all__ = list(_par_all)
