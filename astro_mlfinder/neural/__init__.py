"""Neural source finders (PyTorch, optional).

Importing this package does not need PyTorch; using a network does, and then
raises ``ImportError: ... needs PyTorch: pip install 'astro_mlfinder[neural]'``
if it is missing.

* `NeuralFinder` -- ``NeuralFinder('unet3d')(cube)`` returns a
  `~astro_mlfinder.SourceCatalog` with a ``score`` column and a
  ``probability`` product;
* `train` -- train a model with its recipe on simulated (``'sim:hi'``) or
  labelled data (`astro_mlfinder.neural.training`);
* `fetch`, `fetch_all`, `list_weights`, `load_weights`, `verify` -- the
  weights registry and cache;
* `available_models`, `get_model`, `register_model` -- the model registry
  (one `~astro_mlfinder.neural.models.base.NeuralModel` class per model).
"""

from .finder import NeuralFinder
from .models import (
    available_models,
    get_model,
    get_model_spec,
    hi_reliability,  # noqa: F401  (registers the 'neural' candidate scorer of ClassicalFinder)
    register_model,
)
from .weights import fetch, fetch_all, list_weights, load_weights, verify

__all__ = [
    "NeuralFinder",
    "available_models",
    "get_model",
    "get_model_spec",
    "register_model",
    "train",
    "fetch",
    "fetch_all",
    "list_weights",
    "load_weights",
    "verify",
]


def train(model_name="unet3d", **kwargs):
    """Train a model with its training recipe (for ``unet3d``: `astro_mlfinder.neural.training.train`).

    ``kwargs`` go to the recipe's function; returns its result (the history).
    """
    return get_model(model_name).train(**kwargs)
