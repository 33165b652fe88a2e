"""
A binary mask stored with one bit per pixel.

The smooth-and-clip finder's raw detection mask is needed after linking only
to write SoFiA-2's ``_mask-raw.fits``.  Kept as a uint8 array it costs a
quarter of a float32 cube for the whole run; packed along x it costs 1/32.
`PackedMask` holds the packed bits and unpacks on demand: ``np.asarray``
(and `PackedMask.to_array`) give the same uint8 0/1 array as before, and
`PackedMask.slab` unpacks a range of planes only.
"""

import numpy as np

__all__ = ['PackedMask']

# Planes unpacked or packed at a time by the slab-wise helpers (voxels)
_CHUNK_VOXELS = 1 << 22


class PackedMask:
    """
    Bit-packed 0/1 mask (one bit per pixel, packed along the last axis).

    Create it with `PackedMask.from_array`.  Numpy functions receive the
    unpacked uint8 0/1 array through ``__array__``, so ``np.asarray(mask)``,
    ``np.count_nonzero(mask)`` or ``mask.astype(bool)`` behave as for the
    plain array.  Comparison operators are not overloaded: compare
    ``np.asarray(mask)`` instead.

    Parameters
    ----------
    bits : `~numpy.ndarray` of uint8
        ``np.packbits(mask != 0, axis=-1, bitorder='little')``.
    shape : tuple of int
        Shape of the unpacked mask; ``bits.shape`` must equal ``shape[:-1]
        + (ceil(shape[-1] / 8),)``.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_mlfinder.classical.packed_mask import PackedMask
    >>> m = PackedMask.from_array(np.eye(3, dtype=np.uint8))
    >>> m.shape, m.count_nonzero()
    ((3, 3), 3)
    >>> np.asarray(m)
    array([[1, 0, 0],
           [0, 1, 0],
           [0, 0, 1]], dtype=uint8)
    """

    def __init__(self, bits, shape):
        bits = np.asarray(bits)
        shape = tuple(int(n) for n in shape)
        if bits.dtype != np.uint8:
            raise ValueError(f'bits must be uint8, got {bits.dtype}')
        if len(shape) == 0:
            raise ValueError('a PackedMask needs at least one dimension')
        if any(n < 0 for n in shape):
            raise ValueError(f'invalid mask shape {shape}')
        expected = shape[:-1] + ((shape[-1] + 7) // 8,)
        if bits.shape != expected:
            raise ValueError(f'bits have shape {bits.shape}, expected {expected} '
                             f'for a mask of shape {shape}')
        self._bits = np.ascontiguousarray(bits)
        self._shape = shape

    @classmethod
    def from_array(cls, mask):
        """
        Pack a mask (non-zero = set).

        The array is packed a block of planes at a time, so no boolean
        temporary of the full size is made.

        Parameters
        ----------
        mask : array_like
            Mask of any shape with at least one dimension.

        Returns
        -------
        packed : `PackedMask`
        """
        if isinstance(mask, PackedMask):
            return cls(mask._bits.copy(), mask.shape)
        mask = np.asarray(mask)
        if mask.ndim == 0:
            raise ValueError('cannot pack a 0-dimensional mask')
        shape = mask.shape
        bits = np.empty(shape[:-1] + ((shape[-1] + 7) // 8,), dtype=np.uint8)
        # 1D masks are packed along their only axis: in one go
        step = _planes_per_chunk(shape) if mask.ndim > 1 else shape[0]
        for start in range(0, shape[0], max(step, 1)):
            block = mask[start:start + step]
            if block.dtype not in (np.bool_, np.uint8):
                block = block != 0  # packbits treats any non-zero integer as 1
            bits[start:start + step] = np.packbits(block, axis=-1,
                                                   bitorder='little')
        return cls(bits, shape)

    # ------------------------------------------------------------ attributes
    @property
    def bits(self):
        """The packed bits (uint8, read-only view)."""
        view = self._bits.view()
        view.flags.writeable = False
        return view

    @property
    def shape(self):
        """Shape of the unpacked mask."""
        return self._shape

    @property
    def ndim(self):
        """Number of dimensions of the unpacked mask."""
        return len(self._shape)

    @property
    def size(self):
        """Number of pixels of the unpacked mask."""
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def dtype(self):
        """Data type of the unpacked mask (always uint8)."""
        return np.dtype(np.uint8)

    @property
    def nbytes(self):
        """Memory used by the packed bits in bytes."""
        return self._bits.nbytes

    def __len__(self):
        return self._shape[0]

    def __repr__(self):
        return (f'<PackedMask shape={self._shape} set={self.count_nonzero()} '
                f'({self.nbytes} bytes)>')

    # ------------------------------------------------------------ unpacking
    def to_array(self):
        """
        The unpacked mask.

        Returns
        -------
        mask : `~numpy.ndarray` of uint8
            0/1 array of shape `shape`.
        """
        return np.unpackbits(self._bits, axis=-1, count=self._shape[-1],
                             bitorder='little')

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError('a PackedMask cannot be viewed as an array without '
                             'unpacking (copy=False is impossible)')
        arr = self.to_array()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def astype(self, dtype, copy=True):
        """
        The unpacked mask converted to ``dtype`` (like `numpy.ndarray.astype`).

        Parameters
        ----------
        dtype : data-type
            Target type, e.g. `bool` or `numpy.int32`.
        copy : bool, optional
            Accepted for compatibility; a new array is always returned.

        Returns
        -------
        mask : `~numpy.ndarray`
        """
        return self.to_array().astype(dtype, copy=False)

    def slab(self, start, stop):
        """
        Unpack planes ``start:stop`` along the first axis.

        Parameters
        ----------
        start, stop : int
            Plane range (Python slice semantics, no step).

        Returns
        -------
        mask : `~numpy.ndarray` of uint8
            0/1 array of shape ``(n,) + shape[1:]``.
        """
        if self.ndim < 2:
            return self.to_array()[start:stop]
        return np.unpackbits(self._bits[start:stop], axis=-1,
                             count=self._shape[-1], bitorder='little')

    def __getitem__(self, key):
        """Index the unpacked mask (only the planes selected on axis 0 are unpacked)."""
        if self.ndim < 2:
            return self.to_array()[key]
        if not isinstance(key, tuple):
            key = (key,)
        first, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(first, (int, np.integer)):
            plane = np.unpackbits(self._bits[first], axis=-1,
                                  count=self._shape[-1], bitorder='little')
            return plane[rest] if rest else plane
        if isinstance(first, slice):
            planes = np.unpackbits(self._bits[first], axis=-1,
                                   count=self._shape[-1], bitorder='little')
            return planes[(slice(None),) + rest] if rest else planes
        return self.to_array()[key]

    # ------------------------------------------------------------ reductions
    def count_nonzero(self):
        """
        Number of set pixels (counted on the packed bits).

        Returns
        -------
        n : int
        """
        nbytes = self._bits.shape[-1]
        if nbytes == 0:
            return 0
        # Padding bits beyond shape[-1] are always 0 (packbits pads with 0).
        table = _POPCOUNT
        total = 0
        flat = self._bits.reshape(-1, nbytes)
        step = max(1, _CHUNK_VOXELS // max(nbytes * 8, 1))
        for start in range(0, flat.shape[0], step):
            total += int(table[flat[start:start + step]].sum(dtype=np.int64))
        return total

    def sum(self, axis=None, dtype=None, out=None, **kwargs):
        """Sum of the unpacked mask (the number of set pixels when ``axis`` is None)."""
        if axis is None and out is None and not kwargs:
            total = self.count_nonzero()
            return np.asarray(total, dtype=dtype or np.uint64)[()]
        return self.to_array().sum(axis=axis, dtype=dtype, out=out, **kwargs)

    def any(self):
        """True if at least one pixel is set."""
        return bool(self._bits.any())


_POPCOUNT = np.array([bin(i).count('1') for i in range(256)], dtype=np.uint8)


def _planes_per_chunk(shape):
    plane = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    return max(1, _CHUNK_VOXELS // max(plane, 1))
