"""Registry of candidate scorers: reliability filters that other floors plug into a finder.

`~astro_mlfinder.ClassicalFinder` finds candidates; a *candidate scorer*
gives each one a reliability in [0, 1]. The SoFiA-2 filter (negative-source
density) is built into the classical floor; other scorers register here by
name, so that the classical floor can use them without importing the floor
that defines them (``reliability='neural'`` is the 3D CNN of
`astro_mlfinder.neural.models.hi_reliability`, registered when
`astro_mlfinder.neural` is imported, which ``import astro_mlfinder`` does;
registering does not import PyTorch).

A scorer is created by its factory, ``factory(**options)``, which should
fail at once (with a one-line error naming the fix) when it cannot work,
e.g. without PyTorch. The object it returns has

* ``threshold`` -- the default score threshold (float);
* ``__call__(data, labels, n_candidates, *, progress=True)`` -- the score
  of candidates 1..n of the label cube ``labels`` of the searched cube
  ``data``, as a float array of length n;
* ``params`` (optional) -- a dict describing the scorer (recorded in the
  catalogue's metadata).

Example::

    from astro_mlfinder.core.scorers import register_scorer

    register_scorer("mine", MyScorer)                 # MyScorer(**options) -> scorer
    ClassicalFinder(threshold=3.5, reliability="mine")
"""

__all__ = ["register_scorer", "get_scorer", "available_scorers", "scorer_factory", "SCORER_HINTS"]

_SCORERS = {}

#: What to install when a known scorer is not registered (its floor is missing).
SCORER_HINTS = {"neural": "pip install 'astro_mlfinder[neural]'"}


def register_scorer(name, factory, *, replace=False):
    """Register a candidate-scorer factory under ``name``.

    Parameters
    ----------
    name : str
        The value of ``reliability=`` that selects it (case-sensitive; not
        ``True``/``False``, which select the SoFiA-2 filter or none).
    factory : callable
        ``factory(**options)`` returns the scorer (see the module docstring).
    replace : bool
        Allow replacing an existing registration.

    Returns
    -------
    callable
        ``factory`` (so that it can be used as a class decorator).

    Raises
    ------
    ValueError
        If ``name`` is taken and ``replace`` is False, or not a non-empty string.
    TypeError
        If ``factory`` is not callable.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a scorer name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"the factory of scorer {name!r} must be callable, got {factory!r}")
    if name in _SCORERS and not replace and _SCORERS[name] is not factory:
        raise ValueError(f"a candidate scorer named {name!r} is already registered; pass replace=True to override it")
    _SCORERS[name] = factory
    return factory


def available_scorers():
    """Sorted names of the registered candidate scorers."""
    return sorted(_SCORERS)


def scorer_factory(name):
    """The factory registered as ``name``.

    Raises
    ------
    ValueError
        If no scorer of that name is registered; the message names the
        package to install for a known one (``'neural'``) and lists the others.
    """
    if name not in _SCORERS:
        known = ", ".join(available_scorers()) or "none"
        hint = f" (it needs {SCORER_HINTS[name]})" if name in SCORER_HINTS else ""
        raise ValueError(f"reliability={name!r}: no candidate scorer of that name is registered{hint}; "
                         f"registered scorers: {known}")
    return _SCORERS[name]


def get_scorer(name, **options):
    """Create the scorer registered as ``name`` with ``options`` (see `scorer_factory` for errors)."""
    return scorer_factory(name)(**options)
