"""astro_mlfinder: classical and neural source finders for radio and optical data.

One photutils-style interface for SoFiA-2's smooth-and-clip pipeline
(`ClassicalFinder`), an installed SoFiA-2 binary (`SofiaFinder`) and deep
learning finders (`NeuralFinder`); all return a `SourceCatalog`.
"""

from astropy import config as _config

try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - running from a source tree without a build
    __version__ = "0.0.dev0"


class Conf(_config.ConfigNamespace):
    """Configuration items of astro_mlfinder (``astro_mlfinder.conf``)."""

    weights_url = _config.ConfigItem(
        "",
        "Base URL (http(s):// or file://) of the mirror that serves trained weights; empty means the "
        "weights shipped with the package. The environment variable ASTRO_MLFINDER_WEIGHTS_URL overrides it.",
    )
    cache_dir = _config.ConfigItem(
        "",
        "Directory for downloaded weights; empty means astropy's cache directory. The environment "
        "variable ASTRO_MLFINDER_CACHE_DIR overrides it.",
    )


conf = Conf()

from .classical.finder import ClassicalFinder  # noqa: E402
from .core.catalog import SourceCatalog  # noqa: E402
from .core.finder import Finder  # noqa: E402
from .core.inputs import ImageData, load_image  # noqa: E402
from .find import find_sources  # noqa: E402
from .neural.finder import NeuralFinder  # noqa: E402
from .sofia.finder import SofiaFinder  # noqa: E402

__all__ = [
    "ClassicalFinder",
    "Finder",
    "ImageData",
    "NeuralFinder",
    "SofiaFinder",
    "SourceCatalog",
    "conf",
    "find_sources",
    "load_image",
    "__version__",
]
