"""
SoFiA-2 compatible source parameterisation (catalogue columns).

:func:`parameterise` measures, for every source of a label array, the
SoFiA-2 (2.5.1, ``DataCube_parameterise``) catalogue columns on the
source's bounding box:

* ``x, y, z``: centroid weighted by the source's *positive* pixels.
* ``n_pix, f_min, f_max, f_sum``: over all mask pixels.
* ``rms``: local noise, ``1.4826 * median|v|`` of the non-source pixels
  (label 0) of the bounding box, excluding the first one in raster order
  (a quirk of SoFiA's sampling) and NaN.  If nothing is left, ``rms`` is 0
  (SoFiA reports 0 when the box has no background pixel and an undefined,
  denormal value when it has exactly one).
* ``w20, w50``: widths of the integrated spectrum at 20 / 50 % of its
  peak, found from the edges inwards with linear interpolation;
  ``wm50``: Courtois et al. (2009) width at 50 % of the mean flux within
  the window holding 90 % of the flux.
* ``ell_maj, ell_min, ell_pa``: ellipse from the flux-weighted second
  moments of the positive pixels of the moment-0 map about the centroid
  (axes = 2 √eigenvalue; PA from +y towards -x, in [-90, 90)).
  ``ell3s_*``: the same with equal weights over the pixels whose moment-0
  value exceeds ``3 rms √n_chan``.
* ``kin_pa``: kinematic PA from an orthogonal (Deming) fit to the
  per-channel centroids of the pixels above ``3 rms``, weighted by the
  squared channel sum, oriented towards the upper channels; ``-1`` if
  fewer than two channels qualify.
* ``err_x/y/z = √Σ(x - x̄)² rms / Σv`` over the positive pixels;
  ``err_f_sum = rms √n_pix``.
* ``x_peak, y_peak``: first maximum of the moment-0 map (raster order);
  ``z_peak``: maximum of the integrated spectrum (0 if nothing is
  positive, as in SoFiA).

Negative sources (negative total flux) are measured on inverted data and
their fluxes inverted back.  With ``physical=True`` (only meaningful for
data in Jy/beam) ``f_sum`` becomes ``f_sum |Δν| / Ω``, ``w*`` are
multiplied by ``|Δν|``, ``err_x/y/z`` by ``√Ω`` and ``err_f_sum`` becomes
``err_f_sum |Δν| / √Ω`` (Ω = beam area in pixels, 1 if unknown).
"""

import math

import numpy as np

from . import _small
from .progress import progress_bar
from .stats import MAD_TO_STD

__all__ = ['parameterise', 'beam_area_pixels', 'source_names',
           'COLUMNS_3D', 'COLUMNS_2D', 'MAD_TO_STD']

#: Columns returned for cubes, in SoFiA catalogue order.
COLUMNS_3D = ('id', 'x', 'y', 'z', 'x_min', 'x_max', 'y_min', 'y_max',
              'z_min', 'z_max', 'n_pix', 'f_min', 'f_max', 'f_sum', 'rms',
              'w20', 'w50', 'wm50', 'ell_maj', 'ell_min', 'ell_pa',
              'ell3s_maj', 'ell3s_min', 'ell3s_pa', 'kin_pa', 'err_x',
              'err_y', 'err_z', 'err_f_sum', 'x_peak', 'y_peak', 'z_peak')

#: Columns returned for images.
COLUMNS_2D = ('id', 'x', 'y', 'x_min', 'x_max', 'y_min', 'y_max', 'n_pix',
              'f_min', 'f_max', 'f_sum', 'rms', 'ell_maj', 'ell_min',
              'ell_pa', 'ell3s_maj', 'ell3s_min', 'ell3s_pa', 'err_x',
              'err_y', 'err_f_sum', 'x_peak', 'y_peak')

_INT_COLUMNS = {'id', 'x_min', 'x_max', 'y_min', 'y_max', 'z_min', 'z_max',
                'n_pix', 'x_peak', 'y_peak', 'z_peak'}


def beam_area_pixels(bmaj_deg, bmin_deg, cdelt_deg):
    """
    Beam solid angle in pixels, as SoFiA-2 computes it.

    Parameters
    ----------
    bmaj_deg, bmin_deg : float
        Beam FWHM major and minor axes (same unit as ``cdelt_deg``).
    cdelt_deg : float
        Pixel size (SoFiA uses CDELT2 for parameterisation and CDELT1 for
        the reliability ``min_snr``); its sign is ignored.

    Returns
    -------
    omega : float
        ``π bmaj bmin / (4 ln 2 cdelt²)``.
    """
    bmaj, bmin, cdelt = float(bmaj_deg), float(bmin_deg), float(cdelt_deg)
    if not (np.isfinite(bmaj) and np.isfinite(bmin) and np.isfinite(cdelt)):
        raise ValueError('beam_area_pixels needs finite bmaj, bmin and cdelt')
    if bmaj <= 0 or bmin <= 0 or cdelt == 0:
        raise ValueError(f'beam_area_pixels needs positive bmaj/bmin and '
                         f'non-zero cdelt, got {bmaj}, {bmin}, {cdelt}')
    return math.pi * bmaj * bmin / (4.0 * math.log(2.0) * cdelt * cdelt)


def source_names(ra, dec, *, prefix='SoFiA', equinox=2000, galactic=False,
                 ids=None):
    """
    SoFiA-2 source names.

    Parameters
    ----------
    ra, dec : array_like or None
        Longitude and latitude in degrees.  If either is `None`, names of
        the form ``<prefix>-0001`` are made from ``ids``.
    prefix : str, optional
        Name prefix.  ``'WALLABY'`` selects the WALLABY convention
        (``WALLABY Jhhmmss-ddmmss``, seconds truncated).
    equinox : float, optional
        Equinox of equatorial coordinates; below 2000 gives ``B`` names.
    galactic : bool, optional
        Non-equatorial coordinates.  SoFiA 2.5.1 then falls back to its
        generic ``lll.llll±dd.dddd`` form (the sign character follows the
        longitude and the latitude keeps its own sign), which is
        reproduced here.
    ids : array_like of int, optional
        Source ids for WCS-less names (default 1..N).

    Returns
    -------
    names : list of str
    """
    if ra is None or dec is None:
        if ids is None:
            raise ValueError('source_names needs ids when ra/dec are None')
        return [f'{prefix}-{int(i):04d}' for i in np.atleast_1d(ids)]
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    if ra.shape != dec.shape:
        raise ValueError(f'ra and dec have different shapes: {ra.shape} vs '
                         f'{dec.shape}')
    names = []
    wallaby = prefix == 'WALLABY'
    for lon, lat in zip(ra.tolist(), dec.tolist(), strict=True):
        if galactic:
            names.append(f'{prefix} {lon:08.4f}{"-" if lon < 0 else "+"}'
                         f'{lat:07.4f}')
            continue
        letter = 'B' if equinox < 2000.0 else 'J'
        h = lon / 15.0
        rah = math.floor(h)
        ram = math.floor(60.0 * (h - rah))
        ras = 3600.0 * (h - rah - ram / 60.0)
        de = abs(lat)
        ded = math.floor(de)
        dem = math.floor(60.0 * (de - ded))
        des = 3600.0 * (de - ded - dem / 60.0)
        if wallaby:
            sra = f'{int(ras):02d}'
            sde = f'{int(des):02d}'
        else:
            sra = f'{ras:05.2f}'
            sde = f'{des:04.1f}'
        names.append(f'{prefix} {letter}{int(rah):02d}{int(ram):02d}{sra}'
                     f'{"-" if lat < 0 else "+"}{int(ded):02d}{int(dem):02d}'
                     f'{sde}')
    return names


def _sofia_mad_rms(values):
    """1.4826 * median|v| skipping element 0 and NaN (SoFiA quirk)."""
    v = values[1:]
    v = np.abs(v[~np.isnan(v)])
    if v.size == 0:
        return 0.0
    return MAD_TO_STD * float(np.median(v))


def _line_widths(spec):
    """w20 and w50 of a spectrum (SoFiA: from the edges inwards)."""
    size = spec.size
    peak = spec.max()
    out = []
    for frac in (0.2, 0.5):
        level = frac * peak
        above = np.flatnonzero(~(spec < level))
        if above.size == 0:
            out.append(0.0)
            continue
        lo = int(above[0])
        hi = int(above[-1])
        w = float(lo)
        if lo > 0:
            w -= (spec[lo] - level) / (spec[lo] - spec[lo - 1])
        w = hi - w
        if hi < size - 1:
            w += (spec[hi] - level) / (spec[hi] - spec[hi + 1])
        out.append(w)
    return out[0], out[1]


def _wm50(spec):
    """Courtois et al. (2009) width (SoFiA's wm50)."""
    size = spec.size
    flux = float(np.cumsum(spec[::-1])[-1])
    if not flux > 0.0:
        return 0.0
    limit = 0.05 * flux
    cum_lo = np.cumsum(spec)
    lower = int(np.argmax(~(cum_lo < limit)))
    flux_lower = cum_lo[lower]
    cum_hi = np.cumsum(spec[::-1])
    k = int(np.argmax(~(cum_hi < limit)))
    upper = size - 1 - k
    flux_upper = cum_hi[k]
    if upper <= lower:
        return 0.0
    lower_i = lower - (flux_lower - limit) / spec[lower]
    upper_i = upper + (flux_upper - limit) / spec[upper]
    mean = 0.9 * flux / (upper_i - lower_i)
    half = 0.5 * mean
    ok = ~(spec < half)
    if not ok.any():
        return 0.0
    lower = int(np.argmax(ok))
    upper = size - 1 - int(np.argmax(ok[::-1]))
    lower_i = float(lower)
    upper_i = float(upper)
    if lower > 0:
        lower_i -= (spec[lower] - half) / (spec[lower] - spec[lower - 1])
    if upper < size - 1:
        upper_i += (spec[upper] - half) / (spec[upper] - spec[upper + 1])
    return upper_i - lower_i


def _ellipse(mom, count, cx, cy, rms):
    """Flux-weighted and 3-sigma ellipse fits to a moment-0 map."""
    ny, nx = mom.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    dx = xx - cx
    dy = yy - cy
    pos = mom > 0.0
    res = [0.0] * 6
    w = mom[pos]
    s = w.sum()
    if s > 0.0:
        mx = np.sum(dx[pos] ** 2 * w) / s
        my = np.sum(dy[pos] ** 2 * w) / s
        mxy = np.sum(dx[pos] * dy[pos] * w) / s
        res[0:3] = _ellipse_params(mx, my, mxy)
    sel = pos & (mom > 3.0 * rms * np.sqrt(count))
    n = np.count_nonzero(sel)
    if n > 0:
        mx = np.sum(dx[sel] ** 2) / n
        my = np.sum(dy[sel] ** 2) / n
        mxy = np.sum(dx[sel] * dy[sel]) / n
        res[3:6] = _ellipse_params(mx, my, mxy)
    return res


def _ellipse_params(mx, my, mxy):
    root = math.sqrt((mx - my) ** 2 + 4.0 * mxy * mxy)
    pa = 0.5 * math.atan2(2.0 * mxy, mx - my)
    maj = math.sqrt(2.0 * (mx + my + root))
    arg = 2.0 * (mx + my - root)
    mnr = math.sqrt(arg) if arg >= 0 else math.nan
    pa = pa * 180.0 / math.pi - 90.0
    while pa < -90.0:
        pa += 180.0
    return [maj, mnr, pa]


def _kin_pa(cx, cy, wsum, first, last):
    """Kinematic position angle (SoFiA's kin_maj_axis)."""
    size = wsum.size
    good = wsum > 0.0
    w = wsum[good] ** 2
    sw = w.sum()
    mx = np.sum(w * cx[good]) / sw
    my = np.sum(w * cy[good]) / sw
    dx = cx[good] - mx
    dy = cy[good] - my
    sxx = np.sum(w * dx * dx)
    syy = np.sum(w * dy * dy)
    sxy = np.sum(w * dx * dy)
    with np.errstate(divide='ignore', invalid='ignore'):
        slope = (syy - sxx + np.sqrt((syy - sxx) ** 2 + 4.0 * sxy * sxy)) \
            / (2.0 * sxy)
        pa = float(np.arctan(slope))
    half = size // 2
    lo = np.arange(half)
    hi = size - 1 - lo
    g_lo = good[lo]
    g_hi = good[hi]
    if g_lo.any() and g_hi.any():
        x_first = cx[lo][g_lo].mean()
        y_first = cy[lo][g_lo].mean()
        x_last = cx[hi][g_hi].mean()
        y_last = cy[hi][g_hi].mean()
        full = math.atan2(y_last - y_first, x_last - x_first)
    else:
        full = math.atan2(cy[last] - cy[first], cx[last] - cx[first])
    diff = abs(math.atan2(math.sin(full) * math.cos(pa)
                          - math.cos(full) * math.sin(pa),
                          math.cos(full) * math.cos(pa)
                          + math.sin(full) * math.sin(pa)))
    if diff > math.pi / 2.0:
        pa += math.pi
    pa = 180.0 * pa / math.pi - 90.0
    if math.isfinite(pa):
        while pa < 0.0:
            pa += 360.0
        while pa >= 360.0:
            pa -= 360.0
    return pa


def _measure(vals, lab_box, sid, origin, rms_override, is3d):
    """All parameters of one source on its bounding box."""
    z0, y0, x0 = origin
    nzb, nyb, nxb = vals.shape
    src = lab_box == sid
    v = np.where(src, vals, 0.0)
    f_sum = float(np.sum(vals[src]))
    negative = f_sum < 0.0
    if negative:
        vals = -vals
        v = -v
    sv = vals[src]
    n_pix = sv.size
    f_min = float(sv.min())
    f_max = float(sv.max())
    f_sum = float(np.sum(sv))

    zz = np.arange(nzb, dtype=np.float64)[:, None, None] + z0
    yy = np.arange(nyb, dtype=np.float64)[None, :, None] + y0
    xx = np.arange(nxb, dtype=np.float64)[None, None, :] + x0
    vp = np.where(v > 0.0, v, 0.0)
    sum_pos = float(vp.sum())
    with np.errstate(divide='ignore', invalid='ignore'):
        px = float(np.sum(vp * xx)) / sum_pos
        py = float(np.sum(vp * yy)) / sum_pos
        pz = float(np.sum(vp * zz)) / sum_pos

    mom = v.sum(axis=0)
    count = src.sum(axis=0)
    spec = v.sum(axis=(1, 2))
    k = int(np.argmax(mom))
    if mom.flat[k] > 0.0:
        y_peak, x_peak = divmod(k, nxb)
        y_peak += y0
        x_peak += x0
    else:
        x_peak = y_peak = 0
    k = int(np.argmax(spec))
    z_peak = k + z0 if spec[k] > 0.0 else 0

    if rms_override is None:
        rms = _sofia_mad_rms(vals[lab_box == 0])
    else:
        rms = float(rms_override)

    pos = src & (vals > 0.0)
    with np.errstate(invalid='ignore', divide='ignore'):
        err_x = math.sqrt(float(np.sum(np.where(pos, (xx - px) ** 2, 0.0)))) \
            * rms / sum_pos
        err_y = math.sqrt(float(np.sum(np.where(pos, (yy - py) ** 2, 0.0)))) \
            * rms / sum_pos
        err_z = math.sqrt(float(np.sum(np.where(pos, (zz - pz) ** 2, 0.0)))) \
            * rms / sum_pos
    err_f_sum = rms * math.sqrt(n_pix)

    ell = _ellipse(mom, count, px - x0, py - y0, rms)

    out = {'x': px, 'y': py, 'z': pz, 'n_pix': n_pix, 'f_min': f_min,
           'f_max': f_max, 'f_sum': f_sum, 'rms': rms,
           'ell_maj': ell[0], 'ell_min': ell[1], 'ell_pa': ell[2],
           'ell3s_maj': ell[3], 'ell3s_min': ell[4], 'ell3s_pa': ell[5],
           'err_x': err_x, 'err_y': err_y, 'err_z': err_z,
           'err_f_sum': err_f_sum, 'x_peak': x_peak, 'y_peak': y_peak,
           'z_peak': z_peak}
    if is3d:
        out['w20'], out['w50'] = _line_widths(spec)
        out['wm50'] = _wm50(spec)
        # kinematic PA from per-channel centroids of pixels > 3 rms
        bright = src & (vals > 3.0 * rms)
        vb = np.where(bright, vals, 0.0)
        ksum = vb.sum(axis=(1, 2))
        with np.errstate(divide='ignore', invalid='ignore'):
            kx = np.where(ksum > 0, (vb * xx).sum(axis=(1, 2)) / ksum, 0.0)
            ky = np.where(ksum > 0, (vb * yy).sum(axis=(1, 2)) / ksum, 0.0)
        good = np.flatnonzero(ksum > 0.0)
        if good.size < 2:
            out['kin_pa'] = -1.0
        else:
            out['kin_pa'] = _kin_pa(kx, ky, ksum, int(good[0]),
                                    int(good[-1]))
    if negative:
        out['f_min'], out['f_max'] = -f_max, -f_min
        out['f_sum'] = -f_sum
    return out


def parameterise(data, labels, *, rms=None, physical=False,
                 spectral_cdelt=None, beam_area=None, progress=False):
    """
    Measure SoFiA-2 catalogue parameters of labelled sources.

    Parameters
    ----------
    data : `~numpy.ndarray`
        Cube (z, y, x) or image (y, x) in its original units (NaN = blank).
    labels : `~numpy.ndarray` of int
        Label array of the same shape; sources are the ids > 0.
    rms : float or array_like, optional
        Noise level to use instead of SoFiA's local rms (a scalar or one
        value per source in id order).
    physical : bool, optional
        Convert ``f_sum``, ``err_f_sum``, ``w20``, ``w50``, ``wm50`` and
        ``err_x/y/z`` as SoFiA's ``parameter.physical`` (meaningful for
        Jy/beam data only; the caller checks the unit).
    spectral_cdelt : float, optional
        Channel width (CDELT3, sign ignored); required for cubes when
        ``physical`` is set.
    beam_area : float, optional
        Beam area Ω in pixels (:func:`beam_area_pixels`); 1 if `None`.
    progress : bool, optional
        Show a progress bar over the sources.

    Returns
    -------
    columns : dict of str to `~numpy.ndarray`
        One array per column of `COLUMNS_3D` (cubes) or `COLUMNS_2D`
        (images), ordered by id (``np.unique(labels[labels > 0])``).
    """
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.shape != labels.shape:
        raise ValueError(f'data and labels have different shapes: '
                         f'{data.shape} vs {labels.shape}')
    if data.ndim not in (2, 3):
        raise ValueError(f'data must be 2D (y, x) or 3D (z, y, x), got '
                         f'{data.ndim} dimensions')
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError('labels must be an integer array')
    is3d = data.ndim == 3
    data3 = data if is3d else data[None]
    lab3 = labels if is3d else labels[None]

    objects, lowest = _small.label_boxes(lab3)  # one sweep for the boxes and the sign check
    if lowest < 0:
        raise ValueError('labels must be non-negative (0 = background)')
    ids = np.array([i + 1 for i, sl in enumerate(objects) if sl is not None],
                   dtype=np.int64)
    nsrc = ids.size
    if rms is not None:
        rms_arr = np.broadcast_to(np.asarray(rms, dtype=np.float64),
                                  (nsrc,)) if np.ndim(rms) == 0 else \
            np.asarray(rms, dtype=np.float64)
        if rms_arr.shape != (nsrc,):
            raise ValueError(f'rms must be a scalar or have one value per '
                             f'source ({nsrc}), got shape {rms_arr.shape}')
    if physical:
        if is3d:
            if spectral_cdelt is None or not np.isfinite(spectral_cdelt):
                raise ValueError('physical=True needs spectral_cdelt (CDELT3) '
                                 'for cubes')
            chan = abs(float(spectral_cdelt))
        else:
            chan = 1.0
        omega = 1.0 if beam_area is None else float(beam_area)
        if not omega > 0:
            raise ValueError(f'beam_area must be positive, got {beam_area}')

    names = COLUMNS_3D if is3d else COLUMNS_2D
    cols = {name: np.zeros(nsrc, dtype=np.int64 if name in _INT_COLUMNS
                           else np.float64) for name in names}
    cols['id'] = ids

    iterator = progress_bar(range(nsrc), desc='parameterise', unit='src', enabled=progress)
    for k in iterator:
        sid = int(ids[k])
        sl = objects[sid - 1]
        box = data3[sl].astype(np.float64)
        lab_box = lab3[sl]
        origin = (sl[0].start, sl[1].start, sl[2].start)
        res = _measure(box, lab_box, sid, origin,
                       None if rms is None else rms_arr[k], is3d)
        cols['x_min'][k], cols['x_max'][k] = sl[2].start, sl[2].stop - 1
        cols['y_min'][k], cols['y_max'][k] = sl[1].start, sl[1].stop - 1
        if is3d:
            cols['z_min'][k], cols['z_max'][k] = sl[0].start, sl[0].stop - 1
        for name, value in res.items():
            if name in cols:
                cols[name][k] = value

    if physical:
        cols['f_sum'] = cols['f_sum'] * chan / omega
        cols['err_f_sum'] = cols['err_f_sum'] * chan / math.sqrt(omega)
        err_names = ('err_x', 'err_y', 'err_z') if is3d else ('err_x', 'err_y')
        for name in err_names:
            cols[name] = cols[name] * math.sqrt(omega)
        if is3d:
            for name in ('w20', 'w50', 'wm50'):
                cols[name] = cols[name] * chan
    return cols
