"""`find_sources`: the one-call shortcut."""

__all__ = ["find_sources", "make_finder", "FINDER_NAMES"]

FINDER_NAMES = ("classical", "sofia", "unet3d", "deepfocus", "convosource", "pais")


def make_finder(finder="classical", **kwargs):
    """Create a finder by name.

    Parameters
    ----------
    finder : str
        ``'classical'`` (`ClassicalFinder`), ``'sofia'`` (`SofiaFinder`) or the
        name of a neural model (``'unet3d'``, ...).
    **kwargs
        Passed to the finder's constructor; ``par`` loads a SoFiA-2 parameter
        file for the classical and sofia finders.
    """
    from .classical.finder import ClassicalFinder
    from .neural.finder import NeuralFinder
    from .sofia.finder import SofiaFinder

    if finder == "classical":
        par = kwargs.pop("par", None)
        return ClassicalFinder.from_sofia_par(par, **kwargs) if par else ClassicalFinder(**kwargs)
    if finder == "sofia":
        return SofiaFinder(**kwargs)
    if finder in FINDER_NAMES:
        return NeuralFinder(finder, **kwargs)
    raise ValueError(f"unknown finder {finder!r}; choose one of {FINDER_NAMES}")


def find_sources(data, finder="classical", *, mask=None, wcs=None, progress=True, **kwargs):
    """Find sources in ``data`` with the named finder and return a `SourceCatalog`.

    Examples
    --------
    >>> from astro_mlfinder import find_sources
    >>> cat = find_sources("cube.fits", threshold=5.0)    # doctest: +SKIP
    """
    return make_finder(finder, **kwargs)(data, mask=mask, wcs=wcs, progress=progress)
