"""The ``deepfocus`` model: DeepFocus (Delli Veneri et al. 2022) for ALMA line cubes, six networks.

`DeepFocusModel.predict` runs `~astro_mlfinder.neural.models.deepfocus.pipeline.run_pipeline`
(integrated image -> Blobs Finder -> boxes -> spectra -> Deep GRU -> lines
-> spectral focusing and S/N rejection -> ResNets) and turns its sources
into a label cube -- each source's line window times its pixels (the
connected pixels of its focused line image above ``grow_snr`` times the
focused noise; with ``refine=False`` the whole box) -- and the extra
catalogue columns ``fwhm_x``, ``fwhm_y``, ``pa``, ``flux``, ``line_snr``
and ``score``.

This module imports without PyTorch; the networks live in
`astro_mlfinder.neural.models.deepfocus.networks`.
"""

import time

import astropy.units as u
import numpy as np

from ....core.segmentation import Segmentation
from ..base import NeuralModel, TrainingRecipe, boolean, non_negative_float, non_negative_int, positive_int, probability
from .defaults import DEFAULTS

__all__ = ["DeepFocusModel", "flux_quantity"]


def _focus_size(value, name, ndim):
    value = int(value)
    if value < 16 or value % 2:
        raise ValueError(f"{name} must be an even int >= 16 (64 in DeepFocus), got {value}")
    return value


def flux_quantity(flux_pix, image):
    """Fluxes (sums over pixels and channels of the data) as a Quantity.

    For Jy/beam data with a beam and a spectral axis: divided by the beam
    area in pixels and multiplied by the channel width -- Jy times the
    spectral unit (Jy Hz for a frequency axis, Jy km/s for velocity), as
    ``f_sum`` with ``physical=True``. Otherwise the data unit times channels.
    """
    flux_pix = np.asarray(flux_pix, dtype=np.float64)
    if image.unit == u.Jy / u.beam and image.beam and image.has_spectral:
        return flux_pix / image.beam_area * abs(image.spectral_cdelt) * (u.Jy * image.spectral_unit)
    return flux_pix * image.unit


def _gap(value, name, ndim):
    value = int(value)
    if value < -1:
        raise ValueError(f"{name} must be an int >= -1 (channels; -1: never merge windows that do not overlap), "
                         f"got {value}")
    return value


def _angle_quantity(pix, image):
    """Widths in pixels as arcsec when the image has a celestial WCS, else as pixels."""
    pix = np.asarray(pix, dtype=np.float64)
    if image.pixel_scale:
        return (pix * image.pixel_scale * u.deg).to(u.arcsec)
    return pix * u.pix


class DeepFocusModel(NeuralModel):
    """DeepFocus for ALMA (dirty) line cubes: where the sources are, their lines, sizes, PA and fluxes.

    Keywords (``None``: the value tuned and recorded with the weights, else
    `~astro_mlfinder.neural.models.deepfocus.defaults.DEFAULTS`):

    ``detection_threshold``
        Threshold on the min-max normalised Blobs Finder output (0.15).
    ``dilation``, ``min_area``
        Binary dilations of the thresholded map (3x3), smallest blob in pixels.
    ``split_distance``, ``split_contrast``
        Cut a blob between local maxima of the Blobs Finder output at least
        ``split_distance`` pixels apart whose saddle lies ``split_contrast``
        (fraction of the fainter maximum) below it (0: blobs stay whole).
    ``blob_spectrum``
        Sum each blob's spectrum over its own pixels (True, default) instead
        of its bounding box (False, DeepFocus), which may hold a neighbour's
        pixels.
    ``residual_passes``
        Passes of the Deep GRU over each box's spectrum with the lines found
        so far taken out, for fainter lines on the same line of sight (1).
    ``search_snr``
        Lines the Deep GRU missed: boxcar windows (3-24 channels) over the
        channels no line of the blob holds, kept as candidates when their
        focused peak S/N reaches this (8; 0: off; not in DeepFocus,
        `~astro_mlfinder.neural.models.deepfocus.search.search_lines`).
    ``peak_snr``
        Blobs the Blobs Finder missed: components of the peak-over-channels
        S/N image above this whose maximum lies outside every blob (15; 0:
        off; not in DeepFocus,
        `~astro_mlfinder.neural.models.deepfocus.search.peak_boxes`).
    ``max_window``
        Widest line window, channels: wider fits are cut to it and lines are
        not merged into a wider window (48; 0: no limit, as DeepFocus).
    ``peak_height``, ``peak_prominence``, ``peak_distance``
        Peak finding in the denoised spectra: height above the mean,
        prominence (normalised units) and minimum distance (channels).
    ``fit_half_window``, ``window_fwhm``
        Half-width of the 1D Gaussian fit (channels) and the line window in
        FWHM either side of the centre.
    ``regress_window_fwhm``
        The ResNets see the line summed over its fitted centre +- this many
        FWHM (never narrower than the line window; default: the line window).
    ``regress_level``
        The ResNets see the line summed over the channels where its denoised
        spectrum stays above this fraction of its peak (0.1, the truth's
        definition of a line's extent; never narrower than the line window);
        0: ``regress_window_fwhm`` decides.
    ``merge_valley``
        Two peaks are the horns of one line (one window) when the denoised
        spectrum between them stays above this fraction of the fainter one.
    ``focus_size``
        Side of the focused cut-outs (64).
    ``snr_keep``, ``snr_min``
        A line is kept when its focused peak S/N reaches ``snr_keep``, or
        reaches ``snr_min`` and the S/N of the all-channel image.
    ``grow_snr``, ``box_pad``
        The source's pixels: connected pixels of the line image above
        ``grow_snr`` x focused noise, within the blob box grown by ``box_pad``.
    ``max_lines``
        Most lines (sources) per blob.
    ``merge_radius``
        Two kept lines with overlapping windows and centres within this many
        pixels are one source (the brighter stays).
    ``merge_gap``
        Two kept lines within ``merge_radius`` pixels whose windows are at
        most this many channels apart are one line, their windows joined
        (-1: only overlapping windows).
    ``refine``
        Label the source's pixels (True) or the whole box (False) in the
        line window.
    ``batch_size``
        Cut-outs per ResNet forward pass.
    ``flux_rot180``
        Average the flux network's log flux over each cut-out and the
        cut-out rotated by 180 degrees, a symmetry of the point-symmetric
        dirty beam (not in DeepFocus; recorded True with weights fine-tuned
        with that rotation, 0.5.0).
    """

    name = "deepfocus"
    ndim = 3
    description = "DeepFocus (Delli Veneri et al. 2022): six networks for ALMA dirty line cubes"
    networks = {
        "blobsfinder": "astro_mlfinder.neural.models.deepfocus.networks:BlobsFinder",
        "deepgru": "astro_mlfinder.neural.models.deepfocus.networks:DeepGRU",
        "resnet_fwhm_x": "astro_mlfinder.neural.models.deepfocus.networks:ResNetRegressor",
        "resnet_fwhm_y": "astro_mlfinder.neural.models.deepfocus.networks:ResNetRegressor",
        "resnet_pa": "astro_mlfinder.neural.models.deepfocus.networks:ResNetRegressor",
        "resnet_flux": "astro_mlfinder.neural.models.deepfocus.networks:ResNetRegressor",
    }
    defaults = dict(DEFAULTS, refine=True)
    keywords = {
        "detection_threshold": probability,
        "dilation": non_negative_int,
        "min_area": positive_int,
        "split_distance": non_negative_int,
        "split_contrast": non_negative_float,
        "residual_passes": non_negative_int,
        "search_snr": non_negative_float,
        "peak_snr": non_negative_float,
        "blob_spectrum": boolean,
        "merge_gap": _gap,
        "peak_height": non_negative_float,
        "peak_prominence": non_negative_float,
        "peak_distance": positive_int,
        "fit_half_window": positive_int,
        "window_fwhm": non_negative_float,
        "regress_window_fwhm": non_negative_float,
        "regress_level": probability,
        "merge_valley": non_negative_float,
        "max_window": non_negative_int,
        "focus_size": _focus_size,
        "snr_keep": non_negative_float,
        "snr_min": non_negative_float,
        "grow_snr": non_negative_float,
        "box_pad": non_negative_int,
        "max_lines": positive_int,
        "merge_radius": non_negative_float,
        "refine": boolean,
        "batch_size": positive_int,
        "flux_rot180": boolean,
    }
    training = TrainingRecipe(
        function="astro_mlfinder.neural.models.deepfocus.training:train_deepfocus",
        data=(
            "simulated ALMA dirty cubes (astro_mlfinder.simulate.alma) from the training seed range; Blobs Finder: "
            "integrated dirty image -> integrated clean model (min-max, compressed by a power), random flips and "
            "90-degree rotations; Deep GRU: dirty -> clean spectra summed over the true, jittered and empty boxes; "
            "ResNets: 64x64 "
            "continuum-subtracted line images over the true line windows centred on the true positions"
        ),
        loop=(
            "stage 1: every network on the truth (Adam; L1 + DSSIM for the Blobs Finder, mean squared error for "
            "the Deep GRU, L1 for the ResNets); "
            "stage 2: the Deep GRU and the ResNets fine-tuned on the boxes, windows and positions the first "
            "stage's pipeline predicts on the training cubes (matched to the truth); a checkpoint per stage, "
            "resumable"
        ),
        tuning="pipeline thresholds maximising F1 on the validation cubes (validation seed range)",
        command="astro-mlfinder train deepfocus --output deepfocus/",
    )

    @property
    def margin(self):
        """The cube is searched whole; a tiled run needs the focus cut-out either side: (0, focus, focus)."""
        size = self.resolve_params()["focus_size"]
        return (0, int(size), int(size))

    def predict(self, image, mask, progress):
        """Run the DeepFocus pipeline on a cube.

        Returns
        -------
        `~astro_mlfinder.core.segmentation.Segmentation`
            Labels (line window x source pixels), ``columns`` ``fwhm_x``,
            ``fwhm_y`` (arcsec with a celestial WCS, else pixels), ``pa``
            (deg, counter-clockwise from the +y axis of the pixel grid, as
            the truth of `astro_mlfinder.simulate.alma`), ``flux``
            (`flux_quantity`), ``line_snr`` (focused peak S/N), ``score``
            (Blobs Finder maximum); ``products`` ``blobs`` and
            ``integrated``; ``meta`` with the model, weights, parameters,
            line windows and timings.
        """
        from ..._torch import resolve_device
        from .pipeline import run_pipeline

        t0 = time.perf_counter()
        image = image.loaded()
        data = np.asarray(image.read(), dtype=np.float32)
        if data.ndim != 3:
            raise ValueError(f"model 'deepfocus' searches cubes (z, y, x); got shape {data.shape}")
        if data.shape[0] < 16:
            raise ValueError(f"model 'deepfocus' needs a cube with at least 16 channels; got {data.shape[0]}")
        networks, info = self.load(progress)
        t_load = time.perf_counter() - t0
        params = self.inference_params()
        device = resolve_device(self.device)
        if mask is not None:
            data = np.where(mask, np.nan, data)
        t1 = time.perf_counter()
        sources, products = run_pipeline(data, networks, params, device=device)
        t_pipe = time.perf_counter() - t1
        labels = np.zeros(data.shape, dtype=np.int32)
        kept = []
        for src in sources:
            z0, z1 = src["window"]
            if params["refine"]:
                ys, xs = src["pixels"]
                plane = np.zeros(data.shape[1:], dtype=bool)
                plane[ys, xs] = True
            else:
                plane = np.zeros(data.shape[1:], dtype=bool)
                y0, y1, x0, x1 = src["box"]
                plane[y0:y1, x0:x1] = True
            region = labels[z0:z1]
            free = plane[None] & (region == 0)
            if not free.any():
                continue
            kept.append(src)
            region[free] = len(kept)
        col = lambda key: np.array([s[key] for s in kept], dtype=np.float64)  # noqa: E731
        columns = {
            "fwhm_x": _angle_quantity(col("fwhm_x"), image),
            "fwhm_y": _angle_quantity(col("fwhm_y"), image),
            "pa": col("pa") * u.deg,
            "flux": flux_quantity(col("flux"), image),
            "line_snr": col("snr"),
            "score": col("score"),
        }
        meta = {
            "model": self.name,
            "weights": info["weights"],
            "params": dict(params),
            "device": str(device),
            "n_candidates": len(sources),
            "boxes": [list(s["box"]) for s in kept],
            "windows": [list(s["window"]) for s in kept],
            "timing": {"load_s": round(t_load, 3), "pipeline_s": round(t_pipe, 3),
                       "total_s": round(time.perf_counter() - t0, 3)},
        }
        return Segmentation(labels, columns=columns, products=products, meta=meta)
