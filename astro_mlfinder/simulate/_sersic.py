# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private helpers of the optical blend simulator: truncated Sersic profiles
(exact ``b_n``), their half-light radii, pixel-integrated rendering with a
finer grid at the centre, and the Moffat point-spread function.

Pixel convention: pixel ``(iy, ix)`` has its centre at integer coordinates
and covers ``[ix - 0.5, ix + 0.5]``.
"""

import functools
from dataclasses import dataclass

import numpy as np
from scipy import fft, optimize, special

__all__ = ['SersicComponent', 'composite_half_light', 'convolve_shift', 'moffat_alpha',
           'moffat_enclosed', 'moffat_kernel', 'paste', 'render_galaxy', 'render_star',
           'sersic_b', 'sersic_half_light_factor']


def sersic_b(n):
    """
    The exact Sersic ``b_n``: ``gammainc(2n, b_n) = 1/2``.

    Parameters
    ----------
    n : float or array
        Sersic index (> 0).

    Returns
    -------
    b : float or array
    """
    return special.gammaincinv(2.0 * np.asarray(n, dtype=float), 0.5)


def _enclosed(n, x):
    """Fraction of an untruncated Sersic profile inside ``x`` effective radii."""
    return special.gammainc(2.0 * n, sersic_b(n) * np.power(x, 1.0 / n))


def sersic_half_light_factor(n, trunc):
    """
    Half-light radius of a Sersic profile truncated at ``trunc`` effective
    radii, in units of the untruncated effective radius (< 1).

    Parameters
    ----------
    n : float
        Sersic index.
    trunc : float
        Truncation radius in effective radii.

    Returns
    -------
    factor : float
    """
    b = sersic_b(n)
    half = 0.5 * _enclosed(n, trunc)
    return float((special.gammaincinv(2.0 * n, half) / b) ** n)


@dataclass
class SersicComponent:
    """
    One elliptical Sersic component, truncated at ``trunc * a_eff``.

    Attributes
    ----------
    n : float
        Sersic index.
    a_eff : float
        Semi-major axis (pixels) of the untruncated profile's half-light
        ellipse.
    fraction : float
        Fraction of the source's flux in this component.
    trunc : float
        Truncation radius in units of ``a_eff``.
    """

    n: float
    a_eff: float
    fraction: float
    trunc: float

    def enclosed(self, a):
        """Fraction of this (truncated) component inside semi-major axis ``a``."""
        a = np.minimum(np.asarray(a, dtype=float), self.trunc * self.a_eff)
        return _enclosed(self.n, a / self.a_eff) / _enclosed(self.n, self.trunc)


def composite_half_light(components):
    """
    Semi-major axis of the half-light ellipse of components sharing one
    centre, axis ratio and position angle.

    Parameters
    ----------
    components : list of `SersicComponent`

    Returns
    -------
    a_half : float
        Pixels.
    """
    if len(components) == 1:
        c = components[0]
        return c.a_eff * sersic_half_light_factor(c.n, c.trunc)
    hi = max(c.trunc * c.a_eff for c in components)

    def excess(a):
        return sum(c.fraction * c.enclosed(a) for c in components) - 0.5

    return float(optimize.brentq(excess, 1e-6 * hi, hi, xtol=1e-10 * hi))


def _grid(origin, size, s):
    """Sub-pixel sample coordinates along one axis: ``size * s`` values."""
    return (origin + np.arange(size * s) / s + (0.5 / s - 0.5))


def _rotate(x0, y0, q, theta, dy, dx):
    """Elliptical radius (major-axis units) of offsets from the centre."""
    c, s = np.cos(theta), np.sin(theta)
    u = dx * c + dy * s
    v = (-dx * s + dy * c) / q
    return np.sqrt(u * u + v * v)


def _grid_part(comp, r, inner):
    """A component sampled at elliptical radii ``r``, zero inside ``inner``."""
    x = r / comp.a_eff
    img = np.exp(-sersic_b(comp.n) * np.power(x, 1.0 / comp.n))
    img[(x > comp.trunc) | (r < inner)] = 0.0
    return img


def _flux_inside(comp, r, q):
    """Flux (sampled-intensity units x pixel area) inside elliptical radius ``r``."""
    n, b = comp.n, sersic_b(comp.n)
    r = np.minimum(r, comp.trunc * comp.a_eff)
    return (2.0 * np.pi * q * comp.a_eff ** 2 * n * special.gamma(2.0 * n) * b ** (-2.0 * n)
            * special.gammainc(2.0 * n, b * np.power(r / comp.a_eff, 1.0 / n)))


def _ring_points(inner, q, theta, n_rings, n_angles):
    """Points and ring edges tiling the ellipse of radius ``inner``."""
    edges = np.concatenate([[0.0], inner * np.geomspace(1e-4, 1.0, n_rings)])
    mid = np.sqrt(0.5 * (edges[:-1] ** 2 + edges[1:] ** 2))
    phi = (2.0 * np.pi * np.arange(n_angles)[None, :] / n_angles
           + 2.399963 * np.arange(n_rings)[:, None])          # golden-angle twist per ring
    u = mid[:, None] * np.cos(phi)
    v = q * mid[:, None] * np.sin(phi)
    c, s = np.cos(theta), np.sin(theta)
    return edges, u * c - v * s, u * s + v * c


def _downsample(img, s):
    """Sum ``s x s`` blocks."""
    ny, nx = img.shape[0] // s, img.shape[1] // s
    return img.reshape(ny, s, nx, s).sum(axis=(1, 3))


def render_galaxy(components, q, theta, *, supersample=3, inner_radius=1.5, n_rings=48,
                  n_angles=64):
    """
    A galaxy centred on the central pixel of a box holding its whole
    truncated profile, integrated over pixels and normalised to unit flux.

    Outside the ellipse of semi-major axis ``inner_radius`` every component
    is averaged over ``supersample**2`` sub-pixels.  Inside it, where a
    high-index profile is cuspy and point samples would misplace the flux,
    the exact flux of ``n_rings`` elliptical annuli (from the incomplete
    gamma function) is spread over ``n_angles`` points on each and added to
    the pixels holding them.  Each component is normalised to its
    ``fraction`` of the flux, so the stamp sums to exactly 1.  Being
    centred on a pixel the stamp is point-symmetric, so its centroid is
    exact; `convolve_shift` moves it to a sub-pixel position.

    Parameters
    ----------
    components : list of `SersicComponent`
    q : float
        Axis ratio (minor / major).
    theta : float
        Angle of the major axis from +x towards +y, radians.
    supersample : int, optional
        Sub-pixels per pixel and axis outside the inner ellipse.
    inner_radius : float, optional
        Semi-major axis (pixels) of the ellipse integrated by rings.
    n_rings, n_angles : int, optional
        Rings (log-spaced in radius) and points per ring.

    Returns
    -------
    stamp : `~numpy.ndarray`
        float64 ``(2 half + 1)**2`` box summing to 1, centred on pixel
        ``(half, half)``.
    """
    reach = max(c.trunc * c.a_eff for c in components)
    half = int(np.ceil(max(reach, inner_radius))) + 1
    size = 2 * half + 1
    s = int(supersample)
    g = _grid(-half, size, s)
    r = _rotate(0.0, 0.0, q, theta, g[:, None], g[None, :])
    edges, dx, dy = _ring_points(inner_radius, q, theta, n_rings, n_angles)
    iy = (np.rint(dy).astype(int) + half).ravel()
    ix = (np.rint(dx).astype(int) + half).ravel()
    stamp = np.zeros((size, size))
    for comp in components:
        img = _downsample(_grid_part(comp, r, inner_radius), s) / s ** 2
        ring_flux = np.diff(_flux_inside(comp, edges, q))
        np.add.at(img, (iy, ix), np.repeat(ring_flux / n_angles, n_angles))
        stamp += comp.fraction * img / img.sum()
    return stamp


def moffat_alpha(fwhm, beta):
    """Moffat core width ``alpha`` for a FWHM (pixels) and ``beta``."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_enclosed(radius, fwhm, beta):
    """Fraction of an untruncated circular Moffat profile inside ``radius``."""
    a = moffat_alpha(fwhm, beta)
    return 1.0 - (1.0 + (radius / a) ** 2) ** (1.0 - beta)


def _moffat(fwhm, beta, dy, dx):
    a = moffat_alpha(fwhm, beta)
    return (1.0 + (dx * dx + dy * dy) / (a * a)) ** (-beta)


def moffat_kernel(fwhm, beta, radius, *, dy=0.0, dx=0.0, supersample=1):
    """
    A circular Moffat PSF on a ``(2 radius + 1)**2`` grid, normalised to 1.

    Parameters
    ----------
    fwhm : float
        FWHM in pixels.
    beta : float
        Moffat ``beta`` (smaller = stronger wings).
    radius : int
        Half-size of the kernel in pixels.
    dy, dx : float, optional
        Offset of the PSF centre from the central pixel.
    supersample : int, optional
        1: sampled at the pixel centres (the kernel that convolves
        pixel-integrated galaxies); > 1: integrated over each pixel with
        ``supersample**2`` sub-pixels (the image of a point source).

    Returns
    -------
    kernel : `~numpy.ndarray`
    """
    size = 2 * int(radius) + 1
    s = int(supersample)
    g = _grid(-int(radius), size, s)
    img = _moffat(fwhm, beta, g[:, None] - dy, g[None, :] - dx)
    if s > 1:
        img = _downsample(img, s)
    return img / img.sum()


def render_star(x0, y0, fwhm, beta, radius, *, supersample=5):
    """
    A point source: the Moffat PSF integrated over pixels, unit flux.

    Returns
    -------
    origin : tuple of int
    stamp : `~numpy.ndarray`
    """
    cy, cx = int(np.rint(y0)), int(np.rint(x0))
    stamp = moffat_kernel(fwhm, beta, radius, dy=y0 - cy, dx=x0 - cx, supersample=supersample)
    return (cy - int(radius), cx - int(radius)), stamp


@functools.lru_cache(maxsize=64)
def _kernel_fft(fwhm, beta, radius, shape):
    kernel = moffat_kernel(fwhm, beta, radius)
    return np.fft.rfft2(kernel, s=shape)


def convolve_shift(stamp, y0, x0, fwhm, beta, radius):
    """
    Convolve a pixel-centred stamp with the Moffat PSF (sampled at pixel
    centres, ``(2 radius + 1)**2``, normalised) and move it to the
    sub-pixel position ``(y0, x0)``, in one FFT (the shift is a phase
    ramp, exact for the band-limited PSF-convolved image).

    Parameters
    ----------
    stamp : `~numpy.ndarray`
        Odd-sized, centred, unit-flux stamp (`render_galaxy`).
    y0, x0 : float
        Position of the source in the image (pixels).
    fwhm, beta : float
        Moffat FWHM (pixels) and beta.
    radius : int
        Kernel half-size.

    Returns
    -------
    origin : tuple of int
        Image pixel of the first element of the result.
    image : `~numpy.ndarray`
        Non-negative pixel fluxes summing to 1.
    """
    half = stamp.shape[0] // 2
    cy, cx = int(np.rint(y0)), int(np.rint(x0))
    dy, dx = y0 - cy, x0 - cx
    n = stamp.shape[0] + 2 * int(radius) + 2          # room for the shift: no wrap-around
    n = fft.next_fast_len(n, real=True)
    f = np.fft.rfft2(stamp, s=(n, n)) * _kernel_fft(float(fwhm), float(beta), int(radius), (n, n))
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.rfftfreq(n)[None, :]
    f *= np.exp(-2j * np.pi * (ky * dy + kx * dx))
    out = np.fft.irfft2(f, s=(n, n))
    m = stamp.shape[0] + 2 * int(radius) + 1
    # the shifted image spills at most one pixel past the 'full' size, on the far side;
    # roll by one so that both sides have a pixel of room
    out = np.roll(out, 1, axis=(0, 1))[:m + 1, :m + 1]
    np.maximum(out, 0.0, out=out)                     # ringing far below the noise
    out /= out.sum()
    r = int(radius)
    return (cy - half - r - 1, cx - half - r - 1), out


def paste(image, origin, stamp):
    """
    Add ``stamp`` (with its first element at ``origin``) into ``image``
    where they overlap.

    Returns
    -------
    box : tuple of slice or None
        The region of ``image`` written, `None` without overlap.
    """
    ny, nx = image.shape
    y0, x0 = origin
    y1, x1 = y0 + stamp.shape[0], x0 + stamp.shape[1]
    iy0, ix0, iy1, ix1 = max(y0, 0), max(x0, 0), min(y1, ny), min(x1, nx)
    if iy0 >= iy1 or ix0 >= ix1:
        return None
    image[iy0:iy1, ix0:ix1] += stamp[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
    return (slice(iy0, iy1), slice(ix0, ix1))

