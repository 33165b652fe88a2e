"""The ``pais`` model: detection and partial-attribution deblending of overlapping optical sources.

`PAISModel.predict`:

1. **Sky and noise** (`~astro_mlfinder.neural.models.pais.inference.sky_and_noise`):
   sigma-clipped global sky and noise; the sky is subtracted (``background``)
   and the network sees ``asinh((data - sky) / noise)``.
2. **Network** (`~astro_mlfinder.neural.models.pais.inference.predict_outputs`):
   the centre-of-mass heatmap, ``k`` claim vectors and ``k`` claim-map logits
   per pixel, on overlapping tiles of the training cut-out size
   (`~astro_mlfinder.core.tiling.plan_tiles`, blended).
3. **Decoding** (`~astro_mlfinder.neural.models.pais.decode.decode_outputs`):
   centres by non-maximum suppression of the heatmap (``threshold``,
   ``nms_radius``); the footprint (smoothed image above ``footprint_snr``
   times its noise, islands holding a centre, grown by ``dilate``); every
   footprint pixel's flux split among the centres by Moffat-sum models
   fitted at the centres (``attribution='profiles'``; the centres first
   refined by the fit, ``refine``, and the sources the fit's residual shows
   added, ``residual_gain``) or by the claim maps (``'claims'``).

The catalogue (`~astro_mlfinder.SourceCatalog`) labels each footprint pixel
with its largest-attribution source (so the usual columns are measured on
disjoint segments, as for every finder) and adds:

* ``x``, ``y`` -- the centre of each source (the sub-pixel heatmap peak, or
  the residual peak of a source the fit added, refined by the fit with
  ``refine``; they replace the centroid of the disjoint segment, which is
  biased for a source overlapped by a brighter one; ``sky_centroid``
  follows them);
* ``score`` -- the heatmap peak of each source (the heatmap at the centre of
  an added one);
* ``flux`` -- the deblended flux ``sum(attribution * data)``, in the data unit;
* ``cat.attribution`` -- the ``(n_src, y, x)`` fractions (summing to 1 inside
  the footprint, 0 outside) and ``cat.deblended_images`` -- ``attribution *
  data`` (see `astro_mlfinder.core.attribution`).

This module imports without PyTorch; the network lives in
`astro_mlfinder.neural.models.pais.network`.
"""

import dataclasses
import time

import numpy as np
from astropy import units as u

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

__all__ = ["PAISModel"]


def _attribution_mode(value, name, ndim):
    """``'profiles'`` or ``'claims'``."""
    if value not in ("profiles", "claims"):
        raise ValueError(f"{name} must be 'profiles' or 'claims', got {value!r}")
    return value


class PAISModel(NeuralModel):
    """PAIS (Hausen & Robertson 2022): detection and partial-attribution deblending of 2D optical images.

    Keywords (``None``: the value tuned and recorded with the weights, else
    the default in `defaults`):

    ``threshold``
        Heatmap value a centre must reach (non-maximum suppression).
    ``nms_radius``
        Half-width of the suppression window, pixels.
    ``sharpen``
        Search the peaks in the heatmap minus this many times its Laplacian
        of Gaussian (`~astro_mlfinder.neural.models.pais.decode.sharpen_heatmap`:
        a faint neighbour's shoulder becomes a peak); 0: the heatmap itself.
    ``footprint_snr``
        The footprint is the image smoothed by ``smooth`` above this many
        times its noise.
    ``smooth``
        Gaussian sigma (pixels) of that smoothing.
    ``dilate``
        Pixels the footprint grows by.
    ``background``
        Subtract the sigma-clipped sky before attributing and measuring.
    ``attribution``
        How a footprint pixel's flux is split among the sources:
        ``'profiles'`` (default) in proportion to Moffat-sum models fitted to
        the image at the network's centres
        (`~astro_mlfinder.neural.models.pais.profiles`), ``'claims'`` by the
        network's claim maps alone (PAIS as published).
    ``refine``
        With ``'profiles'``: iterations moving every centre to the windowed
        centroid of its deblended image before the final fit
        (`~astro_mlfinder.neural.models.pais.iterate`); 0: the network's
        centres.
    ``residual_gain``
        With ``'profiles'``: add the sources that the residual of the profile
        fit shows and whose profile lowers the fit's chi-square by more than
        this (iterative detection as DAOPHOT's; the heatmap's shoulders); 0:
        only the network's detections.
    ``prune``
        With ``'profiles'``: then drop, one at a time, the sources whose
        removal raises the chi-square of their island's profile fit by less
        than this (the backward step of a stepwise selection: a galaxy split
        into two centres, a centre on what the model misses of a bright
        galaxy); 0: every detection kept.
    ``tta``
        Average the network outputs over the 8 flips and transposes of each
        tile (test-time augmentation; 8 times the network time).
    ``tile_shape``, ``overlap``
        Tile size and overlap in pixels, int or (y, x).
    ``batch_size``
        Tiles per forward pass.
    ``max_source``
        Largest expected source extent in pixels (with the overlap it sets
        `margin`).
    """

    name = "pais"
    ndim = 2
    attributes_flux = True
    untiled_reason = ("NeuralFinder('pais') does not run tile by tile (tiles=, max_memory=, client=): its "
                      "attribution array and network centres belong to the whole image, which it already "
                      "covers in overlapping tiles itself; call it without those arguments")
    description = "PAIS (Hausen & Robertson 2022) detection and partial-attribution deblending of optical images"
    networks = {"pais": "astro_mlfinder.neural.models.pais.network:PAISNet"}
    defaults = {
        "threshold": 0.3,
        "nms_radius": 2,
        "sharpen": 0.0,
        "footprint_snr": 2.0,
        "smooth": 1.0,
        "dilate": 2,
        "background": True,
        "attribution": "profiles",
        "refine": 6,
        "residual_gain": 5.0,
        "prune": 7.0,
        "tta": False,
        "tile_shape": (64, 64),
        "overlap": (16, 16),
        "batch_size": 8,
        "max_source": (48, 48),
    }
    keywords = {
        "threshold": probability,
        "nms_radius": non_negative_int,
        "sharpen": non_negative_float,
        "footprint_snr": non_negative_float,
        "smooth": non_negative_float,
        "dilate": non_negative_int,
        "background": boolean,
        "attribution": _attribution_mode,
        "refine": non_negative_int,
        "residual_gain": non_negative_float,
        "prune": non_negative_float,
        "tta": boolean,
        "tile_shape": per_axis(1),
        "overlap": per_axis(0),
        "batch_size": positive_int,
        "max_source": per_axis(0),
    }
    training = TrainingRecipe(
        function="astro_mlfinder.neural.models.pais.training:train_pais",
        data=(
            "simulated optical blends (astro_mlfinder.simulate.blends: 1-6 overlapping Sersic galaxies and stars, "
            "Moffat PSF, sky, read and Poisson noise) from the training seed range, one cut-out per seed; targets: "
            "the exact Partial Contribution Representation of the per-source noise-free images (pcr.encode_pcr); "
            "random flips and 90-degree rotations"
        ),
        loop=(
            "Adam with cosine decay; heatmap MSE, claim-vector MAE, claim-map cross-entropy and entropy "
            "regulariser (losses.pais_loss); checkpoints every epoch (best validation F1 kept), resumable"
        ),
        tuning=("heatmap threshold, NMS radius, sharpening and test-time augmentation maximising F1, then the "
                "footprint minimising the median flux error, on the validation seeds at the end of training"),
        command="astro-mlfinder train pais --epochs N --output pais.pt",
    )

    def predict(self, image, mask, progress):
        """Heatmap, claims and attribution of a 2D image.

        Returns
        -------
        `~astro_mlfinder.core.segmentation.Segmentation`
            ``columns={'x', 'y', 'score', 'flux'}``,
            ``products={'attribution': (n_src, y, x), 'heatmap', 'footprint'}``
            and ``meta`` with the model, weights, parameters, sky, noise and timings.
        """
        from ..._torch import resolve_device
        from .decode import decode_outputs
        from .inference import normalize, predict_outputs, sky_and_noise

        t0 = time.perf_counter()
        image = image.loaded()
        data = np.array(image.read(), dtype=np.float64)
        if data.ndim != 2:
            raise ValueError(f"model 'pais' searches 2D images (y, x); got shape {data.shape}")
        if mask is not None:
            data[mask] = np.nan
        sky, noise = sky_and_noise(data)  # fails early on an image without noise, before loading weights
        networks, info = self.load(progress)
        t_load = time.perf_counter() - t0
        params = self.inference_params()
        t1 = time.perf_counter()
        heatmap, vectors, logits = predict_outputs(
            networks["pais"], normalize(data, sky, noise), tile_shape=params["tile_shape"],
            overlap=params["overlap"], batch_size=params["batch_size"], device=self.device, progress=progress,
            tta=params["tta"],
        )
        t_net = time.perf_counter() - t1
        work = data - sky if params["background"] else data
        out = decode_outputs(heatmap, vectors, logits, work, noise, threshold=params["threshold"],
                             radius=params["nms_radius"], footprint_snr=params["footprint_snr"],
                             smooth=params["smooth"], dilate=params["dilate"], attribution=params["attribution"],
                             sharpen=params["sharpen"], refine=params["refine"],
                             residual_gain=params["residual_gain"], prune=params["prune"])
        if params["background"]:
            image = dataclasses.replace(image, data=work.astype(image.data.dtype, copy=False))
        unit = image.unit if image.unit is not None else u.dimensionless_unscaled
        columns = {
            "x": u.Quantity(out["centres"][:, 1], u.pix),
            "y": u.Quantity(out["centres"][:, 0], u.pix),
            "score": out["score"],
            "flux": u.Quantity(out["flux"], unit),
        }
        products = {"attribution": out["attribution"], "heatmap": heatmap, "footprint": out["footprint"]}
        meta = {
            "model": self.name,
            "weights": info["weights"],
            **{key: (list(v) if isinstance(v, tuple) else v) for key, v in params.items()},
            "sky": float(sky),
            "noise": float(noise),
            "device": str(resolve_device(self.device)),
            "normalization": info["meta"].get("normalization"),
            "timing": {"load_s": round(t_load, 3), "network_s": round(t_net, 3),
                       "total_s": round(time.perf_counter() - t0, 3)},
        }
        return Segmentation(out["labels"], columns=columns, products=products, meta=meta, image=image)
