"""numba for the package's kernels, loaded once with the cyclic garbage collector paused.

Every kernel module takes ``njit``, ``prange`` and ``get_num_threads`` from
here instead of from numba. The first import loads numba and, by calling a
trivial cached kernel, its typing and target registries (what the first real
kernel call would load anyway): about half a million objects that live as long
as the process. Created with the collector running, they trigger two or three
full collections that each walk all of them (about 0.1 s of a 256^3 run, see
``benchmarks/startup.py``); with the collector paused while they are created
none of those runs. The collector is switched back on afterwards (unless it
was off before), so the caller's own garbage is collected as usual.
"""

import gc

__all__ = ["get_num_threads", "njit", "prange"]

_was_enabled = gc.isenabled()
gc.disable()
try:
    from numba import get_num_threads, njit, prange

    @njit(cache=True)
    def _load_registries(value):
        return value + 1

    _load_registries(1)  # the first dispatch loads numba's registries (from the cache: no compilation)
finally:
    if _was_enabled:
        gc.enable()
    del _was_enabled
