"""The ``pais`` model: PAIS / Morpheus-Deblend detection and partial-attribution deblending (2D optical).

* `PAISModel` (`~astro_mlfinder.neural.models.pais.model`) -- the model class
  registered as ``'pais'`` (imports without PyTorch);
* `PAISNet` (`~astro_mlfinder.neural.models.pais.network`) -- the torch
  network, imported on first access (needs PyTorch);
* `~astro_mlfinder.neural.models.pais.pcr` -- the Partial Contribution
  Representation (exact, from per-source images) and its inverse;
* `~astro_mlfinder.neural.models.pais.profiles`,
  `~astro_mlfinder.neural.models.pais.iterate` -- the profile-fit
  attribution and its iteration (centre refinement, residual sources);
* `~astro_mlfinder.neural.models.pais.losses`,
  `~astro_mlfinder.neural.models.pais.decode`,
  `~astro_mlfinder.neural.models.pais.inference`,
  `~astro_mlfinder.neural.models.pais.training` -- losses, decoding, tiled
  inference and the training recipe.
"""

from .model import PAISModel

__all__ = ["PAISModel", "PAISNet"]


def __getattr__(name):
    if name == "PAISNet":
        from ..._torch import require_torch

        require_torch(f"astro_mlfinder.neural.models.pais.{name}")
        from . import network

        return network.PAISNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
