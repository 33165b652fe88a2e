# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private helpers: HI galaxies of many shapes as clouds of gas particles.

`disk_model` (``_galaxy.py``) builds a flat, axisymmetric thin disk.  Real HI
galaxies are often not: their outer discs warp, their gas is lopsided, dwarfs
have a single-peaked profile and clumpy gas, edge-on discs show their
thickness, and interacting pairs share a bridge or a tidal tail.  This module
models a galaxy as a cloud of particles in a (possibly warped and thick) disc
-- a tilted-ring model in the spirit of GALMOD/TiRiFiC -- projects them onto
the sky and the line of sight, and grids them into a cube.  The velocity
dispersion is applied as a Gaussian convolution along the velocity axis of
the gridded cube, so the spectral profile is smooth whatever the number of
particles.

Morphologies (`MORPHOLOGIES`):

``'disk'``       exponential disc, flat rotation curve;
``'warped'``     the outer disc (beyond 0.4-0.7 ``r_hi``) tilts by up to 10-35 deg;
``'lopsided'``   an m=1 modulation (amplitude 0.2-0.6) of the surface density;
``'dwarf'``      slow rotation (5-30 km/s), so one peak in the profile, clumpy gas;
``'edge_on'``    inclination 84-90 deg and a disc scale height of 5-12 % of ``r_hi``;
``'interacting'`` two discs 1-2 HI radii apart in projection, 30-200 km/s apart,
                  joined by a faint tidal tail (one source in the truth).
"""

import numpy as np
from scipy import ndimage

__all__ = ['MORPHOLOGIES', 'GalaxyShape', 'draw_shape', 'galaxy_particles',
           'grid_particles']

#: The morphologies `draw_shape` knows.
MORPHOLOGIES = ('disk', 'warped', 'lopsided', 'dwarf', 'edge_on', 'interacting')


class GalaxyShape(dict):
    """Parameters of one particle galaxy (a dict, so that it is recorded as it is)."""


def draw_shape(kind, rng, *, r_hi, v_max=250.0):
    """
    Draw the parameters of a galaxy of morphology ``kind``.

    Parameters
    ----------
    kind : str
        One of `MORPHOLOGIES`.
    rng : `numpy.random.Generator`
        Random number generator.
    r_hi : float
        HI radius in pixels.
    v_max : float, optional
        Largest rotation velocity drawn, km/s.

    Returns
    -------
    shape : `GalaxyShape`
    """
    if kind not in MORPHOLOGIES:
        raise ValueError(f'unknown morphology {kind!r}; choose from {MORPHOLOGIES}')
    cos_i = rng.uniform(np.cos(np.radians(85.0)), np.cos(np.radians(15.0)))
    s = GalaxyShape(
        kind=kind, r_hi=float(r_hi), incl=float(np.degrees(np.arccos(cos_i))),
        pa=float(rng.uniform(0.0, 360.0)), v_rot=float(rng.uniform(50.0, v_max)),
        r_turn=float(rng.uniform(0.1, 0.3) * r_hi), sigma_v=float(rng.uniform(6.0, 12.0)),
        scale_length=float(r_hi / rng.uniform(1.5, 3.5)), thickness=float(rng.uniform(0.01, 0.04) * r_hi),
        warp=0.0, warp_start=1.0, warp_phase=0.0, lopsided=0.0, lopsided_phase=0.0, clumps=0,
        companion=None)
    if kind == 'warped':
        s['warp'] = float(rng.uniform(10.0, 35.0))
        s['warp_start'] = float(rng.uniform(0.4, 0.7))
        s['warp_phase'] = float(rng.uniform(0.0, 360.0))
    elif kind == 'lopsided':
        s['lopsided'] = float(rng.uniform(0.2, 0.6))
        s['lopsided_phase'] = float(rng.uniform(0.0, 360.0))
    elif kind == 'dwarf':
        s['v_rot'] = float(rng.uniform(5.0, 30.0))
        s['sigma_v'] = float(rng.uniform(7.0, 12.0))
        s['r_turn'] = float(rng.uniform(0.4, 0.8) * r_hi)
        s['clumps'] = int(rng.integers(3, 9))
        s['thickness'] = float(rng.uniform(0.1, 0.2) * r_hi)
    elif kind == 'edge_on':
        s['incl'] = float(rng.uniform(84.0, 90.0))
        s['thickness'] = float(rng.uniform(0.05, 0.12) * r_hi)
    elif kind == 'interacting':
        r2 = float(r_hi * rng.uniform(0.4, 0.9))
        sep = float(rng.uniform(1.0, 2.0) * (r_hi + r2) / 2)
        angle = rng.uniform(0.0, 2 * np.pi)
        companion = draw_shape('lopsided', rng, r_hi=r2, v_max=0.7 * v_max)
        companion['dx'] = float(sep * np.cos(angle))
        companion['dy'] = float(sep * np.sin(angle))
        companion['dv'] = float(rng.choice([-1, 1]) * rng.uniform(30.0, 200.0))
        companion['flux_ratio'] = float(rng.uniform(0.2, 0.8))
        companion['tail_fraction'] = float(rng.uniform(0.05, 0.2))
        s['companion'] = companion
    return s


def _rotation(axis_angle, tilt):
    """Rotation matrix tilting by ``tilt`` about the in-plane axis at angle ``axis_angle`` (radians)."""
    ux, uy = np.cos(axis_angle), np.sin(axis_angle)
    c, s = np.cos(tilt), np.sin(tilt)
    # Rodrigues' formula about the unit vector (ux, uy, 0); ``tilt`` may be an array (one matrix per entry)
    return np.array([[c + ux * ux * (1 - c), ux * uy * (1 - c), uy * s],
                     [ux * uy * (1 - c), c + uy * uy * (1 - c), -ux * s],
                     [-uy * s, ux * s, c]])


def _disc_particles(s, n, rng):
    """Positions (x, y along the sky, pixels) and line-of-sight velocities (km/s) of one disc."""
    r_hi = s['r_hi']
    # radii from an exponential surface density, tapered at r_hi (inverse transform on a grid)
    grid = np.linspace(0.0, 1.4 * r_hi, 512)
    taper = 1.0 / (1.0 + np.exp(np.clip((grid - r_hi) / (0.05 * r_hi + 0.3), -50, 50)))
    pdf = grid * np.exp(-grid / max(s['scale_length'], 1e-3)) * taper
    cdf = np.cumsum(pdf)
    cdf /= cdf[-1]
    r = np.interp(rng.random(n), cdf, grid)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    weight = np.ones(n)
    if s['lopsided'] > 0:
        weight *= 1.0 + s['lopsided'] * np.cos(phi - np.radians(s['lopsided_phase'])) * np.clip(r / r_hi, 0, 1)
    if s['clumps'] > 0:
        cr = r_hi * np.sqrt(rng.random(s['clumps']))
        cphi = rng.uniform(0, 2 * np.pi, s['clumps'])
        size = 0.25 * r_hi
        d2 = (r * np.cos(phi) - cr[:, None] * np.cos(cphi[:, None]))**2 + (
            r * np.sin(phi) - cr[:, None] * np.sin(cphi[:, None]))**2
        weight *= 0.3 + 2.0 * np.exp(-0.5 * d2 / size**2).sum(axis=0)
    pos = np.stack([r * np.cos(phi), r * np.sin(phi), rng.normal(0.0, max(s['thickness'], 1e-3), n)])
    v_c = s['v_rot'] * (1.0 - np.exp(-r / max(s['r_turn'], 1e-3)))
    vel = np.stack([-v_c * np.sin(phi), v_c * np.cos(phi), np.zeros(n)])
    if s['warp'] > 0:
        start = s['warp_start'] * r_hi
        frac = np.clip((r - start) / max(r_hi - start, 1e-3), 0.0, None)
        tilt = np.radians(s['warp']) * frac**2
        axis = np.radians(s['warp_phase'])
        # rotate each particle's position and velocity about the line of nodes by its own tilt
        rot = _rotation(axis, tilt)  # (3, 3, n)
        pos = np.einsum('ijn,jn->in', rot, pos)
        vel = np.einsum('ijn,jn->in', rot, vel)
    incl = np.radians(s['incl'])
    # disc -> sky: inclination about the disc x axis (the major axis)
    x_maj = pos[0]
    y_min = pos[1] * np.cos(incl) - pos[2] * np.sin(incl)
    v_los = vel[1] * np.sin(incl) + vel[2] * np.cos(incl)
    pa = np.radians(s['pa'])
    # major axis along (-sin pa, cos pa) in (x, y), as in _galaxy.disk_model
    x = -x_maj * np.sin(pa) + y_min * np.cos(pa)
    y = x_maj * np.cos(pa) + y_min * np.sin(pa)
    return x, y, v_los, weight


def galaxy_particles(s, rng, n=150000):
    """
    Particles of a galaxy of shape ``s`` (`draw_shape`).

    Parameters
    ----------
    s : `GalaxyShape`
        The galaxy.
    rng : `numpy.random.Generator`
        Random number generator.
    n : int, optional
        Number of particles of the main disc.

    Returns
    -------
    x, y : `~numpy.ndarray`
        Sky offsets from the centre in pixels (x along RA pixels, y along Dec).
    v : `~numpy.ndarray`
        Line-of-sight velocity relative to systemic, km/s.
    w : `~numpy.ndarray`
        Weights, summing to 1.
    """
    x, y, v, w = _disc_particles(s, n, rng)
    w = w / w.sum()
    comp = s.get('companion')
    if comp:
        n2 = max(int(n * comp['flux_ratio']), 1000)
        x2, y2, v2, w2 = _disc_particles(comp, n2, rng)
        w2 = w2 / w2.sum() * comp['flux_ratio']
        # tidal tail: particles along an arc from the companion, velocity drifting with position
        nt = max(int(n * comp['tail_fraction']), 500)
        t = rng.random(nt)
        length = 1.5 * (s['r_hi'] + comp['r_hi'])
        ang = np.arctan2(comp['dy'], comp['dx']) + 0.8 * t * rng.choice([-1, 1])
        rad = np.hypot(comp['dx'], comp['dy']) + t * length * 0.6
        xt = rad * np.cos(ang) + rng.normal(0, 0.08 * s['r_hi'], nt)
        yt = rad * np.sin(ang) + rng.normal(0, 0.08 * s['r_hi'], nt)
        vt = comp['dv'] * (1 + 0.5 * t) + rng.normal(0, 5.0, nt)
        wt = np.full(nt, comp['tail_fraction'] / nt)
        x = np.concatenate([x, x2 + comp['dx'], xt])
        y = np.concatenate([y, y2 + comp['dy'], yt])
        v = np.concatenate([v, v2 + comp['dv'], vt])
        w = np.concatenate([w, w2, wt])
        w = w / w.sum()
    return x, y, v, w


def grid_particles(x, y, v, w, *, centre, dv_chan, sigma_v, velocity_sign=-1.0, pad=(0, 0)):
    """
    Grid particles into a cube on their own bounding box and broaden them by the velocity dispersion.

    Parameters
    ----------
    x, y, v, w : `~numpy.ndarray`
        Particles (`galaxy_particles`).
    centre : tuple of 3 float
        ``(z0, y0, x0)``: systemic channel and position of the centre in the cube.
    dv_chan : float
        Channel width in km/s.
    sigma_v : float
        Velocity dispersion in km/s.
    velocity_sign : float, optional
        -1 when frequency increases with channel (receding gas sits at lower
        channels), +1 for a velocity axis.
    pad : tuple of 2 int, optional
        Extra voxels around the box along z and along y/x (room for the
        spectral response and the beam).

    Returns
    -------
    origin : tuple of int
        Cube index ``(z, y, x)`` of the box's first voxel (may be negative or
        beyond the cube: the caller clips).
    box : `~numpy.ndarray`
        float64 model (not beam-convolved) summing to ``w.sum()`` (less the
        far tails of the dispersion).
    """
    z0, y0, x0 = centre
    sig = sigma_v / dv_chan
    coords = (z0 + velocity_sign * v / dv_chan, y0 + y, x0 + x)
    pz = int(np.ceil(4 * sig)) + 1 + int(pad[0])
    pads = (pz, int(pad[1]) + 1, int(pad[1]) + 1)
    origin = tuple(int(np.floor(c.min() + 0.5)) - p for c, p in zip(coords, pads, strict=True))
    idx = [np.floor(c + 0.5).astype(np.int64) - o for c, o in zip(coords, origin, strict=True)]
    shape = tuple(int(i.max()) + 1 + p for i, p in zip(idx, pads, strict=True))
    flat = np.ravel_multi_index(idx, shape)
    box = np.bincount(flat, weights=w, minlength=int(np.prod(shape))).reshape(shape)
    if sig > 0.05:
        box = ndimage.gaussian_filter1d(box, sig, axis=0, mode='constant', truncate=4.0)
    return origin, box
