"""The `Finder` base class shared by every source finder."""

import abc
import inspect

import numpy as np

from .inputs import ImageData, load_image

__all__ = ["Finder"]


class Finder(abc.ABC):
    """Base class of all finders: configuration in the constructor, data in the call.

    Subclasses set ``name`` and ``ndim`` (2, 3 or ``(2, 3)``) and implement
    ``_find(image, mask, progress)`` returning a
    `~astro_mlfinder.SourceCatalog`.

    Examples
    --------
    >>> from astro_mlfinder import ClassicalFinder
    >>> finder = ClassicalFinder(threshold=5.0)          # doctest: +SKIP
    >>> cat = finder("cube.fits")                         # doctest: +SKIP
    """

    #: Short name recorded in ``cat.meta['finder']['name']``.
    name = "finder"
    #: Accepted dimensionality: 2, 3 or (2, 3).
    ndim = (2, 3)

    def __call__(self, data, mask=None, wcs=None, progress=True):
        """Find sources in ``data``.

        Parameters
        ----------
        data : array-like, NDData, HDU, path or SpectralCube
            A (z, y, x) cube or (y, x) image; NaN pixels are blank.
        mask : array-like of bool, optional
            Pixels to exclude (True = excluded), same shape as the data.
        wcs : `~astropy.wcs.WCS`, optional
            Overrides the WCS carried by ``data``.
        progress : bool, optional
            Show progress bars for long steps.

        Returns
        -------
        catalog : `~astro_mlfinder.SourceCatalog`
        """
        image = load_image(data, wcs=wcs)
        self._check_ndim(image)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != image.shape:
                raise ValueError(f"mask shape {mask.shape} does not match the data shape {image.shape}")
            mask = mask.astype(bool)
            if mask.all():
                raise ValueError("mask excludes every pixel")
        catalog = self._find(image, mask, progress)
        catalog.meta.setdefault("finder", self.describe())
        return catalog

    def _check_ndim(self, image: ImageData):
        accepted = self.ndim if isinstance(self.ndim, tuple) else (self.ndim,)
        if image.ndim not in accepted:
            shapes = " or ".join({2: "2D images (y, x)", 3: "3D cubes (z, y, x)"}[n] for n in accepted)
            raise ValueError(
                f"{type(self).__name__} accepts {shapes}; got {image.ndim}D data with shape {image.shape}"
            )

    @abc.abstractmethod
    def _find(self, image, mask, progress):
        """Search ``image`` (an `ImageData`) and return a SourceCatalog."""

    def get_params(self):
        """Return the constructor parameters as a dict (enough to re-create the finder)."""
        params = {}
        signature = inspect.signature(type(self).__init__)
        for name, parameter in signature.parameters.items():
            if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if hasattr(self, name):
                value = getattr(self, name)
                params[name] = list(value) if isinstance(value, tuple) else value
        return params

    def describe(self):
        """Return ``{'name', 'class', 'params'}`` for ``cat.meta['finder']``."""
        return {"name": self.name, "class": type(self).__name__, "params": self.get_params()}

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
