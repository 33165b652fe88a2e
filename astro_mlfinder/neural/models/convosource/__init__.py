"""The ``convosource`` model: ConvoSource's fully convolutional CNN for 2D radio continuum images.

* `ConvoSourceModel` (`~astro_mlfinder.neural.models.convosource.model`) --
  the model class registered as ``'convosource'`` (imports without PyTorch);
* `ConvoSourceNet` (`~astro_mlfinder.neural.models.convosource.network`) --
  the torch network, imported on first access (needs PyTorch);
* `~astro_mlfinder.neural.models.convosource.preprocess`,
  `~astro_mlfinder.neural.models.convosource.peaks`,
  `~astro_mlfinder.neural.models.convosource.training` -- normalisation,
  peak finding and segment growing, and the training recipe.
"""

from .model import ConvoSourceModel

__all__ = ["ConvoSourceModel", "ConvoSourceNet"]


def __getattr__(name):
    if name == "ConvoSourceNet":
        from ..._torch import require_torch

        require_torch(f"astro_mlfinder.neural.models.convosource.{name}")
        from . import network

        return network.ConvoSourceNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
