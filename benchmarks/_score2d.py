"""Scoring of 2D finder catalogues against simulated continuum truth (benchmarks/detection_2d.py).

Every image is scored whole (empty regions included: a detection anywhere that
matches no true source is a false positive). Detections are matched one-to-one
(Hungarian, `astro_mlfinder.evaluate.match_catalogs`) to the *complete* truth
catalogue, sources far below the noise included, within a radius per true
source of ``max(beam FWHM, size / 2)`` (``size``: the truth's largest angular
size, so a resolved AGN may be found at its core or its flux centroid). Then:

* a detection matched to a true source is a true positive in that source's bin
  of integrated S/N (``snr_int = f_int / local rms``, the SDC1/ConvoSource
  definition);
* an unmatched detection inside the truth segment of a source that *was*
  matched is a second component of a source already found (a lobe fitted
  apart, a Gaussian of a multi-Gaussian fit): it is counted as a split, not as
  a false positive;
* any other unmatched detection is a false positive, in the bin of the image's
  peak S/N within half a beam FWHM of its position (data over the true local
  noise; for the point sources that most false positives mimic, peak and
  integrated S/N agree). This is measured on the image by the benchmark, not
  taken from the finder's own flux, so a finder that underestimates fluxes
  does not push its false positives into a fainter bin.

The overall row counts the true sources with S/N >= 3 (``OVERALL_MIN_SNR``);
detections of true sources below S/N 3 count in the ``< 3`` bin only, and all
false positives count overall.
"""

import numpy as np

#: Bumped whenever the scoring changes, so that cached scores (detection_2d.py --cache) are not reused.
SCORE_VERSION = 2

__all__ = ["BINS", "BIN_NAMES", "OVERALL_MIN_SNR", "SCORE_VERSION", "Tally", "match_radius", "paired_bootstrap",
           "score_image"]

BINS = (0.0, 3.0, 5.0, 10.0, 20.0, np.inf)
BIN_NAMES = ("< 3", "3-5", "5-10", "10-20", "> 20")
OVERALL_MIN_SNR = 3.0


def _which(values):
    idx = np.searchsorted(BINS, values, side="right") - 1
    idx[~np.isfinite(values) | (values < BINS[0])] = 0
    return idx


def _value(col):
    return np.asarray(getattr(col, "value", col), dtype=np.float64)


def match_radius(sim):
    """Matching radius (pixels) of every true source: max(beam FWHM, size / 2)."""
    bmaj_pix = float(sim.params["beam"][0])
    pixel_scale = float(sim.params["pixel_scale"])
    size_pix = _value(sim.truth["size"]) / pixel_scale
    return np.maximum(bmaj_pix, 0.5 * size_pix)


def _peak_snr(sim, ix, iy):
    """The image's peak S/N within half a beam FWHM of each position (the same for every finder)."""
    r = max(1, int(round(0.5 * float(sim.params["beam"][0]))))
    ny, nx = sim.data.shape
    out = np.full(len(ix), np.nan)
    for k, (x, y) in enumerate(zip(ix, iy, strict=True)):
        win = (slice(max(0, y - r), min(ny, y + r + 1)), slice(max(0, x - r), min(nx, x + r + 1)))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = np.nanmax(sim.data[win] / sim.noise_map[win])
    return out


def score_image(det, sim):
    """
    Match one image's detections to its truth.

    Parameters
    ----------
    det : `~astropy.table.Table`
        Detections with ``x``, ``y`` (0-based pixels) and ``f_int`` (Jy).
    sim : ``ContinuumSimulation``
        The simulated image with its truth, labels and noise map.

    Returns
    -------
    result : dict
        ``truth_bin`` (bin of every true source), ``truth_snr``, ``tp_truth``
        (rows of matched true sources), ``separation`` (pixels), ``flux_ratio``
        (found / true integrated flux) of the matches, ``fp_bin`` (bin of every
        false positive) and ``n_split``.
    """
    from astropy.table import Table

    from astro_mlfinder.evaluate import match_catalogs

    truth = sim.truth
    tru = Table({"id": np.asarray(truth["id"]), "x": _value(truth["x"]), "y": _value(truth["y"]),
                 "f_sum": _value(truth["f_int"])})
    x, y, f = _value(det["x"]), _value(det["y"]), _value(det["f_int"])
    d = Table({"id": np.arange(1, len(det) + 1), "x": x, "y": y, "f_sum": f})
    res = match_catalogs(d, tru, spatial_tolerance=match_radius(sim))
    t_rows = np.asarray(res.meta["truth_rows"], dtype=int)
    fp_rows = np.asarray(res.meta["fp_rows"], dtype=int)
    ny, nx = sim.data.shape
    ix = np.clip(np.rint(x[fp_rows]).astype(int), 0, nx - 1) if len(fp_rows) else np.zeros(0, int)
    iy = np.clip(np.rint(y[fp_rows]).astype(int), 0, ny - 1) if len(fp_rows) else np.zeros(0, int)
    truth_ids = np.asarray(truth["id"])
    matched_ids = set(truth_ids[t_rows].tolist())
    inside = sim.labels[iy, ix] if len(fp_rows) else np.zeros(0, int)
    split = np.array([lab in matched_ids for lab in inside.tolist()], dtype=bool)
    fp_snr = _peak_snr(sim, ix[~split], iy[~split])
    snr = _value(truth["snr_int"])
    return {
        "truth_bin": _which(snr),
        "truth_snr": snr,
        "tp_truth": t_rows,
        "separation": np.asarray(res.matches["separation"], dtype=np.float64),
        "flux_ratio": np.asarray(res.matches["flux_ratio"], dtype=np.float64),
        "fp_bin": _which(fp_snr),
        "n_split": int(split.sum()),
    }


def _image_counts(r):
    """``{bin name: (tp, fp, n_true)}`` of one image's `score_image` result (the bins of `Tally.rows`)."""
    t_bin, t_snr = np.asarray(r["truth_bin"], dtype=int), np.asarray(r["truth_snr"], dtype=np.float64)
    tp_rows = np.asarray(r["tp_truth"], dtype=int)
    m_bin, m_snr = t_bin[tp_rows], t_snr[tp_rows]
    fp_bin = np.asarray(r["fp_bin"], dtype=int)
    out = {}
    for k, name in enumerate(BIN_NAMES):
        out[name] = (int(np.sum(m_bin == k)), int(np.sum(fp_bin == k)), int(np.sum(t_bin == k)))
    out[f"all >= {OVERALL_MIN_SNR:g}"] = (int(np.sum(m_snr >= OVERALL_MIN_SNR)), len(fp_bin),
                                           int(np.sum(t_snr >= OVERALL_MIN_SNR)))
    return out


def _f1_of(counts):
    tp, fp, n_true = (np.sum(c, axis=-1) for c in counts)
    den = 2 * tp + fp + (n_true - tp)
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)


def paired_bootstrap(a, b, key, n=4000, seed=0):
    """F1 difference ``a - b`` in bin ``key`` and its standard error, resampling the images (paired).

    Both tallies must have scored the same images in the same order; with ``b=None``, ``a``'s own F1 and its
    standard error. Returns ``(difference, standard error)``.
    """
    if not a.per_image or (b is not None and len(a.per_image) != len(b.per_image)):
        raise ValueError("paired_bootstrap needs two tallies of the same (non-zero number of) images")
    ca = np.array([img[key] for img in a.per_image], dtype=np.float64).T   # (3, n_images)
    cb = np.zeros_like(ca) if b is None else np.array([img[key] for img in b.per_image], dtype=np.float64).T
    idx = np.random.default_rng(seed).integers(0, ca.shape[1], size=(int(n), ca.shape[1]))
    diffs = _f1_of(ca[:, idx]) - _f1_of(cb[:, idx])
    return float(_f1_of(ca) - _f1_of(cb)), float(np.std(diffs, ddof=1))


def _median(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else np.nan


class Tally:
    """Accumulated scores of one finder configuration over several images."""

    def __init__(self, name, params=None):
        self.name = name
        self.params = dict(params or {})
        self.truth_bin, self.truth_snr, self.matched_bin, self.matched_snr = [], [], [], []
        self.separation, self.flux_ratio, self.fp_bin = [], [], []
        self.n_split, self.seconds, self.n_images = 0, 0.0, 0
        self.per_image = []   # per image: {bin name: (tp, fp, n_true)}, for the bootstrap over images

    def add(self, det, sim, seconds):
        """Score the detections ``det`` on ``sim`` and add them; return the `score_image` result."""
        r = score_image(det, sim)
        self.add_scored(r, seconds)
        return r

    def add_scored(self, r, seconds):
        """Add one image's `score_image` result (arrays or lists)."""
        r = {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in r.items()}
        self.truth_bin.extend(r["truth_bin"].tolist())
        self.truth_snr.extend(r["truth_snr"].tolist())
        self.matched_bin.extend(r["truth_bin"][r["tp_truth"]].tolist())
        self.matched_snr.extend(r["truth_snr"][r["tp_truth"]].tolist())
        self.separation.extend(r["separation"].tolist())
        self.flux_ratio.extend(r["flux_ratio"].tolist())
        self.fp_bin.extend(r["fp_bin"].tolist())
        self.n_split += r["n_split"]
        self.per_image.append(_image_counts(r))
        self.seconds += float(seconds)
        self.n_images += 1

    def rows(self, pixel_scale):
        """One dict per S/N bin and one ``'all >= 3'`` row."""
        from astro_mlfinder.evaluate import scores

        t_bin = np.asarray(self.truth_bin, dtype=int)
        t_snr = np.asarray(self.truth_snr, dtype=np.float64)
        m_bin = np.asarray(self.matched_bin, dtype=int)
        m_snr = np.asarray(self.matched_snr, dtype=np.float64)
        fp_bin = np.asarray(self.fp_bin, dtype=int)
        sep = np.asarray(self.separation, dtype=np.float64) * pixel_scale
        ratio = np.asarray(self.flux_ratio, dtype=np.float64)
        out = []
        for k, name in enumerate((*BIN_NAMES, f"all >= {OVERALL_MIN_SNR:g}")):
            if k < len(BIN_NAMES):
                sel_t, sel_m, n_fp = t_bin == k, m_bin == k, int(np.sum(fp_bin == k))
            else:
                sel_t, sel_m, n_fp = t_snr >= OVERALL_MIN_SNR, m_snr >= OVERALL_MIN_SNR, len(fp_bin)
            tp, n_true = int(sel_m.sum()), int(sel_t.sum())
            p, r, f1 = scores(tp, n_fp, n_true - tp)
            out.append({"bin": name, "n_true": n_true, "tp": tp, "fp": n_fp, "precision": p, "recall": r,
                        "f1": f1, "flux_ratio": _median(ratio[sel_m]), "pos_err": _median(sep[sel_m])})
        return out

    def f1(self, pixel_scale=1.0):
        """``{bin name: F1}``."""
        return {r["bin"]: r["f1"] for r in self.rows(pixel_scale)}
