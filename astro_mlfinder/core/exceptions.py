"""The package's warning classes.

Every warning astro_mlfinder emits is an `AstroMLFinderWarning` (a subclass
of `~astropy.utils.exceptions.AstropyUserWarning`), so a user can silence or
escalate all of them with one filter::

    warnings.simplefilter("ignore", AstroMLFinderWarning)
"""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ["AstroMLFinderWarning"]


class AstroMLFinderWarning(AstropyUserWarning):
    """Base class of every warning raised by astro_mlfinder."""
