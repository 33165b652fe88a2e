"""SoFiA-2's output files (VOTable catalogue and label mask) read back as a `Segmentation` or `SourceCatalog`."""

import os

import numpy as np
from astropy import units as u
from astropy.io import fits

from ..core.finder import build_catalog
from ..core.segmentation import Segmentation
from ..io.sofia_par import SofiaParameters
from ..io.sofia_reader import read_sofia_xml

__all__ = ["sofia_outputs_to_catalog", "sofia_outputs_to_segmentation"]


def sofia_outputs_to_segmentation(
    image,
    cat_xml,
    mask,
    *,
    params=None,
    raw_mask=None,
    filtered=None,
    noise=None,
    region=None,
    meta=None,
):
    """Build a `~astro_mlfinder.core.segmentation.Segmentation` from SoFiA-2's VOTable catalogue and label mask.

    Parameters
    ----------
    image : `~astro_mlfinder.core.inputs.ImageData`
        The searched data.
    cat_xml : str, path-like or None
        SoFiA's ``_cat.xml`` (None for an empty result).
    mask : str, path-like, `~numpy.ndarray` or None
        SoFiA's ``_mask.fits`` (int32 ids) or the array itself (None: empty).
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`, optional
        The parameters of the run (``parameter.physical``/``prefix``).
    raw_mask, filtered, noise : path-like or array, optional
        Further SoFiA outputs, stored in ``catalog.products``.
    region : tuple of int, optional
        ``input.region`` of the run; the outputs are embedded at its origin
        and peak positions shifted, so that every position refers to
        ``image``.
    meta : dict, optional
        Extra provenance for ``catalog.meta``.

    Returns
    -------
    segmentation : `~astro_mlfinder.core.segmentation.Segmentation`
        All SoFiA catalogue columns (except ``id``, which comes from the
        mask) are finder columns, so the catalogue's values are SoFiA's.
    """
    params = SofiaParameters() if params is None else params

    def read(obj, dtype):
        if obj is None:
            return None
        if isinstance(obj, str | os.PathLike):
            with fits.open(obj, memmap=False) as hdul:
                array = hdul[0].data
        else:
            array = obj
        return np.array(array, dtype=dtype)

    def embed(array, fill):
        if array is None:
            return None
        while array.ndim > image.ndim and array.shape[0] == 1:
            array = array[0]
        if array.shape == image.shape:
            return array
        if region is None or array.ndim != 3:
            raise ValueError(
                f"SoFiA output of shape {array.shape} does not match the data shape {image.shape}"
            )
        full = np.full(image.shape, fill, dtype=array.dtype)
        x0, y0, z0 = region[0], region[2], region[4]
        full[z0 : z0 + array.shape[0], y0 : y0 + array.shape[1], x0 : x0 + array.shape[2]] = array
        return full

    segment = embed(read(mask, np.int32), 0)
    if segment is None:
        segment = np.zeros(image.shape, dtype=np.int32)
    columns = {}
    catalog_params = {}
    if cat_xml is not None and os.path.exists(cat_xml):
        table = read_sofia_xml(cat_xml)
        catalog_params = table.meta.get("params", {})
        order = np.argsort(np.asarray(table["id"]))
        table = table[order]
        ids = np.unique(segment[segment > 0])
        if not np.array_equal(np.asarray(table["id"]), ids):
            raise RuntimeError(
                f"SoFiA catalogue ids {list(np.asarray(table['id']))} do not match the "
                f"labels in the mask {list(ids)}"
            )
        offset = bool(params["parameter.offset"])
        for name in table.colnames:
            if name == "id":
                continue
            col = table[name]
            shifted = name in ("x_peak", "y_peak", "z_peak") or (
                not offset
                and name in ("x", "y", "z", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
            )
            if region is not None and shifted and isinstance(col, u.Quantity):
                origin = region[{"x": 0, "y": 2, "z": 4}[name[0]]]
                col = col + u.Quantity(origin, col.unit, dtype=col.dtype)
            columns[name] = col
    elif np.any(segment):
        raise RuntimeError("SoFiA wrote a mask with sources but no catalogue")
    else:  # no sources (exit code 8): SoFiA's columns, empty, so the schema is that of a full result
        columns = _empty_sofia_columns(image, segment, params)
    products = {}
    for key, obj, dtype, fill in (
        ("mask_raw", raw_mask, np.uint8, 0),
        ("filtered", filtered, np.float32, np.nan),
        ("noise", noise, np.float32, np.nan),
    ):
        array = read(obj, dtype)
        if array is not None:
            products[key] = embed(array, fill) if array.ndim >= image.ndim else array
    meta = dict(meta or {})
    meta["sofia_params"] = params
    if catalog_params:
        meta["sofia_catalog_params"] = catalog_params
    return Segmentation(
        segment,
        columns=columns,
        products=products,
        meta=meta,
        physical=bool(params["parameter.physical"]),
        name_prefix=params["parameter.prefix"] or "SoFiA",
    )


def _empty_sofia_columns(image, segment, params):
    """Zero-length columns named, typed and with the units of SoFiA's catalogue of ``image`` (``segment``: empty)."""
    empty = Segmentation(segment, physical=bool(params["parameter.physical"]),
                         name_prefix=params["parameter.prefix"] or "SoFiA")
    table = build_catalog(image, empty).to_table(columns="sofia")
    return {name: table[name] for name in table.colnames if name != "id"}


def sofia_outputs_to_catalog(image, cat_xml, mask, **kwargs):
    """`SourceCatalog` of SoFiA-2's outputs: `sofia_outputs_to_segmentation` measured on ``image``.

    Takes the same arguments as `sofia_outputs_to_segmentation`.
    """
    return build_catalog(image, sofia_outputs_to_segmentation(image, cat_xml, mask, **kwargs))
