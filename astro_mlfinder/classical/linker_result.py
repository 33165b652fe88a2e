"""The linker's result: the sources' voxels, their SoFiA statistics and the label cube made from them.

`~astro_mlfinder.classical.linker.link` returns a `LinkerResult`: per-source
bounding boxes and flux statistics, and either a dense int32 label cube or,
with ``dense=False``, only the labelled voxels (indices and ids), from which
`LinkerResult.label_cube` writes the cube of the sources kept by the
reliability filter. Label cubes are made with `sparse_zeros`, which takes
memory only for the pages a source's voxels touch.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ['LinkerResult', 'sparse_zeros']


@dataclass
class LinkerResult:
    """
    Output of :func:`link`.

    All per-source arrays are indexed by ``id - 1``.

    Attributes
    ----------
    labels : `~numpy.ndarray` of int32 or None
        Label array with the same shape as the input mask; 0 is
        background and sources are numbered 1..N in SoFiA order.  None
        when linked with ``dense=False`` (see ``pixels``).
    x_min, x_max, y_min, y_max, z_min, z_max : `~numpy.ndarray` of int64
        Inclusive bounding boxes (0-based pixels).  For 2D inputs the z
        bounds are 0.
    n_pix : `~numpy.ndarray` of int64
        Number of pixels per source.
    f_min, f_max, f_sum : `~numpy.ndarray` of float64
        Minimum, maximum and sum of the pixel values in units of
        ``global_rms``.
    fill : `~numpy.ndarray` of float64
        ``n_pix`` divided by the bounding-box volume.
    mean, std, skew, kurt : `~numpy.ndarray` of float64
        Mean, sample standard deviation (``n - 1``), skewness and excess
        kurtosis of the pixel values in units of ``global_rms`` (SoFiA
        catalogue columns ``mean``, ``std``, ``skew``, ``kurt``).
    flag : `~numpy.ndarray` of int64
        SoFiA flags: 1 = spatial edge, 2 = spectral edge, 4 = blanked
        pixel adjacent.
    global_rms : float
        The noise level the fluxes were divided by.
    m2 : `~numpy.ndarray` of float64
        Sum of squared deviations from the mean (used internally for
        ``std``/``skew``/``kurt`` and kept for reliability parameters).
    pixels : tuple or None
        ``(shape, index, ids)`` of a result linked with ``dense=False``:
        the labelled voxels' ascending linear indices (int64) and their ids
        (int32); ``labels`` is then None and `label_cube` makes the cube.
    """

    labels: np.ndarray | None
    x_min: np.ndarray
    x_max: np.ndarray
    y_min: np.ndarray
    y_max: np.ndarray
    z_min: np.ndarray
    z_max: np.ndarray
    n_pix: np.ndarray
    f_min: np.ndarray
    f_max: np.ndarray
    f_sum: np.ndarray
    fill: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    skew: np.ndarray
    kurt: np.ndarray
    flag: np.ndarray
    global_rms: float = 1.0
    m2: np.ndarray = field(default=None, repr=False)
    pixels: tuple | None = field(default=None, repr=False)

    @property
    def n_sources(self):
        """Number of sources."""
        return int(self.n_pix.size)

    def __len__(self):
        return self.n_sources

    @property
    def ndim(self):
        """Dimensionality of the label array (2 or 3)."""
        return self.labels.ndim if self.labels is not None else len(self.pixels[0])

    def label_cube(self, keep=None):
        """
        The int32 label array, with only the ``keep`` sources renumbered 1..M.

        For a result linked with ``dense=False`` the array is made here and
        only the labelled voxels are written into it (``np.zeros``: pages
        that no kept source touches cost no memory); otherwise ``labels`` is
        relabelled in place.

        Parameters
        ----------
        keep : array_like of bool, optional
            Per-source selection indexed by ``id - 1``; all sources if None.

        Returns
        -------
        labels : `~numpy.ndarray` of int32
        """
        from .reliability import relabel

        if self.pixels is None:
            return self.labels if keep is None else relabel(self.labels, keep, inplace=True)
        shape, index, ids = self.pixels
        labels = sparse_zeros(shape, np.int32)
        if keep is None:
            labels.ravel()[index] = ids
            return labels
        keep = np.asarray(keep, dtype=bool).ravel()
        if keep.shape != (self.n_sources,):
            raise ValueError(f'keep must have one entry per source ({self.n_sources}), got {keep.shape}')
        lut = np.zeros(keep.size + 1, dtype=np.int32)
        lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        new = lut[ids]
        sel = np.flatnonzero(new)
        labels.ravel()[index[sel]] = new[sel]
        return labels

    def columns(self):
        """
        Per-source catalogue columns produced by the linker.

        Returns
        -------
        columns : dict of str to `~numpy.ndarray`
            ``id``, bounding box, ``n_pix``, ``f_min``, ``f_max``,
            ``f_sum``, ``flag``, ``fill``, ``mean``, ``std``, ``skew`` and
            ``kurt`` (fluxes in units of ``global_rms``).
        """
        names = ('x_min', 'x_max', 'y_min', 'y_max', 'z_min', 'z_max',
                 'n_pix', 'f_min', 'f_max', 'f_sum', 'flag', 'fill',
                 'mean', 'std', 'skew', 'kurt')
        cols = {'id': np.arange(1, self.n_sources + 1, dtype=np.int64)}
        for name in names:
            cols[name] = getattr(self, name)
        return cols

    def subset(self, keep, labels=None):
        """
        Return the statistics of a subset of sources.

        Parameters
        ----------
        keep : array_like of bool
            Per-source selection (indexed by ``id - 1``).
        labels : `~numpy.ndarray`, optional
            Label array to store in the result (e.g. the output of
            `~astro_mlfinder.classical.reliability.relabel`).  Defaults to
            relabelling ``self.labels``.

        Returns
        -------
        result : `LinkerResult`
            A new result with the selected sources renumbered 1..N in the
            same order.
        """
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_sources,):
            raise ValueError(f'keep must have one entry per source '
                             f'({self.n_sources}), got shape {keep.shape}')
        if labels is None:
            if self.labels is None:
                labels = self.label_cube(keep)
            else:
                from .reliability import relabel
                labels = relabel(self.labels, keep)
        kwargs = {}
        for name in ('x_min', 'x_max', 'y_min', 'y_max', 'z_min', 'z_max',
                     'n_pix', 'f_min', 'f_max', 'f_sum', 'fill', 'mean',
                     'std', 'skew', 'kurt', 'flag', 'm2'):
            value = getattr(self, name)
            kwargs[name] = None if value is None else value[keep]
        return LinkerResult(labels=labels, global_rms=self.global_rms,
                            **kwargs)


def sparse_zeros(shape, dtype=np.int32):
    """
    A zero-filled array whose memory is taken page by page as it is written.

    ``np.zeros`` gets lazily zeroed memory too, but numpy asks the kernel
    for transparent huge pages (2 MiB) on large arrays, so that the few
    voxels of a handful of sources spread over all planes make the whole
    label cube resident. An anonymous memory map without that advice is
    taken 4 KiB at a time.

    Parameters
    ----------
    shape : tuple of int
    dtype : data-type, optional

    Returns
    -------
    array : `~numpy.ndarray`
    """
    import mmap

    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < (4 << 20) or not hasattr(mmap, 'MAP_PRIVATE'):  # small, or Windows
        return np.zeros(shape, dtype=dtype)
    # private and anonymous: reads see the shared zero page, a write takes a page (a shared map would
    # take pages on reads too)
    buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        buffer.madvise(mmap.MADV_NOHUGEPAGE)  # also where huge pages are the system's default
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)
