"""`Segmentation`: what a finder hands to the measurement layer.

A finder *segments*; core *measures*. ``Finder.segment`` returns a
`Segmentation` (a label array plus what only that finder knows) and
``Finder.__call__`` turns it into the one `~astro_mlfinder.SourceCatalog`
type, whose SoFiA columns are measured by `astro_mlfinder.core.measure`.
"""

from dataclasses import dataclass, field

import numpy as np

from .inputs import ImageData

__all__ = ["Segmentation"]


@dataclass
class Segmentation:
    """Labels and finder-specific extras of one search.

    Attributes
    ----------
    labels : `~numpy.ndarray` of int
        Label array of the searched data's shape (2D or 3D): 0 = background,
        sources ``1..N`` (the catalogue ``id``).
    columns : dict
        Per-source columns only this finder knows, each of length N in
        increasing label order: a model ``score``, DeepFocus ``fwhm_x`` ...,
        the linker statistics and reliability ``rel`` of the classical
        finder. Values may be `~astropy.units.Quantity`. They take
        precedence over measured columns of the same name.
    products : dict
        Arrays the finder made on the way (``mask_raw``, ``filtered``,
        ``noise``, ``probability``, PAIS ``attribution`` ...), kept in
        ``cat.products`` and written by ``cat.write_products``.
    meta : dict
        Provenance and diagnostics (global rms, timings, model and weights).
    image : `~astro_mlfinder.core.inputs.ImageData` or None
        The data the sources are measured on when the finder changed them
        (a sub-cube cut with ``region``, a continuum-subtracted or
        noise-normalised cube, as SoFiA-2 measures); ``None`` means the input.
    physical : bool
        Report fluxes and widths in physical units (SoFiA-2's
        ``parameter.physical``).
    name_prefix : str
        Prefix of the source names (``parameter.prefix``).
    pixel_offset : tuple of int or None
        ``(x0, y0, z0)`` added to the reported positions (``parameter.offset``).
    """

    labels: np.ndarray
    columns: dict = field(default_factory=dict)
    products: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    image: ImageData | None = None
    physical: bool = False
    name_prefix: str = "SoFiA"
    pixel_offset: tuple | None = None

    def __post_init__(self):
        labels = np.asarray(self.labels)
        if labels.dtype.kind not in "iu":
            raise ValueError(f"Segmentation labels must be an integer array, got dtype {labels.dtype}")
        if labels.ndim not in (2, 3):
            raise ValueError(f"Segmentation labels must be 2D or 3D, got shape {labels.shape}")
        self.labels = labels
        self.columns = dict(self.columns)
        self.products = dict(self.products)
        self.meta = dict(self.meta)

    @property
    def ndim(self):
        """Dimensionality of the label array."""
        return self.labels.ndim

    @property
    def shape(self):
        """Shape of the label array."""
        return self.labels.shape
