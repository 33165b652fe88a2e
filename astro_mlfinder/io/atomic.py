"""Write files whole or not at all."""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "check_writable", "write_text"]


def check_writable(paths, overwrite=False):
    """Raise `FileExistsError` for the first existing path when ``overwrite`` is False.

    Call this for *every* product before writing any, so a refused run leaves
    nothing behind.
    """
    if overwrite:
        return
    for path in paths:
        if Path(path).exists():
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")


@contextlib.contextmanager
def atomic_path(path, overwrite=False):
    """Context manager yielding a temporary path that replaces ``path`` on success.

    The temporary file lives in the destination directory so the final
    ``os.replace`` is atomic; on any exception it is removed and ``path`` is
    left untouched.

    Examples
    --------
    >>> with atomic_path("out.fits", overwrite=True) as tmp:   # doctest: +SKIP
    ...     hdu.writeto(tmp)
    """
    path = Path(path)
    check_writable([path], overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes[-1:]),
                               dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as astropy refuse to overwrite an existing file
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path, text, overwrite=False):
    """Write ASCII ``text`` to ``path`` atomically (Unix newlines); returns the path."""
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", encoding="ascii", errors="replace", newline="\n") as fh:
            fh.write(text)
    return path
