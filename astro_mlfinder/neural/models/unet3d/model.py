"""The ``unet3d`` model: HISF's large-kernel 3D U-Net on spectrally rebinned, noise-normalised HI cubes.

`Unet3DModel.predict` runs the pipeline of `astro_mlfinder.neural.inference`:

1. **Rebin** the cube along frequency (average pool 6/4, NaN-aware; see
   `~astro_mlfinder.neural.models.unet3d.network.spectral_rebin`).
2. **Normalise** (`~astro_mlfinder.neural.inference.normalize_cube`): divide
   by a robust noise estimate (1.4826 x MAD, per channel), clip to
   ``[lo, hi]`` noise units and map to [0, 1] as HISF does; NaN become the low
   value. The recipe is stored with the weights.
3. **Tile** (`~astro_mlfinder.neural.inference.predict_tiled` with a
   `~astro_mlfinder.core.tiling.plan_tiles` plan): the rebinned cube is
   mirror-padded to multiples of 16 and cut into overlapping tiles whose
   origins are multiples of 16; tiles run in batches under
   ``torch.inference_mode`` (bf16/fp16 autocast on GPUs) through the
   network's inference form (`~astro_mlfinder.neural.models.unet3d.fused`:
   BatchNorm folded, channels_last_3d, the output convolution as a numba
   kernel on a CPU; the same logits) and are blended with weights that form
   a partition of unity (a single tile is used as it is).
4. **Upsample** the probability back to the native channel count.
5. **Segment** (`~astro_mlfinder.neural.inference.segment_probability`):
   threshold, binary closing then opening, 26-connected components, minimum
   size, ids 1..N in raster order of each source's first voxel.

This module imports without PyTorch; the network lives in
`astro_mlfinder.neural.models.unet3d.network`.
"""

import time
import warnings

import numpy as np

from ....core.segmentation import Segmentation
from ....core.tiling import round_up
from ..base import NeuralModel, TrainingRecipe, boolean, non_negative_int, per_axis, positive_int, probability

__all__ = ["Unet3DModel", "DILATE_THRESHOLD", "DILATE_SIGNIFICANCE"]

#: Relative flux gain below which ``dilate=True`` stops growing a mask (chosen on flux recovery, see
#: docs/finders/unet3d.rst and benchmarks/real_hi.py).
DILATE_THRESHOLD = 0.01
#: A source of integrated signal-to-noise ratio ``snr`` grows only by steps adding more than
#: ``DILATE_SIGNIFICANCE / snr`` of its flux, so that faint sources do not grow into the noise.
DILATE_SIGNIFICANCE = 2.0


def dilation(value, name, ndim):
    """``False``/0 (no dilation), ``True`` (`DILATE_THRESHOLD`) or a relative flux-gain threshold > 0."""
    if isinstance(value, bool | np.bool_):
        return DILATE_THRESHOLD if value else 0.0
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be True, False or a relative flux gain (e.g. 0.01), got {value!r}") from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be >= 0 (0 = no dilation), got {value}")
    return value

#: Spectral rebin (kernel, stride) when the weights record none.
_DEFAULT_REBIN = (6, 4)
#: Largest mask growth of ``dilate`` (SoFiA-2's dilation defaults): channels and pixels.
_DILATE_Z, _DILATE_XY = 5, 10


class Unet3DModel(NeuralModel):
    """HISF large-kernel 3D U-Net (Unet-LK, Song et al. 2024) for HI cubes.

    Keywords (``None``: the value tuned and recorded with the weights, else
    the default in `defaults`):

    ``threshold``
        Probability above which a voxel belongs to a source.
    ``min_size``
        Minimum number of voxels of a source.
    ``tile_shape``, ``overlap``
        Sliding-window tile size and overlap in native voxels, int or (z, y, x).
        Tiles are rounded to multiples of the network's divisor (16) after the
        spectral rebinning (z divided by 4), and planned balanced: as few tiles
        as this size allows, shrunk and spread evenly, so that each voxel is
        processed about once plus the overlap.
    ``batch_size``
        Tiles per forward pass.
    ``tta``
        Test-time augmentation: average the predictions of the cube and of its
        flips along z, y and x (4x slower).
    ``max_source``
        Largest expected source extent (z, y, x) in native voxels; with the tile
        overlap it sets `margin`, the overlap a tiled run of the finder needs.
    ``dilate``
        Grow every mask to the faint outskirts of its source as SoFiA-2's mask
        dilation does (`astro_mlfinder.core.dilation.dilate_mask`: up to 5
        channels, then discs of up to 10 pixels, while each step adds more than
        this fraction of the source's flux, and more than `DILATE_SIGNIFICANCE`
        over the source's integrated signal-to-noise ratio, so that faint sources
        do not grow into the noise). Off by default, as SoFiA-2's
        ``dilation.enable`` (growth lowers the detection scores of
        ``benchmarks/detection_hi.py``: larger masks match their truth masks
        less often); ``True`` uses `DILATE_THRESHOLD`, the choice for flux
        (``benchmarks/real_hi.py``).
    """

    name = "unet3d"
    ndim = 3
    description = "HISF large-kernel 3D U-Net (Unet-LK, Song et al. 2024) for HI cubes"
    networks = {"unet3d": "astro_mlfinder.neural.models.unet3d.network:UNet3D"}
    defaults = {
        "threshold": 0.5,
        "min_size": 16,
        # one rebinned tile of 128 x 256 x 256 (about 1.5 GB on a CPU): large tiles run faster per voxel
        # and need fewer overlaps than the (256, 128, 128) of earlier versions (benchmarks/neural_speed.py)
        "tile_shape": (512, 256, 256),
        "overlap": (64, 32, 32),
        "batch_size": 1,
        "tta": False,
        # the training simulations: profiles up to ~540 km/s (50 channels of 10.8 km/s) plus the wings,
        # HI diameters up to 16 pixels plus the 3-pixel beam
        "max_source": (64, 24, 24),
        "dilate": 0.0,
    }
    keywords = {
        "threshold": probability,
        "min_size": non_negative_int,
        "tile_shape": per_axis(1),
        "overlap": per_axis(0),
        "batch_size": positive_int,
        "tta": boolean,
        "max_source": per_axis(0),
        "dilate": dilation,
    }
    training = TrainingRecipe(
        function="astro_mlfinder.neural.training.loop:train",
        data=(
            "'sim:hi': 128x64x64 crops simulated afresh (astro_mlfinder.simulate.hi, random instrument and "
            "artefacts for 70 % of the crops, integrated SNR log-uniform in 2-60), 75 % with 1-3 galaxies; "
            "HISF cut-mix, white noise, flips and y/x transposes (training.data.SimulatedHIData); or a "
            "directory of NAME.fits + NAME_mask.fits pairs (training.data.FitsPairData); spectral rebin 6/4 "
            "and per-channel MAD normalisation as at inference"
        ),
        loop=(
            "Adam, polynomial decay (power 0.8) to lr/10, loss Dice + 0.5 BCE; after every epoch the whole "
            "inference pipeline runs on a fixed seeded validation set (object F1 at IoU >= 0.2, voxel Dice); "
            "checkpoints every epoch and for the best epoch, resumable (training.loop.train)"
        ),
        tuning=(
            "threshold and min_size maximising object F1 on the validation set at the end of training "
            "(training.tuning.tune_threshold); threshold, min_size and tta re-tuned on 16 validation cubes "
            "256x96x96 with training.tuning.tune_checkpoint (astro-mlfinder train --tune CHECKPOINT)"
        ),
        command="astro-mlfinder train unet3d --data sim:hi --epochs N --output unet3d.pt",
    )

    def _rebin(self, info):
        rebin = info["meta"].get("rebin", list(_DEFAULT_REBIN))
        return tuple(int(v) for v in rebin) if rebin else None

    @property
    def margin(self):
        """Tile overlap (as the tiles are planned: rebinned z, multiples of 16) plus `max_source`, native voxels."""
        networks, info = self.load()
        params = self.inference_params()
        divisor = int(getattr(networks["unet3d"], "divisor", 16))
        rebin = self._rebin(info)
        stride = rebin[1] if rebin else 1
        oz, oy, ox = params["overlap"]
        overlap = (round_up(oz // stride, divisor) * stride, round_up(oy, divisor), round_up(ox, divisor))
        grow = (_DILATE_Z, _DILATE_XY, _DILATE_XY) if params["dilate"] else (0, 0, 0)
        return tuple(int(o + m + g) for o, m, g in zip(overlap, params["max_source"], grow, strict=True))

    def predict(self, image, mask, progress):
        """Probability cube, labels and per-source mean probability (``score``) of ``image``.

        Returns
        -------
        `~astro_mlfinder.core.segmentation.Segmentation`
            ``columns={'score': mean probability}``,
            ``products={'probability': probability cube}``, and ``meta`` with
            the model, weights, effective threshold, minimum size, device,
            normalisation and timings.
        """
        from ..._torch import resolve_device
        from ...inference import predict_probability, segment_probability

        t0 = time.perf_counter()
        networks, info = self.load(progress)
        t_load = time.perf_counter() - t0
        image = image.loaded()  # a lazy input is read once: the network and the measurement share it
        data = image.read()
        if mask is not None:
            data = np.where(mask, np.float32(np.nan), data)
        params = self.inference_params()
        t1 = time.perf_counter()
        prob = predict_probability(
            networks["unet3d"],
            data,
            normalization=info["meta"].get("normalization"),
            tile_shape=params["tile_shape"],
            overlap=params["overlap"],
            batch_size=params["batch_size"],
            device=self.device,
            rebin=self._rebin(info),
            progress=progress,
            tta=params["tta"],
        )
        t_net = time.perf_counter() - t1
        finite = np.isfinite(data)
        blank = None if finite.all() else ~finite  # no mask pass over the cube when nothing is blank
        del finite
        labels, score = segment_probability(prob, params["threshold"], params["min_size"], mask=blank)
        if params["dilate"] and labels.max() > 0:
            labels = _grow(labels, data, params["dilate"], image.beam_area)
        meta = {
            "model": self.name,
            "weights": info["weights"],
            "threshold": params["threshold"],
            "min_size": params["min_size"],
            "tta": params["tta"],
            "dilate": params["dilate"],
            "device": str(resolve_device(self.device)),
            "normalization": info["meta"].get("normalization"),
            "timing": {
                "load_s": round(t_load, 3),
                "network_s": round(t_net, 3),
                "total_s": round(time.perf_counter() - t0, 3),
            },
        }
        return Segmentation(labels, columns={"score": score}, products={"probability": prob}, meta=meta, image=image)


def _grow(labels, data, threshold, beam_area=1.0):
    """SoFiA-2's mask dilation of ``labels`` on ``data`` (NaN = blank), the flux measured on the data.

    Each source's relative-gain threshold is ``max(threshold, DILATE_SIGNIFICANCE / snr)``, with ``snr``
    its integrated signal-to-noise ratio: the summed flux over ``sqrt(beam_area * sum of rms_z**2)``
    over its voxels, ``rms_z`` the robust (1.4826 MAD) noise of channel z.
    """
    from scipy import ndimage

    from ....core.dilation import dilate_mask
    from ....core.stats import MAD_TO_STD

    nz, ny, nx = labels.shape
    finite = np.isfinite(data)
    with warnings.catch_warnings():  # all-NaN (flagged) channels have no noise: they hold no source voxel
        warnings.simplefilter("ignore", RuntimeWarning)
        d = np.where(finite, data, np.nan)
        rms = MAD_TO_STD * np.nanmedian(np.abs(d - np.nanmedian(d, axis=(1, 2), keepdims=True)), axis=(1, 2))
    good = np.isfinite(rms) & (rms > 0)
    rms = np.where(good, rms, np.median(rms[good]) if good.any() else 1.0)
    ids = np.arange(1, int(labels.max()) + 1)
    flux = ndimage.sum_labels(np.where(finite, data, 0).astype(np.float64), labels, ids)
    zz = np.broadcast_to(np.arange(nz)[:, None, None], labels.shape)
    var = ndimage.sum_labels((rms.astype(np.float64) ** 2)[zz], labels, ids)
    snr = np.abs(flux) / np.sqrt(max(float(beam_area), 1.0) * np.maximum(var, 1e-30))
    thresholds = np.maximum(float(threshold), DILATE_SIGNIFICANCE / np.maximum(snr, 1e-6))
    grown, _ = dilate_mask(
        labels,
        data,
        None,
        iterations_xy=min(_DILATE_XY, max(ny, nx) - 1),
        iterations_z=min(_DILATE_Z, nz - 1),
        threshold=thresholds,
    )
    return grown
