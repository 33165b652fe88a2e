"""`NeuralFinder`: source finding with a trained model, one `SourceCatalog` out."""

import numpy as np

from ..core.finder import Finder
from ._torch import require_torch
from .models import available_models, get_model
from .vetting import make_scorer, vet_segmentation, vetted_defaults

__all__ = ["NeuralFinder"]


class NeuralFinder(Finder):
    """Find sources with a trained neural model.

    The same thin wrapper for every registered model: the model class
    (`astro_mlfinder.neural.models`) declares the accepted dimensionality,
    its networks and defaults, validates its own keywords and segments the
    data; the finder measures the sources like every other finder.

    Parameters
    ----------
    model : str
        Registered model name (``'unet3d'``: the HISF large-kernel 3D U-Net
        for HI cubes). An unknown name raises `ValueError` listing the known
        models.
    device : str
        ``'auto'`` (CUDA if available, else CPU), ``'cpu'``, ``'cuda'``,
        ``'cuda:N'`` or ``'mps'``.
    weights : str or path, optional
        A registry name (``'unet3d'``), ``'name@version'``, a local
        weights/checkpoint file, or a directory of ``<network>.pt`` files for
        models with several networks. Default: the newest registered weights
        of ``model``, fetched on first use (see `astro_mlfinder.neural.weights`).
    progress : bool
        Show progress bars (also switchable per call).
    physical : bool
        Report fluxes and widths in physical units (e.g. ``f_sum`` in
        Jy km/s for a Jy/beam cube with a beam), as ``ClassicalFinder`` and
        SoFiA-2's ``parameter.physical`` do.
    name_prefix : str
        Prefix of the source names (SoFiA-2's ``parameter.prefix``).
    reliability : str or None
        None (default): keep every source the model segments. ``'neural'`` (a
        candidate scorer of `astro_mlfinder.core.scorers`; cubes only): score
        every source with the ``hi_reliability`` 3D CNN, keep the sources of at
        least ``reliability_size`` voxels and the smaller ones whose score
        reaches ``reliability_threshold``, and put the score in the ``rel``
        column (`astro_mlfinder.neural.vetting`). It works with a lower model
        threshold and minimum size than the model alone: the model keywords
        and the two below that are left as None take the configuration tuned
        on validation cubes (`~astro_mlfinder.neural.vetting.VETTED_DEFAULTS`;
        for unet3d ``threshold=0.02, min_size=128, reliability_threshold=0.7,
        reliability_size=256``, docs/finders/unet3d.rst).
    reliability_threshold : float or None
        Minimum score of a kept small source; None: the tuned value of
        ``VETTED_DEFAULTS``, else the threshold stored with the scorer's weights.
    reliability_size : int or None
        Sources of at least this many voxels are kept whatever their score
        (0: every source is vetted); None: the tuned value, else 0.
    reliability_weights : str or None
        The scorer's weights (registry name or file); None: its default.
    **model_kwargs
        Keywords of the model; ``unet3d`` accepts ``threshold``,
        ``min_size``, ``tile_shape``, ``overlap``, ``batch_size``, ``tta``
        and ``max_source`` (see `~astro_mlfinder.neural.models.unet3d.Unet3DModel`).
        ``None`` (the default of each) means the value tuned and recorded with
        the weights, else the model's default. An unknown keyword raises
        `TypeError` naming it and listing those the model accepts.

    Examples
    --------
    >>> from astro_mlfinder import NeuralFinder
    >>> cat = NeuralFinder("unet3d")(cube)                       # doctest: +SKIP
    >>> cat.to_table()["id", "x", "y", "z", "f_sum", "score"]    # doctest: +SKIP
    >>> NeuralFinder("unet3d", threshold=0.2, tta=True)          # doctest: +SKIP
    """

    name = "neural"
    ndim = (2, 3)

    def __init__(
        self,
        model="unet3d",
        *,
        device="auto",
        weights=None,
        progress=True,
        physical=False,
        name_prefix="SoFiA",
        reliability=None,
        reliability_threshold=None,
        reliability_size=None,
        reliability_weights=None,
        **model_kwargs,
    ):
        model_class = get_model(model)
        if not isinstance(name_prefix, str):
            raise TypeError(f"name_prefix must be a string, got {type(name_prefix).__name__}")
        if reliability is None:  # a scorer's option without the scorer would be ignored silently
            given = [name for name, value in (("reliability_threshold", reliability_threshold),
                                              ("reliability_size", reliability_size),
                                              ("reliability_weights", reliability_weights))
                     if value is not None and not (name == "reliability_size" and value == 0)]  # 0: get_params
            if given:
                raise ValueError(f"{', '.join(given)} only apply with reliability='neural' (a candidate scorer); "
                                 "pass reliability or leave them unset")
        require_torch("NeuralFinder")
        if reliability is not None:
            model_kwargs, reliability_threshold, reliability_size = vetted_defaults(
                model_class.name, model_kwargs, reliability_threshold, reliability_size)
        elif reliability_size is None:
            reliability_size = 0
        self.neural_model = model_class(weights=weights, device=device, progress=progress, **model_kwargs)
        self._scorer = None
        if reliability is not None:  # created now: a missing scorer, weights or bad keyword fails before a search
            self._scorer = make_scorer(reliability, reliability_weights, reliability_threshold, reliability_size,
                                       model_class)
        self.reliability = reliability
        self.reliability_threshold = None if reliability_threshold is None else float(reliability_threshold)
        self.reliability_size = int(reliability_size)
        self.reliability_weights = reliability_weights
        self.model = model_class.name
        self.device = device
        self.weights = self.neural_model.weights
        self.progress = bool(progress)
        self.physical = bool(physical)
        self.name_prefix = name_prefix
        self.ndim = model_class.ndim
        self.name = model_class.name

    @staticmethod
    def available_models():
        """Names of the registered models."""
        return available_models()

    def get_params(self):
        """Every constructor parameter, the model's keywords included (``NeuralFinder(**params)`` re-creates it)."""
        params = {
            "model": self.model,
            "device": self.device,
            "weights": self.weights,
            "progress": self.progress,
            "physical": self.physical,
            "name_prefix": self.name_prefix,
            "reliability": self.reliability,
            "reliability_threshold": self.reliability_threshold,
            "reliability_size": self.reliability_size,
            "reliability_weights": self.reliability_weights,
        }
        params.update(self.neural_model.params)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}

    def load_model(self):
        """Load (once) the model's networks; return ``(networks, info)``.

        See `astro_mlfinder.neural.models.base.NeuralModel.load`.
        """
        return self.neural_model.load()

    def inference_params(self):
        """Effective inference parameters: constructor values, else recorded with the weights, else defaults."""
        return self.neural_model.inference_params()

    @property
    def untiled_reason(self):
        """Why the model cannot run tile by tile (its ``untiled_reason``), or None."""
        return getattr(self.neural_model, "untiled_reason", None)

    @property
    def margin(self):
        """Per-axis overlap (z, y, x) a tile needs: the model's tile overlap plus its largest expected source."""
        return self.neural_model.margin

    def segment(self, image, mask, progress):
        """Run the model's predict step on ``image``; return its `~astro_mlfinder.core.segmentation.Segmentation`.

        The catalogue options shared by every finder (``physical``,
        ``name_prefix``) are set on the segmentation here, so each model need
        not know them.
        """
        segmentation = self.neural_model.predict(image, mask, bool(progress and self.progress))
        if self._scorer is not None:
            data = (segmentation.image if segmentation.image is not None else image).read()
            if mask is not None:
                data = np.where(mask, np.float32(np.nan), data)
            segmentation = vet_segmentation(segmentation, data, self._scorer, self.reliability_size,
                                            bool(progress and self.progress))
        segmentation.physical = self.physical
        segmentation.name_prefix = self.name_prefix
        return segmentation
