"""The sources of `~astro_mlfinder.simulate.simulate_blends`: morphologies, placement in a blend, rendering."""


import numpy as np

from astro_mlfinder.simulate._sersic import (
    SersicComponent,
    composite_half_light,
    convolve_shift,
    render_galaxy,
    render_star,
    sersic_half_light_factor,
)

__all__ = []


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


def _place_blend(rng, blend_id, centre, n, shape, opts):
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


def _render(src, opts):
    """Unit-flux, PSF-convolved stamp of one source and its origin."""
    if src['kind'] == 'star':
        return render_star(src['x'], src['y'], opts['psf_fwhm'], opts['psf_beta'],
                           opts['psf_radius'], supersample=5)
    theta = np.radians(src['pa'] + 90.0)
    stamp = render_galaxy(src['components'], 1.0 - src['e'], theta,
                          supersample=opts['supersample'])
    return convolve_shift(stamp, src['y'], src['x'], opts['psf_fwhm'], opts['psf_beta'],
                          opts['psf_radius'])
