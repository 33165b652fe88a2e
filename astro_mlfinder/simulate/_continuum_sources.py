# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private helpers of the continuum simulator: elliptical Gaussian beam
geometry, beam-correlated noise in 2D, and the radio source models
(exponential discs for star-forming galaxies, point cores and Gaussian
lobes for AGN) rendered already convolved with the restoring beam.

Position angles follow the astronomical convention: measured from north
(+y) towards east (-x, RA increasing to the left).
"""

import numpy as np
from scipy.signal import fftconvolve

__all__ = ['Component', 'beam_covariance', 'correlated_noise_2d',
           'covariance', 'draw_source', 'render_source']

_FWHM_TO_SIGMA = 1.0 / np.sqrt(8.0 * np.log(2.0))

#: Source classes and their SKA SDC1 class codes (1 SS-AGN, 2 FS-AGN, 3 SFG).
CLASS_CODES = {'agn_resolved': 1, 'agn_compact': 2, 'sfg': 3}


class Component:
    """
    One emission component of a source (intrinsic, before the beam).

    Parameters
    ----------
    kind : {'point', 'gauss', 'disc'}
        Point source, elliptical Gaussian or exponential disc.
    x, y : float
        Centre in 0-based pixels.
    flux : float
        Integrated flux density in Jy.
    major, minor : float, optional
        Gaussian standard deviations (``'gauss'``) or the exponential scale
        length along the major axis and its projection on the minor axis
        (``'disc'``), in pixels.
    pa : float, optional
        Position angle of the major axis in degrees.
    """

    __slots__ = ('flux', 'kind', 'major', 'minor', 'pa', 'x', 'y')

    def __init__(self, kind, x, y, flux, major=0.0, minor=0.0, pa=0.0):
        self.kind = kind
        self.x, self.y, self.flux = float(x), float(y), float(flux)
        self.major, self.minor, self.pa = float(major), float(minor), float(pa)

    def extent(self):
        """Radius in pixels beyond which the intrinsic emission is negligible."""
        if self.kind == 'point':
            return 0.0
        if self.kind == 'gauss':
            return 4.0 * self.major
        return 6.0 * self.major


def covariance(major, minor, pa):
    """
    Covariance matrix (x, y order) of an elliptical Gaussian.

    Parameters
    ----------
    major, minor : float
        Standard deviations along the major and minor axes (pixels).
    pa : float
        Position angle of the major axis, degrees from +y towards -x.

    Returns
    -------
    cov : `~numpy.ndarray`
        2x2 covariance matrix.
    """
    t = np.deg2rad(pa)
    u = np.array([-np.sin(t), np.cos(t)])
    v = np.array([np.cos(t), np.sin(t)])
    return major**2 * np.outer(u, u) + minor**2 * np.outer(v, v)


def beam_covariance(bmaj, bmin, bpa):
    """Covariance (pixels**2) of a Gaussian beam given by its FWHMs in pixels."""
    return covariance(bmaj * _FWHM_TO_SIGMA, bmin * _FWHM_TO_SIGMA, bpa)


def correlated_noise_2d(shape, beam_cov, rms, rng):
    """
    Gaussian noise whose autocorrelation is the (elliptical) beam.

    White noise is convolved (periodically, in Fourier space) with a
    Gaussian of covariance ``beam_cov / 2``, so that its autocorrelation is
    a Gaussian of covariance ``beam_cov``, then rescaled to exactly ``rms``.

    Parameters
    ----------
    shape : tuple of 2 int
        Image shape ``(y, x)``.
    beam_cov : `~numpy.ndarray`
        Beam covariance in pixels**2 (x, y order).
    rms : float
        Requested rms.
    rng : `numpy.random.Generator`
        Random generator.

    Returns
    -------
    noise : `~numpy.ndarray`
        float32 noise image.
    """
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    sig = 0.5 * np.asarray(beam_cov)
    quad = sig[0, 0] * fx**2 + 2 * sig[0, 1] * fx * fy + sig[1, 1] * fy**2
    noise = np.fft.irfft2(np.fft.rfft2(white) * np.exp(-2 * np.pi**2 * quad),
                          s=shape)
    noise -= noise.mean()
    std = noise.std()
    return (noise * (rms / std if std > 0 else 0.0)).astype(np.float32)


def _gauss_on_grid(c, beam_cov, xx, yy):
    """A Gaussian or point component convolved with the beam, in Jy/beam."""
    cov = np.asarray(beam_cov, dtype=float)
    if c.kind == 'gauss':
        cov = cov + covariance(c.major, c.minor, c.pa)
    inv = np.linalg.inv(cov)
    dx, dy = xx - c.x, yy - c.y
    q = inv[0, 0] * dx**2 + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy**2
    amp = c.flux * np.sqrt(np.linalg.det(beam_cov) / np.linalg.det(cov))
    return amp * np.exp(-0.5 * q)


def _disc_on_grid(c, beam_cov, x0, y0, ny, nx, supersample):
    """An exponential disc convolved with the beam, sampled at pixel centres."""
    s = int(supersample) | 1  # odd, so that pixel centres are sub-pixel centres
    # sub-pixel centre coordinates of the box, in native pixels
    sub = (np.arange(s) - s // 2) / s
    ys = (y0 + np.arange(ny)[:, None] + sub[None, :]).ravel()
    xs = (x0 + np.arange(nx)[:, None] + sub[None, :]).ravel()
    dx = xs[None, :] - c.x
    dy = ys[:, None] - c.y
    t = np.deg2rad(c.pa)
    along = -np.sin(t) * dx + np.cos(t) * dy
    across = np.cos(t) * dx + np.sin(t) * dy
    r = np.hypot(along / c.major, across / max(c.minor, 1e-3 * c.major))
    disc = np.where(r <= 6.0, np.exp(-r), 0.0)
    total = disc.sum()
    if total <= 0:  # smaller than a sub-pixel: a point source
        return _gauss_on_grid(Component('point', c.x, c.y, c.flux), beam_cov,
                              *np.meshgrid(x0 + np.arange(nx), y0 + np.arange(ny)))
    disc *= c.flux / total  # Jy per sub-pixel
    inv = np.linalg.inv(beam_cov)
    rad = int(np.ceil(4.0 * np.sqrt(np.linalg.eigvalsh(beam_cov).max()) * s))
    k = np.arange(-rad, rad + 1) / s
    kx, ky = np.meshgrid(k, k)
    kernel = np.exp(-0.5 * (inv[0, 0] * kx**2 + 2 * inv[0, 1] * kx * ky
                            + inv[1, 1] * ky**2))
    conv = fftconvolve(disc, kernel, mode='same')
    return conv[s // 2::s, s // 2::s]


def render_source(components, beam_cov, shape, *, supersample=3):
    """
    Render a source (list of components) convolved with the beam.

    Parameters
    ----------
    components : list of `Component`
        The source.
    beam_cov : `~numpy.ndarray`
        Beam covariance (pixels**2).
    shape : tuple of 2 int
        Image shape, to clip the box.
    supersample : int, optional
        Sub-pixels per pixel and axis for the exponential discs.

    Returns
    -------
    box : tuple of slice or None
        Where the stamp lies in the image (`None` if entirely outside).
    stamp : `~numpy.ndarray` or None
        The beam-convolved model on ``box`` in Jy/beam.
    total : float
        Sum of the unclipped model (Jy/beam summed over pixels).
    """
    reach = 4.0 * np.sqrt(np.linalg.eigvalsh(beam_cov).max()) + 1.0
    x_lo = min(c.x - c.extent() for c in components) - reach
    x_hi = max(c.x + c.extent() for c in components) + reach
    y_lo = min(c.y - c.extent() for c in components) - reach
    y_hi = max(c.y + c.extent() for c in components) + reach
    x0, y0 = int(np.floor(x_lo)), int(np.floor(y_lo))
    nx, ny = int(np.ceil(x_hi)) - x0 + 1, int(np.ceil(y_hi)) - y0 + 1
    xx, yy = np.meshgrid(x0 + np.arange(nx, dtype=float),
                         y0 + np.arange(ny, dtype=float))
    stamp = np.zeros((ny, nx))
    for c in components:
        if c.kind == 'disc':
            stamp += _disc_on_grid(c, beam_cov, x0, y0, ny, nx, supersample)
        else:
            stamp += _gauss_on_grid(c, beam_cov, xx, yy)
    total = float(stamp.sum())
    ylo, xlo = max(y0, 0), max(x0, 0)
    yhi, xhi = min(y0 + ny, shape[0]), min(x0 + nx, shape[1])
    if yhi <= ylo or xhi <= xlo:
        return None, None, total
    inner = stamp[ylo - y0:yhi - y0, xlo - x0:xhi - x0]
    return (slice(ylo, yhi), slice(xlo, xhi)), inner, total


def draw_source(kind, x, y, flux, rng, *, flux_pivot, bmaj):
    """
    Draw the components and shape parameters of one source.

    Parameters
    ----------
    kind : {'sfg', 'agn_compact', 'agn_resolved'}
        Source class.
    x, y : float
        Position of the galaxy (the disc centre or the AGN core), pixels.
    flux : float
        Integrated flux density in Jy.
    rng : `numpy.random.Generator`
        Random generator.
    flux_pivot : float
        Flux at which the size distributions have their median (Jy);
        brighter sources are larger.
    bmaj : float
        Beam major FWHM in pixels (sizes are drawn relative to it).

    Returns
    -------
    components : list of `Component`
    shape : dict
        ``size`` (intrinsic FWHM-like extent in pixels: the disc's
        half-light diameter, or the largest angular size of the AGN),
        ``axis_ratio``, ``pa`` (degrees) and ``core_fraction``.
    """
    pa = rng.uniform(0.0, 180.0)
    grow = (max(flux, 1e-30) / flux_pivot) ** 0.15
    if kind == 'sfg':
        h = float(np.clip(0.2 * bmaj * grow * 10 ** rng.normal(0.0, 0.2),
                          0.05 * bmaj, 2.0 * bmaj))
        q = rng.uniform(0.2, 1.0)
        comps = [Component('disc', x, y, flux, h, q * h, pa)]
        return comps, dict(size=2 * 1.678 * h, axis_ratio=q, pa=pa,
                           core_fraction=0.0)
    if kind == 'agn_compact':
        return ([Component('point', x, y, flux)],
                dict(size=0.0, axis_ratio=1.0, pa=0.0, core_fraction=1.0))
    if kind != 'agn_resolved':
        raise ValueError(f'unknown source class {kind!r}')
    f_core = float(np.exp(rng.uniform(np.log(0.03), np.log(0.5))))
    d = float(np.clip(1.2 * bmaj * grow * np.exp(rng.uniform(0.0, np.log(3.0))),
                      1.0 * bmaj, 6.0 * bmaj))
    share = rng.uniform(0.35, 0.65)
    comps = [Component('point', x, y, f_core * flux)]
    las = 0.0
    for side, frac, arm in ((1.0, share, 1.0),
                            (-1.0, 1.0 - share, rng.uniform(0.7, 1.0))):
        bend = pa + (0.0 if side > 0 else rng.uniform(-15.0, 15.0))
        t = np.deg2rad(bend)
        dist = d * arm
        lx = x - side * np.sin(t) * dist
        ly = y + side * np.cos(t) * dist
        smaj = dist * rng.uniform(0.2, 0.4)
        smin = smaj * rng.uniform(0.4, 0.9)
        comps.append(Component('gauss', lx, ly, (1 - f_core) * frac * flux,
                               smaj, smin, bend))
        las += dist + smaj / _FWHM_TO_SIGMA / 2.0
    return comps, dict(size=las, axis_ratio=float(comps[1].minor / comps[1].major),
                       pa=pa, core_fraction=f_core)
