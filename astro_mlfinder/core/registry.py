"""Registries of writers: catalogue formats and product sets.

As in the `regions` package, writers register themselves by name, and the
objects that are written look them up by name or by the file extension, so
that `~astro_mlfinder.SourceCatalog` (in core) writes every format without
importing `astro_mlfinder.io` (which sits above core and fills the registries
when it is imported; the package ``__init__`` imports it).

A catalogue writer is called as ``writer(catalog, path, overwrite=False,
**kwargs)``, writes ``path`` (whole or not at all) and returns it as a
`~pathlib.Path`::

    from astro_mlfinder.core.registry import register_writer

    @register_writer("mine", extensions=(".mine",))
    def write_mine(catalog, path, overwrite=False, **kwargs):
        ...

A product writer is called as ``writer(catalog, outdir, prefix,
overwrite=False, **switches)`` and returns the list of paths written
(``'sofia'``: `astro_mlfinder.io.products.write_products`).
"""

import os
from pathlib import Path

__all__ = [
    "WriterRegistry",
    "check_not_input",
    "catalog_writers",
    "product_writers",
    "register_writer",
    "register_product_writer",
    "get_writer",
    "identify_format",
    "write_catalog",
    "write_products",
]


class WriterRegistry:
    """Writers registered by name, with the file extensions that identify them.

    Parameters
    ----------
    kind : str
        What the writers write, for error messages (``'catalogue'``).
    """

    def __init__(self, kind):
        self.kind = kind
        self._writers = {}
        self._extensions = {}

    def __contains__(self, name):
        return name in self._writers

    def __repr__(self):
        return f"<WriterRegistry of {self.kind} writers: {', '.join(self.formats) or 'none'}>"

    @property
    def formats(self):
        """Names of the registered writers, in registration order (tuple)."""
        return tuple(self._writers)

    @property
    def extensions(self):
        """``{extension: format}`` of every registered extension (lower case, with the dot)."""
        return dict(self._extensions)

    def register_writer(self, name, *, extensions=()):
        """Decorator registering a writer under ``name``.

        Parameters
        ----------
        name : str
            Format name (``format=`` of the writing methods).
        extensions : sequence of str, optional
            File extensions (``'.ecsv'``; the dot is optional) that identify
            the format; each extension names one format.

        Raises
        ------
        ValueError
            If ``name`` or one of the extensions is already registered to
            another writer.
        """
        name = str(name)
        suffixes = [self._normalise_extension(ext) for ext in extensions]

        def decorator(func):
            if name in self._writers and self._writers[name] is not func:
                raise ValueError(f"a {self.kind} writer named {name!r} is already registered")
            for suffix in suffixes:
                owner = self._extensions.get(suffix)
                if owner is not None and owner != name:
                    raise ValueError(
                        f"the extension {suffix!r} already identifies the {self.kind} format {owner!r}"
                    )
            self._writers[name] = func
            for suffix in suffixes:
                self._extensions[suffix] = name
            return func

        return decorator

    @staticmethod
    def _normalise_extension(ext):
        ext = str(ext).lower()
        return ext if ext.startswith(".") else f".{ext}"

    def _available(self):
        if not self._writers:
            return "none registered (importing astro_mlfinder.io registers the package's writers)"
        return ", ".join(repr(f) for f in self.formats)

    def get_writer(self, name):
        """The writer registered under ``name``.

        Raises
        ------
        ValueError
            If no writer has that name; the message lists the registered ones.
        """
        try:
            return self._writers[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown {self.kind} format {name!r}; choose one of: {self._available()}"
            ) from None

    def identify_format(self, path):
        """The format a file name's extension identifies.

        Raises
        ------
        ValueError
            If the extension identifies no registered format; the message asks
            for ``format=`` and lists the registered formats.
        """
        suffix = Path(path).suffix.lower()
        if suffix in self._extensions:
            return self._extensions[suffix]
        extensions = ", ".join(f"{ext} ({fmt})" for ext, fmt in self._extensions.items())
        raise ValueError(
            f"cannot identify the {self.kind} format of {str(path)!r} from its extension "
            f"{suffix or '(none)'!r}; pass format= one of: {self._available()}"
            + (f" (known extensions: {extensions})" if extensions else "")
        )

    def write(self, obj, path, format=None, **kwargs):
        """Write ``obj`` to ``path`` with the writer of ``format`` (identified from the
        extension when None); returns what the writer returns."""
        fmt = format or self.identify_format(path)
        return self.get_writer(fmt)(obj, path, **kwargs)


#: Catalogue formats of `SourceCatalog.write <astro_mlfinder.SourceCatalog.write>`
#: (ecsv, fits, votable, sofia-ascii, sofia-xml, ds9, crtf once `astro_mlfinder.io` is imported).
catalog_writers = WriterRegistry("catalogue")

#: Writers of a whole product set (``'sofia'``: SoFiA-2's set of files).
product_writers = WriterRegistry("product set")


def register_writer(name, *, extensions=()):
    """Register a catalogue writer (decorator); see `WriterRegistry.register_writer`."""
    return catalog_writers.register_writer(name, extensions=extensions)


def register_product_writer(name="sofia"):
    """Register a product-set writer (decorator) called by `SourceCatalog.write_products
    <astro_mlfinder.SourceCatalog.write_products>`."""
    return product_writers.register_writer(name)


def get_writer(name):
    """The catalogue writer registered under ``name`` (ValueError if none)."""
    return catalog_writers.get_writer(name)


def identify_format(path):
    """The catalogue format identified by the extension of ``path`` (ValueError if none)."""
    return catalog_writers.identify_format(path)


def _input_files(catalog):
    image = getattr(catalog, "image", None)
    meta = getattr(catalog, "meta", None) or {}
    return (getattr(image, "filename", None), meta.get("input"))


def check_not_input(paths, *inputs):
    """Refuse to write any of ``paths`` that is one of the ``inputs`` files.

    Paths are compared resolved (symbolic links, ``..``) and, for files that
    exist, with `os.path.samefile` (hard links), so no product ever replaces
    the data it was made from, with or without ``overwrite``.

    Parameters
    ----------
    paths : iterable of str or path-like
        Files about to be written.
    *inputs : str, path-like or None
        Input files (None entries are ignored).

    Raises
    ------
    ValueError
        Naming the first path that is an input file.
    """
    sources = [Path(s) for s in inputs if s]
    if not sources:
        return
    resolved = {os.path.realpath(s): s for s in sources}
    for path in paths:
        target = os.path.realpath(path)
        source = resolved.get(target)
        if source is None and os.path.exists(target):
            source = next((s for s in sources if s.exists() and os.path.samefile(target, s)), None)
        if source is not None:
            raise ValueError(f"refusing to write {path}: it is the input file {source}; "
                             "choose another output directory or prefix")


def write_catalog(catalog, path, format=None, overwrite=False, **kwargs):
    """Write ``catalog`` to ``path`` with the registered writer of ``format``.

    ``format`` is identified from the extension of ``path`` when omitted.
    Returns the written path.

    Raises
    ------
    ValueError
        If ``path`` is the file the catalogue's data were read from (see
        `check_not_input`), whatever ``overwrite`` says.
    """
    check_not_input([path], *_input_files(catalog))
    return catalog_writers.write(catalog, path, format=format, overwrite=overwrite, **kwargs)


def write_products(catalog, outdir, prefix, *, writer="sofia", overwrite=False, **switches):
    """Write the product set ``writer`` of ``catalog``; returns the list of written paths."""
    return product_writers.get_writer(writer)(catalog, outdir, prefix, overwrite=overwrite, **switches)
