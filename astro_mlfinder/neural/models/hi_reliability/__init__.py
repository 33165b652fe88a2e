"""``hi_reliability``: a small 3D CNN that scores the candidates of `~astro_mlfinder.ClassicalFinder`.

``ClassicalFinder(threshold=3.5, reliability='neural')`` runs SoFiA-2's
smooth-and-clip at a low threshold and keeps the candidates this network
scores as galaxies; their ``rel`` column is the score.

* `~astro_mlfinder.neural.models.hi_reliability.features` -- cut-outs and scalar features (numpy);
* `~astro_mlfinder.neural.models.hi_reliability.network` -- the network (PyTorch);
* `~astro_mlfinder.neural.models.hi_reliability.data` -- simulated training/validation candidates and labels;
* `~astro_mlfinder.neural.models.hi_reliability.training` -- the training loop, checkpoints, threshold tuning;
* `~astro_mlfinder.neural.models.hi_reliability.scorer` -- `NeuralReliabilityScorer`, registered as the
  ``'neural'`` candidate scorer of `astro_mlfinder.core.scorers` when this package is imported (no PyTorch
  needed to register).
"""

from ....core.scorers import register_scorer
from .scorer import DEFAULT_WEIGHTS, NeuralReliabilityScorer

__all__ = ["NeuralReliabilityScorer", "DEFAULT_WEIGHTS"]

register_scorer("neural", NeuralReliabilityScorer)
