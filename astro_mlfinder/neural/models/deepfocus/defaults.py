"""Default parameters of the DeepFocus pipeline (a module without imports, so the model class imports light)."""

__all__ = ["DEFAULTS", "FWHM_SCALE", "NETWORK_NAMES", "CPU_CONFIGS", "PAPER_CONFIGS"]

#: Default pipeline parameters (the model keywords; the tuned values are recorded with the weights).
DEFAULTS = {
    "detection_threshold": 0.15,
    "dilation": 1,
    "min_area": 4,
    "split_distance": 6,
    "split_contrast": 0.2,
    "residual_passes": 1,
    "search_snr": 8.0,
    "peak_snr": 15.0,
    "blob_spectrum": True,
    "merge_gap": 2,
    "peak_height": 0.1,
    "peak_prominence": 0.05,
    "peak_distance": 10,
    "fit_half_window": 10,
    "window_fwhm": 1.0,
    "regress_window_fwhm": None,
    "regress_level": 0.1,
    "merge_valley": 0.5,
    "max_window": 48,
    "focus_size": 64,
    "snr_keep": 6.0,
    "snr_min": 3.0,
    "grow_snr": 2.5,
    "box_pad": 4,
    "max_lines": 5,
    "merge_radius": 6.0,
    "batch_size": 32,
    "flux_rot180": False,
}

#: FWHM targets of the ResNets are in units of this many pixels.
FWHM_SCALE = 10.0

#: The six networks of the model, in pipeline order.
NETWORK_NAMES = ("blobsfinder", "deepgru", "resnet_fwhm_x", "resnet_fwhm_y", "resnet_pa", "resnet_flux")

#: The published sizes (Blobs Finder 33.7 M parameters, ResNets 11 M each).
PAPER_CONFIGS = {
    "blobsfinder": {"inputs": ["sum"], "widths": [8, 16, 32, 64], "hidden": 1024, "image_size": 256},
    "deepgru": {"hidden": 32, "layers": 1},
    "resnet_fwhm_x": {"widths": [64, 128, 256, 512], "head": 128, "out_features": 1},
    "resnet_fwhm_y": {"widths": [64, 128, 256, 512], "head": 128, "out_features": 1},
    "resnet_pa": {"widths": [64, 128, 256, 512], "head": 128, "out_features": 2},
    "resnet_flux": {"widths": [64, 128, 256, 512], "head": 128, "out_features": 1},
}

#: The small CPU variant shipped with the package.
CPU_CONFIGS = {
    "blobsfinder": {"inputs": ["sum", "peak"], "widths": [8, 16, 32, 64], "hidden": 0, "image_size": None,
                    "skips": True, "norm": "group"},
    "deepgru": {"hidden": 32, "layers": 1},
    "resnet_fwhm_x": {"widths": [8, 16, 32, 64], "head": 32, "out_features": 1},
    "resnet_fwhm_y": {"widths": [8, 16, 32, 64], "head": 32, "out_features": 1},
    "resnet_pa": {"widths": [8, 16, 32, 64], "head": 32, "out_features": 2},
    "resnet_flux": {"widths": [8, 16, 32, 64], "head": 32, "out_features": 1},
}
