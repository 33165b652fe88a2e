# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Sky model of the ALMA simulator: spatial profiles (elliptical Gaussians and
exponential discs), line profiles (Gaussian and double-horned), continuum
spectra, and the placement of one bright and several fainter sources
(some on the line of sight of another at other frequencies).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ['LineSource', 'draw_sources', 'line_half_extent', 'line_profile',
           'spatial_half_extent', 'spatial_profile']

_FWHM_PER_SIGMA = np.sqrt(8.0 * np.log(2.0))


@dataclass
class LineSource:
    """
    One simulated source (positions in 0-based pixels, channels).

    Attributes
    ----------
    x, y : float
        Centre of the spatial profile.
    kind : str
        ``'gaussian'`` or ``'exponential'`` (disc).
    fwhm_maj, fwhm_min : float
        FWHM of the spatial profile along its major and minor axes (pixels);
        for an exponential disc ``2 ln 2`` scale lengths.
    theta : float
        Major axis, degrees counter-clockwise from the +x pixel axis (0-180).
    profile : str
        ``'gaussian'`` or ``'double_horn'``.
    z0 : float
        Line centre (channel).
    fwhm_z : float
        Line FWHM (channels; outermost half-maximum points).
    trough : float
        Central dip of a double-horned line relative to its horns.
    snr : float
        Target line peak S/N in the dirty cube.
    continuum_snr : float
        Peak S/N per channel of the continuum (0: no continuum).
    alpha : float
        Continuum spectral index, ``S ~ nu**alpha``.
    bright : bool
        The bright source of the cube.
    """

    x: float
    y: float
    kind: str
    fwhm_maj: float
    fwhm_min: float
    theta: float
    profile: str
    z0: float
    fwhm_z: float
    trough: float
    snr: float
    continuum_snr: float
    alpha: float
    bright: bool


def _double_horn_shape(fwhm_z):
    d = 0.35 * fwhm_z
    sigma_h = 0.15 * fwhm_z / (0.5 * _FWHM_PER_SIGMA)
    return d, sigma_h


def line_profile(profile, z0, fwhm_z, nz, trough=0.5):
    """
    A line profile sampled at the channel centres, peak 1.

    Parameters
    ----------
    profile : {'gaussian', 'double_horn'}
        Gaussian, or two horns (at ``z0 +- 0.35 fwhm_z``, Gaussian outer
        flanks) joined by a parabolic trough of depth ``trough``.
    z0, fwhm_z : float
        Centre and FWHM (channels).
    nz : int
        Number of channels.
    trough : float, optional
        Centre of a double-horned profile relative to its horns.

    Returns
    -------
    spectrum : `~numpy.ndarray`
        float64 ``(nz,)``.
    """
    dz = np.arange(nz, dtype=np.float64) - z0
    if profile == 'gaussian':
        return np.exp(-0.5 * (dz * _FWHM_PER_SIGMA / fwhm_z) ** 2)
    d, sigma_h = _double_horn_shape(fwhm_z)
    a = np.abs(dz)
    inner = trough + (1.0 - trough) * (a / d) ** 2
    outer = np.exp(-0.5 * ((a - d) / sigma_h) ** 2)
    return np.where(a <= d, inner, outer)


def line_half_extent(profile, fwhm_z, level):
    """Half width (channels) of the part of a line above ``level`` x peak."""
    k = np.sqrt(2.0 * np.log(1.0 / level))
    if profile == 'gaussian':
        return fwhm_z / _FWHM_PER_SIGMA * k
    d, sigma_h = _double_horn_shape(fwhm_z)
    return d + sigma_h * k


def spatial_half_extent(kind, fwhm_maj, beam_fwhm, level):
    """
    Generous half width (pixels) of the part of a source, convolved with a
    Gaussian beam, above ``level`` x its peak.
    """
    k = np.sqrt(np.log(1.0 / level) / np.log(2.0)) / 2.0
    if kind == 'gaussian':
        return k * np.hypot(fwhm_maj, beam_fwhm)
    # an exponential disc has broader wings: ln(1/level) scale lengths
    return max(np.log(1.0 / level) / (2.0 * np.log(2.0)) * fwhm_maj, k * beam_fwhm) + 1.0


def spatial_profile(src, shape, *, supersample=3):
    """
    The source's spatial profile on the image, normalised to sum 1.

    Parameters
    ----------
    src : `LineSource`
        Source.
    shape : tuple of 2 int
        ``(ny, nx)``.
    supersample : int, optional
        Sub-pixels per pixel and axis (odd).

    Returns
    -------
    slices : tuple of slice
        ``(y, x)`` slices of the stamp in the image.
    stamp : `~numpy.ndarray`
        float64 stamp, summing to 1 (the part outside the image is lost
        before the normalisation).
    """
    ny, nx = shape
    reach = 3.0 if src.kind == 'gaussian' else 5.5
    hs = int(np.ceil(reach * src.fwhm_maj)) + 2
    ix, iy = int(round(src.x)), int(round(src.y))
    y0, y1 = max(iy - hs, 0), min(iy + hs + 1, ny)
    x0, x1 = max(ix - hs, 0), min(ix + hs + 1, nx)
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    yy = (np.arange(y0, y1)[:, None] + sub[None, :]).ravel() - src.y
    xx = (np.arange(x0, x1)[:, None] + sub[None, :]).ravel() - src.x
    t = np.deg2rad(src.theta)
    c, s = np.cos(t), np.sin(t)
    a = xx[None, :] * c + yy[:, None] * s
    b = -xx[None, :] * s + yy[:, None] * c
    if src.kind == 'gaussian':
        sa, sb = src.fwhm_maj / _FWHM_PER_SIGMA, src.fwhm_min / _FWHM_PER_SIGMA
        img = np.exp(-0.5 * ((a / sa) ** 2 + (b / sb) ** 2))
    else:
        ha, hb = (src.fwhm_maj / (2.0 * np.log(2.0)), src.fwhm_min / (2.0 * np.log(2.0)))
        img = np.exp(-np.sqrt((a / ha) ** 2 + (b / hb) ** 2))
    img = img.reshape(y1 - y0, supersample, x1 - x0, supersample).mean(axis=(1, 3))
    return (slice(y0, y1), slice(x0, x1)), img / img.sum()


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _draw_one(rng, cfg, bright):
    kind = 'exponential' if rng.uniform() < cfg['exponential_fraction'] else 'gaussian'
    fwhm_maj = float(rng.uniform(*cfg['fwhm_range']))
    q = float(rng.uniform(*cfg['axis_ratio']))
    fwhm_min = max(q * fwhm_maj, 1.0)
    theta = float(rng.uniform(0.0, 180.0))
    profile = 'double_horn' if rng.uniform() < cfg['double_horn_fraction'] else 'gaussian'
    fwhm_z = float(rng.uniform(*cfg['line_width_ch']))
    trough = float(rng.uniform(0.3, 0.7))
    snr = _log_uniform(rng, *(cfg['snr_bright'] if bright else cfg['snr_faint']))
    cont = 0.0
    if rng.uniform() < cfg['continuum_fraction']:
        cont = float(rng.uniform(*cfg['continuum_snr']))
    alpha = float(rng.uniform(-1.0, 3.0))
    return LineSource(x=np.nan, y=np.nan, kind=kind, fwhm_maj=fwhm_maj, fwhm_min=fwhm_min,
                      theta=theta, profile=profile, z0=np.nan, fwhm_z=fwhm_z, trough=trough,
                      snr=snr, continuum_snr=cont, alpha=alpha, bright=bright)


def draw_sources(rng, shape, cfg, beam_fwhm):
    """
    Draw and place the sources of one cube.

    The bright source sits within 5 % of the image size from the centre.
    Each faint source is, with probability ``cfg['sightline_fraction']``,
    put on the line of sight of an earlier source (within 1 pixel) with a
    line at other frequencies (windows at least 2 channels apart);
    otherwise uniformly inside the margins, at least
    ``max(cfg['min_separation'], half the sum of the two extents)`` from
    every source whose line window overlaps its own.  A source that cannot
    be placed in 200 tries is dropped.

    Parameters
    ----------
    rng : `numpy.random.Generator`
        Random stream.
    shape : tuple of 3 int
        ``(nz, ny, nx)``.
    cfg : dict
        Validated parameters of `simulate_alma_cube`, with the line widths
        converted to channels (``line_width_ch``).
    beam_fwhm : float
        Major FWHM of the restoring beam (pixels).

    Returns
    -------
    sources : list of `LineSource`
    """
    nz, ny, nx = shape
    level = cfg['box_level']
    max_fwhm_z = nz / (4.0 * max(line_half_extent('gaussian', 1.0, level), 1e-9))
    n_faint = cfg['n_faint']
    if isinstance(n_faint, tuple):
        n_faint = int(rng.integers(n_faint[0], n_faint[1] + 1))
    drafts = ([_draw_one(rng, cfg, True)] if cfg['bright'] else [])
    drafts += [_draw_one(rng, cfg, False) for _ in range(n_faint)]
    placed, ext_xy, win = [], [], []
    for src in drafts:
        src.fwhm_z = min(src.fwhm_z, max_fwhm_z)
        wz = line_half_extent(src.profile, src.fwhm_z, level) + 1.0
        exy = spatial_half_extent(src.kind, src.fwhm_maj, beam_fwhm, level)
        zlo, zhi = wz, nz - 1 - wz
        mx = min(exy + 1.0, (nx - 1) / 2.0)
        my = min(exy + 1.0, (ny - 1) / 2.0)
        ok = False
        if src.bright:
            src.x = (nx - 1) / 2.0 + rng.uniform(-0.05, 0.05) * nx
            src.y = (ny - 1) / 2.0 + rng.uniform(-0.05, 0.05) * ny
            src.z0 = float(rng.uniform(zlo, zhi))
            ok = True
        elif placed and rng.uniform() < cfg['sightline_fraction']:
            k = int(rng.integers(len(placed)))
            x = placed[k].x + rng.uniform(-1.0, 1.0)
            y = placed[k].y + rng.uniform(-1.0, 1.0)
            x, y = float(np.clip(x, mx, nx - 1 - mx)), float(np.clip(y, my, ny - 1 - my))
            grid = np.arange(np.ceil(zlo), np.floor(zhi) + 1)
            free = np.ones(grid.shape, dtype=bool)
            for j, other in enumerate(placed):
                if np.hypot(other.x - x, other.y - y) < _separation(cfg, exy, ext_xy[j]):
                    free &= np.abs(grid - other.z0) >= wz + win[j] + 2.0
            if free.any():
                src.x, src.y = x, y
                src.z0 = float(rng.choice(grid[free]) + rng.uniform(-0.5, 0.5))
                src.z0 = float(np.clip(src.z0, zlo, zhi))
                ok = True
        if not ok:
            for _ in range(200):
                x = float(rng.uniform(mx, nx - 1 - mx))
                y = float(rng.uniform(my, ny - 1 - my))
                z0 = float(rng.uniform(zlo, zhi))
                if all(np.hypot(o.x - x, o.y - y) >= _separation(cfg, exy, ext_xy[j])
                       or abs(o.z0 - z0) >= wz + win[j] + 2.0
                       for j, o in enumerate(placed)):
                    src.x, src.y, src.z0 = x, y, z0
                    ok = True
                    break
        if ok:
            placed.append(src)
            ext_xy.append(exy)
            win.append(wz)
    return placed


def _separation(cfg, ext_a, ext_b):
    return max(cfg['min_separation'], 0.5 * (ext_a + ext_b))
