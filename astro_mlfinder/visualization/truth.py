"""A catalogue against the truth: matched, missed and false sources in one picture.

`plot_truth_comparison` draws the result of a match (`astro_mlfinder.evaluate.match_catalogs`,
which ``astro-mlfinder evaluate --plot`` calls): matched detections as green
circles joined to their true source, true sources that were missed as red
crosses, false positives as orange squares; on pixel axes, or over an image
on its WCS axes.
"""

import numpy as np
from astropy import units as u

from ._common import pyplot

__all__ = ["plot_truth_comparison"]


def _positions(table, name):
    """``{id: (x, y)}`` of a table or catalogue with ``x``/``y`` pixel columns."""
    if hasattr(table, "to_table") and not hasattr(table, "colnames"):
        table = table.to_table(columns=["id", "x", "y"])
    missing = [c for c in ("x", "y") if c not in table.colnames]
    if missing:
        raise ValueError(f"the {name} catalogue has no {', '.join(missing)} column (pixel positions)")
    x = np.asarray(u.Quantity(table["x"]).value, float)
    y = np.asarray(u.Quantity(table["y"]).value, float)
    ids = np.asarray(table["id"], int) if "id" in table.colnames else np.arange(1, len(x) + 1)
    return {int(i): (xi, yi) for i, xi, yi in zip(ids, x, y, strict=True)}


def plot_truth_comparison(detected, truth, match, ax=None, *, image=None, wcs=None, image_label=None, title=None):
    """Show matched, missed and false sources of a catalogue scored against the truth.

    Parameters
    ----------
    detected, truth : `~astropy.table.Table` or `~astro_mlfinder.SourceCatalog`
        Catalogues with ``id``, ``x`` and ``y`` (0-based pixels), as given to
        `~astro_mlfinder.evaluate.match_catalogs`.
    match : `~astro_mlfinder.evaluate.MatchResult`
        The match: ``matches`` (``det_id``, ``truth_id``),
        ``false_positives`` and ``false_negatives`` (ids).
    ax : `matplotlib.axes.Axes`, optional
    image : optional
        Background image (anything `~astro_mlfinder.visualization.plot_image`
        accepts, e.g. a moment-0 map); its WCS gives RA/Dec axes.
    wcs : `~astropy.wcs.WCS`, optional
        World coordinates of a plain-array ``image``.
    image_label : str, optional
        What the image is, for its colour bar (``'moment 0'``).
    title : str, optional
        Default: the counts and the precision and recall.

    Returns
    -------
    ax : `matplotlib.axes.Axes`
        Its legend names the three kinds of marker with their counts.
    """
    plt = pyplot()
    det, tru = _positions(detected, "detected"), _positions(truth, "truth")
    pairs = [(int(d), int(t)) for d, t in zip(match.matches["det_id"], match.matches["truth_id"], strict=True)]
    missed = [int(i) for i in match.false_negatives]
    false = [int(i) for i in match.false_positives]
    if image is not None:
        from .images import plot_image

        ax = plot_image(image, ax, wcs=wcs, cmap="Greys", label=image_label)
    elif ax is None:
        _, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    for k, (d, t) in enumerate(pairs):
        (xd, yd), (xt, yt) = det[d], tru[t]
        ax.plot([xt, xd], [yt, yd], color="tab:green", lw=1)
        ax.plot(xd, yd, "o", mfc="none", mec="tab:green", ms=10, mew=1.5,
                label=f"matched ({len(pairs)})" if k == 0 else None)
        ax.plot(xt, yt, "+", color="k", ms=8, label="true position" if k == 0 else None)
    if not pairs:
        ax.plot([], [], "o", mfc="none", mec="tab:green", ms=10, mew=1.5, label="matched (0)")
    xy = np.array([tru[i] for i in missed]).reshape(-1, 2)  # every kind in the legend, with its count
    ax.plot(xy[:, 0], xy[:, 1], "x", color="tab:red", ms=10, mew=2, ls="none", label=f"missed ({len(missed)})")
    xy = np.array([det[i] for i in false]).reshape(-1, 2)
    ax.plot(xy[:, 0], xy[:, 1], "s", mfc="none", mec="tab:orange", ms=10, mew=1.5, ls="none",
            label=f"false positive ({len(false)})")
    if image is None:
        ax.set_xlabel("x [pix]")
        ax.set_ylabel("y [pix]")
        ax.set_aspect("equal", adjustable="datalim")
    n_det, n_true = len(det), len(tru)
    if title is None:
        precision = len(pairs) / n_det if n_det else float("nan")
        recall = len(pairs) / n_true if n_true else float("nan")
        title = f"{len(pairs)} matched, {len(missed)} missed, {len(false)} false (P={precision:.2f}, R={recall:.2f})"
    ax.set_title(title, fontsize=9)
    ax.legend(loc="best", fontsize=8)
    return ax
