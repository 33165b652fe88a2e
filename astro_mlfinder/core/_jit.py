"""Where the compiled numba kernels live, and a one-time notice when they must be compiled.

Every numba kernel of the package (the classical finder's, and the neural
finder's upsampling, block and output-convolution kernels) is ``@njit(cache=True)``: the first run
after an installation compiles it (tens of seconds on a small machine) and
writes the machine code to numba's on-disk cache, which later processes load
in a fraction of a second. Numba chooses the cache folder: ``NUMBA_CACHE_DIR``
when set, else ``__pycache__`` beside the source when that is writable (an
editable or user install), else the user-wide cache folder (for example
``~/.cache/numba``) for a read-only installation; all survive the process.

`announce_compilation` prints one line to stderr, once per process and group
of kernels, when a kernel about to run has no cached machine code for the
current source and numba version, so that a long first run says why it is long.
"""

import sys

__all__ = ["announce_compilation", "is_cached"]

_announced = set()  # the ``what`` of every notice printed by this process


def is_cached(dispatcher):
    """True if numba's disk cache holds machine code of ``dispatcher`` for its current source.

    Parameters
    ----------
    dispatcher : numba dispatcher
        A function decorated with ``@njit(cache=True)``.

    Returns
    -------
    bool or None
        Whether the cache index exists and matches the source file's time
        stamp and the numba version; None when that cannot be told (no disk
        cache, or numba internals this helper does not know).
    """
    cache = getattr(dispatcher, "_cache", None)
    index = getattr(cache, "_cache_file", None)
    load = getattr(index, "_load_index", None)
    if load is None:
        return None
    try:
        return bool(load())  # {} when the index is missing, stale or from another numba version
    except Exception:  # pragma: no cover - an unreadable index: numba recompiles and says nothing
        return None


def announce_compilation(dispatchers, what="the classical finder's numba kernels"):
    """Print once per process and ``what`` that ``dispatchers`` are about to be compiled, if any is not cached.

    Parameters
    ----------
    dispatchers : iterable of numba dispatchers
        Kernels the caller is about to run.
    what : str
        How the message names them.

    Returns
    -------
    bool
        True if the notice was printed by this call.
    """
    if what in _announced or all(is_cached(d) is not False for d in dispatchers):
        return False
    _announced.add(what)
    print(f"astro_mlfinder: compiling {what} (first run after installation, once; "
          "later runs load them from numba's cache) ...", file=sys.stderr, flush=True)
    return True
