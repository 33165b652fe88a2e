# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private helpers of the optical blend simulator: drawing and placing the
sources of a blend, rendering each, and the truth table.
"""

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable

from astro_mlfinder.simulate._sersic import (
    SersicComponent,
    composite_half_light,
    convolve_shift,
    render_galaxy,
    render_star,
    sersic_half_light_factor,
)

__all__ = ['place_blend', 'render_source', 'truth_table']


def _draw_morphology(rng, kind, r_range, n_range, e_range, trunc):
    """Shape of one source: components, r_half, n, ellipticity, pa, bulge."""
    if kind == 'star':
        return dict(components=[], r_half=0.0, n=np.nan, e=0.0, pa=0.0,
                    bulge_fraction=0.0, bulge_r_half=0.0)
    r_half = float(np.exp(rng.uniform(np.log(r_range[0]), np.log(r_range[1]))))
    e = float(rng.uniform(*e_range))
    pa = float(rng.uniform(0.0, 180.0))
    q = 1.0 - e
    a_half = r_half / np.sqrt(q)
    if kind == 'bulge+disc':
        bt = float(rng.uniform(0.1, 0.6))
        size = float(rng.uniform(0.15, 0.4))
        comps = [SersicComponent(4.0, size, bt, trunc), SersicComponent(1.0, 1.0, 1.0 - bt, trunc)]
        scale = a_half / composite_half_light(comps)
        for c in comps:
            c.a_eff *= scale
        bulge_r = comps[0].a_eff * sersic_half_light_factor(4.0, trunc) * np.sqrt(q)
        return dict(components=comps, r_half=r_half, n=1.0, e=e, pa=pa,
                    bulge_fraction=bt, bulge_r_half=float(bulge_r))
    n = float(rng.uniform(*n_range))
    a_eff = a_half / sersic_half_light_factor(n, trunc)
    return dict(components=[SersicComponent(n, a_eff, 1.0, trunc)], r_half=r_half, n=n,
                e=e, pa=pa, bulge_fraction=0.0, bulge_r_half=0.0)


def _unit(kind_unit, fwhm, ra, rb):
    if kind_unit == 'hlr':
        return (np.sqrt(ra ** 2 + (fwhm / 2) ** 2) + np.sqrt(rb ** 2 + (fwhm / 2) ** 2))
    return fwhm if kind_unit == 'fwhm' else 1.0


def place_blend(rng, blend_id, centre, n, shape, opts):
    """Draw the sources of one blend around ``centre``."""
    ny, nx = shape
    sources = []
    for k in range(n):
        u_kind = rng.uniform()
        if u_kind < opts['star_fraction']:
            kind = 'star'
        elif rng.uniform() < opts['bulge_disc_fraction']:
            kind = 'bulge+disc'
        else:
            kind = 'galaxy'
        morph = _draw_morphology(rng, kind, opts['r_half'], opts['sersic_n'],
                                 opts['ellipticity'], opts['trunc'])
        if k == 0:
            mag = float(rng.uniform(*opts['mag_range']))
            flux = 10 ** (-0.4 * (mag - opts['zero_point']))
            sources.append(dict(kind=kind, x=centre[1], y=centre[0], flux=flux, **morph))
            continue
        parent = sources[int(rng.integers(0, len(sources)))]
        lo_r, hi_r = opts['flux_ratio']
        lo_r = max(lo_r, opts['flux_limit'] / parent['flux'])
        if lo_r > hi_r:      # every allowed ratio would be fainter than mag_limit
            continue
        flux = parent['flux'] * float(np.exp(rng.uniform(np.log(lo_r), np.log(hi_r))))
        lo, hi = opts['separation']
        for _ in range(50):
            d = float(rng.uniform(lo, hi))
            d *= _unit(opts['separation_unit'], opts['psf_fwhm'], parent['r_half'],
                       morph['r_half'])
            phi = float(rng.uniform(0.0, 2.0 * np.pi))
            x, y = parent['x'] + d * np.cos(phi), parent['y'] + d * np.sin(phi)
            if not (-0.5 <= x <= nx - 0.5 and -0.5 <= y <= ny - 0.5):
                continue
            ok = all(np.hypot(x - s['x'], y - s['y'])
                     >= lo * _unit(opts['separation_unit'], opts['psf_fwhm'], s['r_half'],
                                   morph['r_half']) * (1 - 1e-9)
                     for s in sources)
            if ok:
                sources.append(dict(kind=kind, x=x, y=y, flux=flux, **morph))
                break
    for s in sources:
        s['blend_id'] = blend_id
    return sources


def render_source(src, opts):
    """Unit-flux, PSF-convolved stamp of one source and its origin."""
    if src['kind'] == 'star':
        return render_star(src['x'], src['y'], opts['psf_fwhm'], opts['psf_beta'],
                           opts['psf_radius'], supersample=5)
    theta = np.radians(src['pa'] + 90.0)
    stamp = render_galaxy(src['components'], 1.0 - src['e'], theta,
                          supersample=opts['supersample'])
    return convolve_shift(stamp, src['y'], src['x'], opts['psf_fwhm'], opts['psf_beta'],
                          opts['psf_radius'])


def truth_table(placed, cube, labels, variance, bg_rms, wcs, opts, gain):
    """One row per source, with its nearest neighbour and S/N."""
    n = len(placed)
    fwhm = opts['psf_fwhm']
    x = np.array([s['x'] for s in placed], dtype=float)
    y = np.array([s['y'] for s in placed], dtype=float)
    flux = np.array([s['flux'] for s in placed], dtype=float)
    r_half = np.array([s['r_half'] for s in placed], dtype=float)
    r_psf = np.sqrt(r_half ** 2 + (fwhm / 2) ** 2)
    nn_id = np.zeros(n, dtype=np.int32)
    nn_sep = np.full(n, np.nan)
    if n > 1:
        d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
        np.fill_diagonal(d, np.inf)
        j = (d / (r_psf[:, None] + r_psf[None, :])).argmin(axis=1)
        nn_id = (j + 1).astype(np.int32)
        nn_sep = d[np.arange(n), j]
    has = nn_id > 0
    jj = np.where(has, nn_id - 1, 0)
    t = QTable()
    t['id'] = np.arange(1, n + 1, dtype=np.int32)
    t['blend_id'] = np.array([s['blend_id'] for s in placed], dtype=np.int32)
    t['kind'] = np.array(['star' if s['kind'] == 'star' else 'galaxy' for s in placed],
                         dtype='U6')
    t['bulge_disc'] = np.array([s['kind'] == 'bulge+disc' for s in placed], dtype=bool)
    t['x'] = x
    t['y'] = y
    if n:
        ra, dec = wcs.pixel_to_world_values(x, y)
    else:
        ra = dec = np.zeros(0)
    t['ra'] = np.asarray(ra, dtype=float) * u.deg
    t['dec'] = np.asarray(dec, dtype=float) * u.deg
    t['sky_centroid'] = SkyCoord(t['ra'], t['dec'], frame='icrs')
    t['flux'] = flux * u.adu
    t['flux_image'] = cube.sum(axis=(1, 2)) * u.adu
    with np.errstate(divide='ignore'):
        t['mag'] = (opts['zero_point'] - 2.5 * np.log10(flux)) * u.ABmag
    t['r_half'] = r_half * u.pix
    t['r_half_psf'] = r_psf * u.pix
    t['sersic_n'] = np.array([s['n'] for s in placed], dtype=float)
    t['bulge_fraction'] = np.array([s['bulge_fraction'] for s in placed], dtype=float)
    t['bulge_r_half'] = np.array([s['bulge_r_half'] for s in placed], dtype=float) * u.pix
    t['ellipticity'] = np.array([s['e'] for s in placed], dtype=float)
    t['pa'] = np.array([s['pa'] for s in placed], dtype=float) * u.deg
    t['nn_id'] = nn_id
    t['nn_sep'] = nn_sep * u.pix
    t['nn_sep_hlr'] = np.where(has, nn_sep / (r_psf + r_psf[jj]), np.nan)
    t['nn_sep_fwhm'] = nn_sep / fwhm
    t['flux_ratio'] = np.where(has, flux / flux[jj], np.nan)
    m_e = cube * gain
    bg_var_e = bg_rms ** 2 * gain ** 2
    t['snr'] = np.sqrt((m_e ** 2 / (bg_var_e + np.maximum(m_e, 0))).sum(axis=(1, 2)))
    t['n_pix'] = np.array([(labels == k + 1).sum() for k in range(n)], dtype=np.int64)
    return t
