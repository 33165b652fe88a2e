"""`NeuralReliabilityScorer`: the ``'neural'`` candidate scorer of `~astro_mlfinder.ClassicalFinder`.

``ClassicalFinder(threshold=3.5, reliability='neural')`` scores every linked
candidate with the ``hi_reliability`` 3D CNN (cut-outs of data / noise, the
candidate's mask and the channel noise, plus scalar features; see
`~astro_mlfinder.neural.models.hi_reliability.features`), writes the score to
the catalogue's ``rel`` column and keeps the candidates whose score reaches
the threshold (by default the one tuned on the validation cubes and stored
with the weights). This module imports without PyTorch; creating a scorer
needs it.
"""

from pathlib import Path

import numpy as np

from ....core.progress import progress_bar
from ..._torch import require_torch
from .features import candidate_boxes, candidate_features, channel_noise

__all__ = ["NeuralReliabilityScorer", "DEFAULT_WEIGHTS"]

#: Registry name of the shipped weights.
DEFAULT_WEIGHTS = "hi_reliability"
_CHUNK = 256


class NeuralReliabilityScorer:
    """Score classical candidates with the ``hi_reliability`` network.

    Parameters
    ----------
    weights : str or path
        Registry name (default ``'hi_reliability'``, fetched and verified by
        `astro_mlfinder.neural.weights`) or a weights/checkpoint file.
    threshold : float, optional
        Minimum score of a kept candidate; None: the threshold tuned on the
        validation cubes and recorded with the weights.
    device : str
        Torch device (``'cpu'``, ``'cuda'``, ``'auto'``).
    batch_size : int
        Candidates per forward pass.

    Raises
    ------
    ImportError
        Without PyTorch (raised here, before any search).
    FileNotFoundError, `~astro_mlfinder.neural.weights.WeightsError`
        For a missing weights file or an unknown registry name.
    ValueError
        For a threshold outside [0, 1].
    """

    def __init__(self, weights=DEFAULT_WEIGHTS, threshold=None, device="cpu", batch_size=64):
        require_torch("reliability='neural'")
        from ...weights import get_entry

        self.weights = str(weights)
        self.device = device
        self.batch_size = int(batch_size)
        path = Path(self.weights).expanduser()
        self._entry = None
        if path.is_file():
            pass
        elif any(sep in self.weights for sep in ("/", "\\")) or self.weights.endswith((".pt", ".pth")):
            raise FileNotFoundError(f"reliability_neural_weights: weights file not found: {self.weights}")
        else:
            self._entry = get_entry(self.weights)
        if threshold is not None and not 0 <= float(threshold) <= 1:
            raise ValueError(f"reliability_neural_threshold must lie in [0, 1], got {threshold!r}")
        self._threshold = None if threshold is None else float(threshold)
        self._model = None
        self._meta = None

    @property
    def threshold(self):
        """The score threshold: the one given, else the one recorded with the weights."""
        if self._threshold is not None:
            return self._threshold
        inference = (self._entry or {}).get("inference")
        if inference and "threshold" in inference:
            return float(inference["threshold"])
        self._load()
        return float(self._meta.get("inference", {}).get("threshold", 0.5))

    @property
    def params(self):
        """What the catalogue metadata records about the scorer."""
        out = {"scorer": "neural", "weights": self.weights, "threshold": self.threshold}
        if self._entry is not None:
            out["version"] = self._entry.get("version")
        return out

    def _load(self):
        if self._model is None:
            from ..._torch import resolve_device
            from ...weights import load_weights
            from .network import ReliabilityCNN

            loaded = load_weights(self.weights)
            model = ReliabilityCNN(**loaded["config"])
            model.load_state_dict(loaded["state_dict"])
            self._device = resolve_device(self.device)
            self._model = model.to(self._device).eval()
            self._meta = loaded["meta"]
        return self._model

    def __call__(self, data, labels, n_candidates, *, progress=True):
        """Scores in [0, 1] of candidates 1..n of ``labels`` (a float64 array of length n)."""
        from .training import predict_scores

        n = int(n_candidates)
        scores = np.zeros(n)
        if n == 0:
            return scores
        model = self._load()
        rms = channel_noise(data)
        boxes = candidate_boxes(labels, n)
        for start in progress_bar(range(0, n, _CHUNK), desc="neural reliability", enabled=progress):
            stop = min(start + _CHUNK, n)
            # the chunk's candidates as labels 1..k, boxes cut from the full list
            sub = labels if n <= _CHUNK else np.where((labels > start) & (labels <= stop), labels - start, 0)
            cutouts, scalars = candidate_features(data, sub, stop - start, rms=rms, boxes=boxes[start:stop])
            scores[start:stop] = predict_scores(model, cutouts, scalars, batch_size=self.batch_size,
                                                device=self._device)
        return scores
