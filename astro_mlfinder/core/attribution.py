"""Partial flux attribution on a `~astro_mlfinder.SourceCatalog`: ``cat.attribution`` and ``cat.deblended_images``.

A deblender that lets a pixel belong partly to several sources (PAIS,
``NeuralFinder("pais")``) hands the catalogue, besides the usual label image
(each pixel to its largest share), the **attribution** array
``products['attribution']`` of shape ``(n_src, *image.shape)``: the fraction
of every pixel's flux due to each source, in catalogue (``id``) order,
non-negative and summing to at most 1 per pixel. From it:

* ``cat.attribution`` -- the fractions of the sources of this (possibly
  sliced) catalogue: ``(n, y, x)``, or ``(y, x)`` for one source ``cat[i]``;
* ``cat.deblended_images`` -- ``attribution * data`` (blank pixels 0): each
  source's own image; over all sources they add up to the data wherever the
  fractions sum to 1;
* ``cat.flux`` -- the deblended flux of each source, the sum of its
  deblended image, in the data unit.

All three are None for a catalogue whose finder attributes no flux (every other
finder: its sources are the disjoint segments of ``cat.segment``).
`check_attribution` validates the array when the catalogue is built.
"""

import numpy as np

__all__ = ["AttributionMixin", "check_attribution", "ATTRIBUTION_TOLERANCE"]

#: Rounding allowed above 1 in the sum of a pixel's fractions (float32 arithmetic).
ATTRIBUTION_TOLERANCE = 1e-4


def check_attribution(products, shape, n_sources):
    """Raise `ValueError` unless ``products['attribution']`` (when present) is a valid attribution array.

    Parameters
    ----------
    products : dict
        The finder's products.
    shape : tuple of int
        Shape of the searched data.
    n_sources : int
        Number of sources of the catalogue.
    """
    att = products.get("attribution")
    if att is None:
        return
    att = np.asarray(att)
    want = (int(n_sources), *tuple(shape))
    if att.shape != want:
        raise ValueError(f"products['attribution'] has shape {att.shape}; it must be (n_src, *data.shape) = {want}")
    if att.size and (np.nanmin(att) < 0 or np.nanmax(att.sum(axis=0)) > 1 + ATTRIBUTION_TOLERANCE):
        raise ValueError("products['attribution'] must hold fractions >= 0 summing to <= 1 in every pixel")


class AttributionMixin:
    """``attribution``, ``deblended_images`` and ``flux`` of `~astro_mlfinder.SourceCatalog` (module docstring)."""

    @property
    def attribution(self):
        """Fraction of each pixel's flux due to each source: ``(n, y, x)`` (``(y, x)`` for ``cat[i]``), or None.

        Fractions are >= 0 and sum to at most 1 over all the sources of the
        search in every pixel. None when the finder attributes no flux.
        """
        att = self.products.get("attribution")
        if att is None:
            return None
        att = np.asarray(att)
        return att if self._index is None else att[self._index]

    @property
    def flux(self):
        """Deblended flux of each source, ``sum(attribution * data)``, in the data unit, or None.

        The finder's ``flux`` column when it has one (the same sum), else
        computed from `attribution`; None when the finder attributes no flux.
        """
        if "flux" in self._extra:
            return self._column("flux")
        images = self.deblended_images
        if images is None:
            return None
        return images.sum(axis=(-2, -1)) * self.image.unit

    @property
    def deblended_images(self):
        """Each source's deblended image ``attribution * data`` (blank pixels 0), in the data unit, or None.

        ``(n, y, x)`` (``(y, x)`` for ``cat[i]``) float `~numpy.ndarray`; the
        images of all sources add up to the data wherever the attribution
        sums to 1 (inside the deblender's footprint). The unit is ``cat.image.unit``.
        """
        att = self.attribution
        if att is None:
            return None
        data = np.asarray(self.image.data, dtype=np.float64)
        return att * np.where(np.isfinite(data), data, 0.0)
