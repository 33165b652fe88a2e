"""Progress bars for long loops (tqdm when installed, silent otherwise)."""

__all__ = ["progress_bar"]


def progress_bar(iterable=None, *, desc=None, total=None, enabled=True, leave=False, unit="it"):
    """Wrap ``iterable`` in a tqdm progress bar.

    Parameters
    ----------
    iterable : iterable, optional
        The loop to wrap. ``None`` gives a manually updated bar.
    desc : str, optional
        Text shown before the bar.
    total : int, optional
        Number of steps, when ``iterable`` has no length.
    enabled : bool
        ``False`` (the ``progress=False`` of every finder) disables the bar.
    leave : bool
        Keep the bar on screen when done.
    unit : str
        Unit name shown by tqdm.

    Returns
    -------
    iterable or tqdm
        A tqdm object, or a silent stand-in with the same ``update``/``close``
        interface when tqdm is missing or ``enabled`` is False.
    """
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a core dependency
            enabled = False
        else:
            return tqdm(iterable, desc=desc, total=total, leave=leave, unit=unit)
    return _SilentBar(iterable)


class _SilentBar:
    """No-op bar with the part of the tqdm interface the package uses."""

    def __init__(self, iterable):
        self._iterable = iterable

    def __iter__(self):
        return iter(self._iterable if self._iterable is not None else ())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        """Ignore an update."""

    def set_postfix_str(self, text):
        """Ignore a status text."""

    def close(self):
        """Nothing to close."""
