"""`NeuralModel`: the base class of every model behind `~astro_mlfinder.NeuralFinder`.

A model class lives in ``astro_mlfinder/neural/models/<name>/`` and declares,
as class attributes:

* ``name`` -- the registry name (``NeuralFinder(name)``);
* ``ndim`` -- the dimensionality of the data it accepts (2, 3 or (2, 3));
* ``networks`` -- the networks it needs, ``{network name: 'module:Class'}``
  of their `torch.nn.Module` classes; one weights file per network (``unet3d``
  has one, DeepFocus six);
* ``defaults`` -- its inference defaults (tile shape, overlap, batch size,
  threshold, minimum size...);
* ``keywords`` -- the keywords it accepts beyond those common to every
  model, ``{keyword: converter}``; a converter validates and normalises a
  value (see `probability`, `non_negative_int`, `per_axis`...);
* ``training`` -- its `TrainingRecipe`: the function that trains it and a
  description of the data, the loop and the tuning.

and implements `NeuralModel.predict` (data -> `~astro_mlfinder.core.segmentation.Segmentation`)
and `NeuralModel.margin`. The base class resolves, fetches and loads the
weights of every network (`NeuralModel.load`) and merges the inference
parameters (`NeuralModel.inference_params`). Importing a model class never
imports PyTorch; loading its networks does.
"""

import abc
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core.tiling import as_tuple

__all__ = [
    "NeuralModel",
    "TrainingRecipe",
    "COMMON_KEYWORDS",
    "import_object",
    "probability",
    "non_negative_int",
    "non_negative_float",
    "positive_int",
    "boolean",
    "per_axis",
]

#: Keywords of `~astro_mlfinder.NeuralFinder` common to every model (not forwarded as model keywords).
COMMON_KEYWORDS = ("model", "device", "weights", "progress")


def import_object(path):
    """Import ``'package.module:attr'`` (or ``'package.module.attr'``) and return the attribute."""
    module, _, attr = str(path).partition(":")
    if not attr:
        module, _, attr = str(path).rpartition(".")
    return getattr(importlib.import_module(module), attr)


# ----------------------------------------------------------------- keyword converters
def probability(value, name, ndim):
    """A float in [0, 1) (a detection threshold)."""
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def _integral(value, name):
    """``value`` as an int; a bool, a fraction or text that is not an integer is refused, not truncated."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            value = text
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if not number.is_integer():
        raise ValueError(f"{name} must be an integer, got {value!r} (it is not rounded for you)")
    return int(number)


def non_negative_int(value, name, ndim):
    """An int >= 0."""
    value = _integral(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def non_negative_float(value, name, ndim):
    """A float >= 0."""
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def positive_int(value, name, ndim):
    """An int >= 1."""
    value = _integral(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def boolean(value, name, ndim):
    """A bool."""
    return bool(value)


def per_axis(minimum=0):
    """Converter of an int or per-axis sequence to a tuple of ``ndim`` ints >= ``minimum`` (`as_tuple`)."""

    def convert(value, name, ndim):
        return as_tuple(value, ndim, name, minimum=minimum)

    convert.__doc__ = f"An int or a per-axis tuple of ints >= {minimum}."
    return convert


@dataclass(frozen=True)
class TrainingRecipe:
    """How a model is trained.

    Attributes
    ----------
    function : str
        ``'module:function'`` called as ``function(model_name, **kwargs)``
        (`NeuralModel.train`); for ``unet3d``
        `astro_mlfinder.neural.training.train`.
    data : str
        The training data: simulator, crops, balancing, augmentation.
    loop : str
        Loss, optimiser, schedule, validation, checkpoints.
    tuning : str
        How the inference parameters recorded with the weights are chosen.
    command : str
        The command line that runs it (``astro-mlfinder train ...``).
    """

    function: str
    data: str = ""
    loop: str = ""
    tuning: str = ""
    command: str = ""

    def load(self):
        """Import and return the training function."""
        return import_object(self.function)


@dataclass
class _Loaded:
    networks: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


class NeuralModel(abc.ABC):
    """A trained model: its networks, weights, inference parameters and predict step.

    Parameters
    ----------
    weights : str or path, optional
        A registry name, ``'name@version'``, a local weights file (models with
        one network) or a directory holding ``<network>.pt`` for every network.
        Default: the newest registered weights of the model.
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or ``'mps'``.
    progress : bool
        Show a download progress bar when fetching weights.
    **kwargs
        The model's own `keywords`; ``None`` means the value recorded with the
        weights, else the model's `defaults`.

    Raises
    ------
    TypeError
        For a keyword the model does not accept (the message lists those it does).
    ValueError
        For an invalid value or device.
    """

    #: Registry name.
    name = None
    #: Accepted dimensionality of the data: 2, 3 or (2, 3).
    ndim = 3
    #: One-line description.
    description = ""
    #: ``{network name: 'module:Class'}`` of the torch modules the model needs (one weights file each).
    networks = {}
    #: Inference defaults.
    defaults = {}
    #: ``{keyword: converter(value, name, ndim)}`` of the model's own keywords.
    keywords = {}
    #: The `TrainingRecipe`.
    training = None
    #: Why the model cannot run tile by tile through `astro_mlfinder.distributed` (the error a tiled call
    #: raises), or None when its segmentation can be cut into tiles and merged.
    untiled_reason = None
    #: True if the model's catalogues carry an attribution (pixels shared between sources, e.g. PAIS):
    #: ``write_products`` then writes ``_deblended.fits``, and ``astro-mlfinder find`` checks that path too
    #: before the search.
    attributes_flux = False

    def __init__(self, *, weights=None, device="auto", progress=True, **kwargs):
        from .._torch import resolve_device

        self.params = self.validate(kwargs)
        resolve_device(device)  # fail early on an unknown or unavailable device
        self.device = device
        self.weights = None if weights is None else str(weights)
        self.progress = bool(progress)
        self._loaded = None

    # ------------------------------------------------------------ keywords
    @classmethod
    def data_ndim(cls):
        """The largest accepted dimensionality (the length of per-axis parameters)."""
        return max(cls.ndim) if isinstance(cls.ndim, tuple) else int(cls.ndim)

    @classmethod
    def validate(cls, kwargs):
        """Check and normalise the model keywords; return ``{keyword: value or None}`` for every keyword.

        Raises `TypeError` for an unknown keyword, naming it and listing the accepted ones.
        """
        unknown = sorted(set(kwargs) - set(cls.keywords))
        if unknown:
            accepted = ", ".join(list(COMMON_KEYWORDS) + list(cls.keywords))
            raise TypeError(
                f"model {cls.name!r} got an unexpected keyword {unknown[0]!r}"
                + (f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else "")
                + f"; NeuralFinder({cls.name!r}) accepts: {accepted}"
            )
        params = {}
        for key, convert in cls.keywords.items():
            value = kwargs.get(key)
            try:
                params[key] = None if value is None else convert(value, key, cls.data_ndim())
            except (TypeError, ValueError) as err:
                if key in str(err):
                    raise
                # a converter's own int()/float() error does not say which keyword was wrong
                raise type(err)(f"{key} of model {cls.name!r}: {err} (got {value!r})") from None
        return params

    # ------------------------------------------------------------ networks and weights
    @classmethod
    def network_class(cls, network=None):
        """Import and return the `torch.nn.Module` class of ``network`` (default: the first one)."""
        from .._torch import require_torch

        require_torch(f"model {cls.name!r}")
        if network is None:
            network = next(iter(cls.networks))
        if network not in cls.networks:
            raise ValueError(f"model {cls.name!r} has no network {network!r}; its networks: {', '.join(cls.networks)}")
        return import_object(cls.networks[network])

    def _weights_sources(self):
        """``{network: (source, version)}`` for `~astro_mlfinder.neural.weights.load_weights`."""
        names = list(self.networks)
        if self.weights is None:
            return {n: (self.name, None) for n in names}
        path = Path(self.weights).expanduser()
        if path.is_file():
            if len(names) > 1:
                raise ValueError(
                    f"model {self.name!r} needs {len(names)} networks ({', '.join(names)}); "
                    f"give a registry name or a directory holding <network>.pt files, not the file {path}"
                )
            return {names[0]: (str(path), None)}
        if path.is_dir():
            out = {}
            for n in names:
                found = [p for p in (path / f"{n}.pt", path / f"{n}.pth") if p.is_file()]
                if not found:
                    raise FileNotFoundError(f"weights directory {path} has no {n}.pt for network {n!r}")
                out[n] = (str(found[0]), None)
            return out
        name, _, version = self.weights.partition("@")
        return {n: (name, version or None) for n in names}

    def load(self, progress=None):
        """Load (once) the weights of every network; return ``(networks, info)``.

        ``progress`` switches the download progress bar (default: the
        model's ``progress``); ``False`` shows none.

        ``networks`` maps network names to `torch.nn.Module` in eval mode on
        the model's device; ``info`` holds ``meta`` (the metadata recorded with
        the first network's weights: normalisation, tuned inference
        parameters, training recipe), ``inference`` (the recorded inference
        parameters) and ``weights`` (provenance: registry name, version, and
        file, sha256 and architecture config of every network).
        """
        if self._loaded is not None:
            return self._loaded.networks, self._loaded.info
        from .._torch import resolve_device
        from ..weights import load_weights, sha256sum

        device = resolve_device(self.device)
        networks, files, metas, entry = {}, {}, {}, None
        for network, (source, version) in self._weights_sources().items():
            show = self.progress if progress is None else bool(progress and self.progress)
            payload = load_weights(source, version, network=network, progress=show)
            if payload["model"] is not None and payload["model"] != self.name:
                raise ValueError(f"weights {payload['path']} are for model {payload['model']!r}, not {self.name!r}")
            net = self.network_class(network).from_config(payload["config"])
            net.load_state_dict(payload["state_dict"])
            net.eval()
            net.to(device)
            networks[network] = net
            metas[network] = payload["meta"]
            entry = entry or payload["registry"]
            files[network] = {
                "file": str(payload["path"]),
                "sha256": payload["sha256"] or sha256sum(payload["path"]),
                "config": payload["config"],
            }
        entry = entry or {}
        meta = metas[next(iter(networks))]
        weights = {"name": entry.get("name"), "version": entry.get("version")}
        if len(files) == 1:
            weights.update(next(iter(files.values())))
        weights["files"] = files
        info = {"meta": meta, "inference": dict(meta.get("inference") or {}), "weights": weights, "metas": metas}
        self._loaded = _Loaded(networks, info)
        return networks, info

    def __getstate__(self):
        # a pickled model (a tiled run on other processes) reloads its weights where it runs
        state = dict(self.__dict__)
        state["_loaded"] = None
        return state

    # ------------------------------------------------------------ parameters
    def inference_params(self):
        """Effective inference parameters.

        For every keyword: the constructor value, else the value recorded with
        the weights, else the model's default.
        """
        _, info = self.load()
        return self.resolve_params(info.get("inference", {}))

    def resolve_params(self, recorded=None):
        """Merge constructor values, ``recorded`` values and `defaults` (in that order of precedence)."""
        recorded = recorded or {}
        out = {}
        for key, convert in self.keywords.items():
            value = self.params.get(key)
            if value is None and recorded.get(key) is not None:
                value = convert(recorded[key], key, self.data_ndim())
            if value is None and self.defaults.get(key) is not None:
                value = convert(self.defaults[key], key, self.data_ndim())
            out[key] = value
        return out

    @property
    def margin(self):
        """Per-axis overlap a tile of the data needs: tile overlap plus the largest expected source.

        The sum of the ``overlap`` and ``max_source`` inference parameters, one
        value per axis; a model that plans its tiles otherwise (unet3d,
        deepfocus) overrides it.
        """
        params = self.inference_params()
        return tuple(int(o + m) for o, m in zip(params["overlap"], params["max_source"], strict=True))

    # ------------------------------------------------------------ the model's own parts

    @abc.abstractmethod
    def predict(self, image, mask, progress):
        """Search ``image``; return a `~astro_mlfinder.core.segmentation.Segmentation`.

        ``image`` is an `~astro_mlfinder.core.inputs.ImageData`, ``mask`` (bool
        array or None) marks excluded pixels, ``progress`` switches progress bars.
        """

    @classmethod
    def train(cls, **kwargs):
        """Train the model with its `TrainingRecipe` (``recipe.function(cls.name, **kwargs)``)."""
        if cls.training is None:
            raise ValueError(f"model {cls.name!r} declares no training recipe")
        return cls.training.load()(cls.name, **kwargs)

    def __repr__(self):
        items = [f"weights={self.weights!r}", f"device={self.device!r}"]
        items += [f"{k}={v!r}" for k, v in self.params.items() if v is not None]
        return f"{type(self).__name__}({', '.join(items)})"
