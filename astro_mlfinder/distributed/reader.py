"""Picklable, lazy access to the data of a tiled run.

A `TileReader` holds a path (re-opened memory-mapped in each worker process),
an in-memory array or a lazy array (dask; a zarr array or ``.zarr`` store,
read through dask), and reads only the part a tile asks for
(`astro_mlfinder.core.inputs.ImageData.read`).
"""

import os

import numpy as np

from ..core.inputs import ImageData, load_image

__all__ = ["TileReader"]


class TileReader:
    """Read tiles of ``data`` without loading the whole of it.

    Parameters
    ----------
    data : path, array-like, dask array or `~astro_mlfinder.core.inputs.ImageData`
        The data; a path is opened memory-mapped (FITS) where it is read.
    wcs : `~astropy.wcs.WCS`, optional
        Overrides the WCS of ``data``.
    """

    def __init__(self, data, wcs=None):
        self.path = None
        self.wcs_override = wcs
        if isinstance(data, str | os.PathLike) and os.fspath(data).rstrip("/").endswith(".zarr"):
            data = _open_zarr(os.fspath(data))
        if isinstance(data, str | os.PathLike):
            self.path = os.fspath(data)
            self._image = load_image(self.path, wcs=wcs)
        elif isinstance(data, ImageData):
            self._image = data
        else:
            if _is_sliceable_store(data):  # zarr (or h5py) array: lazy through dask, never read whole
                import dask.array as da

                data = da.from_array(data, chunks=getattr(data, "chunks", "auto"))
            self._image = load_image(data, wcs=wcs)

    def __getstate__(self):
        state = dict(self.__dict__)
        if self.path is not None:  # a worker re-opens the file (memory-mapped) instead of receiving the data
            state["_image"] = None
        return state

    @property
    def image(self):
        """The (lazy) `~astro_mlfinder.core.inputs.ImageData`."""
        if self._image is None:
            self._image = load_image(self.path, wcs=self.wcs_override)
        return self._image

    @property
    def shape(self):
        """Shape of the data."""
        return self.image.shape

    @property
    def ndim(self):
        """Number of axes."""
        return self.image.ndim

    def read(self, slices):
        """The part ``slices`` of the data as a new native float32 array (safe to modify)."""
        block = self.image.read(tuple(slices))
        if block.base is not None or block is self.image.data:  # a view of in-memory data: copy before changing
            block = block.copy()
        return block

    def tile_image(self, block, slices):
        """``block`` as an `~astro_mlfinder.core.inputs.ImageData` with the WCS of the tile at ``slices``."""
        image = self.image
        wcs = image.wcs.slice(tuple(slices)) if image.wcs is not None else None
        return ImageData(block, wcs, None, image.unit, image.beam, image.filename)


def _is_sliceable_store(data):
    """A chunked on-disk array (zarr, h5py): shape, dtype and slicing, neither numpy nor dask."""
    return (not isinstance(data, np.ndarray) and hasattr(data, "shape") and hasattr(data, "dtype")
            and hasattr(data, "chunks") and hasattr(data, "__getitem__")
            and not hasattr(data, "__dask_graph__") and not callable(getattr(data, "compute", None)))


def _open_zarr(path):
    try:
        import zarr
    except ImportError:  # pragma: no cover - zarr is in the [dask] extra
        raise ImportError(f"reading {path} needs zarr: pip install 'astro_mlfinder[dask]'") from None
    try:
        return zarr.open_array(path, mode="r")
    except Exception as exc:  # noqa: BLE001 - any zarr failure is a bad input
        raise ValueError(f"{path} is not a readable zarr array ({exc})") from None
