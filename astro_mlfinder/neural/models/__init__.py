"""Registry of the neural models known to `~astro_mlfinder.NeuralFinder`.

Each model is a `~astro_mlfinder.neural.models.base.NeuralModel` subclass in
``astro_mlfinder/neural/models/<name>/``, registered by name with
`register_model`. Model classes import without PyTorch (their networks are
imported when loaded), so the registry can be inspected, and a wrong name
reported, without it.

Registered here: ``unet3d`` (`~astro_mlfinder.neural.models.unet3d.Unet3DModel`),
``convosource`` (`~astro_mlfinder.neural.models.convosource.ConvoSourceModel`),
``deepfocus`` (`~astro_mlfinder.neural.models.deepfocus.DeepFocusModel`) and
``pais`` (`~astro_mlfinder.neural.models.pais.PAISModel`).
"""

from .base import NeuralModel, TrainingRecipe, import_object
from .convosource.model import ConvoSourceModel
from .deepfocus.model import DeepFocusModel
from .pais.model import PAISModel
from .unet3d.model import Unet3DModel

__all__ = [
    "NeuralModel",
    "TrainingRecipe",
    "available_models",
    "get_model",
    "get_model_spec",
    "register_model",
]

_REGISTRY = {}


def register_model(model, *, replace=False):
    """Register a model class under its ``name``.

    Parameters
    ----------
    model : type or str
        A `~astro_mlfinder.neural.models.base.NeuralModel` subclass, or the
        ``'package.module:Class'`` path of one (imported now; a model module
        must not need PyTorch at import time).
    replace : bool
        Allow replacing an existing registration.

    Returns
    -------
    type
        The registered class.

    Raises
    ------
    ValueError
        If the name is taken (and ``replace`` is False).
    TypeError
        If ``model`` is not a `NeuralModel` subclass with a name.
    """
    if isinstance(model, str):
        model = import_object(model)
    if not (isinstance(model, type) and issubclass(model, NeuralModel)) or not model.name:
        raise TypeError(f"register_model expects a NeuralModel subclass with a name, got {model!r}")
    key = str(model.name).lower()
    if key in _REGISTRY and not replace:
        raise ValueError(f"a model named {key!r} is already registered; pass replace=True to override it")
    _REGISTRY[key] = model
    return model


def available_models():
    """Return the sorted names of the registered models."""
    return sorted(_REGISTRY)


def get_model(name):
    """Return the model class registered as ``name`` (case-insensitive).

    Raises
    ------
    ValueError
        If no model of that name is registered; the message lists the known ones.
    """
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown neural model {name!r}; known models: {', '.join(available_models())}")
    return _REGISTRY[key]


#: Same as `get_model` (the name used before models became classes).
get_model_spec = get_model

register_model(Unet3DModel)
register_model(ConvoSourceModel)
register_model(DeepFocusModel)
register_model(PAISModel)
