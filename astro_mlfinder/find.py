"""`find_sources`: the one-call shortcut, and finders by name."""

__all__ = ["find_sources", "make_finder", "finder_names"]


def finder_names():
    """Names `make_finder` accepts: ``'classical'``, ``'sofia'`` and every registered neural model."""
    from .neural.models import available_models

    return ("classical", "sofia", *available_models())


def make_finder(finder="classical", **kwargs):
    """Create a finder by name.

    Parameters
    ----------
    finder : str
        ``'classical'`` (`ClassicalFinder`), ``'sofia'`` (`SofiaFinder`) or the
        name of a registered neural model (``'unet3d'``, ...; see `finder_names`).
    **kwargs
        Passed to the finder's constructor; ``par`` loads a SoFiA-2 parameter
        file for the classical and sofia finders.
    """
    from .classical.finder import ClassicalFinder
    from .neural.finder import NeuralFinder
    from .sofia.finder import SofiaFinder

    names = finder_names()
    if finder == "classical":
        par = kwargs.pop("par", None)
        return ClassicalFinder.from_sofia_par(par, **kwargs) if par else ClassicalFinder(**kwargs)
    if finder == "sofia":
        return SofiaFinder(**kwargs)
    if finder in names:
        return NeuralFinder(finder, **kwargs)
    raise ValueError(f"unknown finder {finder!r}; choose one of {', '.join(names)}")


def find_sources(data, finder="classical", *, mask=None, wcs=None, progress=True, **kwargs):
    """Find sources in ``data`` with the named finder and return a `SourceCatalog`.

    Examples
    --------
    >>> from astro_mlfinder import find_sources
    >>> cat = find_sources("cube.fits", threshold=5.0)    # doctest: +SKIP
    """
    return make_finder(finder, **kwargs)(data, mask=mask, wcs=wcs, progress=progress)
