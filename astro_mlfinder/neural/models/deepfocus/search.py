"""A direct search for the lines of a blob that the Deep GRU missed: boxcar windows scored by their focused S/N.

The Deep GRU sees one spectrum per blob, summed over all of the blob's
pixels and min-max normalised: a faint line behind a brighter one on the
same line of sight, or a compact line in the blob of a large neighbour, can
vanish in it. `search_lines` looks at the cube itself: in the ``size`` x
``size`` cut-out around the blob, the continuum-subtracted cube is summed
over boxcar windows of several widths at every channel, and each window
image is scored like a focused candidate -- its brightest pixel inside the
blob over the robust noise (1.4826 MAD) of the cut-out outside the blob box
grown by ``pad``. Windows that reach ``snr`` and overlap no line already
found are new lines, best first; they then go through the same focusing and
S/N selection as the Deep GRU's lines.

`peak_boxes` adds blobs the Blobs Finder missed (a compact source with a
narrow line is faint in the integrated image next to broad bright ones):
the components of the peak-over-channels S/N image
(`~astro_mlfinder.neural.models.deepfocus.focus.peak_image`) above a
threshold whose maximum lies outside every blob.

Both depart from DeepFocus (which finds sources in the integrated image and
lines in the denoised spectrum only). NumPy and SciPy.
"""

import numpy as np
from scipy import ndimage

from .focus import cutout_slices, mad_noise

__all__ = ["search_lines", "peak_boxes", "SEARCH_WIDTHS"]

#: Boxcar widths (channels) of the window search.
SEARCH_WIDTHS = (3, 6, 12, 24)


def search_lines(cube, box, taken, *, snr=6.0, widths=SEARCH_WIDTHS, size=64, pad=4, gap=2, max_new=4,
                 own=None):
    """New line windows of the blob ``box`` from boxcar sums of the cube, scored by their focused S/N.

    Parameters
    ----------
    cube : array (z, y, x)
        The dirty cube.
    box : tuple of int
        The blob's box ``(y0, y1, x0, x1)`` (half-open, cube pixels).
    taken : iterable of (int, int)
        Windows of the lines already found; new windows must not come
        within ``gap`` channels of them.
    snr : float
        Smallest peak S/N of a window image (brightest pixel in the blob
        over the noise outside the grown box).
    widths : sequence of int
        Boxcar widths, channels.
    size : int
        Side of the cut-out around the box centre.
    pad : int
        The noise is measured outside the box grown by this many pixels.
    gap : int
        Channels kept free around windows already taken.
    max_new : int
        Most new windows.
    own : bool array, optional
        The blob's own pixels (the box's shape); the peak is searched there
        only (default: the whole box).

    Returns
    -------
    list of dict
        Best S/N first: ``window`` ``(z0, z1)``, ``level_window`` (the
        window grown by a third of its width either side: a boxcar of best
        S/N covers about 1.2 FWHM of a Gaussian line, the truth's extent
        about 1.8), ``snr``, ``centre``, ``fwhm`` (the width, channels),
        ``peak`` (central channel), ``amplitude`` (the S/N), ``position``
        (y, x: the brightest pixel of the window image in the blob, cube
        pixels) and ``searched`` True.
    """
    nz = cube.shape[0]
    y0, y1, x0, x1 = (int(v) for v in box)
    center = (0.5 * (y0 + y1 - 1), 0.5 * (x0 + x1 - 1))
    size = max(int(size), max(y1 - y0, x1 - x0) + 2 * int(pad) + 32)  # room for the noise around a large blob
    src, dst = cutout_slices(center, size, cube.shape[1:])
    sub = np.nan_to_num(np.asarray(cube[:, src[0], src[1]], dtype=np.float32))
    if sub.size == 0 or nz < 8:
        return []
    oy, ox = src[0].start - dst[0].start, src[1].start - dst[1].start  # cut-out origin (cube pixels)
    ny, nx = sub.shape[1:]
    # cut-out coordinates of the parts of the cut-out that exist
    yy, xx = np.mgrid[dst[0].start : dst[0].start + ny, dst[1].start : dst[1].start + nx]
    ly0, ly1, lx0, lx1 = y0 - oy, y1 - oy, x0 - ox, x1 - ox
    inside = (yy >= ly0) & (yy < ly1) & (xx >= lx0) & (xx < lx1)
    if own is not None:
        mine = np.zeros_like(inside)
        own = np.asarray(own, dtype=bool)
        ys, xs = np.nonzero(own)
        ys, xs = ys + ly0 - dst[0].start, xs + lx0 - dst[1].start
        ok = (ys >= 0) & (ys < ny) & (xs >= 0) & (xs < nx)
        mine[ys[ok], xs[ok]] = True
        inside = mine if mine.any() else inside
    outside = ~((yy >= ly0 - pad) & (yy < ly1 + pad) & (xx >= lx0 - pad) & (xx < lx1 + pad))
    if inside.sum() == 0 or outside.sum() < 64:
        return []
    flat = sub.reshape(nz, -1)
    flat = flat - np.median(flat, axis=0, keepdims=True)  # continuum (lines cover a minority of channels)
    csum = np.concatenate([np.zeros((1, flat.shape[1]), np.float32), np.cumsum(flat, axis=0, dtype=np.float64)
                           .astype(np.float32)])
    inside_f, outside_f = inside.ravel(), outside.ravel()
    step = max(1, int(outside_f.sum()) // 1024)  # the noise from at most ~1,000 pixels
    out_idx = np.nonzero(outside_f)[0][::step]
    in_idx = np.nonzero(inside_f)[0]
    free = np.ones(nz, dtype=bool)
    for z0, z1 in taken:
        free[max(0, int(z0) - gap) : int(z1) + gap] = False
    scored = []  # (snr, z0, width)
    for w in widths:
        w = int(w)
        if w >= nz:
            continue
        imgs = csum[w:] - csum[:-w]  # (nz - w + 1, pixels): window [z, z + w)
        noise = mad_noise(imgs[:, out_idx], axis=-1)
        inner = imgs[:, in_idx]
        where = inner.argmax(axis=1)
        peak = inner[np.arange(len(inner)), where]
        s = np.where(noise > 0, peak / np.where(noise > 0, noise, 1.0), 0.0)
        for z in np.nonzero(s >= snr)[0]:
            if s[z] >= s[max(0, z - 1) : z + 2].max() and free[z : z + w].all():
                scored.append((float(s[z]), int(z), w, int(in_idx[where[z]])))
    scored.sort(key=lambda t: -t[0])
    lines = []
    for s, z0, w, pix in scored:
        if len(lines) >= int(max_new):
            break
        if not free[z0 : z0 + w].all():
            continue
        free[max(0, z0 - gap) : z0 + w + gap] = False
        grow = max(1, int(round(w / 3)))
        lines.append({"window": (z0, z0 + w), "level_window": (max(0, z0 - grow), min(nz, z0 + w + grow)),
                      "snr": s, "centre": z0 + 0.5 * (w - 1), "fwhm": float(w), "peak": z0 + w // 2,
                      "amplitude": s, "searched": True,
                      "position": (int(yy.ravel()[pix]) + oy, int(xx.ravel()[pix]) + ox)})
    return lines


def peak_boxes(peak_snr, covered, *, threshold=12.0, dilation=1, min_area=1, blank=None):
    """Boxes of the components of a peak S/N image above ``threshold`` whose maximum lies outside ``covered``.

    Parameters
    ----------
    peak_snr : array (y, x)
        The peak over channels in noise units (`~astro_mlfinder.neural.models.deepfocus.focus.peak_image`
        times its clip).
    covered : bool array (y, x)
        Pixels of the blobs already found.
    threshold : float
        Smallest peak S/N.
    dilation : int
        Binary dilations of each component (3x3) before its box is taken.
    min_area : int
        Smallest component before the dilation, pixels.
    blank : bool array (y, x), optional
        Pixels never detected.

    Returns
    -------
    boxes, scores, masks : lists
        ``(y0, y1, x0, x1)`` half-open, the maximum peak S/N of each, and each
        component's (dilated) pixels in its box; brightest first.
    """
    peak_snr = np.asarray(peak_snr, dtype=np.float32)
    binary = peak_snr >= float(threshold)
    if blank is not None:
        binary &= ~blank
    labels, n = ndimage.label(binary, structure=np.ones((3, 3), bool))
    if not n:
        return [], [], []
    index = np.arange(1, n + 1)
    tops = ndimage.maximum_position(peak_snr, labels, index)
    areas = ndimage.sum(binary, labels, index)
    out = []
    for i, (y, x), area in zip(index, tops, areas, strict=True):
        if covered[int(y), int(x)] or area < int(min_area):
            continue
        comp = labels == i
        if dilation:
            comp = ndimage.binary_dilation(comp, np.ones((3, 3), bool), iterations=int(dilation))
        ys, xs = np.nonzero(comp)
        box = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        out.append((float(peak_snr[int(y), int(x)]), box, comp[box[0] : box[1], box[2] : box[3]]))
    out.sort(key=lambda t: -t[0])
    return [b for _, b, _ in out], [v for v, _, _ in out], [m for _, _, m in out]
