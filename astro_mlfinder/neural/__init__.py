"""Neural source finders (PyTorch, optional).

Importing this package does not need PyTorch; using a network does, and then
raises ``ImportError: ... needs PyTorch: pip install 'astro_mlfinder[neural]'``
if it is missing.

* `NeuralFinder` -- ``NeuralFinder('unet3d')(cube)`` returns a
  `~astro_mlfinder.SourceCatalog` with a ``score`` column and a
  ``probability`` product;
* `train` -- train a model on simulated (``'sim:hi'``) or labelled data;
* `fetch`, `list_weights`, `verify` -- the weights registry and cache;
* `available_models`, `register_model` -- the model registry.
"""

from .finder import NeuralFinder
from .models import available_models, get_model_spec, register_model
from .weights import fetch, list_weights, load_weights, verify

__all__ = [
    "NeuralFinder",
    "available_models",
    "get_model_spec",
    "register_model",
    "train",
    "fetch",
    "list_weights",
    "load_weights",
    "verify",
]


def train(model_name="unet3d", **kwargs):
    """Train a model; see `astro_mlfinder.neural.training.train` (imported lazily)."""
    from .training import train as _train

    return _train(model_name, **kwargs)
