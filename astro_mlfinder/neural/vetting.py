"""Vetting a neural segmentation with a candidate scorer: ``NeuralFinder(..., reliability='neural')``.

A segmentation network keeps a source when enough of its voxels pass the
probability threshold; small sources are where its mistakes are (noise peaks
and fragments of faint galaxies). `vet_segmentation` lets a model segment at
a lower probability threshold and minimum size, then scores every source
with a candidate scorer registered in `astro_mlfinder.core.scorers`
(``'neural'``: the ``hi_reliability`` 3D CNN, which reads a cut-out of the
data, the source's mask and the channel noise) and keeps

* every source of at least ``keep_size`` voxels, as the model alone would;
* a smaller source only when its score reaches the scorer's threshold.

The score becomes the catalogue's ``rel`` column. The option is measured in
``benchmarks/detection_hi.py`` (method ``unet3d + neural rel``).

`VETTED_DEFAULTS` holds, per model, the keywords that
``NeuralFinder(model, reliability='neural')`` uses for those the caller
leaves out: the configuration tuned for unet3d 0.1.0 and hi_reliability
0.1.0 on validation cubes (seeds 4,000,600-4,000,645; docs/finders/unet3d.rst).
"""

import dataclasses

import numpy as np

__all__ = ["VETTED_DEFAULTS", "make_scorer", "vet_segmentation", "vetted_defaults"]

#: Keywords of ``NeuralFinder(model, reliability='neural')`` left out by the caller: model threshold and
#: minimum size (lower than the model alone uses), score threshold and the size kept whatever the score.
VETTED_DEFAULTS = {
    "unet3d": {"threshold": 0.02, "min_size": 128, "reliability_threshold": 0.7, "reliability_size": 256},
}


def vetted_defaults(model, model_kwargs, reliability_threshold, reliability_size):
    """Fill the keywords a vetted ``model`` run leaves as None from `VETTED_DEFAULTS`.

    Parameters
    ----------
    model : str
        The model's name.
    model_kwargs : dict
        The model keywords given to `~astro_mlfinder.NeuralFinder`; a copy is returned.
    reliability_threshold : float or None
        Given score threshold (None: the tuned one, else the scorer's own default).
    reliability_size : int or None
        Given size kept whatever the score (None: the tuned one, else 0).

    Returns
    -------
    model_kwargs, reliability_threshold, reliability_size
    """
    tuned = VETTED_DEFAULTS.get(model, {})
    model_kwargs = dict(model_kwargs)
    for key in ("threshold", "min_size"):
        if model_kwargs.get(key) is None and key in tuned:
            model_kwargs[key] = tuned[key]
    if reliability_threshold is None:
        reliability_threshold = tuned.get("reliability_threshold")
    if reliability_size is None:
        reliability_size = tuned.get("reliability_size", 0)
    return model_kwargs, reliability_threshold, reliability_size


def make_scorer(name, weights=None, threshold=None, keep_size=0, model=None):
    """The candidate scorer ``name`` of `astro_mlfinder.core.scorers`, created now (missing weights or
    PyTorch are reported before any search).

    Parameters
    ----------
    name : str
        A registered scorer name (``'neural'``).
    weights : str or path, optional
        The scorer's weights (registry name or file); None: its default.
    threshold : float, optional
        Minimum score of a kept small source; None: the scorer's default (tuned with its weights).
    keep_size : int
        Checked here: a non-negative integer (see `vet_segmentation`).
    model : `~astro_mlfinder.neural.models.base.NeuralModel` subclass, optional
        Checked here: it must find sources in cubes.

    Raises
    ------
    ValueError
        For an unregistered name, a threshold outside [0, 1], a negative ``keep_size`` or a 2D model.
    """
    from ..core.scorers import get_scorer

    if not isinstance(name, str):
        raise ValueError(f"reliability must be None or the name of a candidate scorer such as 'neural', got {name!r}")
    if model is not None and model.ndim != 3:
        raise ValueError(f"reliability={name!r} scores sources in cubes; model {model.name!r} finds sources in "
                         "images: leave reliability=None")
    if isinstance(keep_size, bool) or not isinstance(keep_size, int | np.integer) or keep_size < 0:
        raise ValueError(f"reliability_size must be a non-negative integer, got {keep_size!r}")
    options = {}
    if weights is not None:
        options["weights"] = weights
    if threshold is not None:
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise ValueError(f"reliability_threshold must be a number in [0, 1], got {threshold!r}") from None
        if not 0 <= threshold <= 1:
            raise ValueError(f"reliability_threshold must lie in [0, 1], got {threshold!r}")
        options["threshold"] = threshold
    return get_scorer(name, **options)


def vet_segmentation(segmentation, data, scorer, keep_size=0, progress=True):
    """Score the sources of ``segmentation`` and drop the small ones the scorer rejects.

    Parameters
    ----------
    segmentation : `~astro_mlfinder.core.segmentation.Segmentation`
        A model's sources (labels 1..N of a cube).
    data : `~numpy.ndarray`
        The searched cube (NaN = blank or masked).
    scorer : callable
        A candidate scorer (`astro_mlfinder.core.scorers`): ``scorer(data, labels, n, progress=...)``
        returns N scores in [0, 1]; ``scorer.threshold`` is its threshold.
    keep_size : int
        Sources of at least this many voxels are kept whatever their score (0: every source is vetted).
    progress : bool
        Show the scorer's progress bar.

    Returns
    -------
    `~astro_mlfinder.core.segmentation.Segmentation`
        The kept sources renumbered 1..K in their former order, every column cut to them, a ``rel``
        column (the score) and ``meta['reliability']`` (scorer, threshold, keep_size, candidates, kept).
    """
    labels = np.asarray(segmentation.labels)
    if labels.ndim != 3:
        raise ValueError(f"reliability vetting needs a cube, got labels of shape {labels.shape}")
    n = int(labels.max()) if labels.size else 0
    threshold = float(scorer.threshold)
    scores = np.asarray(scorer(data, labels, n, progress=progress), dtype=float) if n else np.zeros(0)
    if scores.shape != (n,):
        raise RuntimeError(f"the candidate scorer returned {scores.shape} scores for {n} sources")
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = (scores >= threshold) | ((int(keep_size) > 0) & (sizes >= int(keep_size)))
    lut = np.zeros(n + 1, dtype=labels.dtype)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1)
    columns = {name: value[keep] for name, value in segmentation.columns.items()}
    columns["rel"] = scores[keep]
    meta = dict(segmentation.meta)
    meta["reliability"] = {**getattr(scorer, "params", {}), "threshold": threshold, "keep_size": int(keep_size),
                           "candidates": n, "kept": int(keep.sum())}
    return dataclasses.replace(segmentation, labels=lut[labels], columns=columns, meta=meta)
