"""The ``convosource`` model: ConvoSource's per-pixel CNN on 2D continuum images, peaks grown into sources.

`ConvoSourceModel.predict`:

1. **Normalise** (`~astro_mlfinder.neural.models.convosource.preprocess.normalize_image`):
   divide by the local robust noise (MAD in boxes, interpolated), compress
   with ``asinh``; blank pixels become 0. The recipe is stored with the weights.
2. **Tile** (`~astro_mlfinder.neural.inference.predict_tiled` with a
   `~astro_mlfinder.core.tiling.plan_tiles` plan): the fully convolutional
   network runs on overlapping tiles of any image size and the per-pixel
   sigmoid probabilities are blended (optionally averaged over the eight
   flips and rotations, ``tta``); the default overlap (32 pixels) is
   over four times the half-width of the 13-pixel receptive field, where
   the blending windows make the tiled map equal to the untiled one.
3. **Peaks** (`~astro_mlfinder.neural.models.convosource.peaks.find_peaks`):
   local maxima of the probability above ``threshold``, non-maximum
   suppression within ``nms_radius`` pixels.
4. **Segments** (`~astro_mlfinder.neural.models.convosource.peaks.grow_segments`):
   each peak moves to the brightest data pixel within ``snap`` pixels and
   floods the connected pixels above ``grow_snr`` times the local noise;
   peaks sharing an island split it along the watershed of the data; the
   segments then grow by ``dilate`` pixels (half the beam FWHM by default)
   to take in the sources' wings. With ``min_snr`` > 0, a peak whose
   brightest data pixel stays below that local S/N is dropped (the
   network's peaks confirmed on the data; off by default). The core 2D
   measurement then gives fluxes, sizes and positions.

This module imports without PyTorch; the network lives in
`astro_mlfinder.neural.models.convosource.network`.
"""

import dataclasses
import time

import numpy as np

from ....core.segmentation import Segmentation
from ..base import (
    NeuralModel,
    TrainingRecipe,
    boolean,
    non_negative_float,
    non_negative_int,
    per_axis,
    positive_int,
    probability,
)

__all__ = ["ConvoSourceModel"]


class ConvoSourceModel(NeuralModel):
    """ConvoSource (Lukic et al. 2019/2020) for 2D radio continuum images.

    Keywords (``None``: the value tuned and recorded with the weights, else
    the default in `defaults`):

    ``threshold``
        Probability a peak of the network's output must reach.
    ``nms_radius``
        Non-maximum suppression radius in pixels.
    ``grow_snr``
        Segments grow over connected pixels above this many local-noise sigma.
    ``min_snr``
        Drop a peak whose brightest data pixel (after ``snap``) is below this
        many local-noise sigma (0: keep every peak of the network).
    ``snap``
        Pixels a peak may move to reach the brightest data pixel.
    ``dilate``
        Pixels every segment grows by after the flood (default: half the
        beam FWHM when the image has a beam, else 1.5).
    ``background``
        Subtract the local background (median in the noise boxes,
        interpolated) before growing and measuring the sources, as radio
        continuum finders do; the catalogue is measured on the subtracted
        image (``products['background']``).
    ``tta``
        Test-time augmentation: average the network's probabilities over the
        eight flips and 90-degree rotations of the image (eight times the
        network time).
    ``tile_shape``, ``overlap``
        Tile size and overlap in pixels, int or (y, x).
    ``batch_size``
        Tiles per forward pass.
    ``max_source``
        Largest expected source extent in pixels (with the overlap it sets
        `margin`).
    """

    name = "convosource"
    ndim = 2
    description = "ConvoSource (Lukic et al. 2019) per-pixel CNN for 2D radio continuum images"
    networks = {"convosource": "astro_mlfinder.neural.models.convosource.network:ConvoSourceNet"}
    defaults = {
        "threshold": 0.5,
        "nms_radius": 3.0,
        "grow_snr": 2.0,
        "min_snr": 0.0,
        "snap": 1,
        "dilate": None,
        "background": True,
        "tta": False,
        "tile_shape": (256, 256),
        "overlap": (32, 32),
        "batch_size": 8,
        # the training images: resolved AGN reach ~6 beams each side of the core (beams up to 6 px)
        "max_source": (48, 48),
    }
    keywords = {
        "threshold": probability,
        "nms_radius": non_negative_float,
        "grow_snr": non_negative_float,
        "min_snr": non_negative_float,
        "snap": non_negative_int,
        "dilate": non_negative_float,
        "background": boolean,
        "tta": boolean,
        "tile_shape": per_axis(1),
        "overlap": per_axis(0),
        "batch_size": positive_int,
        "max_source": per_axis(0),
    }
    training = TrainingRecipe(
        function="astro_mlfinder.neural.models.convosource.training:train_convosource",
        data=(
            "simulated SDC1-like continuum images (astro_mlfinder.simulate.continuum) from the training seed "
            "range, beam, source density, flux slope and primary beam varied per image; every 50x50 tile of "
            "every image (empty ones included); target: one pixel per source with integrated S/N >= "
            "target_snr at its brightest model pixel; random flips and 90-degree rotations"
        ),
        loop=(
            "Adam with cosine decay, BCE with a positive-class weight (sqrt of the negative/positive pixel "
            "ratio, for the sparse one-pixel targets); after every epoch the whole inference pipeline runs on "
            "the validation images (validation seed range, every pixel scored); checkpoints every epoch and "
            "for the best epoch, resumable"
        ),
        tuning="threshold maximising F1 on the validation images at the end of training",
        command="astro-mlfinder train convosource --epochs N --output convosource.pt",
    )

    def predict(self, image, mask, progress):
        """Probability map, peaks and grown segments of a 2D image.

        Returns
        -------
        `~astro_mlfinder.core.segmentation.Segmentation`
            ``columns={'score': network probability at the peak}``,
            ``products={'probability': map, 'noise': local noise}``, and
            ``meta`` with the model, weights, parameters and timings.
        """
        from ..._torch import resolve_device
        from .inference import probability_map
        from .peaks import confirm_peaks, dilate_segments, find_peaks, grow_segments
        from .preprocess import DEFAULT_NORMALIZATION, local_background

        t0 = time.perf_counter()
        networks, info = self.load(progress)
        t_load = time.perf_counter() - t0
        image = image.loaded()
        data = np.array(image.read(), dtype=np.float32)
        if data.ndim != 2:
            raise ValueError(f"model 'convosource' searches 2D images (y, x); got shape {data.shape}")
        if mask is not None:
            data[mask] = np.nan
        params = self.inference_params()
        t1 = time.perf_counter()
        prob, noise = probability_map(
            networks["convosource"],
            data,
            normalization=info["meta"].get("normalization"),
            tile_shape=params["tile_shape"],
            overlap=params["overlap"],
            batch_size=params["batch_size"],
            device=self.device,
            progress=progress,
            tta=params["tta"],
        )
        t_net = time.perf_counter() - t1
        blank = ~np.isfinite(data)
        ys, xs, score = find_peaks(prob, params["threshold"], params["nms_radius"], mask=blank)
        products = {"probability": prob, "noise": noise}
        if params["background"]:
            box = dict(DEFAULT_NORMALIZATION, **(info["meta"].get("normalization") or {}))["box"]
            products["background"] = local_background(data, box)
            data = data - products["background"]
            image = dataclasses.replace(image, data=data)
        with np.errstate(invalid="ignore", divide="ignore"):
            snr = data / noise
        if params["min_snr"] > 0 and ys.size:   # before growing, so that a neighbour takes a dropped peak's island
            keep = confirm_peaks(snr, ys, xs, params["min_snr"], snap=params["snap"], mask=blank)
            ys, xs, score = ys[keep], xs[keep], score[keep]
        labels, _, _ = grow_segments(snr, ys, xs, grow_snr=params["grow_snr"], snap=params["snap"], mask=blank)
        dilate = params["dilate"]
        if dilate is None:
            area = float(image.beam_area)
            dilate = 0.5 * np.sqrt(area * 4 * np.log(2) / np.pi) if area > 1 else 1.5
        labels = dilate_segments(labels, dilate, mask=blank)
        labels, score = _renumber(labels, score)
        meta = {
            "model": self.name,
            "weights": info["weights"],
            "threshold": params["threshold"],
            "nms_radius": params["nms_radius"],
            "grow_snr": params["grow_snr"],
            "min_snr": params["min_snr"],
            "snap": params["snap"],
            "dilate": float(dilate),
            "background": params["background"],
            "tta": params["tta"],
            "device": str(resolve_device(self.device)),
            "normalization": info["meta"].get("normalization"),
            "n_peaks": int(ys.size),
            "timing": {
                "load_s": round(t_load, 3),
                "network_s": round(t_net, 3),
                "total_s": round(time.perf_counter() - t0, 3),
            },
        }
        return Segmentation(labels, columns={"score": score}, products=products, meta=meta, image=image)


def _renumber(labels, score):
    """Drop peaks without pixels; number the sources 1..N keeping the order of the peaks (by probability)."""
    n = score.size
    present = np.zeros(n + 1, dtype=bool)
    present[np.unique(labels)] = True
    present[0] = False
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[present] = np.arange(1, int(present.sum()) + 1, dtype=np.int32)
    return remap[labels], score[present[1:]]
