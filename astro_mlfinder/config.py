"""Package configuration (``astro_mlfinder.conf``) and version.

Every module that needs a setting or the version imports it from here, never
from the package ``__init__`` (which imports the finders and would import
itself back).

Importing this module also registers the fast exit (``conf.fast_exit``): at
interpreter exit, every object still alive is moved to the garbage collector's
permanent generation (`gc.freeze`), so that the full collections Python runs
while it shuts down do not walk them. numba's loader alone leaves about half a
million long-lived objects, and those collections cost 0.3-0.5 s at the end of
every process that ran a numba kernel (0.1 s after astropy only;
``benchmarks/speed.py``). Nothing is skipped that Python promises: objects are
still freed by reference counting as the modules are torn down; only cyclic
garbage left at exit is not collected, and Python does not guarantee that such
objects are finalised at exit anyway. Set ``conf.fast_exit = False`` to keep
CPython's default shut-down.
"""

import atexit as _atexit
import gc as _gc

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
    fast_exit = _config.ConfigItem(
        True,
        "At interpreter exit, move the objects still alive to the garbage collector's permanent generation "
        "(gc.freeze) so that Python's shut-down collections skip them (0.3-0.5 s after numba was loaded). "
        "False keeps CPython's default shut-down.",
        module="astro_mlfinder",
    )


conf = Conf()


def _fast_exit():
    """At exit: freeze the live objects (see the module docstring) unless ``conf.fast_exit`` is False."""
    if conf.fast_exit:
        _gc.freeze()


_atexit.register(_fast_exit)
