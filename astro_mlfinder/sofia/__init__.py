"""SoFiA-2 interoperability: the `SofiaFinder` wrapper of the real binary, and parameter files.

The parameter-file code lives in `astro_mlfinder.io.sofia_par` (the classical
finder and the product writers need it too); its public names are
re-exported here.
"""

from ..io.sofia_par import *  # noqa: F401,F403
from ..io.sofia_par import __all__ as _par_all
from .binary import *  # noqa: F401,F403
from .binary import __all__ as _binary_all
from .finder import *  # noqa: F401,F403
from .finder import __all__ as _finder_all
from .outputs import *  # noqa: F401,F403
from .outputs import __all__ as _outputs_all

__all__ = [*_par_all, *_finder_all, *_binary_all, *_outputs_all]
