"""Training and validation candidates of the ``hi_reliability`` network, from simulated HI cubes.

* **cubes** -- one simulated HI cube (`astro_mlfinder.simulate.simulate_hi_cube`)
  per seed of `TRAINING_SEEDS` (validation: `VALIDATION_SEEDS`; the two ranges
  never meet, and benchmarks must use seeds outside both). Each seed draws
  its cube's choices (`cube_settings`): 96, 128 or 160 channels of 96 x 96
  pixels, 8-16 galaxies with integrated S/N log-uniform in 1.5-40, and, for
  70 % of the cubes, random instrumental realism (beam 2-5 pixels, channel
  width, noise level and its channel-to-channel variation, noisy channels,
  RFI, baseline ripples, continuum residuals, galaxies cut by the edges or
  sharing a sightline: ``realism='realistic'``).
* **candidates** -- the sources of a candidate finder (a
  `~astro_mlfinder.ClassicalFinder` at a low threshold, 3-3.5, without
  reliability filter or dilation, given by the caller: the neural floor
  does not import the classical one) run on the cube.
* **label** (`label_candidates`) -- a candidate is a true galaxy when at least
  half of its positive flux (the sum of its positive voxel values) lies
  inside the truth mask of a single simulated galaxy; otherwise it is noise
  or an artefact.
* **features** -- `~astro_mlfinder.neural.models.hi_reliability.features.candidate_features`.
"""

import numpy as np

from ....core.progress import progress_bar
from .features import candidate_features

__all__ = ["TRAINING_SEEDS", "VALIDATION_SEEDS", "MIN_FLUX_FRACTION", "cube_settings", "make_cube",
           "label_candidates", "cube_candidates", "build_candidates"]

#: Seeds of the training cubes (cube ``i`` uses ``TRAINING_SEEDS[i]``).
TRAINING_SEEDS = range(3_000_000, 3_100_000)
#: Seeds of the validation cubes (model selection and threshold tuning).
VALIDATION_SEEDS = range(4_000_000, 4_001_000)
#: Fraction of a candidate's positive flux that must lie inside one galaxy's truth mask.
MIN_FLUX_FRACTION = 0.5


def cube_settings(seed):
    """Simulation keywords of cube ``seed`` (drawn from the seed): ``shape``, ``n_sources``, ``snr_range``,
    ``realism`` (None or ``'realistic'``) and ``finder`` (index into the candidate finders)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E11AB]))
    return {
        "shape": (int(rng.choice([96, 128, 160])), 96, 96),
        "n_sources": int(rng.integers(8, 17)),
        "snr_range": (1.5, 40.0),
        "realism": "realistic" if rng.random() < 0.7 else None,
        "finder": int(rng.integers(1 << 16)),
    }


def make_cube(seed):
    """The simulated cube of ``seed`` (an `~astro_mlfinder.simulate.HISimulation`)."""
    import warnings

    from ....simulate import simulate_hi_cube

    kw = cube_settings(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate_hi_cube(kw["shape"], kw["n_sources"], seed=int(seed), snr_range=kw["snr_range"],
                                realism=kw["realism"])


def label_candidates(data, labels, n_candidates, truth_labels, min_fraction=MIN_FLUX_FRACTION):
    """Which candidates are true galaxies, and which galaxy each one is.

    Parameters
    ----------
    data : `~numpy.ndarray`
        The cube.
    labels : `~numpy.ndarray` of int
        Candidate labels 1..n.
    n_candidates : int
        Number of candidates.
    truth_labels : `~numpy.ndarray` of int
        Truth masks of the simulated galaxies (ids 1..m).
    min_fraction : float
        Fraction of the candidate's positive flux that must lie in one galaxy's mask.

    Returns
    -------
    is_true : `~numpy.ndarray` of bool, shape (n,)
    galaxy : `~numpy.ndarray` of int, shape (n,)
        The galaxy id holding most of the candidate's positive flux (0 if none).
    """
    n = int(n_candidates)
    sel = np.asarray(labels) > 0
    cand = np.asarray(labels)[sel].astype(np.int64)
    gal = np.asarray(truth_labels)[sel].astype(np.int64)
    flux = np.clip(np.nan_to_num(np.asarray(data)[sel], nan=0.0), 0, None).astype(np.float64)
    total = np.bincount(cand, weights=flux, minlength=n + 1)[1:]
    galaxy = np.zeros(n, dtype=np.int64)
    is_true = np.zeros(n, dtype=bool)
    inside = gal > 0
    if inside.any():
        span = int(gal.max()) + 1
        keys, idx = np.unique(cand[inside] * span + gal[inside], return_inverse=True)
        sums = np.bincount(idx, weights=flux[inside])
        best = np.zeros(n + 1)
        for key, value in zip(keys, sums, strict=True):
            c, g = divmod(int(key), span)
            if value > best[c]:
                best[c], galaxy[c - 1] = value, g
        with np.errstate(invalid="ignore", divide="ignore"):
            is_true = (total > 0) & (best[1:] >= min_fraction * total)
    galaxy[~is_true] = 0
    return is_true, galaxy


def cube_candidates(seed, finders, *, max_negatives=40):
    """Candidates of cube ``seed``: features, labels and the integrated S/N of their galaxy.

    Parameters
    ----------
    seed : int
        Cube seed.
    finders : sequence of `~astro_mlfinder.Finder`
        Candidate finders; the cube uses ``finders[settings['finder'] % len(finders)]``.
    max_negatives : int
        At most this many noise candidates are kept per cube (a seeded random
        subset); all true ones are kept.

    Returns
    -------
    dict
        ``cutouts``, ``scalars``, ``label`` (1 = galaxy), ``snr`` (the galaxy's
        integrated S/N, NaN for noise) and ``seed`` per candidate.
    """
    sim = make_cube(seed)
    finder = finders[cube_settings(seed)["finder"] % len(finders)]
    cat = finder(sim.data, progress=False)
    n = len(cat)
    labels = cat.segment
    is_true, galaxy = label_candidates(sim.data, labels, n, sim.labels)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7A6E]))
    neg = np.flatnonzero(~is_true)
    if len(neg) > max_negatives:
        neg = rng.choice(neg, max_negatives, replace=False)
    keep = np.sort(np.concatenate([np.flatnonzero(is_true), neg])).astype(np.int64)
    # features of the kept candidates only: relabel them 1..k
    lut = np.zeros(n + 1, dtype=np.int32)
    lut[keep + 1] = np.arange(1, len(keep) + 1)
    cutouts, scalars = candidate_features(sim.data, lut[labels], len(keep))
    snr_truth = np.asarray(sim.truth["snr"], dtype=float)
    snr = np.where(galaxy[keep] > 0, snr_truth[np.maximum(galaxy[keep] - 1, 0)], np.nan)
    return {"cutouts": cutouts, "scalars": scalars, "label": is_true[keep].astype(np.float32), "snr": snr,
            "seed": np.full(len(keep), int(seed), dtype=np.int64)}


def build_candidates(seeds, finders, *, max_negatives=40, progress=True, desc="cubes"):
    """`cube_candidates` of every seed, concatenated (dict of arrays)."""
    parts = [cube_candidates(s, finders, max_negatives=max_negatives)
             for s in progress_bar(list(seeds), desc=desc, enabled=progress)]
    if not parts:
        raise ValueError("no cubes: give at least one seed")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
