"""Training and validation data of DeepFocus: simulated cubes, the samples of each network, matching to truth.

A `CubeRecord` holds what training needs from one simulated cube: the dirty
cube, the clean model cube, and the truth as plain arrays (centre, box,
line window, FWHM x/y, PA, flux in line-image units, peak S/N). The default
source is `astro_mlfinder.simulate.alma` (`record_from_simulation`); any
callable ``simulate(seed, shape)`` returning an object with ``data``,
``model`` and ``truth`` in that layout can replace it.

Seed ranges: `TRAINING_SEEDS` (3,000,000+) and `VALIDATION_SEEDS`
(4,000,000+); benchmarks use 8,000,000+ and never these.
"""

from dataclasses import dataclass

import numpy as np

from .defaults import FWHM_SCALE
from .focus import blobs_input, line_image, resnet_input
from .spectral import box_spectrum, normalize_spectra

__all__ = ["TRAINING_SEEDS", "VALIDATION_SEEDS", "CubeRecord", "record_from_simulation", "simulate_record",
           "blobs_pair", "spectrum_pair", "gru_pairs", "resnet_targets", "truth_resnet_samples", "match_sources",
           "score_matches"]

#: Seeds of the training cubes (cube ``i`` uses ``TRAINING_SEEDS[i]``).
TRAINING_SEEDS = range(3_000_000, 4_000_000)
#: Seeds of the validation cubes (model selection and threshold tuning).
VALIDATION_SEEDS = range(4_000_000, 5_000_000)


@dataclass
class CubeRecord:
    """One simulated cube reduced to what training needs.

    Attributes
    ----------
    dirty, clean : `~numpy.ndarray`
        (z, y, x) dirty cube and clean model cube (float32 or float16).
    truth : dict of `~numpy.ndarray`
        ``center`` (n, 2) y, x; ``box`` (n, 4) y0, y1, x0, x1 half-open;
        ``window`` (n, 2) z0, z1 half-open; ``fwhm_x``, ``fwhm_y`` (pixels);
        ``pa`` (deg); ``flux`` (sum of the dirty line image over pixels and
        channels that the source would have: the true flux times the beam
        area in pixels over the channel width); ``snr`` (peak S/N).
    beam : float
        Geometric-mean FWHM of the restoring beam, pixels (0: none); the
        Blobs Finder target is the clean image restored with it.
    """

    dirty: np.ndarray
    clean: np.ndarray
    truth: dict
    beam: float = 0.0

    @property
    def n(self):
        """Number of true sources."""
        return len(self.truth["center"])


def _column(truth, *names):
    for name in names:
        if name in truth.colnames:
            col = truth[name]
            return np.asarray(getattr(col, "value", col), dtype=np.float64)
    raise KeyError(f"the truth table has none of the columns {names}; it has {truth.colnames}")


def record_from_simulation(sim):
    """A `CubeRecord` of an `astro_mlfinder.simulate.alma` simulation.

    Uses the dirty ``data``, the clean ``model`` and the ``truth`` table
    (inclusive boxes ``x_min .. z_max``, ``x``, ``y``, ``fwhm_x`` major and
    ``fwhm_y`` minor FWHM in pixels, ``pa``, ``flux`` in Jy Hz,
    ``snr_peak``) with ``params['beam_area']``, ``params['channel_width']``
    and ``params['beam']``.
    """
    t = sim.truth
    params = getattr(sim, "params", {}) or {}
    beam_area = float(params.get("beam_area", 1.0))
    chan = float(params.get("channel_width", 1.0))
    flux = _column(t, "flux") * beam_area / chan
    truth = {
        "center": np.column_stack([_column(t, "y"), _column(t, "x")]),
        "box": np.column_stack([_column(t, "y_min"), _column(t, "y_max") + 1,
                                _column(t, "x_min"), _column(t, "x_max") + 1]).astype(int),
        "window": np.column_stack([_column(t, "z_min"), _column(t, "z_max") + 1]).astype(int),
        "fwhm_x": _column(t, "fwhm_x"),
        "fwhm_y": _column(t, "fwhm_y"),
        "pa": _column(t, "pa"),
        "flux": flux,
        "snr": _column(t, "snr_peak"),
    }
    beam = params.get("beam")
    fwhm = float(np.sqrt(beam[0] * beam[1])) if beam is not None else 0.0
    return CubeRecord(np.asarray(sim.data, dtype=np.float32), np.asarray(sim.model, dtype=np.float32), truth, fwhm)


def simulate_record(seed, shape, simulate=None):
    """The `CubeRecord` of cube ``seed``: ``simulate(seed, shape)`` (default `astro_mlfinder.simulate.alma`)."""
    if simulate is None:
        from ....simulate import simulate_alma_cube

        return record_from_simulation(simulate_alma_cube(shape=tuple(shape), seed=int(seed)))
    out = simulate(int(seed), tuple(shape))
    return out if isinstance(out, CubeRecord) else record_from_simulation(out)


def blobs_pair(record, gamma=0.5, inputs=("sum",)):
    """Blobs Finder input ``(len(inputs), y, x)`` and target ``(y, x)`` of a cube.

    The target is the clean model summed over channels, restored with the
    beam (a circular Gaussian of FWHM ``record.beam``), normalised to its
    maximum and raised to the power ``gamma`` (< 1 lifts the faint sources
    above the detection threshold of a map normalised to the brightest one).
    """
    from scipy import ndimage

    x = blobs_input(record.dirty, inputs)
    clean = np.nansum(np.asarray(record.clean, dtype=np.float32), axis=0)
    if record.beam > 0:
        clean = ndimage.gaussian_filter(clean, record.beam / 2.3548)
    clean = np.maximum(clean, 0.0)
    hi = float(clean.max())
    y = (clean / hi if hi > 0 else clean) ** float(gamma)
    return x.astype(np.float32), y.astype(np.float32)


def spectrum_pair(record, box):
    """Deep GRU input and target for ``box``: dirty and clean spectra summed over it, normalised."""
    return (normalize_spectra(box_spectrum(record.dirty, box)),
            normalize_spectra(box_spectrum(record.clean, box)))


def gru_pairs(record, rng, jitter=6, empty=2):
    """Deep GRU training pairs of a cube: every true box, ``jitter`` random variants of it, ``empty`` random boxes.

    The variants scale each side by 0.5-1.5 and move the box by up to a
    quarter of its size, as the Blobs Finder's boxes scatter about the
    truth; the random boxes (anywhere, 8-48 pixels) teach the network flat
    or faint spectra.

    Returns
    -------
    x, y : `~numpy.ndarray`
        (n, channels) normalised dirty and clean spectra.
    """
    ny, nx = record.dirty.shape[1:]
    boxes = []
    for b in np.asarray(record.truth["box"], dtype=float):
        boxes.append(tuple(int(v) for v in b))
        cy, cx, hy, hx = (b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[1] - b[0]) / 2, (b[3] - b[2]) / 2
        for _ in range(int(jitter)):
            sy, sx = rng.uniform(0.5, 1.5, 2)
            dy, dx = rng.uniform(-0.25, 0.25, 2) * (2 * hy, 2 * hx)
            y0, y1 = int(max(0, cy + dy - hy * sy)), int(min(ny, cy + dy + hy * sy + 1))
            x0, x1 = int(max(0, cx + dx - hx * sx)), int(min(nx, cx + dx + hx * sx + 1))
            if y1 > y0 and x1 > x0:
                boxes.append((y0, y1, x0, x1))
    for _ in range(int(empty)):
        h, w = rng.integers(8, 49, 2)
        y0, x0 = int(rng.integers(0, max(1, ny - h))), int(rng.integers(0, max(1, nx - w)))
        boxes.append((y0, min(ny, y0 + int(h)), x0, min(nx, x0 + int(w))))
    pairs = [spectrum_pair(record, b) for b in boxes]
    return np.asarray([p[0] for p in pairs], np.float32), np.asarray([p[1] for p in pairs], np.float32)


def resnet_targets(truth, index, scale):
    """Targets of the four ResNets for true source ``index`` and a line image of peak ``scale``.

    ``{'resnet_fwhm_x': [fwhm_x / FWHM_SCALE], 'resnet_fwhm_y': [...],
    'resnet_pa': [cos 2PA, sin 2PA], 'resnet_flux': [log(flux / scale)]}``.
    """
    pa = np.radians(float(truth["pa"][index]))
    flux = max(float(truth["flux"][index]), 1e-12)
    return {
        "resnet_fwhm_x": [float(truth["fwhm_x"][index]) / FWHM_SCALE],
        "resnet_fwhm_y": [float(truth["fwhm_y"][index]) / FWHM_SCALE],
        "resnet_pa": [float(np.cos(2 * pa)), float(np.sin(2 * pa))],
        "resnet_flux": [float(np.log(flux / max(scale, 1e-12)))],
    }


def _local(box, center, size):
    oy = int(np.floor(center[0] + 0.5)) - size // 2
    ox = int(np.floor(center[1] + 0.5)) - size // 2
    y0, y1, x0, x1 = (int(v) for v in box)
    return (max(0, y0 - oy), max(1, min(size, y1 - oy)), max(0, x0 - ox), max(1, min(size, x1 - ox)))


def truth_resnet_samples(record, size=64, rng=None, jitter=0.0):
    """ResNet inputs and targets of every true source, focused on the true centre and line window.

    ``jitter`` (pixels) moves the centre at random (``rng``), as the
    pipeline's centres scatter around the truth.

    Returns
    -------
    x : `~numpy.ndarray`
        (n, size, size) float32 inputs.
    y : dict
        ``{network: (n, k) float32 targets}``.
    """
    xs, ys = [], {}
    t = record.truth
    for i in range(record.n):
        center = np.asarray(t["center"][i], float)
        if jitter and rng is not None:
            center = center + rng.normal(0, jitter, 2)
        img = line_image(record.dirty, center, tuple(t["window"][i]), size)
        x, scale = resnet_input(img, _local(t["box"][i], center, size))
        xs.append(x)
        for k, v in resnet_targets(t, i, scale).items():
            ys.setdefault(k, []).append(v)
    if not xs:
        return np.zeros((0, size, size), np.float32), {}
    return np.stack(xs), {k: np.asarray(v, np.float32) for k, v in ys.items()}


def match_sources(sources, truth, *, pad=0.5, radius=0.0, min_window_iou=0.0):
    """Greedy one-to-one matching of found sources to true ones (the criteria of ``benchmarks/detection_alma.py``).

    A found source (``center`` (y, x), ``window`` (z0, z1) half-open)
    matches a true one when its centre lies inside the true box grown by
    ``pad`` pixels (or within ``radius`` pixels of the true centre) and the
    line windows overlap (1D IoU > ``min_window_iou``); the closest pairs
    are matched first.

    Returns
    -------
    `~numpy.ndarray` of int
        For every found source, the index of its true source or -1.
    """
    from .spectral import window_iou

    n_found, n_true = len(sources), len(truth["center"])
    out = -np.ones(n_found, dtype=int)
    if not n_found or not n_true:
        return out
    pairs = []
    for i, s in enumerate(sources):
        for j in range(n_true):
            cy, cx = truth["center"][j]
            d = float(np.hypot(s["center"][0] - cy, s["center"][1] - cx))
            y0, y1, x0, x1 = truth["box"][j]
            inside = y0 - pad <= s["center"][0] <= y1 - 1 + pad and x0 - pad <= s["center"][1] <= x1 - 1 + pad
            if (inside or d <= radius) and window_iou(s["window"], tuple(truth["window"][j])) > min_window_iou:
                pairs.append((d, i, j))
    used = set()
    for _, i, j in sorted(pairs):
        if out[i] < 0 and j not in used:
            out[i] = j
            used.add(j)
    return out


def score_matches(results):
    """Precision, recall and F1 of ``[(matches, n_true), ...]`` (one `match_sources` result per cube)."""
    tp = sum(int((m >= 0).sum()) for m, _ in results)
    n_found = sum(len(m) for m, _ in results)
    n_true = sum(int(n) for _, n in results)
    precision = tp / n_found if n_found else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": n_found - tp, "fn": n_true - tp,
            "n_true": n_true}
