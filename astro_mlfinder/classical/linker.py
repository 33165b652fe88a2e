"""
SoFiA-2 compatible linker: merge detected pixels into labelled sources.

The linker turns a binary detection mask (e.g. the output of the
smooth-and-clip finder) into an integer label array and measures a few
basic statistics of every object, exactly as SoFiA-2 (2.5.1) does in
``DataCube_run_linker``:

* Two detected pixels are merged when their offset ``(dx, dy, dz)`` lies
  inside the ellipsoid ``dx²/rx² + dy²/ry² + dz²/rz² <= 1`` (integer
  arithmetic, within the box of the radii).  The default radii of 1 give
  6-connectivity (face neighbours).  A radius of 0 makes the ellipsoid
  test degenerate: the whole box of the remaining radii then links, e.g.
  ``radius_z=0`` gives 8-connectivity in each channel and no spectral
  merging.
* Non-finite pixels are never part of a source; a non-finite pixel inside
  the merging neighbourhood of a source pixel sets flag bit 4.  With
  ``positivity=True`` negative pixels are dropped before linking.
* Objects failing the size, pixel-count, filling-factor or (optionally)
  negative-flux criteria are discarded; the survivors are numbered
  1..N in SoFiA order, i.e. sorted by their highest linear (z, y, x)
  index, descending (SoFiA scans the cube backwards).
* Flux statistics are in units of ``global_rms``.

Memory and time: the mask (a plain array or a bit-packed
`~astro_mlfinder.classical.packed_mask.PackedMask`) is swept once by a numba
kernel (`astro_mlfinder.classical._link_kernels`) that reads the data only
at and around the detected voxels and joins them with a union-find, for any
merging radii.  Besides the int32 output labels only per-detected-voxel
arrays and a ring of ``radius_z + 1`` planes are made. A small cube (see
`astro_mlfinder.core._small`) is linked by the numpy functions of
`astro_mlfinder.classical._link_numpy` instead, with the same results and no
numba import.
"""

import numpy as np

from ..core import _small
from .linker_result import LinkerResult, sparse_zeros
from .packed_mask import PackedMask

__all__ = ['LinkerResult', 'link', 'linker_structure', 'sparse_zeros']


def linker_structure(radius_xy=1, radius_z=1, ndim=3):
    """
    SoFiA-2 merging neighbourhood as a boolean structuring element.

    An offset ``(dz, dy, dx)`` inside the box of the radii belongs to the
    neighbourhood if ``dx² ry² rz² + dy² rx² rz² + dz² rx² ry² <=
    rx² ry² rz²`` (integer arithmetic, as in SoFiA-2).  A zero radius
    therefore switches the test off for the other axes.

    Parameters
    ----------
    radius_xy : int, optional
        Merging radius in x and y (pixels).
    radius_z : int, optional
        Merging radius in z (channels); ignored for ``ndim=2``.
    ndim : {2, 3}, optional
        Dimensionality of the structure.

    Returns
    -------
    structure : `~numpy.ndarray` of bool
        Array of shape ``(2 rz + 1, 2 rxy + 1, 2 rxy + 1)`` (3D) or
        ``(2 rxy + 1, 2 rxy + 1)`` (2D), centred on the origin.
    """
    rxy = _check_int(radius_xy, 'radius_xy')
    rz = _check_int(radius_z, 'radius_z') if ndim == 3 else 0
    if ndim not in (2, 3):
        raise ValueError(f'ndim must be 2 or 3, got {ndim}')
    rx2 = ry2 = rxy * rxy
    rz2 = rz * rz if ndim == 3 else 1
    dz, dy, dx = np.ogrid[-rz:rz + 1, -rxy:rxy + 1, -rxy:rxy + 1]
    if ndim == 3:
        dist = dx * dx * ry2 * rz2 + dy * dy * rx2 * rz2 + dz * dz * rx2 * ry2
        struct = dist <= rx2 * ry2 * rz2
    else:
        dist = dx * dx * ry2 + dy * dy * rx2
        struct = (dist <= rx2 * ry2)[0]
    return np.ascontiguousarray(struct)


def _check_int(value, name, minimum=0):
    if isinstance(value, (bool, np.bool_)) or int(value) != value:
        raise ValueError(f'{name} must be an integer, got {value!r}')
    value = int(value)
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    return value


def _neighbour_offsets(structure):
    """(causal, around): the (dz, dy, dx) offsets of ``structure`` that precede its centre in raster order,
    and all but the centre (int64 arrays of shape (k, 3))."""
    offsets = (np.argwhere(structure) - np.array(structure.shape) // 2).astype(np.int64)
    dz, dy, dx = offsets.T
    before = (dz < 0) | ((dz == 0) & ((dy < 0) | ((dy == 0) & (dx < 0))))
    centre = (dz == 0) & (dy == 0) & (dx == 0)
    return np.ascontiguousarray(offsets[before]), np.ascontiguousarray(offsets[~centre])


def _scan(mask, data3, structure, positivity):
    """
    The linkable voxels of ``mask`` and their components (`_link_kernels.scan_link`).

    A voxel is linkable if it is set in ``mask``, finite in ``data3`` and,
    with ``positivity``, not negative; components are joined through
    ``structure`` (any merging ellipsoid). A
    `~astro_mlfinder.classical.packed_mask.PackedMask` is read as packed bits;
    a plain mask as one byte per voxel (a copy only when it is neither bool
    nor uint8).

    Returns
    -------
    nz_idx : ndarray of int64
        Ascending flat indices of the linkable voxels.
    values : ndarray
        ``data3`` at those voxels.
    comp : ndarray of int64
        0-based component per linkable voxel.
    n_comp : int
        Number of components.
    blank : ndarray of bool
        Whether a non-finite voxel of ``data3`` lies inside each voxel's
        merging neighbourhood (SoFiA's flag 4).
    """
    from ..core import _jit
    from . import _link_kernels

    shape3 = data3.shape
    if isinstance(mask, PackedMask):
        bits = mask.bits.reshape(shape3[:2] + (mask.bits.shape[-1],))
        packed = True
    else:
        bits = np.asarray(mask).reshape(shape3)
        if bits.dtype == bool:
            bits = bits.view(np.uint8)
        elif bits.dtype != np.uint8:
            bits = (bits != 0).view(np.uint8)
        packed = False
    causal, around = _neighbour_offsets(structure)
    _jit.announce_compilation((_link_kernels.count_set, _link_kernels.scan_link, _link_kernels.component_stats,
                               _link_kernels.component_moments))
    n_max = _link_kernels.count_set(bits, packed)
    if not data3.dtype.isnative:  # numba reads native byte order only
        data3 = data3.astype(data3.dtype.newbyteorder("="))
    return _link_kernels.scan_link(bits, packed, data3, causal, around, bool(positivity), n_max)


def link(mask, data, *, radius_xy=1, radius_z=1, min_size_xy=5, min_size_z=5,
         max_size_xy=0, max_size_z=0, min_pixels=0, max_pixels=0,
         min_fill=0.0, max_fill=0.0, positivity=False, remove_negative=True,
         global_rms=1.0, dense=True):
    """
    Link detected pixels into sources (SoFiA-2 linker).

    Parameters
    ----------
    mask : `~numpy.ndarray` or `~astro_mlfinder.classical.packed_mask.PackedMask`
        Detection mask, (z, y, x) or (y, x); non-zero means detected.  A
        `~astro_mlfinder.classical.packed_mask.PackedMask` is unpacked one
        slab of planes at a time.
    data : `~numpy.ndarray`
        Data with the same shape as ``mask`` (NaN = blank).
    radius_xy, radius_z : int, optional
        Merging radii (ellipsoid semi-axes) in pixels / channels.
        ``radius_z`` is ignored for 2D inputs.
    min_size_xy, min_size_z : int, optional
        Minimum bounding-box extent in x and y / in z.
    max_size_xy, max_size_z : int, optional
        Maximum bounding-box extent (0 = no limit).
    min_pixels, max_pixels : int, optional
        Minimum / maximum number of pixels (``max_pixels`` 0 = no limit).
    min_fill, max_fill : float, optional
        Minimum / maximum filling factor of the bounding box (0 = off).
    positivity : bool, optional
        Drop negative pixels before linking (SoFiA ``linker.positivity``).
    remove_negative : bool, optional
        Discard sources with negative summed flux.  SoFiA does this when
        reliability is off and ``linker.keepNegative`` is false; pass
        `False` when the reliability filter follows.
    global_rms : float, optional
        Noise level by which all fluxes are divided.
    dense : bool, optional
        Make the label array. `False` keeps only the labelled voxels'
        indices and ids (``LinkerResult.pixels``); `LinkerResult.label_cube`
        then makes the array, e.g. for the sources that pass the
        reliability filter only (the noise peaks of a low threshold touch
        most pages of a label cube).

    Returns
    -------
    result : `LinkerResult`
        Labels (int32, ids 1..N in SoFiA order) and per-source statistics.
    """
    if not isinstance(mask, PackedMask):
        mask = np.asarray(mask)
    data = np.asarray(data)
    if tuple(mask.shape) != data.shape:
        raise ValueError(f'mask and data have different shapes: '
                         f'{tuple(mask.shape)} vs {data.shape}')
    if data.ndim not in (2, 3):
        raise ValueError(f'data must be 2D (y, x) or 3D (z, y, x), got '
                         f'{data.ndim} dimensions')
    if not np.issubdtype(data.dtype, np.floating):
        raise ValueError('data must be of floating-point type for linking')
    global_rms = float(global_rms)
    if not np.isfinite(global_rms) or global_rms <= 0:
        raise ValueError(f'global_rms must be a positive finite number, got '
                         f'{global_rms}')
    is2d = data.ndim == 2
    rxy = _check_int(radius_xy, 'radius_xy')
    rz = 0 if is2d else _check_int(radius_z, 'radius_z')
    min_size_xy = _check_int(min_size_xy, 'min_size_xy')
    min_size_z = 0 if is2d else _check_int(min_size_z, 'min_size_z')
    max_size_xy = _check_int(max_size_xy, 'max_size_xy')
    max_size_z = 0 if is2d else _check_int(max_size_z, 'max_size_z')
    min_pixels = _check_int(min_pixels, 'min_pixels')
    max_pixels = _check_int(max_pixels, 'max_pixels')

    shape3 = (1,) + data.shape if is2d else data.shape
    data3 = data.reshape(shape3)
    structure = linker_structure(rxy, rz, ndim=3)
    if is2d:
        structure = linker_structure(rxy, 0, ndim=2)[None]

    # Linkable pixels and their components in one sweep: besides the output labels no cube-sized array is
    # made (the per-pixel arrays only cover the detected pixels, which are sparse). A small cube takes the
    # numpy path (no numba import; the same components and sums).
    if _small.is_small(data3.size):
        from . import _link_numpy as kernels

        nz_idx, values, comp, n_comp, blank_pix = kernels.scan(mask, data3, structure, positivity)
    else:
        from . import _link_kernels as kernels

        nz_idx, values, comp, n_comp, blank_pix = _scan(mask, data3, structure, positivity)
    n_det = nz_idx.size

    values = values.astype(np.float64) / global_rms

    # Per-component statistics (in voxel order: the sums equal np.bincount's)
    n_pix, box, f_min, f_max, f_sum, last_index = kernels.component_stats(
        nz_idx, values, comp, n_comp, shape3[1], shape3[2])
    x_min, x_max, y_min, y_max, z_min, z_max = box.T

    size_x = x_max - x_min + 1
    size_y = y_max - y_min + 1
    size_z = z_max - z_min + 1
    fill = n_pix / (size_x * size_y * size_z).astype(np.float64)

    bad = (size_x < min_size_xy) | (size_y < min_size_xy) | (size_z < min_size_z)
    if max_size_xy:
        bad |= (size_x > max_size_xy) | (size_y > max_size_xy)
    if max_size_z:
        bad |= size_z > max_size_z
    bad |= n_pix < min_pixels
    if max_pixels:
        bad |= n_pix > max_pixels
    if min_fill > 0.0:
        bad |= fill < min_fill
    if max_fill > 0.0:
        bad |= fill > max_fill
    if remove_negative:
        bad |= f_sum < 0.0

    # SoFiA order: descending highest linear index
    survivors = np.flatnonzero(~bad)
    survivors = survivors[np.argsort(-last_index[survivors], kind='stable')]
    n_src = survivors.size
    new_id = np.zeros(n_comp, dtype=np.int64)
    new_id[survivors] = np.arange(1, n_src + 1)

    # Output labels: only the kept sources' voxels are written into the
    # lazily zeroed cube (the zeros of rejected noise peaks would touch
    # most of its pages), or kept as indices and ids (dense=False)
    pix_id = new_id[comp] if n_det else np.zeros(0, dtype=np.int64)
    kept = np.flatnonzero(pix_id)
    pixels = (data.shape, nz_idx[kept].astype(np.int64, copy=False), pix_id[kept].astype(np.int32))
    del kept
    labels = None
    if dense:
        labels = sparse_zeros(shape3, np.int32)
        labels.ravel()[pixels[1]] = pixels[2]
        labels = labels.reshape(data.shape)
        pixels = None

    # Moments (two-pass, equivalent to SoFiA's running Welford moments)
    mean = f_sum / np.maximum(n_pix, 1)
    m2, m3, m4 = kernels.component_moments(values, comp, mean, n_comp)
    n = n_pix.astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        std = np.sqrt(m2 / (n - 1.0))
        skew = np.sqrt(n) * m3 / m2 ** 1.5
        kurt = n * m4 / (m2 * m2) - 3.0

    # Flags
    nx, ny, nzax = shape3[2], shape3[1], shape3[0]
    flag = np.zeros(n_comp, dtype=np.int64)
    flag[(x_min == 0) | (x_max == nx - 1) | (y_min == 0) | (y_max == ny - 1)] |= 1
    if not is2d:
        flag[(z_min == 0) | (z_max == nzax - 1)] |= 2
    if n_det:
        # a source's voxels are all kept or all dropped: only the survivors' flags are reported
        flag[np.bincount(comp, weights=blank_pix, minlength=n_comp) > 0] |= 4

    sel = survivors
    result = LinkerResult(
        labels=labels, pixels=pixels,
        x_min=x_min[sel], x_max=x_max[sel], y_min=y_min[sel],
        y_max=y_max[sel], z_min=z_min[sel], z_max=z_max[sel],
        n_pix=n_pix[sel].astype(np.int64), f_min=f_min[sel],
        f_max=f_max[sel], f_sum=f_sum[sel], fill=fill[sel], mean=mean[sel],
        std=std[sel], skew=skew[sel], kurt=kurt[sel], flag=flag[sel],
        global_rms=global_rms, m2=m2[sel])
    return result
