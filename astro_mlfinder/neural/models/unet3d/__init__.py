"""The ``unet3d`` model: HISF's large-kernel 3D U-Net for HI cubes.

* `Unet3DModel` (`~astro_mlfinder.neural.models.unet3d.model`) -- the model
  class registered as ``'unet3d'``: defaults, keywords, predict, training
  recipe (imports without PyTorch);
* `UNet3D`, `SpectralRebin`, `spectral_rebin`, `spectral_upsample`,
  `rebinned_length` (`~astro_mlfinder.neural.models.unet3d.network`) -- the
  torch network and the spectral rebinning, imported on first access (they
  need PyTorch).
"""

from .model import Unet3DModel

__all__ = ["Unet3DModel", "UNet3D", "SpectralRebin", "spectral_rebin", "spectral_upsample", "rebinned_length"]

_NETWORK_NAMES = {"UNet3D", "SpectralRebin", "spectral_rebin", "spectral_upsample", "rebinned_length"}


def __getattr__(name):
    if name in _NETWORK_NAMES:
        from ..._torch import require_torch

        require_torch(f"astro_mlfinder.neural.models.unet3d.{name}")
        from . import network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
