"""Training the segmentation models (``unet3d``) on simulated or labelled cubes.

* `astro_mlfinder.neural.training.data` -- training crops: `SimulatedHIData`
  (``'sim:hi'``), `FitsPairData` (a directory of cube + mask pairs) and batch
  preparation;
* `astro_mlfinder.neural.training.loop` -- `train` (checkpoints, resuming,
  validation after every epoch) and `export_weights`;
* `astro_mlfinder.neural.training.tuning` -- the validation set,
  `evaluate_segmentation`, `tune_threshold` and `tune_checkpoint`;
* `astro_mlfinder.neural.training.heldapart` -- the held-apart set of
  telescope-like cubes (instruments, FITS conventions, galaxies and seeds the
  training never sees), `make_heldapart_set`.

The command line is ``astro-mlfinder train MODEL ...`` (``--tune CHECKPOINT``
and ``--export CHECKPOINT WEIGHTS`` for the tuning and export steps).
"""

from .data import FitsPairData, SimulatedHIData
from .heldapart import make_heldapart_set
from .loop import export_weights, train
from .tuning import evaluate_segmentation, make_validation_set, tune_checkpoint, tune_threshold

__all__ = [
    "train",
    "SimulatedHIData",
    "FitsPairData",
    "make_validation_set",
    "evaluate_segmentation",
    "tune_threshold",
    "tune_checkpoint",
    "export_weights",
    "make_heldapart_set",
]
