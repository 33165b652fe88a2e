"""SoFiA-2's moment maps and 2-D mask, as pure functions of a cube and its labels.

`moment_maps` and `mask_2d` reproduce SoFiA-2 2.5.1's arithmetic (float32
accumulation from the highest channel down) and so match SoFiA's maps bit for
bit:

* ``mom0`` = sum of the mask voxels along z, times the channel width when a
  spectral WCS exists; 0 outside sources;
* ``mom1``, ``mom2`` = flux-weighted mean and dispersion of the spectral
  coordinate over mask voxels with flux above a threshold; NaN where there is
  no such flux;
* ``chan`` = number of mask channels per pixel (int32);
* ``mask-2d`` = the first source id met when scanning down from the highest
  channel.

Mask voxels whose data are NaN are ignored (SoFiA's masks never hold such
voxels); spectral coordinates are those of the astropy WCS (SI units).
The files are written by `astro_mlfinder.io.products.write_products`.
"""

import numpy as np

from ..core import _small

__all__ = ["moment_maps", "mask_2d"]

#: Cubes at least this large (voxels) get their moment maps computed by several threads
_PARALLEL_VOXELS = 1 << 22


def _spectral_axis(wcs):
    """(spectral world values per channel function, channel width) of a 3D WCS, or None."""
    if wcs is None or wcs.naxis != 3 or wcs.wcs.spec < 0:
        return None
    spec = wcs.wcs.spec
    width = abs(float(wcs.pixel_scale_matrix[spec, 2]))
    return spec, width


def _spectral_values(wcs, nz):
    spec = wcs.wcs.spec
    z = np.arange(nz, dtype=float)
    world = wcs.pixel_to_world_values(np.zeros(nz), np.zeros(nz), z)
    return np.asarray(world[spec], dtype=np.float64)


def moment_maps(data, labels, wcs=None, *, threshold=0.0):
    """Moment 0, 1, 2 and channel-count maps with SoFiA-2's definitions.

    Parameters
    ----------
    data : `~numpy.ndarray`
        (z, y, x) cube (or (y, x) image).
    labels : `~numpy.ndarray` of int
        Mask of the same shape; non-zero voxels are summed.
    wcs : `~astropy.wcs.WCS`, optional
        3D WCS of the cube.  With a spectral axis, moment 1 and 2 are in
        spectral world units (the spectral coordinate of pixel (0, 0, z)) and
        moment 0 is multiplied by the channel width; otherwise channels are
        used and moment 0 is the plain sum.
    threshold : float, optional
        Only voxels with flux above this enter moments 1 and 2 (SoFiA: 0 for
        the global maps, ``thresholdMom12 * rms`` for cubelets).

    Returns
    -------
    mom0, mom1, mom2 : `~numpy.ndarray` of float32
        Moment 0 is 0 outside the mask; moments 1 and 2 are NaN where no
        voxel exceeds ``threshold``.  For a 2D image, ``mom1``, ``mom2`` and
        ``chan`` are None (as in SoFiA).
    chan : `~numpy.ndarray` of int32
        Number of mask channels per pixel.
    """
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.shape != labels.shape:
        raise ValueError(f"data shape {data.shape} and mask shape {labels.shape} differ")
    if data.ndim == 2:
        inside = (labels != 0) & np.isfinite(data)
        return np.where(inside, data, 0).astype(np.float32), None, None, None
    if data.ndim != 3:
        raise ValueError(
            f"moment maps need a (z, y, x) cube or (y, x) image, got shape {data.shape}"
        )
    nz, ny, nx = data.shape
    axis = _spectral_axis(wcs)
    spectral = _spectral_values(wcs, nz) if axis else np.arange(nz, dtype=np.float64)
    maps = [np.zeros((ny, nx), dtype=np.float32) for _ in range(4)] + [np.zeros((ny, nx), dtype=np.int32)]
    mom0, mom1, mom2, sum_pos, chan = maps
    # SoFiA accumulates into float32 maps from the highest channel down: each increment is computed in
    # double precision, rounded to float32 and added in float32; divisions and the final scaling are
    # done in double precision (one numba sweep, rows in parallel: `_moment_kernels.moment_passes`)
    spectral = np.ascontiguousarray(spectral, dtype=np.float64)
    if _jit_ready(data) and _jit_ready(labels) and not _small.numba_not_worth_it(data.size):
        from . import _moment_kernels

        kernel = (_moment_kernels.moment_passes if data.size >= _PARALLEL_VOXELS
                  else _moment_kernels.moment_passes_serial)
        kernel(data, labels, spectral, float(threshold), *maps)
    else:
        _moment_passes_numpy(data, labels, spectral, float(threshold), *maps)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok2 = (sum_pos > 0) & (mom2 > 0)
        mom2 = np.where(
            ok2, np.sqrt(mom2.astype(np.float64) / sum_pos).astype(np.float32), np.float32(np.nan)
        )
    if axis:
        mom0 = (mom0.astype(np.float64) * axis[1]).astype(np.float32)
    return mom0, mom1.astype(np.float32), mom2.astype(np.float32), chan


def _jit_ready(array):
    """Whether the numba kernel takes ``array`` (native byte order, a numeric type)."""
    return array.dtype.isnative and array.dtype.kind in "biuf"


def _moment_passes_numpy(data, labels, spectral, threshold, mom0, mom1, mom2, sum_pos, chan):
    """`_moment_kernels.moment_passes` plane by plane in numpy (non-native byte order, e.g. a FITS memmap, and
    small cubes in a process without numba: `astro_mlfinder.core._small.numba_not_worth_it`)."""
    nz = data.shape[0]

    def planes():
        for z in range(nz - 1, -1, -1):
            inside = labels[z] != 0
            if not inside.any():
                continue
            flux = data[z].astype(np.float64)
            inside &= np.isfinite(flux)
            yield z, inside, inside & (flux > threshold), flux

    for z, inside, positive, flux in planes():
        mom0 += np.where(inside, flux, 0.0).astype(np.float32)
        chan += inside
        mom1 += np.where(positive, flux * spectral[z], 0.0).astype(np.float32)
        sum_pos += np.where(positive, flux, 0.0).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        mom1[...] = np.where(sum_pos > 0, (mom1.astype(np.float64) / sum_pos).astype(np.float32), np.nan)
    for z, _, positive, flux in planes():  # second pass: dispersion about moment 1
        velo = mom1.astype(np.float64) - spectral[z]
        mom2 += np.where(positive, velo * velo * flux, 0.0).astype(np.float32)


def mask_2d(labels):
    """Project a 3D label cube onto the sky as SoFiA's ``_mask-2d.fits``.

    Parameters
    ----------
    labels : `~numpy.ndarray` of int
        (z, y, x) label cube (a 2D label image is returned as is).

    Returns
    -------
    mask : `~numpy.ndarray` of int32
        For each pixel the first non-zero id met when scanning down from the
        highest channel, 0 where the pixel holds no source.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype(np.int32)
    if labels.ndim != 3:
        raise ValueError(f"mask_2d needs a (z, y, x) label cube, got shape {labels.shape}")
    # plane by plane from the highest channel down: no cube-sized temporary
    out = np.zeros(labels.shape[1:], dtype=np.int32)
    for z in range(labels.shape[0] - 1, -1, -1):
        plane = labels[z]
        fill = (out == 0) & (plane != 0)
        out[fill] = plane[fill]
    return out

