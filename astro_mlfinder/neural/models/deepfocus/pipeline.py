"""The DeepFocus pipeline: cube -> candidate sources with boxes, line windows, sizes, PA and flux.

`run_pipeline` chains, with every threshold a keyword (`DEFAULTS`):

1. **integrate and normalise** -- sum over channels, min-max to [0, 1]
   (`~astro_mlfinder.neural.models.deepfocus.focus.integrate`), and, for
   a Blobs Finder with two inputs, the peak over channels in noise units
   (`~astro_mlfinder.neural.models.deepfocus.focus.blobs_input`);
2. **Blobs Finder** -- the predicted integrated clean image (`blobs_map`);
3. **detection** -- min-max normalise, threshold at ``detection_threshold``,
   ``dilation`` binary dilations with a 3x3 element, 8-connected
   components of at least ``min_area`` pixels, each cut between local
   maxima of the output at least ``split_distance`` pixels apart whose
   saddle is deep enough (``split_contrast``; `split_blobs`) -- sources
   whose blobs touch get boxes of their own -- and their bounding boxes
   (`detect_boxes`);
4. **spectra** -- the dirty cube summed over each box (or, with
   ``blob_spectrum``, over the blob's own pixels only), z-scored and
   min-max normalised, through the **Deep GRU**, min-max normalised again;
5. **lines** -- `~astro_mlfinder.neural.models.deepfocus.spectral.find_lines`:
   peaks (``peak_height`` above the mean, ``peak_prominence``,
   ``peak_distance``), 1D Gaussian fits on ``+-fit_half_window`` channels,
   windows of ``+-window_fwhm`` FWHM, overlapping windows and the horns of
   one profile (``merge_valley``) merged; then ``residual_passes`` more
   passes of the Deep GRU over the spectrum with the lines found taken out
   (`residual_spectrum`), which finds a faint line behind a bright one on
   the same line of sight; windows are at most ``max_window`` channels;
   with ``peak_snr``, blobs of the peak S/N image that the Blobs Finder
   missed are added first
   (`~astro_mlfinder.neural.models.deepfocus.search.peak_boxes`), and with
   ``search_snr``, after focusing, boxcar windows over the channels no
   line of a blob holds whose focused S/N reaches it are more lines
   (`~astro_mlfinder.neural.models.deepfocus.search.search_lines`);
6. **spectral focusing and false-positive rejection** -- per line, the
   continuum-subtracted line image of a ``focus_size`` cut-out; the line is
   a source when its peak S/N in the box reaches ``snr_keep``, or reaches
   ``snr_min`` and the S/N of the all-channel reference image (the
   DeepFocus rule, with S/N = peak over robust noise instead of the
   original's median over *variance*); every line of a box that passes is
   its own source, so several lines on one line of sight are separated;
   at most ``max_lines`` per box; of two kept lines with overlapping
   windows within ``merge_radius`` pixels (one source split into two
   blobs) the brighter stays, and two whose windows are at most
   ``merge_gap`` channels apart there are one line (the horns of a
   double-horned profile found apart) with the joined window
   (`select_sources`);
7. **the source's pixels** -- connected pixels of the line image above
   ``grow_snr`` x its noise holding the peak (inside the box grown by
   ``box_pad``); the source is re-centred on them and focused again;
8. **ResNets** -- FWHM x, FWHM y, PA (cos 2PA, sin 2PA) and flux
   (log of the flux over the line image's peak) on the normalised 64x64
   line images, summed over the line's extent down to ``regress_level`` of
   its denoised peak (the truth's definition of a line's channels, which the
   ResNets were trained on), or, with ``regress_level=0``, over
   ``+-regress_window_fwhm`` FWHM of the line (default: the line window) --
   the detection window is tuned narrower, which biased the fluxes.
"""

import numpy as np
from scipy import ndimage

from .._flood import priority_flood
from .defaults import DEFAULTS, FWHM_SCALE
from .focus import PEAK_CLIP, blobs_input, box_snr, line_image, peak_image, reference_image, resnet_input, source_pixels
from .search import peak_boxes, search_lines
from .spectral import box_spectrum, find_lines, normalize_spectra

__all__ = ["DEFAULTS", "run_pipeline", "find_candidates", "select_sources", "focused_inputs", "blobs_map",
           "detect_boxes", "split_blobs", "residual_spectrum", "denoise_spectra", "regress", "decode_outputs",
           "FWHM_SCALE"]

def _torch():
    from ..._torch import require_torch

    return require_torch("the DeepFocus pipeline")


def blobs_map(net, image, device="cpu"):
    """The Blobs Finder output for its input ``(channels, y, x)`` (or one 2D image), padded to its divisor."""
    torch = _torch()
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[None]
    ny, nx = image.shape[-2:]
    div = int(getattr(net, "divisor", 16))
    size = net.config.get("image_size")
    if net.config.get("hidden") and size and (ny, nx) != (size, size):
        raise ValueError(f"this Blobs Finder has a fully connected bottleneck for {size}x{size} images; the cube is "
                         f"{ny}x{nx} (cut it to {size}x{size} or use weights with hidden=0)")
    py, px = (-ny) % div, (-nx) % div
    img = np.pad(image, ((0, 0), (0, py), (0, px)), mode="reflect" if min(ny, nx) > max(py, px) else "constant")
    with torch.no_grad():
        out = net(torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None].to(device))
    return out[0, 0, :ny, :nx].float().cpu().numpy()


def detect_boxes(prediction, *, threshold=0.15, dilation=1, min_area=4, mask=None, split_distance=0,
                 split_contrast=0.2, return_masks=False):
    """Boxes of the blobs of a Blobs Finder output.

    Parameters
    ----------
    prediction : array (y, x)
        The network output (min-max normalised here).
    threshold : float
        Binarisation threshold on the normalised output.
    dilation : int
        Binary dilations with a 3x3 structuring element.
    min_area : int
        Smallest component (pixels, after dilation).
    mask : bool array, optional
        Pixels never detected (blanked data).
    split_distance : int
        When > 0, a blob holding several local maxima of the output (at least
        this many pixels apart) is cut between them (`split_blobs`), so that
        sources whose blobs touch get boxes of their own.
    split_contrast : float
        A maximum is kept apart only when it rises above the saddle to its
        neighbour by this fraction of its height (`split_blobs`).
    return_masks : bool
        Also return each blob's own pixels.

    Returns
    -------
    boxes : list of tuple
        ``(y0, y1, x0, x1)`` half-open, largest output first.
    scores : list of float
        The maximum of the (unnormalised) output over each blob's own pixels
        (not its box, which may reach into a brighter neighbour's blob).
    masks : list of bool arrays
        With ``return_masks``: each blob's pixels, an array of its box's shape.
    """
    p = np.asarray(prediction, dtype=np.float32)
    lo, hi = float(p.min()), float(p.max())
    norm = (p - lo) / (hi - lo) if hi > lo else np.zeros_like(p)
    binary = norm >= threshold
    if mask is not None:
        binary &= ~mask
    if dilation:
        binary = ndimage.binary_dilation(binary, np.ones((3, 3), bool), iterations=int(dilation))
    labels, n = ndimage.label(binary, structure=np.ones((3, 3), bool))
    if split_distance and n:
        labels = split_blobs(norm, labels, distance=split_distance, contrast=split_contrast)
    boxes, scores, masks = [], [], []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        own = None if sl is None else labels[sl] == i
        if own is None or int(own.sum()) < min_area:
            continue
        boxes.append((sl[0].start, sl[0].stop, sl[1].start, sl[1].stop))
        scores.append(float(p[sl][own].max()))  # its own pixels: a box may hold a neighbour's
        masks.append(own)
    order = np.argsort(-np.asarray(scores), kind="stable")
    out = [boxes[i] for i in order], [scores[i] for i in order]
    return (*out, [masks[i] for i in order]) if return_masks else out


def split_blobs(norm, labels, *, distance=6, contrast=0.2):
    """Cut blobs with several maxima: a watershed of the Blobs Finder output seeded at its local maxima.

    Parameters
    ----------
    norm : array (y, x)
        The normalised output.
    labels : int array (y, x)
        Blobs (0: background).
    distance : int
        Local maxima are the largest value within ``distance`` pixels.
    contrast : float
        Two neighbouring regions stay apart only when the fainter maximum
        exceeds the highest saddle between them by ``contrast`` times its
        value; otherwise they are merged again.

    Returns
    -------
    int array (y, x)
        The new labels (0: background).
    """
    binary = labels > 0
    size = 2 * int(distance) + 1
    peaks = binary & (norm >= ndimage.maximum_filter(norm, size=size, mode="constant", cval=-np.inf))
    n_blobs = int(labels.max())
    for y, x in ndimage.maximum_position(norm, labels, index=np.arange(1, n_blobs + 1)):
        peaks[int(y), int(x)] = True  # every blob keeps a seed, even next to a brighter one
    markers, n_peaks = ndimage.label(peaks, structure=np.ones((3, 3), bool))
    if n_peaks <= n_blobs:
        return labels
    regions = priority_flood(norm, markers, binary)
    top = np.zeros(n_peaks + 1)
    top[1:] = ndimage.maximum(norm, markers, index=np.arange(1, n_peaks + 1))
    saddle = {}
    ny, nx = norm.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ya, yb = slice(0, ny - dy), slice(dy, ny)
        xa, xb = (slice(0, nx - dx), slice(dx, nx)) if dx >= 0 else (slice(-dx, nx), slice(0, nx + dx))
        a, b = regions[ya, xa], regions[yb, xb]
        edge = (a > 0) & (b > 0) & (a != b)
        for i, j, v in zip(a[edge], b[edge], np.minimum(norm[ya, xa][edge], norm[yb, xb][edge]), strict=True):
            key = (min(i, j), max(i, j))
            saddle[key] = max(saddle.get(key, -np.inf), float(v))
    parent = np.arange(n_peaks + 1)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (i, j), v in sorted(saddle.items(), key=lambda kv: -kv[1]):
        ri, rj = root(i), root(j)
        if ri == rj:
            continue
        low = min(top[ri], top[rj])
        if low - v < float(contrast) * low:
            keep, gone = (ri, rj) if top[ri] >= top[rj] else (rj, ri)
            parent[gone] = keep
    roots = np.array([root(i) for i in range(n_peaks + 1)])
    return np.where(regions > 0, roots[regions], 0)


def denoise_spectra(net, spectra, device="cpu", batch_size=256):
    """Deep GRU outputs (min-max normalised, float64) of raw spectra ``(n, channels)``."""
    torch = _torch()
    x = normalize_spectra(np.atleast_2d(spectra))
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(net(torch.from_numpy(x[i : i + batch_size]).to(device)).float().cpu().numpy())
    d = np.concatenate(outs).astype(np.float64) if outs else np.zeros((0, x.shape[1]))
    lo, hi = d.min(axis=1, keepdims=True), d.max(axis=1, keepdims=True)
    return (d - lo) / np.where(hi > lo, hi - lo, 1.0)


def decode_outputs(name, out, scale=None):
    """Physical values of ResNet outputs: FWHM in pixels, PA in degrees [0, 180), flux in line-image units x pixels."""
    out = np.asarray(out, dtype=np.float64)
    if name in ("resnet_fwhm_x", "resnet_fwhm_y"):
        return np.maximum(out[:, 0], 0.0) * FWHM_SCALE
    if name == "resnet_pa":
        return np.mod(np.degrees(0.5 * np.arctan2(out[:, 1], out[:, 0])), 180.0)
    if name == "resnet_flux":
        return np.asarray(scale, dtype=np.float64) * np.exp(np.clip(out[:, 0], -10, 10))
    raise ValueError(f"unknown ResNet {name!r}")


def regress(networks, images, scales, device="cpu", batch_size=32, flux_rot180=False):
    """Run the four ResNets on normalised cut-outs ``(n, size, size)``; return ``{column: values}``.

    With ``flux_rot180`` the flux network's output (a log) is averaged over
    each cut-out and the cut-out rotated by 180 degrees, a symmetry of the
    dirty beam (the geometric mean of the two fluxes).
    """
    torch = _torch()
    names = {"fwhm_x": "resnet_fwhm_x", "fwhm_y": "resnet_fwhm_y", "pa": "resnet_pa", "flux": "resnet_flux"}
    x = np.asarray(images, dtype=np.float32)
    out = {}
    for col, name in names.items():
        views = [x, np.ascontiguousarray(x[:, ::-1, ::-1])] if (flux_rot180 and name == "resnet_flux") else [x]
        raws = []
        for view in views:
            parts = []
            with torch.no_grad():
                for i in range(0, len(view), batch_size):
                    xb = torch.from_numpy(view[i : i + batch_size, None]).to(device)
                    parts.append(networks[name](xb).float().cpu().numpy())
            raws.append(np.concatenate(parts) if parts else np.zeros((0, 2 if name == "resnet_pa" else 1)))
        out[col] = decode_outputs(name, np.mean(raws, axis=0), scales)
    return out


def _local_box(box, center, size):
    """``box`` (cube pixels) in the coordinates of the cut-out of side ``size`` centred on ``center``."""
    oy = int(np.floor(center[0] + 0.5)) - size // 2
    ox = int(np.floor(center[1] + 0.5)) - size // 2
    y0, y1, x0, x1 = box
    return (max(0, y0 - oy), max(0, min(size, y1 - oy)), max(0, x0 - ox), max(0, min(size, x1 - ox))), (oy, ox)


def _focus(cube, box, window, params):
    """Focus a candidate line; return its dict (S/N, noise, pixels, re-centred cut-out), None for an empty box."""
    size = int(params["focus_size"])
    center = (0.5 * (box[0] + box[1] - 1), 0.5 * (box[2] + box[3] - 1))
    img = line_image(cube, center, window, size)
    lbox, (oy, ox) = _local_box(box, center, size)
    if lbox[1] <= lbox[0] or lbox[3] <= lbox[2]:
        return None
    snr, noise, peak = box_snr(img, lbox, pad=int(params["box_pad"]))
    ref_snr, _, _ = box_snr(reference_image(cube, center, size), lbox, pad=int(params["box_pad"]))
    pad = int(params["box_pad"])
    grown = (lbox[0] - pad, lbox[1] + pad, lbox[2] - pad, lbox[3] + pad)
    pix = source_pixels(img, noise, peak, grow_snr=params["grow_snr"], box=grown)
    ys, xs = np.nonzero(pix)
    w = np.maximum(img[ys, xs], 0) + 1e-12
    cy, cx = float(np.sum(ys * w) / w.sum()) + oy, float(np.sum(xs * w) / w.sum()) + ox
    return {"snr": float(snr), "ref_snr": float(ref_snr), "noise": float(noise), "pixels": (ys + oy, xs + ox),
            "center": (cy, cx), "window": tuple(int(v) for v in window),
            "box": (int(ys.min() + oy), int(ys.max() + oy + 1), int(xs.min() + ox), int(xs.max() + ox + 1))}


def select_sources(candidates, params=None):
    """The candidates that pass the S/N test, without duplicates.

    A line is kept when its focused S/N reaches ``snr_keep``, or reaches
    ``snr_min`` and the S/N of the reference (all-channel) image. Of two kept
    lines whose windows overlap and whose centres lie within
    ``merge_radius`` pixels (one source split into two blobs), the one with
    the higher S/N stays; of two whose windows are at most ``merge_gap``
    channels apart (the horns of one line found apart), the brighter stays
    with the joined window.

    Parameters
    ----------
    candidates : list of dict
        Candidate lines (``snr``, ``ref_snr``, ``center``, ``window``...);
        not modified.
    params : dict, optional
        Pipeline parameters (`DEFAULTS` for those not given).

    Returns
    -------
    list of dict
        The kept lines (copies) in the order of ``candidates``.
    """
    p = dict(DEFAULTS, **(params or {}))
    kept = []  # copies: a joined window must not change the caller's candidate
    order = sorted(range(len(candidates)), key=lambda i: -candidates[i]["snr"])
    for i in order:
        c = candidates[i]
        if not (c["snr"] >= p["snr_keep"] or (c["snr"] >= p["snr_min"] and c["snr"] >= c["ref_snr"])):
            continue
        dup = False
        for k in kept:
            gap = max(k["window"][0], c["window"][0]) - min(k["window"][1], c["window"][1])
            dist = np.hypot(k["center"][0] - c["center"][0], k["center"][1] - c["center"][1])
            if gap < 0 and dist <= p["merge_radius"]:
                dup = True
                break
            if 0 <= gap <= p["merge_gap"] and dist <= p["merge_radius"]:
                # the two halves of one line (horns split by the peak finder): one window
                k["window"] = (min(k["window"][0], c["window"][0]), max(k["window"][1], c["window"][1]))
                dup = True
                break
        if not dup:
            kept.append(dict(c, _index=i))
    return [{k: v for k, v in c.items() if k != "_index"} for c in sorted(kept, key=lambda c: c["_index"])]


def residual_spectrum(spectrum, windows, gap=2):
    """``spectrum`` with the channels of ``windows`` (grown by ``gap``) replaced by the median of the others.

    The Deep GRU sees what is left once the lines already found are taken
    out, so that a fainter line on the same line of sight (at other
    frequencies) is no longer flattened by the min-max normalisation to the
    brighter one.

    Parameters
    ----------
    spectrum : array-like
        One spectrum (channels).
    windows : iterable of (int, int)
        Half-open channel windows of the lines found.
    gap : int
        Channels added on each side of every window.

    Returns
    -------
    `~numpy.ndarray`
        float64 copy of ``spectrum``; unchanged when the windows cover every channel.
    """
    out = np.array(spectrum, dtype=np.float64)
    taken = np.zeros(out.size, dtype=bool)
    for z0, z1 in windows:
        taken[max(0, int(z0) - gap) : int(z1) + gap] = True
    if taken.all():
        return out
    out[taken] = np.median(out[~taken])
    return out


def find_candidates(cube, networks, params=None, *, mask=None, device="cpu"):
    """Stages 1-7 without the S/N selection: every focused line of every blob (see `run_pipeline`).

    Returns ``(candidates, products)``; `select_sources` applies the S/N test.
    """
    p = dict(DEFAULTS, **(params or {}))
    cube = np.asarray(cube, dtype=np.float32)
    if cube.ndim != 3:
        raise ValueError(f"DeepFocus searches cubes (z, y, x); got shape {cube.shape}")
    net = networks["blobsfinder"]
    inputs = blobs_input(cube, net.config.get("inputs", ["sum"]))
    blobs = blobs_map(net, inputs, device)
    blank = ~np.isfinite(cube).any(axis=0)
    if mask is not None:
        blank |= mask
    boxes, scores, masks = detect_boxes(blobs, threshold=p["detection_threshold"], dilation=p["dilation"],
                                        min_area=p["min_area"], mask=blank, split_distance=p["split_distance"],
                                        split_contrast=p["split_contrast"], return_masks=True)
    products = {"blobs": blobs, "integrated": inputs[0]}
    if p["peak_snr"]:
        names = list(net.config.get("inputs", ["sum"]))
        peak = inputs[names.index("peak")] if "peak" in names else peak_image(cube)
        covered = np.zeros(blobs.shape, dtype=bool)
        for (y0, y1, x0, x1), own in zip(boxes, masks, strict=True):
            covered[y0:y1, x0:x1] |= own
        more = peak_boxes(peak * PEAK_CLIP, covered, threshold=p["peak_snr"], dilation=p["dilation"], blank=blank)
        for box, own in zip(more[0], more[2], strict=True):
            boxes.append(box)
            masks.append(own)
            scores.append(float(blobs[box[0] : box[1], box[2] : box[3]][own].max()))
    if not boxes:
        return [], products
    if p["blob_spectrum"]:
        spectra = np.stack([box_spectrum(cube, b, m) for b, m in zip(boxes, masks, strict=True)])
    else:
        spectra = np.stack([box_spectrum(cube, b) for b in boxes])
    denoised = denoise_spectra(networks["deepgru"], spectra, device)

    def lines_of(spec):
        return find_lines(spec, height=p["peak_height"], prominence=p["peak_prominence"],
                          distance=p["peak_distance"], half_window=p["fit_half_window"], window_fwhm=p["window_fwhm"],
                          valley=p["merge_valley"], level=p["regress_level"] or 0.1,
                          max_window=p["max_window"] or None)

    per_box = [lines_of(spec)[: int(p["max_lines"])] for spec in denoised]
    for _ in range(int(p["residual_passes"])):
        todo = [i for i, lines in enumerate(per_box) if lines and len(lines) < int(p["max_lines"])]
        if not todo:
            break
        masked = np.stack([residual_spectrum(spectra[i], [ln["window"] for ln in per_box[i]]) for i in todo])
        found = False
        for i, spec in zip(todo, denoise_spectra(networks["deepgru"], masked, device), strict=True):
            taken = [ln["window"] for ln in per_box[i]]
            for line in lines_of(spec):
                w = line["window"]
                if len(per_box[i]) < int(p["max_lines"]) and all(min(w[1], t[1]) <= max(w[0], t[0]) for t in taken):
                    per_box[i].append(line)
                    taken.append(w)
                    found = True
        if not found:
            break
    candidates = []
    for box, score, lines, own in zip(boxes, scores, per_box, masks, strict=True):
        mine = []
        for line in lines:
            src = _focus(cube, box, line["window"], p)
            if src is not None:
                src.update(score=score, blob_box=tuple(int(v) for v in box), line=line)
                mine.append(src)
        if p["search_snr"]:
            # lines the Deep GRU missed: only the lines that may pass the S/N test hold channels and room
            good = [c for c in mine if c["snr"] >= p["snr_min"]]
            room = int(p["max_lines"]) - len(good)
            if room > 0:
                taken = [c["line"].get("level_window", c["window"]) for c in good]
                for line in search_lines(cube, box, taken, snr=p["search_snr"], size=int(p["focus_size"]),
                                         pad=int(p["box_pad"]), max_new=room, own=own):
                    src = _focus(cube, box, line["window"], p)
                    if src is not None:
                        src.update(score=score, blob_box=tuple(int(v) for v in box), line=line)
                        mine.append(src)
        candidates.extend(mine)
    return candidates, products


def focused_inputs(cube, sources, size=64):
    """The normalised ResNet inputs ``(n, size, size)`` and scales of sources (``center``, ``window``, ``box``)."""
    images, scales = [], []
    for src in sources:
        img = line_image(cube, src["center"], src["window"], size)
        lbox, _ = _local_box(src["box"], src["center"], size)
        x, s = resnet_input(img, lbox)
        images.append(x)
        scales.append(s)
    if not images:
        return np.zeros((0, size, size), np.float32), np.zeros(0)
    return np.stack(images), np.asarray(scales)


def _regress_window(src, factor, n, level=None):
    """The ResNets' window of ``src``, never narrower than its line window.

    With ``level`` (> 0): the line's ``level_window`` (where the denoised spectrum
    falls to ``level`` of its peak; `~astro_mlfinder.neural.models.deepfocus.spectral.find_lines`);
    else, with ``factor``: its fitted centre +- ``factor`` FWHM; else the line window.
    """
    line = src.get("line") or {}
    if level and "level_window" in line:
        lw = line["level_window"]
        return (min(int(lw[0]), src["window"][0]), max(int(lw[1]), src["window"][1]))
    if factor is None or "centre" not in line:
        return src["window"]
    half = max(float(factor) * float(line["fwhm"]), 1.0)
    z0 = int(np.clip(np.floor(line["centre"] - half), 0, n - 1))
    z1 = int(np.clip(np.ceil(line["centre"] + half) + 1, z0 + 1, n))
    return (min(z0, src["window"][0]), max(z1, src["window"][1]))


def run_pipeline(cube, networks, params=None, *, mask=None, device="cpu"):
    """Search a dirty cube with the six networks.

    Parameters
    ----------
    cube : array (z, y, x)
        The dirty cube (NaN = blank).
    networks : dict
        The six networks by name (`~astro_mlfinder.neural.models.deepfocus.networks.NETWORK_NAMES`), in eval mode.
    params : dict, optional
        Pipeline parameters (`DEFAULTS` for those missing).
    mask : bool array (y, x), optional
        Pixels never detected.
    device : str or `torch.device`
        Where the networks are.

    Returns
    -------
    sources : list of dict
        Brightest blob first, then brightest line: ``box`` (y0, y1, x0, x1)
        of the source's pixels, ``blob_box`` (the Blobs Finder box),
        ``window`` (z0, z1), ``center`` (y, x), ``pixels`` (ys, xs),
        ``snr``, ``ref_snr``, ``noise``, ``score`` (Blobs Finder maximum in
        the box), ``line`` (the spectral fit), and the regressed ``fwhm_x``,
        ``fwhm_y`` (pixels), ``pa`` (degrees), ``flux`` (line-image units x
        pixels: sum over channels and pixels, continuum subtracted).
    products : dict
        ``blobs`` (the Blobs Finder output) and ``integrated`` (its first input).
    """
    p = dict(DEFAULTS, **(params or {}))
    candidates, products = find_candidates(cube, networks, p, mask=mask, device=device)
    sources = select_sources(candidates, p)
    if sources:
        cube = np.asarray(cube, dtype=np.float32)
        windows = [_regress_window(s, p.get("regress_window_fwhm"), cube.shape[0], p.get("regress_level"))
                   for s in sources]
        images, scales = focused_inputs(cube, [dict(s, window=w) for s, w in zip(sources, windows, strict=True)],
                                        int(p["focus_size"]))
        values = regress(networks, images, scales, device, int(p["batch_size"]), bool(p.get("flux_rot180")))
        for i, src in enumerate(sources):
            for key, vals in values.items():
                src[key] = float(vals[i])
    return sources, products
