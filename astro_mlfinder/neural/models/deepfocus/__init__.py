"""The ``deepfocus`` model: DeepFocus (Delli Veneri et al. 2022) for ALMA line cubes.

* `DeepFocusModel` (`~astro_mlfinder.neural.models.deepfocus.model`) -- the
  model class registered as ``'deepfocus'`` (imports without PyTorch);
* `BlobsFinder`, `DeepGRU`, `ResNetRegressor`
  (`~astro_mlfinder.neural.models.deepfocus.networks`) -- the six torch
  networks' classes, imported on first access (need PyTorch);
* `~astro_mlfinder.neural.models.deepfocus.pipeline`,
  `~astro_mlfinder.neural.models.deepfocus.spectral`,
  `~astro_mlfinder.neural.models.deepfocus.focus`,
  `~astro_mlfinder.neural.models.deepfocus.training` -- the pipeline stages
  and the training recipe.
"""

from .model import DeepFocusModel

__all__ = ["DeepFocusModel", "BlobsFinder", "DeepGRU", "ResNetRegressor"]


def __getattr__(name):
    if name in ("BlobsFinder", "DeepGRU", "ResNetRegressor"):
        from ..._torch import require_torch

        require_torch(f"astro_mlfinder.neural.models.deepfocus.{name}")
        from . import networks

        return getattr(networks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
