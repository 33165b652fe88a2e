"""The smooth-and-clip (S+C) source finder of SoFiA-2.

The cube is smoothed with every combination of a set of spatial and spectral
kernels; in each smoothed copy, voxels whose absolute value exceeds
``threshold`` times that copy's noise are added to a binary mask.  This module
reproduces SoFiA-2 2.5.1 (``DataCube_run_scfind``) exactly, including its
arithmetic, so that masks agree voxel for voxel with the binary:

1. Spatial kernels (Gaussian FWHM in pixels) and spectral kernels (boxcar
   widths in channels) are sorted; passes run spatial-outer, spectral-inner.
2. The noise ``rms0`` of the unsmoothed cube is measured once
   (:func:`~astro_mlfinder.core.stats.measure_noise`, strided sample).
3. Pass (0, 0) clips the cube itself at ``threshold * rms0``.
4. Every other pass works on a fresh copy of the *input* cube: voxels already
   in the mask become ``copysign(replacement * rms0, x)``; each xy-plane is
   smoothed by ``n`` boxcars of radius ``r`` along x, then ``n`` along y, with
   ``(n, r)`` from :func:`optimal_filter_size` (an iterated-boxcar
   approximation of the Gaussian, **not** a true Gaussian); then one boxcar of
   radius ``width // 2`` runs along z (even widths act as ``width + 1``, width
   1 as no spectral smoothing).  Boxcars are centred, count NaN as 0 and pad
   the edges with zeros; the input's NaN voxels are set back to NaN afterwards.
   An optional noise normalisation (``scale_noise``) is applied, the noise is
   measured and voxels with ``|x| > threshold * rms`` (strict) are flagged.

Memory
------
In units of the float32 cube ("1x"; 512 MiB for 512^3):

* ``smooth_clip`` keeps two float32 arrays of cube size alive: the input
  cube (never modified, never copied when it already is C-contiguous float32)
  and one working cube that every pass overwrites in place (allocated once,
  not per pass).  The running mask is packed to one bit per voxel (1/32x) and
  expanded to the uint8 result (0.25x) only after the working cube has been
  released.  Peak: about 2.03x plus a few planes per thread and a ~4 MB noise
  sample -- the same as SoFiA-2 (2.0x with an 8-bit mask).  Measured at 512^3:
  1.30 GB peak RSS of which about 0.2 GB is the Python/numba runtime
  (``benchmarks/classical.py``).  Without spatial smoothing the replacement is
  applied while the spectral boxcar reads the input, so there is no copy step.
* Cubes of at most ``astro_mlfinder.core._small.NUMPY_MAX_VOXELS`` voxels
  (192^3) are smoothed by the numpy passes of
  :mod:`astro_mlfinder.classical._boxcar_numpy` instead of the numba kernels
  (the same mask bit for bit; no numba import): they keep the replaced input
  and each spatial kernel's smoothed cubes between passes, about 10x the
  cube besides the input and the working cube.
* Cubes larger than :data:`STREAM_MIN_BYTES` (``stream=None``) are instead
  smoothed plane by plane (:mod:`astro_mlfinder.classical._stream_clip`):
  no working cube, about 0.35x at 512^3 (0.2x at 1024x512x512) in batch and
  plane buffers and candidates, with the same mask bit for bit.  A ``scale_noise``
  callable or the ``'gauss'`` statistic needs the whole smoothed cube and
  keeps the working cube.
* Pre-conditioning stages work in place on the pipeline's working copy of the
  data: :func:`~astro_mlfinder.classical.flagging.flag_regions`,
  :func:`~astro_mlfinder.classical.flagging.flag_catalog`,
  :func:`~astro_mlfinder.classical.contsub.continuum_subtract` and
  :func:`~astro_mlfinder.classical.noise_scaling.scale_noise_spectral` add
  nothing of cube size; :func:`~astro_mlfinder.classical.flagging.auto_flag`
  adds only per-channel/per-pixel noise arrays;
  :func:`~astro_mlfinder.classical.noise_scaling.scale_noise_local` and
  :func:`~astro_mlfinder.classical.noise_scaling.ripple_filter` return a
  float32 noise/background cube (+1x, as in SoFiA-2).
* A ``scale_noise`` callable runs on every smoothed copy; with local noise
  scaling that is one more transient cube per pass (peak 3x, as SoFiA-2's
  ``scaleNoise.scfind``).
* A pipeline that keeps the original cube for parameterisation and a
  pre-conditioned copy for finding therefore peaks at about 3x during S+C
  (original + working copy + smoothed cube), 4x with local noise scaling.
  Input that is not C-contiguous float32 is converted once (one more copy).
"""

import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core import _jit, _small
from ..core.exceptions import AstroMLFinderWarning
from ..core.progress import progress_bar
from ..core.stats import check_flux_range, check_statistic, measure_noise
from .packed_mask import PackedMask

# The numba kernels (._boxcar, ._stream_clip) are imported by the searches that use them: a small cube
# (core._small.NUMPY_MAX_VOXELS) is searched with the numpy passes of ._boxcar_numpy, the same mask bit for
# bit, and its process never loads numba.

__all__ = ["STREAM_MIN_BYTES", "SmoothClipResult", "optimal_filter_size", "smooth_clip"]

#: Cubes larger than this (bytes of float32) are smoothed plane by plane by default (``stream``).
STREAM_MIN_BYTES = 64 * 2**20

#: FWHM of a Gaussian in units of its sigma, 2 sqrt(2 ln 2) (sigma = FWHM / this, as SoFiA divides).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

_BOXCAR_MIN_ITER = 3
_BOXCAR_MAX_ITER = 6


@dataclass
class SmoothClipResult:
    """Output of :func:`smooth_clip`.

    Attributes
    ----------
    packed : `~astro_mlfinder.classical.packed_mask.PackedMask`
        Detection mask, one bit per voxel, as the finder accumulated it.
    mask : ndarray of uint8
        The same mask unpacked (same shape as the input, 1 = detected);
        computed on first access.
    passes : list of dict
        One entry per pass, in the order run: ``kernel_xy`` (FWHM, px),
        ``kernel_z`` (width as requested, channels), ``rms`` (noise of that
        pass, data units) and ``n_new`` (voxels added to the mask by it).
    """

    packed: PackedMask
    passes: list = field(default_factory=list)

    @functools.cached_property
    def mask(self):
        """Detection mask as uint8 0/1, same shape as the input."""
        return self.packed.to_array()


def optimal_filter_size(fwhm):
    """Iterations and radius of the boxcar approximation of a Gaussian.

    SoFiA-2 approximates a Gaussian of ``sigma = fwhm / 2.3548`` by ``n``
    repeated boxcars of radius ``r``.  For ``n`` = 3 to 6 it computes
    ``r = sqrt(3 sigma**2 / n + 1/4) - 1/2`` and keeps the ``n`` whose ``r`` is
    closest to an integer (the first one on ties).

    Parameters
    ----------
    fwhm : float
        Full width at half maximum of the Gaussian, pixels (>= 0).

    Returns
    -------
    n_iter, radius : int, int
        For example FWHM 3 gives (3, 1) and FWHM 6 gives (3, 2).
    """
    fwhm = float(fwhm)
    if not fwhm >= 0.0:
        raise ValueError(f"Gaussian FWHM must be >= 0, got {fwhm}.")
    sigma = fwhm / FWHM_PER_SIGMA
    best = -1.0
    n_iter = 0
    radius = 0
    for n in range(_BOXCAR_MIN_ITER, _BOXCAR_MAX_ITER + 1):
        r = math.sqrt(3.0 * sigma * sigma / n + 0.25) - 0.5
        diff = abs(r - math.floor(r + 0.5))
        if best < 0.0 or diff < best:
            best = diff
            n_iter = n
            radius = int(r + 0.5)
    return n_iter, radius


def _as_kernel_list(values, name):
    try:
        seq = list(np.atleast_1d(np.asarray(values, dtype=float)))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}.") from None
    if not seq:
        raise ValueError(f"{name} must contain at least one kernel.")
    return seq


def _check_kernels(kernels_xy, kernels_z, shape):
    """Validate and sort the kernels as SoFiA-2 does (with its warnings)."""
    nz, ny, nx = shape
    kxy = sorted(_as_kernel_list(kernels_xy, "kernels_xy"))
    kz_raw = sorted(_as_kernel_list(kernels_z, "kernels_z"))
    for k in kxy:
        if not (math.isfinite(k) and k >= 0.0):
            raise ValueError(f"Spatial kernel {k:g} in kernels_xy must be >= 0.")
        if k >= nx or k >= ny:
            raise ValueError(
                f"Spatial kernel {k:g} in kernels_xy must be smaller than the x and y axis "
                f"sizes ({nx} and {ny})."
            )
        if 0.0 < k < 3.0:
            warnings.warn(
                f"Spatial kernel size {k:g} (< 3) cannot be accurately modelled.",
                AstroMLFinderWarning,
                stacklevel=3,
            )
    kz = []
    for k in kz_raw:
        if not (math.isfinite(k) and k >= 0.0 and k == int(k)):
            raise ValueError(f"Spectral kernel {k:g} in kernels_z must be an integer >= 0.")
        k = int(k)
        if k >= nz:
            raise ValueError(
                f"Spectral kernel {k} in kernels_z must be smaller than the z axis size ({nz})."
            )
        if k != 0 and k % 2 == 0:
            warnings.warn(
                f"Spectral kernel size {k} is even, will be treated as {k + 1}.",
                AstroMLFinderWarning,
                stacklevel=3,
            )
        elif k == 1:
            warnings.warn(
                "Spectral kernel size of 1 found, will be treated as 0.", AstroMLFinderWarning, stacklevel=3
            )
        kz.append(k)
    if kxy[0] > 0.0:
        warnings.warn("Including spatial kernel size of 0 is strongly advised.", AstroMLFinderWarning,
                      stacklevel=3)
    if kz[0] > 0:
        warnings.warn("Including spectral kernel size of 0 is strongly advised.", AstroMLFinderWarning,
                      stacklevel=3)
    return kxy, kz


class _NumbaPasses:
    """The numba kernels of ._boxcar behind the interface of `._boxcar_numpy.NumpyPasses`."""

    def __init__(self, data, bits, rv, use_repl):
        import numba

        from . import _boxcar

        self.data, self.bits, self.rv, self.use_repl = data, bits, rv, use_repl
        self.nchunk = 4 * numba.get_num_threads()
        self._k = _boxcar

    def smooth(self, work, n_iter, radius_xy, radius_z):
        k, data, bits, rv, use_repl, nchunk = self._k, self.data, self.bits, self.rv, self.use_repl, self.nchunk
        if n_iter > 0:
            k.spatial_pass(work, data, bits, rv, use_repl, n_iter, radius_xy, radius_z == 0, nchunk)
            if radius_z > 0:
                k.spectral_pass_inplace(work, data, radius_z, nchunk)
        elif radius_z > 0:
            k.spectral_pass_from(work, data, bits, rv, use_repl, radius_z, nchunk)
        else:
            k.replace_pass(work, data, bits, rv, use_repl)

    def clip_bits(self, arr, thr):
        return self._k.clip_bits(arr, self.bits, thr)


def _kernels(cube, bits, rv, use_repl, kernels_xy, kernels_z, stream):
    """The passes for ``cube``: numpy for a small cube (`astro_mlfinder.core._small`) unless streamed, else numba."""
    if not stream and _small.is_small(cube.size):
        from ._boxcar_numpy import NumpyPasses

        radius_xy = max((optimal_filter_size(k)[1] for k in kernels_xy if k > 0.0), default=0)
        return NumpyPasses(cube, bits, rv, use_repl, radius_xy, max(kernels_z) // 2)
    from . import _boxcar

    if stream:  # the streamed passes: the raw cube's clip and _stream_clip's kernels (the others never run)
        from . import _stream_clip

        _jit.announce_compilation((_boxcar.clip_bits,) + tuple(_stream_clip.KERNELS))
    else:
        _jit.announce_compilation((_boxcar.clip_bits, _boxcar.spatial_pass, _boxcar.spectral_pass_inplace,
                                   _boxcar.spectral_pass_from))
    return _NumbaPasses(cube, bits, rv, use_repl)


def _progress(total, enabled):
    if not enabled:
        return None
    return progress_bar(total=total, desc="S+C", enabled=True, unit="pass")


def _check_rms(rms, what):
    if not (math.isfinite(rms) and rms > 0.0):
        raise ValueError(
            f"Could not measure a positive noise level in {what} (got {rms}); check that the "
            "data contain finite values in the chosen flux_range."
        )


def smooth_clip(data, *, kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=5.0,
                replacement=2.0, statistic="mad", flux_range="negative", scale_noise=None,
                mask=None, progress=False, stream=None):
    """Run SoFiA-2's smooth-and-clip finder.

    Parameters
    ----------
    data : array_like
        Cube (z, y, x) or image (y, x); NaN = blank.  Never modified.  An image
        is treated as a cube with one channel (so ``kernels_z`` must be 0).
    kernels_xy : sequence of float
        Spatial Gaussian FWHMs in pixels; each must be >= 0 and smaller than
        the x and y sizes.
    kernels_z : sequence of int
        Spectral boxcar widths in channels; each must be >= 0 and smaller than
        the z size.  Even widths act as ``width + 1``; width 1 means no
        spectral smoothing (but, as in SoFiA-2, still a separate pass).
    threshold : float
        Clip level in units of each pass's noise (> 0).
    replacement : float
        Voxels already detected are set to ``sign(x) * replacement * rms0``
        before smoothing (``rms0`` = noise of the unsmoothed cube); a negative
        value disables this.
    statistic : {'mad', 'std', 'gauss'}
        Noise statistic (see :func:`~astro_mlfinder.core.stats.measure_noise`).
    flux_range : {'negative', 'positive', 'full'}
        Voxels used in the noise measurement.
    scale_noise : callable, optional
        Called as ``scale_noise(smoothed)`` on every smoothed copy, after the
        NaN restore and before its noise is measured; it must rescale the
        float32 array in place (SoFiA-2's ``scaleNoise.scfind``).  Its return
        value is ignored.
    mask : array_like, optional
        Existing detections; non-zero voxels are included in the result and
        take part in the replacement from the first pass on.  Not modified.
    progress : bool
        Show a progress bar over the passes.
    stream : bool or None
        Smooth each pass plane by plane instead of into a working cube (no
        cube-sized copy; the same mask bit for bit, see
        :mod:`astro_mlfinder.classical._stream_clip`).  ``None`` (default):
        stream when the cube is larger than :data:`STREAM_MIN_BYTES` and
        neither ``scale_noise`` nor ``statistic='gauss'`` needs the whole
        smoothed cube.  ``True`` with one of those raises ValueError.

    Returns
    -------
    SmoothClipResult
        ``mask`` (uint8, 0/1, shape of ``data``) and ``passes`` (per-pass
        kernel, noise and number of new voxels).

    Raises
    ------
    ValueError
        For a kernel < 0 or not smaller than its axis, a threshold <= 0, an
        unknown statistic or flux range, a mask of the wrong shape, or a cube
        whose noise cannot be measured.
    """
    arr = np.asarray(data)
    if arr.ndim not in (2, 3):
        raise ValueError(f"smooth_clip needs a 2D (y, x) or 3D (z, y, x) array, got shape "
                         f"{arr.shape}.")
    out_shape = arr.shape
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if min(arr.shape) < 1:
        raise ValueError(f"smooth_clip got an empty array of shape {out_shape}.")
    stat = check_statistic(statistic)
    check_flux_range(flux_range)
    threshold = float(threshold)
    if not (math.isfinite(threshold) and threshold > 0.0):
        raise ValueError(f"threshold must be > 0, got {threshold}.")
    replacement = float(replacement)
    if scale_noise is not None and not callable(scale_noise):
        raise ValueError("scale_noise must be a callable that rescales an array in place.")
    kxy, kz = _check_kernels(kernels_xy, kernels_z, arr.shape)
    streamable = scale_noise is None and stat != "gauss"
    if stream and not streamable:
        raise ValueError("stream=True needs statistic 'mad' or 'std' and no scale_noise (both need "
                         "the whole smoothed cube); use stream=None.")

    # float32, C order: a view of the caller's array when it already is one
    cube = np.ascontiguousarray(arr, dtype=np.float32)

    nx = cube.shape[2]
    if mask is None:
        bits = np.zeros(cube.shape[:2] + ((nx + 7) // 8,), dtype=np.uint8)
    else:
        m = np.asarray(mask)
        if m.shape != out_shape:
            raise ValueError(f"mask has shape {m.shape}, data have shape {out_shape}.")
        bits = PackedMask.from_array(m.reshape(cube.shape)).bits.copy()  # the kernels write to it

    if stream is None:
        stream = streamable and cube.nbytes > STREAM_MIN_BYTES
    rms0 = measure_noise(cube, stat, flux_range, sample=True)
    _check_rms(rms0, "the input cube")
    use_repl = replacement >= 0.0
    rv = float(np.float32(replacement * rms0)) if use_repl else 0.0
    kernels = _kernels(cube, bits, rv, use_repl, kxy, kz, stream)

    passes = []
    work = None
    workspace = None
    if stream:
        from . import _stream_clip

        workspace = _stream_clip.Workspace()
    bar = _progress(len(kxy) * len(kz), progress)
    try:
        for k_xy in kxy:
            n_iter, radius_xy = optimal_filter_size(k_xy) if k_xy > 0.0 else (0, 0)
            for k_z in kz:
                radius_z = k_z // 2
                if k_xy == 0.0 and k_z == 0:
                    rms = rms0
                    n_new = int(kernels.clip_bits(cube, threshold * rms))
                elif stream:
                    rms, n_new = _stream_clip.stream_pass(
                        cube, bits, threshold=threshold, rv=rv, use_repl=use_repl, n_iter=n_iter,
                        radius_xy=radius_xy, radius_z=radius_z, spatial=k_xy > 0.0, stat=stat,
                        code=check_flux_range(flux_range), workspace=workspace)
                    _check_rms(rms, f"the cube smoothed with kernel ({k_xy:g}, {k_z})")
                else:
                    if work is None:
                        work = np.empty_like(cube)
                    kernels.smooth(work, n_iter, radius_xy, radius_z)
                    if scale_noise is not None:
                        scale_noise(work)
                    rms = measure_noise(work, stat, flux_range, sample=True)
                    _check_rms(rms, f"the cube smoothed with kernel ({k_xy:g}, {k_z})")
                    n_new = int(kernels.clip_bits(work, threshold * rms))
                passes.append({"kernel_xy": k_xy, "kernel_z": k_z, "rms": rms, "n_new": n_new})
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        del work, workspace
    # the bits are the result; they are expanded to one byte per voxel only if ``mask`` is read
    packed = PackedMask(bits.reshape(tuple(out_shape[:-1]) + bits.shape[-1:]), out_shape)
    return SmoothClipResult(packed=packed, passes=passes)
