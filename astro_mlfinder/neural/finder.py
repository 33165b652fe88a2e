"""`NeuralFinder`: source finding with a trained network, one `SourceCatalog` out."""

from ..core.finder import Finder
from ._torch import require_torch, resolve_device
from .models import available_models, get_model_spec

__all__ = ["NeuralFinder"]


def _triple(value, name):
    if value is None:
        return None
    if isinstance(value, int | float):
        value = (value,) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3 or any(v < 0 for v in value):
        raise ValueError(f"{name} must be a non-negative int or a (z, y, x) triple, got {value}")
    return value


class NeuralFinder(Finder):
    """Find sources with a trained neural network.

    Parameters
    ----------
    model : str
        Registered model name (``'unet3d'``: the HISF large-kernel 3D U-Net
        for HI cubes). An unknown name raises `ValueError` listing the known
        models.
    device : str
        ``'auto'`` (CUDA if available, else CPU), ``'cpu'``, ``'cuda'``,
        ``'cuda:N'`` or ``'mps'``.
    threshold : float, optional
        Probability above which a voxel belongs to a source. Default: the
        value tuned on the validation set and recorded with the weights
        (0.5 if none is recorded).
    min_size : int, optional
        Minimum number of voxels of a source (default: recorded with the
        weights, else the model's default).
    tile_shape, overlap : int or (z, y, x) tuple, optional
        Sliding-window tile size and overlap in native voxels (defaults:
        (256, 128, 128) and (64, 32, 32) for ``unet3d``). Tiles are rounded
        to multiples of the network's divisor after spectral rebinning.
    batch_size : int, optional
        Tiles per forward pass (default 1).
    weights : str or path, optional
        A registry name (``'unet3d'``), ``'name@version'``, or a local
        weights/checkpoint file. Default: the newest registered weights of
        ``model``, fetched on first use (see `astro_mlfinder.neural.weights`).
    tta : bool, optional
        Test-time augmentation: average the predictions of the cube and its
        flips along z, y and x (4x slower). Default: as recorded with the
        weights (False if not recorded).
    progress : bool
        Show progress bars (also switchable per call).

    Examples
    --------
    >>> from astro_mlfinder import NeuralFinder
    >>> cat = NeuralFinder("unet3d")(cube)                       # doctest: +SKIP
    >>> cat.to_table()["id", "x", "y", "z", "f_sum", "score"]    # doctest: +SKIP
    """

    name = "neural"
    ndim = (2, 3)

    def __init__(
        self,
        model="unet3d",
        *,
        device="auto",
        threshold=None,
        min_size=None,
        tile_shape=None,
        overlap=None,
        batch_size=None,
        weights=None,
        tta=None,
        progress=True,
    ):
        spec = get_model_spec(model)
        require_torch("NeuralFinder")
        if threshold is not None and not 0 <= float(threshold) < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        if min_size is not None and int(min_size) < 0:
            raise ValueError(f"min_size must be >= 0, got {min_size}")
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        resolve_device(device)  # fail early on an unknown or unavailable device
        self.model = spec.name
        self.device = device
        self.threshold = None if threshold is None else float(threshold)
        self.min_size = None if min_size is None else int(min_size)
        self.tile_shape = _triple(tile_shape, "tile_shape")
        self.overlap = _triple(overlap, "overlap")
        self.batch_size = None if batch_size is None else int(batch_size)
        self.weights = None if weights is None else str(weights)
        self.tta = None if tta is None else bool(tta)
        self.progress = bool(progress)
        self.ndim = spec.ndim
        self.name = spec.name
        self._spec = spec
        self._loaded = None

    @staticmethod
    def available_models():
        """Names of the registered models."""
        return available_models()

    def _weights_source(self):
        if self.weights is None:
            return self.model, None
        from pathlib import Path

        if Path(self.weights).expanduser().is_file():
            return self.weights, None
        if "@" in self.weights:
            name, version = self.weights.split("@", 1)
            return name, version
        return self.weights, None

    def load_model(self):
        """Load (once) and return ``(network, info)``; ``info`` holds the weights' metadata."""
        if self._loaded is not None:
            return self._loaded
        from .weights import load_weights

        source, version = self._weights_source()
        payload = load_weights(source, version, progress=self.progress)
        if payload["model"] is not None and payload["model"] != self.model:
            raise ValueError(f"weights {payload['path']} are for model {payload['model']!r}, not {self.model!r}")
        cls = self._spec.load_class()
        net = cls.from_config(payload["config"])
        net.load_state_dict(payload["state_dict"])
        net.eval()
        net.to(resolve_device(self.device))
        meta = payload["meta"]
        entry = payload["registry"] or {}
        from .weights import sha256sum

        info = {
            "normalization": meta.get("normalization"),
            "rebin": meta.get("rebin", [6, 4]),
            "inference": meta.get("inference", {}),
            "weights": {
                "name": entry.get("name"),
                "version": entry.get("version"),
                "file": str(payload["path"]),
                "sha256": entry.get("sha256") or sha256sum(payload["path"]),
                "config": payload["config"],
            },
        }
        self._loaded = (net, info)
        return self._loaded

    def inference_params(self):
        """Effective inference parameters.

        Constructor values, else the values recorded with the weights, else the model defaults.
        """
        _, info = self.load_model()
        recorded = info.get("inference", {})
        defaults = self._spec.defaults

        def pick(key, fallback):
            value = getattr(self, key)
            if value is not None:
                return value
            if recorded.get(key) is not None:
                return recorded[key]
            return defaults.get(key, fallback)

        return {
            "threshold": float(pick("threshold", 0.5)),
            "min_size": int(pick("min_size", 16)),
            "tile_shape": tuple(pick("tile_shape", (256, 128, 128))),
            "overlap": tuple(pick("overlap", (64, 32, 32))),
            "batch_size": int(pick("batch_size", 1)),
            "tta": bool(pick("tta", False)),
        }

    def _find(self, image, mask, progress):
        runner = self._spec.load_runner()
        return runner(self, image, mask, bool(progress and self.progress))
