"""Registry of the neural network models known to `~astro_mlfinder.NeuralFinder`.

Models are registered by name with the dotted path of their class, so the
registry can be inspected (and a wrong name reported) without importing
PyTorch. A model class is imported only when it is built.

Each registered model is described by a `ModelSpec`: the class, the data
dimensionality it accepts, and the *runner*, the function that turns an
`~astro_mlfinder.core.inputs.ImageData` into a
`~astro_mlfinder.core.catalog.SourceCatalog` with that model (for ``unet3d``:
`astro_mlfinder.neural.inference.run_segmentation`). New models plug in with
`register_model`.
"""

import importlib
from dataclasses import dataclass, field

__all__ = ["ModelSpec", "available_models", "get_model_spec", "register_model"]


def _import_object(path):
    module, _, attr = path.partition(":")
    if not attr:
        module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class ModelSpec:
    """Description of one registered model.

    Attributes
    ----------
    name : str
        Registry name (``NeuralFinder(name)``).
    model_class : str
        ``'package.module:ClassName'`` of the `torch.nn.Module`; the class must
        provide ``from_config(config)`` and a ``config`` dict attribute.
    runner : str
        ``'package.module:function'`` called as
        ``runner(finder, image, mask, progress) -> SourceCatalog``.
    ndim : int or tuple
        Dimensionality of the data the model accepts.
    description : str
        One-line description.
    defaults : dict
        Default inference parameters (tile shape, overlap, ...) of the model.
    """

    name: str
    model_class: str
    runner: str
    ndim: int | tuple = 3
    description: str = ""
    defaults: dict = field(default_factory=dict)

    def load_class(self):
        """Import and return the model class (imports PyTorch)."""
        from .._torch import require_torch

        require_torch(f"model {self.name!r}")
        return _import_object(self.model_class)

    def load_runner(self):
        """Import and return the runner function."""
        return _import_object(self.runner)


_REGISTRY = {}


def register_model(name, model_class, runner, *, ndim=3, description="", defaults=None, replace=False):
    """Register a model under ``name``.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``'unet3d'``.
    model_class, runner : str
        Dotted paths (``'module:attr'``) of the model class and of the runner.
    ndim : int or tuple of int
        Dimensionality of the accepted data (2, 3 or (2, 3)).
    description : str
        One-line description.
    defaults : dict, optional
        Default inference parameters.
    replace : bool
        Allow replacing an existing registration.

    Returns
    -------
    spec : `ModelSpec`
    """
    key = str(name).lower()
    if key in _REGISTRY and not replace:
        raise ValueError(f"a model named {key!r} is already registered; pass replace=True to override it")
    spec = ModelSpec(key, model_class, runner, ndim, description, dict(defaults or {}))
    _REGISTRY[key] = spec
    return spec


def available_models():
    """Return the sorted names of the registered models."""
    return sorted(_REGISTRY)


def get_model_spec(name):
    """Return the `ModelSpec` registered as ``name``.

    Raises
    ------
    ValueError
        If no model of that name is registered; the message lists the known ones.
    """
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown neural model {name!r}; known models: {', '.join(available_models())}")
    return _REGISTRY[key]


register_model(
    "unet3d",
    "astro_mlfinder.neural.models.unet3d:UNet3D",
    "astro_mlfinder.neural.inference:run_segmentation",
    ndim=3,
    description="HISF large-kernel 3D U-Net (Unet-LK, Song et al. 2024) for HI cubes",
    defaults={
        "tile_shape": (256, 128, 128),
        "overlap": (64, 32, 32),
        "batch_size": 1,
        "min_size": 16,
    },
)
