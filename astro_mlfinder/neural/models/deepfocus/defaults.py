"""Default parameters of the DeepFocus pipeline (a module without imports, so the model class imports light)."""

__all__ = ["DEFAULTS", "FWHM_SCALE"]

#: Default pipeline parameters (the model keywords; the tuned values are recorded with the weights).
DEFAULTS = {
    "detection_threshold": 0.15,
    "dilation": 1,
    "min_area": 4,
    "peak_height": 0.1,
    "peak_prominence": 0.05,
    "peak_distance": 10,
    "fit_half_window": 10,
    "window_fwhm": 1.0,
    "focus_size": 64,
    "snr_keep": 6.0,
    "snr_min": 3.0,
    "grow_snr": 2.5,
    "box_pad": 4,
    "max_lines": 3,
    "merge_radius": 3.0,
    "batch_size": 32,
}

#: FWHM targets of the ResNets are in units of this many pixels.
FWHM_SCALE = 10.0
