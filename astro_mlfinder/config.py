"""Package configuration (``astro_mlfinder.conf``) and version.

Every module that needs a setting or the version imports it from here, never
from the package ``__init__`` (which imports the finders and would import
itself back).
"""

from astropy import config as _config

try:
    from ._version import version
except ImportError:  # pragma: no cover - running from a source tree without a build
    version = "0.0.dev0"

__all__ = ["Conf", "conf", "version"]


class Conf(_config.ConfigNamespace):
    """Configuration items of astro_mlfinder (``astro_mlfinder.conf``)."""

    weights_url = _config.ConfigItem(
        "",
        "Base URL (http(s):// or file://) of the mirror that serves trained weights; empty means the "
        "weights shipped with the package. The environment variable ASTRO_MLFINDER_WEIGHTS_URL overrides it.",
        module="astro_mlfinder",
    )
    cache_dir = _config.ConfigItem(
        "",
        "Directory for downloaded weights; empty means astropy's cache directory. The environment "
        "variable ASTRO_MLFINDER_CACHE_DIR overrides it.",
        module="astro_mlfinder",
    )
    download_deadline = _config.ConfigItem(
        1800.0,
        "Overall time limit in seconds of one weights download (each network read also times out after "
        "30 s); a mirror that is slower is abandoned and its partial file deleted.",
        module="astro_mlfinder",
    )


conf = Conf()
