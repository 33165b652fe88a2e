"""The `Finder` base class shared by every source finder.

A finder *segments*, core *measures*: a subclass implements
``segment(image, mask, progress) -> Segmentation`` and declares ``ndim`` and
``margin``; `Finder.__call__` loads the data, validates it, calls ``segment``
and builds the `~astro_mlfinder.SourceCatalog` once, measuring with
`astro_mlfinder.core.measure`. ``margin`` is all a tiled run needs to cut the
data into overlapping tiles: the per-axis overlap that keeps a source near a
tile border whole.
"""

import abc
import inspect

import numpy as np

from .catalog import SourceCatalog
from .inputs import ImageData, load_image
from .segmentation import Segmentation

__all__ = ["Finder", "build_catalog", "smooth_clip_margin", "DEFAULT_SOURCE_EXTENT", "register_tiled_runner"]

#: Largest source (z, y, x) assumed by `smooth_clip_margin` where the finder sets no size limit.
DEFAULT_SOURCE_EXTENT = (64, 32, 32)

_SHAPES = {2: "2D images (y, x)", 3: "3D cubes (z, y, x)"}

#: The tiled runner (``astro_mlfinder.distributed.run``), registered by that package when it is imported
#: (core may not import the floors above it); ``finder(data, tiles=...)`` calls it.
_TILED_RUNNER = []


def register_tiled_runner(runner):
    """Register ``runner(finder, data, mask=, wcs=, progress=, tiles=, max_memory=, client=)`` for tiled calls."""
    _TILED_RUNNER[:] = [runner]
    return runner


class Finder(abc.ABC):
    """Base class of all finders: configuration in the constructor, data in the call.

    Subclasses set ``name`` and ``ndim`` (2, 3 or ``(2, 3)``), implement
    `segment` and define `margin`.

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

    def __call__(self, data, mask=None, wcs=None, progress=True, *, tiles=None, max_memory=None, client=None):
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
        tiles : int or tuple of int, optional
            Run tile by tile (`astro_mlfinder.distributed.run`): the number of
            tiles along each axis (z, y, x).
        max_memory : str or int, optional
            Run tile by tile with tiles sized for this memory budget
            (``"4GB"``, ``"256MB"`` or bytes).
        client : `distributed.Client` or str, optional
            Run the tiles on this dask.distributed cluster (or scheduler address).

        Returns
        -------
        catalog : `~astro_mlfinder.SourceCatalog`
        """
        if tiles is not None or max_memory is not None or client is not None:
            if self.untiled_reason:
                raise ValueError(self.untiled_reason)
            if not _TILED_RUNNER:
                raise RuntimeError("tiled runs need astro_mlfinder.distributed; import astro_mlfinder first")
            return _TILED_RUNNER[0](self, data, mask=mask, wcs=wcs, progress=progress, tiles=tiles,
                                    max_memory=max_memory, client=client)
        image = load_image(data, wcs=wcs)
        self.check_ndim(image)
        mask = self.check_mask(mask, image.shape)
        segmentation = self.segment(image, mask, progress)
        return self.measure(image, segmentation)

    #: Why this finder cannot run tile by tile (``tiles=``, ``max_memory=``, ``client=``), as the one-line
    #: error a tiled call raises; None when it can.
    untiled_reason = None

    # ------------------------------------------------------------ the seam
    @abc.abstractmethod
    def segment(self, image, mask, progress):
        """Search ``image`` and return its `~astro_mlfinder.core.segmentation.Segmentation`.

        Parameters
        ----------
        image : `~astro_mlfinder.core.inputs.ImageData`
            The data, already validated against `ndim`.
        mask : `~numpy.ndarray` of bool or None
            Excluded pixels (True), same shape as the data.
        progress : bool
            Show progress bars.
        """

    @property
    @abc.abstractmethod
    def margin(self):
        """Per-axis overlap (z, y, x), in pixels, that a tile needs so a source at its border is found whole.

        The largest smoothing kernel or receptive field plus the largest
        expected source. For 2D data the last two values apply.
        """

    def margin_for(self, ndim):
        """`margin` for ``ndim``-dimensional data (the last ``ndim`` values)."""
        margin = tuple(int(m) for m in self.margin)
        return margin[-ndim:]

    def measure(self, image, segmentation):
        """Build the `~astro_mlfinder.SourceCatalog` of ``segmentation`` on ``image``.

        The SoFiA columns are measured lazily by `astro_mlfinder.core.measure`
        on ``segmentation.image`` (when the finder supplied one) or ``image``;
        the finder's own columns, products and metadata are carried over and
        ``meta['finder']`` records the finder and its parameters.
        """
        if not isinstance(segmentation, Segmentation):
            raise TypeError(
                f"{type(self).__name__}.segment returned {type(segmentation).__name__}; it must return a Segmentation"
            )
        catalog = build_catalog(image, segmentation)
        catalog.meta.setdefault("finder", self.describe())
        return catalog

    # ----------------------------------------------------------- validation
    def accepted_ndim(self):
        """The accepted dimensionalities as a tuple."""
        return self.ndim if isinstance(self.ndim, tuple) else (self.ndim,)

    def check_ndim(self, image: ImageData):
        """Raise `ValueError` naming the accepted shapes if ``image`` has the wrong dimensionality."""
        accepted = self.accepted_ndim()
        if image.ndim not in accepted:
            shapes = " or ".join(_SHAPES[n] for n in accepted)
            raise ValueError(
                f"{type(self).__name__} accepts {shapes}; got {image.ndim}D data with shape {image.shape}"
            )

    @staticmethod
    def check_mask(mask, shape):
        """Return ``mask`` as a boolean array of ``shape`` (or None); raise on a wrong shape or a full mask."""
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.shape != tuple(shape):
            raise ValueError(f"mask shape {mask.shape} does not match the data shape {tuple(shape)}")
        mask = mask.astype(bool)
        if mask.all():
            raise ValueError("mask excludes every pixel")
        return mask

    # ----------------------------------------------------------- provenance
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


def build_catalog(image, segmentation):
    """The `~astro_mlfinder.SourceCatalog` of ``segmentation`` measured on ``image``.

    ``segmentation.image`` replaces ``image`` when the finder supplied one; the
    catalogue reads a lazy input into memory (after the search).
    """
    measured = segmentation.image if segmentation.image is not None else image
    return SourceCatalog(
        measured,
        segmentation.labels,
        columns=segmentation.columns,
        products=segmentation.products,
        meta=segmentation.meta,
        physical=segmentation.physical,
        name_prefix=segmentation.name_prefix,
        pixel_offset=segmentation.pixel_offset,
    )


def smooth_clip_margin(kernels_xy, kernels_z, *, radius_xy=1, radius_z=1, max_size_xy=0, max_size_z=0,
                       dilation_xy=0, dilation_z=0):
    """Per-axis (z, y, x) tile overlap of a smooth-and-clip finder.

    The support of the largest kernel (a Gaussian of FWHM ``k`` reaches
    ``1.5 k``, about 3.5 sigma; a boxcar of width ``w`` its full width), plus
    the linker's merging radius, plus the largest source: the linker's
    ``max_size`` where set, else `DEFAULT_SOURCE_EXTENT`, plus any mask
    dilation.
    """
    kxy = max((float(k) for k in kernels_xy), default=0.0)
    kz = max((int(k) for k in kernels_z), default=0)
    extent_z = int(max_size_z) if max_size_z else DEFAULT_SOURCE_EXTENT[0]
    extent_xy = int(max_size_xy) if max_size_xy else DEFAULT_SOURCE_EXTENT[1]
    margin_z = kz + int(radius_z) + extent_z + int(dilation_z)
    margin_xy = int(np.ceil(1.5 * kxy)) + int(radius_xy) + extent_xy + int(dilation_xy)
    return (margin_z, margin_xy, margin_xy)
