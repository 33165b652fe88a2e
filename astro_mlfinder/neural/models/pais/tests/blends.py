"""Hand-made Gaussian blends for the PAIS tests (exact per-source images)."""

import numpy as np

__all__ = ["gaussian_blend"]


def gaussian_blend(centres, fluxes, sigmas, shape=(64, 64), noise=1.0, seed=0):
    """``(data, models)``: circular Gaussians at ``centres`` ((y, x) pixels) plus white noise of rms ``noise``."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    models = np.stack([
        f / (2 * np.pi * s**2) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s**2))
        for (cy, cx), f, s in zip(centres, fluxes, sigmas, strict=True)
    ])
    rng = np.random.default_rng(seed)
    data = models.sum(axis=0) + rng.normal(0.0, noise, shape)
    return data, models
