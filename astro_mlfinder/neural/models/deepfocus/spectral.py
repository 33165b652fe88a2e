"""Spectral stages of the DeepFocus pipeline: spectra, normalisation, peaks, 1D Gaussian fits, line windows.

Pure NumPy/SciPy (no PyTorch): the Deep GRU runs in
`~astro_mlfinder.neural.models.deepfocus.pipeline`, between
`normalize_spectra` and `find_lines`.
"""

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.signal import find_peaks

__all__ = ["box_spectrum", "normalize_spectra", "find_lines", "fit_line", "merge_windows", "window_iou",
           "level_window"]

_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


def box_spectrum(cube, box, mask=None):
    """Sum of ``cube`` (z, y, x) over the pixels of ``box = (y0, y1, x0, x1)`` (half-open): one value per channel.

    ``mask`` (bool, the box's shape) restricts the sum to those pixels.
    """
    y0, y1, x0, x1 = (int(v) for v in box)
    sub = cube[:, y0:y1, x0:x1]
    if mask is not None:
        return np.nansum(sub[:, np.asarray(mask, dtype=bool)], axis=1).astype(np.float64)
    return np.nansum(sub, axis=(1, 2)).astype(np.float64)


def normalize_spectra(spectra):
    """Z-score then min-max normalise spectra ``(n, channels)`` (or one spectrum) to [0, 1], as the Deep GRU expects.

    A flat spectrum becomes all zeros.
    """
    s = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
    s = np.where(np.isfinite(s), s, 0.0)
    s = s - s.mean(axis=1, keepdims=True)
    std = s.std(axis=1, keepdims=True)
    s = s / np.where(std > 0, std, 1.0)
    lo, hi = s.min(axis=1, keepdims=True), s.max(axis=1, keepdims=True)
    out = (s - lo) / np.where(hi > lo, hi - lo, 1.0)
    return out.astype(np.float32) if np.ndim(spectra) > 1 else out[0].astype(np.float32)


def _gauss(z, amp, mu, sigma, base):
    return base + amp * np.exp(-0.5 * ((z - mu) / sigma) ** 2)


def fit_line(spectrum, peak, *, half_window=10, sigma0=3.0):
    """Fit a 1D Gaussian (with a constant) to ``spectrum`` around channel ``peak``.

    Levenberg-Marquardt on ``peak +- half_window`` channels (clipped at the
    band edges), started at the peak value, the peak channel and
    ``sigma0`` channels.

    Returns
    -------
    tuple of float
        ``(centre, fwhm, amplitude)`` in channels (and spectrum units); the
        peak channel, ``sigma0 * 2.355`` and the peak value when the fit fails
        or leaves the window.
    """
    spectrum = np.asarray(spectrum, dtype=np.float64)
    n = spectrum.size
    lo, hi = max(0, int(peak) - int(half_window)), min(n, int(peak) + int(half_window) + 1)
    z = np.arange(lo, hi, dtype=np.float64)
    y = spectrum[lo:hi]
    fallback = (float(peak), float(sigma0 * _FWHM), float(spectrum[int(peak)]))
    if y.size < 5:
        return fallback
    base0 = float(np.min(y))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            p0 = (float(spectrum[int(peak)]) - base0, float(peak), float(sigma0), base0)
            popt, _ = curve_fit(_gauss, z, y, p0=p0, method="lm", maxfev=400)
    except (RuntimeError, ValueError):
        return fallback
    amp, mu, sigma = float(popt[0]), float(popt[1]), abs(float(popt[2]))
    if not (np.isfinite(mu) and np.isfinite(sigma)) or amp <= 0 or not lo <= mu < hi or sigma <= 0:
        return fallback
    return mu, sigma * _FWHM, amp


def find_lines(denoised, *, height=0.1, prominence=0.05, distance=10, half_window=10, window_fwhm=1.0,
               max_fwhm=None, min_width=2, valley=0.5, level=0.1, max_window=None):
    """Lines of a denoised, normalised spectrum: peaks, Gaussian fits, windows.

    Parameters
    ----------
    denoised : array (channels,)
        The Deep GRU output, min-max normalised.
    height : float
        A peak must exceed the spectrum's mean by this much (0.1 in DeepFocus).
    prominence : float
        Minimum peak prominence (0.05).
    distance : int
        Minimum distance between peaks in channels (10).
    half_window : int
        Half-width of the Gaussian fit window in channels (10).
    window_fwhm : float
        Line window = fitted centre +- ``window_fwhm`` x FWHM (1 in DeepFocus).
    max_fwhm : float, optional
        Reject lines at least this wide (channels; default half the band).
    min_width : int
        Smallest window, channels.
    valley : float
        Two peaks are the horns of one line when the spectrum between them
        stays above ``valley`` times the fainter one (both measured from the
        spectrum's median); their windows are merged.
    level : float
        Each line also gets a ``level_window`` (`level_window`): its window
        grown to where the denoised spectrum falls below ``level`` times its
        peak (both measured from the median) -- the extent that the truth of
        `astro_mlfinder.simulate.alma` gives a line (its ``box_level``), which
        the ResNets see for the flux.

    Returns
    -------
    list of dict
        Brightest first: ``peak`` (channel), ``centre``, ``fwhm`` (channels),
        ``amplitude`` (denoised value at the peak), ``window`` ``(z0, z1)``
        half-open, clipped to the band, and ``level_window`` (contains
        ``window``).
    max_window : int, optional
        Widest window, channels: a line's window is cut to this width
        around its peak, and lines are not merged (horns, overlaps) into a
        wider one -- two lines of neighbouring sources at adjacent
        frequencies stay two (default: no limit, as DeepFocus).
    """
    d = np.asarray(denoised, dtype=np.float64)
    n = d.size
    if max_fwhm is None:
        max_fwhm = n / 2
    peaks, _ = find_peaks(d, height=float(d.mean() + height), prominence=float(prominence),
                          distance=max(1, int(distance)))
    peaks = peaks[np.argsort(-d[peaks], kind="stable")]
    lines = []
    for p in peaks:
        centre, fwhm, _ = fit_line(d, p, half_window=half_window)
        if not fwhm < max_fwhm:
            continue
        half = max(window_fwhm * fwhm, min_width / 2)
        z0 = int(np.clip(np.floor(centre - half), 0, n - 1))
        z1 = int(np.clip(np.ceil(centre + half) + 1, z0 + 1, n))
        if max_window and z1 - z0 > max_window:
            z0 = int(np.clip(p - int(max_window) // 2, 0, max(0, n - int(max_window))))
            z1 = min(n, z0 + int(max_window))
        lines.append({"peak": int(p), "centre": float(centre), "fwhm": float(fwhm), "amplitude": float(d[p]),
                      "window": (z0, z1)})
    base = float(np.median(d))
    for a in lines:
        for b in lines:
            lo, hi = sorted((a["peak"], b["peak"]))
            if lo < hi and d[lo:hi + 1].min() - base > valley * (min(d[lo], d[hi]) - base):
                w = (min(a["window"][0], b["window"][0]), max(a["window"][1], b["window"][1]))
                if not max_window or w[1] - w[0] <= max_window:
                    a["window"] = b["window"] = w
    out = merge_windows(lines, max_window)
    for line in out:
        line["level_window"] = level_window(d, line["window"], level)
    return out


def level_window(denoised, window, level=0.1):
    """``window`` grown to where ``denoised`` falls to ``level`` times the peak inside it, measured from the median.

    Parameters
    ----------
    denoised : array (channels,)
        A denoised spectrum.
    window : tuple of int
        Half-open ``(z0, z1)``.
    level : float
        Fraction of the peak (above the median) that bounds the line.

    Returns
    -------
    tuple of int
        Half-open ``(z0, z1)``, never narrower than ``window``.
    """
    d = np.asarray(denoised, dtype=np.float64)
    z0, z1 = int(window[0]), int(window[1])
    if z1 <= z0:
        return z0, z1
    peak = z0 + int(np.argmax(d[z0:z1]))
    base = float(np.median(d))
    below = d <= base + float(level) * (d[peak] - base)
    left = np.nonzero(below[:peak])[0]
    right = np.nonzero(below[peak + 1 :])[0]
    a = int(left[-1]) + 1 if left.size else 0
    b = peak + 1 + int(right[0]) if right.size else d.size
    return min(a, z0), max(b, z1)


def window_iou(a, b):
    """Intersection over union of two half-open channel windows ``(z0, z1)``."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def merge_windows(lines, max_window=None):
    """Merge lines whose windows overlap (the two horns of one profile) into the brighter one's entry.

    The merged window spans both; the list stays sorted brightest first.
    With ``max_window`` (channels), two lines whose merged window would be
    wider stay apart.
    """
    out = []
    for line in lines:
        for kept in out:
            a, b = kept["window"], line["window"]
            wide = max_window and max(a[1], b[1]) - min(a[0], b[0]) > max_window
            if min(a[1], b[1]) > max(a[0], b[0]) and not wide:
                kept["window"] = (min(a[0], b[0]), max(a[1], b[1]))
                kept["fwhm"] = abs(kept["centre"] - line["centre"]) + max(kept["fwhm"], line["fwhm"])
                kept["centre"] = 0.5 * (kept["centre"] + line["centre"])
                break
        else:
            out.append(dict(line))
    return out
