# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Interferometer geometry for the ALMA simulator: antenna positions of a real
ALMA configuration, baselines, Earth-rotation synthesis of the uv coverage,
gridding of the sampling function and the Gaussian fit of the dirty beam's
main lobe.

The antenna table `ALMA_C3` holds the 43 pads of the 12-m array in
configuration C-3 (maximum baseline 500 m, minimum 15 m) as the CASA
simulator's configuration file ``alma.cycle8.3.cfg`` gives them
(``data/alma/simmos`` of the CASA data repository: local tangent plane,
metres east, north and up of the array reference), copied from its
redistribution as ``almasim/antenna_config/cycle8/alma.cycle8.0.3.cfg`` in
MicheleDelliVeneri/ALMASim (commit d11c8ea) and rounded to 1 mm.  DeepFocus'
training cubes used the Cycle-9 C-3 configuration with the same baselines
(Delli Veneri et al. 2022, MNRAS 518, 3407).

The uv coordinates follow Thompson, Moran & Swenson (2017),
*Interferometry and Synthesis in Radio Astronomy*, eqs. 4.1 and 4.4.
"""

from functools import lru_cache

import numpy as np
from scipy import fft as sfft

__all__ = ['ALMA_C3', 'ALMA_LATITUDE', 'C_LIGHT', 'baselines', 'beam_from_sampling',
           'fit_main_lobe', 'grid_sampling', 'sampling_sumsq', 'uv_tracks']

#: Geodetic latitude of the ALMA array centre (deg), Chajnantor plateau.
ALMA_LATITUDE = -23.0229

#: Speed of light in m/s.
C_LIGHT = 299792458.0

_ALMA_C3_TEXT = """\
A001   -33.894  -712.752  -2.330
A002   -17.454  -709.609  -2.329
A007    15.935  -700.676  -2.330
A008     9.482  -687.076  -2.729
A010   -20.894  -653.560  -2.438
A011    37.826  -735.876  -2.485
A015    10.740  -659.567  -2.726
A016   -20.620  -633.907  -2.528
A022   -43.644  -652.742  -2.323
A023   -59.404  -667.572  -2.130
A024   -74.475  -684.657  -2.129
A025   -84.523  -704.894  -1.938
A026   -86.873  -732.262  -1.929
A027   -93.143  -745.959  -1.941
A033  -105.439  -755.003  -1.641
A034   -76.902  -718.173  -1.929
A035   -26.042  -726.189  -2.333
A036   -15.400  -746.359  -2.332
A040   -42.340  -777.861  -2.340
A042     2.383  -763.286  -2.839
A043    17.105  -766.534  -2.842
A044   -80.067  -780.374  -1.336
A045   -63.505  -786.820  -1.341
A047   -19.654  -794.595  -2.339
A048    -1.523  -788.945  -2.837
A049    30.352  -773.919  -3.336
A050   -15.046  -764.335  -2.335
A058   -45.350  -846.397  -1.849
A060    -5.289  -862.854  -1.547
A062   -79.544  -828.940  -1.296
A066   -54.712  -616.689  -2.521
A068  -140.507  -651.164  -0.635
A069  -159.552  -789.469  -0.085
A070   108.098  -762.867  -4.095
A072    89.094  -599.960  -5.662
A073  -205.149  -724.690   0.219
A074   103.717  -847.992  -4.492
A075   -62.649  -519.066  -1.507
A076  -136.070  -902.086   0.926
A082   210.952  -760.340  -7.722
A083  -201.620  -507.585   2.952
A085   149.605  -491.583  -7.813
A088   -71.167  -427.394  -0.558
"""


def _parse_pads(text):
    rows = [line.split() for line in text.strip().splitlines()]
    names = tuple(r[0] for r in rows)
    enu = np.array([[float(v) for v in r[1:4]] for r in rows], dtype=np.float64)
    enu.setflags(write=False)
    return names, enu


#: ALMA 12-m configuration C-3: ``(pad_names, enu)`` with ``enu`` an
#: ``(43, 3)`` read-only array of east, north, up offsets in metres.
ALMA_C3 = _parse_pads(_ALMA_C3_TEXT)


def baselines(enu):
    """
    All antenna pairs ``i < j`` as baseline vectors ``enu[j] - enu[i]``.

    Parameters
    ----------
    enu : array-like
        ``(n_antennas, 3)`` east, north, up positions (m).

    Returns
    -------
    b : `~numpy.ndarray`
        ``(n_antennas * (n_antennas - 1) / 2, 3)`` baseline vectors (m).
    """
    enu = np.asarray(enu, dtype=np.float64)
    if enu.ndim != 2 or enu.shape[1] != 3 or len(enu) < 2:
        raise ValueError(f'antennas must be an (n >= 2, 3) array of east, north, up '
                         f'positions in metres, got shape {enu.shape}')
    i, j = np.triu_indices(len(enu), k=1)
    return enu[j] - enu[i]


def uv_tracks(enu, *, dec, hour_angle, integration, latitude=ALMA_LATITUDE):
    """
    Earth-rotation synthesis: the uv coordinates (m) of every baseline at
    every integration of an observation.

    Parameters
    ----------
    enu : array-like
        ``(n_antennas, 3)`` east, north, up antenna positions (m).
    dec : float
        Source declination (deg).
    hour_angle : tuple of float
        Start and end hour angle of the observation (hours).
    integration : float
        Integration time (s); one uv sample per baseline and integration.
    latitude : float, optional
        Array latitude (deg).

    Returns
    -------
    u, v : `~numpy.ndarray`
        uv coordinates in metres of every visibility (flattened; the
        conjugate ``(-u, -v)`` samples are implied).
    """
    return _uv_tracks(tuple(map(tuple, np.asarray(enu, dtype=np.float64))), float(dec),
                      (float(hour_angle[0]), float(hour_angle[1])), float(integration),
                      float(latitude))


@lru_cache(maxsize=8)
def _uv_tracks(enu, dec, hour_angle, integration, latitude):
    b = baselines(np.array(enu))
    lat = np.deg2rad(latitude)
    # local (east, north, up) -> equatorial (X towards H=0 on the equator, Y east, Z pole)
    bx = -np.sin(lat) * b[:, 1] + np.cos(lat) * b[:, 2]
    by = b[:, 0]
    bz = np.cos(lat) * b[:, 1] + np.sin(lat) * b[:, 2]
    h0, h1 = hour_angle
    n_t = max(int(round((h1 - h0) * 3600.0 / integration)), 1)
    # the middle of every integration
    h = np.deg2rad(15.0 * (h0 + (np.arange(n_t) + 0.5) * (h1 - h0) / n_t))
    d = np.deg2rad(dec)
    sh, ch = np.sin(h)[:, None], np.cos(h)[:, None]
    u = sh * bx + ch * by
    v = -np.sin(d) * ch * bx + np.sin(d) * sh * by + np.cos(d) * bz
    u, v = u.ravel(), v.ravel()
    u.setflags(write=False)
    v.setflags(write=False)
    return u, v


def grid_sampling(u, v, frequency, grid_shape, pixel_scale):
    """
    Natural-weighted sampling function on the uv grid of an image.

    Every uv sample (scaled to wavelengths at ``frequency``) and its
    conjugate add one to the nearest cell of the ``grid_shape`` FFT grid of
    an image with pixels of ``pixel_scale``.  The image x axis runs west
    (RA decreasing), so the cell along x is ``-u / du``.  The dirty beam is
    ``irfft2(S) / irfft2(S)[0, 0]``.

    Parameters
    ----------
    u, v : `~numpy.ndarray`
        uv coordinates (m) of the samples (conjugates implied).
    frequency : float
        Observing frequency (Hz).
    grid_shape : tuple of 2 int
        ``(My, Mx)`` size of the FFT grid (pixels).
    pixel_scale : float
        Pixel size (arcsec).

    Returns
    -------
    s : `~numpy.ndarray`
        float32 ``(My, Mx // 2 + 1)`` half plane of the (real, symmetric)
        sampling function, in the layout of `scipy.fft.rfft2`.
    """
    my, mx = grid_shape
    scale = frequency / C_LIGHT * np.deg2rad(pixel_scale / 3600.0)
    ix = np.rint(u * (-scale * mx)).astype(np.int64)
    iy = np.rint(v * (scale * my)).astype(np.int64)
    if np.abs(ix).max(initial=0) >= mx // 2 or np.abs(iy).max(initial=0) >= my // 2:
        longest = np.hypot(u, v).max() * frequency / C_LIGHT
        raise ValueError(f'pixel_scale={pixel_scale} arcsec is too coarse for baselines of '
                         f'{longest:.4g} wavelengths at {frequency / 1e9:.4g} GHz (the '
                         f'beam would be undersampled); use pixel_scale <= '
                         f'{0.5 / longest * 206264.806 * 0.95:.3g} arcsec')
    # fold every sample into the half plane ix >= 0 (where it or its conjugate lies);
    # on the column ix = 0 both the sample and its conjugate fall in the half plane
    neg = ix < 0
    ix = np.where(neg, -ix, ix)
    iy = np.where(neg, -iy, iy)
    nh = mx // 2 + 1
    on_axis = iy[ix == 0]
    idx = np.concatenate([(iy % my) * nh + ix, (-on_axis % my) * nh])
    s = np.bincount(idx, minlength=my * nh).reshape(my, nh)
    return s.astype(np.float32)


def sampling_sumsq(s, grid_shape):
    """Sum of the squared sampling function over the full plane from its half plane."""
    mx = grid_shape[1]
    s2 = np.square(s, dtype=np.float64)
    total = 2.0 * s2.sum() - s2[:, 0].sum()
    if mx % 2 == 0:
        total -= s2[:, -1].sum()
    return float(total)


def beam_from_sampling(s, grid_shape):
    """
    The dirty beam on the FFT grid (peak 1 at pixel ``[0, 0]``).

    Parameters
    ----------
    s : `~numpy.ndarray`
        Half-plane sampling function from `grid_sampling`.
    grid_shape : tuple of 2 int
        ``(My, Mx)``.

    Returns
    -------
    beam : `~numpy.ndarray`
        float32 ``grid_shape`` beam, periodic, centred on ``[0, 0]``.
    norm : float
        ``irfft2(s)[0, 0]``: divide ``irfft2(s * rfft2(image))`` by it to
        convolve ``image`` with ``beam``.
    """
    raw = sfft.irfft2(s, s=grid_shape, workers=1)
    norm = float(raw[0, 0])
    if not norm > 0:
        raise ValueError('the uv coverage is empty: no baselines fall on the grid')
    raw *= np.float32(1.0 / norm)
    return raw, norm


def fit_main_lobe(beam, center, *, level=0.35, half_size=None):
    """
    Fit an elliptical Gaussian (peak 1) to the main lobe of a dirty beam.

    The fit is a least-squares fit of ``ln beam`` by a quadratic form over
    the pixels above ``level`` connected to the centre (weighted by the
    beam, so that the lobe's core dominates).

    Parameters
    ----------
    beam : `~numpy.ndarray`
        2D dirty beam, peak 1 at ``center``.
    center : tuple of int
        ``(y, x)`` pixel of the peak.
    level : float, optional
        Lowest beam value used in the fit.
    half_size : int, optional
        Half width of the window searched for the main lobe (default: a
        quarter of the smaller image axis).

    Returns
    -------
    bmaj, bmin : float
        Major and minor FWHM (pixels).
    theta : float
        Angle of the major axis counter-clockwise from the +x pixel axis
        (deg, 0-180).
    """
    from scipy import ndimage

    cy, cx = center
    if half_size is None:
        half_size = max(min(beam.shape) // 4, 3)
    y0, y1 = max(cy - half_size, 0), min(cy + half_size + 1, beam.shape[0])
    x0, x1 = max(cx - half_size, 0), min(cx + half_size + 1, beam.shape[1])
    win = np.asarray(beam[y0:y1, x0:x1], dtype=np.float64)
    lab, _ = ndimage.label(win > level)
    lobe = lab == lab[cy - y0, cx - x0]
    yy, xx = np.nonzero(lobe)
    w = win[yy, xx]
    dx = (xx + x0 - cx).astype(np.float64)
    dy = (yy + y0 - cy).astype(np.float64)
    a = np.stack([dx * dx, 2.0 * dx * dy, dy * dy], axis=1) * w[:, None]
    rhs = -np.log(w) * w
    (qa, qb, qc), *_ = np.linalg.lstsq(a, rhs, rcond=None)
    q = np.array([[qa, qb], [qb, qc]])
    evals, evecs = np.linalg.eigh(q)
    evals = np.clip(evals, 1e-12, None)
    # beam = exp(-x^T q x) -> sigma^2 = 1 / (2 lambda); the smaller eigenvalue is the major axis
    fwhm = np.sqrt(8.0 * np.log(2.0)) * np.sqrt(1.0 / (2.0 * evals))
    major = evecs[:, 0]
    theta = float(np.degrees(np.arctan2(major[1], major[0])) % 180.0)
    return float(fwhm[0]), float(fwhm[1]), theta
