# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Truth of the ALMA simulator: each source's truth mask (its line convolved
with the restoring beam, above a fraction of its peak), the label cube, and
the truth table (boxes, line windows, sizes, position angles, fluxes, S/N,
lines of sight); and the beam helpers they need.
"""

import astropy.units as u
import numpy as np
from astropy.table import QTable
from scipy import fft as sfft

from astro_mlfinder.simulate._base import world_columns
from astro_mlfinder.simulate._uv import C_LIGHT

__all__ = ['BOX_DEFINITION', 'PA_DEFINITION', 'crop_beam', 'gaussian_transfer', 'truth_table']

BOX_DEFINITION = (
    "A source's truth mask is the voxels where its line model (the clean sky "
    'model of its line convolved with the restoring beam) exceeds box_level '
    'times its maximum; x_min..z_max are the inclusive bounds of that mask, '
    'z_min..z_max its line window. Where two masks overlap, the brighter '
    'restored line wins in labels.')
PA_DEFINITION = (
    'pa: position angle of the major axis, degrees east of north (0-180); '
    'theta: the same axis in degrees counter-clockwise from the +x pixel axis '
    '(0-180); with north up and east left, pa = (theta - 90) mod 180.')


def crop_beam(beam, shape):
    """The ``shape`` window of a periodic beam, peak at ``(ny // 2, nx // 2)``."""
    ny, nx = shape
    return np.roll(beam, (ny // 2, nx // 2), axis=(0, 1))[:ny, :nx]


def gaussian_transfer(grid, bmaj, bmin, theta):
    """rfft2 transfer function of a peak-1 elliptical Gaussian (Jy/pixel -> Jy/beam)."""
    my, mx = grid
    k = np.sqrt(8.0 * np.log(2.0))
    sa, sb = bmaj / k, bmin / k
    t = np.deg2rad(theta)
    c, s = np.cos(t), np.sin(t)
    cxx = sa**2 * c * c + sb**2 * s * s
    cyy = sa**2 * s * s + sb**2 * c * c
    cxy = (sa**2 - sb**2) * c * s
    kx = sfft.rfftfreq(mx)[None, :]
    ky = sfft.fftfreq(my)[:, None]
    tf = np.exp(-2.0 * np.pi**2 * (cxx * kx**2 + 2.0 * cxy * kx * ky + cyy * ky**2))
    return tf * (2.0 * np.pi * sa * sb)


def truth_table(records, labels, best, level, noise, omega, wcs, freqs, channel_width,
                 pixel_scale):
    """Truth masks, labels and the truth catalogue."""
    nz, ny, nx = labels.shape
    rows = []
    for sid, r in enumerate(records, start=1):
        src, line, restored = r['src'], r['line'], r['restored']
        rmax = float(restored.max())
        lmax = float(line.max())
        zin = np.nonzero(line >= level * lmax)[0]
        yin, xin = np.nonzero(restored >= level * rmax)
        z0, z1 = int(zin.min()), int(zin.max()) + 1
        y0, y1 = int(yin.min()), int(yin.max()) + 1
        x0, x1 = int(xin.min()), int(xin.max()) + 1
        val = (line[z0:z1, None, None] * restored[None, y0:y1, x0:x1]).astype(np.float32)
        mask = val >= level * lmax * rmax
        bview = best[z0:z1, y0:y1, x0:x1]
        win = mask & (val > bview)
        labels[z0:z1, y0:y1, x0:x1][win] = sid
        bview[win] = val[win]
        dirty_line = (line[z0:z1, None, None] * r['dirty1'][None, y0:y1, x0:x1])
        n_pix = int(mask.sum())
        flux = float(line.sum() * r['stamp'].sum() * channel_width)
        f_line = freqs[r['zc']]
        rows.append(dict(
            id=sid, bright=src.bright, kind=src.kind, profile=src.profile,
            x=src.x, y=src.y, z=src.z0, x_min=x0, x_max=x1 - 1, y_min=y0, y_max=y1 - 1,
            z_min=z0, z_max=z1 - 1, fwhm_x=src.fwhm_maj, fwhm_y=src.fwhm_min,
            pa=(src.theta - 90.0) % 180.0, theta=src.theta % 180.0, fwhm_z=src.fwhm_z,
            line_width=src.fwhm_z * C_LIGHT / 1e3 * channel_width / f_line,
            flux=flux, flux_kms=flux / f_line * C_LIGHT / 1e3,
            continuum=float(r['cont'][r['zc']]), continuum_index=src.alpha,
            flux_continuum=float(r['cont'].sum() * channel_width),
            peak=lmax * float(r['dirty1'].max()),
            snr_int=float(np.where(mask, dirty_line, 0.0).sum()
                          / (noise * np.sqrt(max(n_pix, 1) * omega))),
            n_pix=n_pix, cut=bool(x0 == 0 or y0 == 0 or x1 == nx or y1 == ny)))
    names = ['id', 'bright', 'kind', 'profile', 'x', 'y', 'z', 'x_min', 'x_max', 'y_min',
             'y_max', 'z_min', 'z_max', 'fwhm_x', 'fwhm_y', 'pa', 'theta', 'fwhm_z',
             'line_width', 'flux', 'flux_kms', 'continuum', 'continuum_index',
             'flux_continuum', 'peak', 'snr_int', 'n_pix', 'cut']
    col = {n: np.asarray([r[n] for r in rows]) for n in names}
    n = len(rows)
    t = QTable()
    t['id'] = col['id'].astype(np.int32).reshape(n)
    t['bright'] = col['bright'].astype(bool).reshape(n)
    t['kind'] = col['kind'].astype('U11').reshape(n)
    t['profile'] = col['profile'].astype('U11').reshape(n)
    for name in ('x', 'y', 'z'):
        t[name] = col[name].astype(np.float64).reshape(n)
    world_columns(t, wcs)
    for name in ('x_min', 'x_max', 'y_min', 'y_max', 'z_min', 'z_max'):
        t[name] = col[name].astype(np.int64).reshape(n)
    t['fwhm_x'] = col['fwhm_x'].astype(np.float64).reshape(n)
    t['fwhm_y'] = col['fwhm_y'].astype(np.float64).reshape(n)
    t['fwhm_x_arcsec'] = t['fwhm_x'] * pixel_scale * u.arcsec
    t['fwhm_y_arcsec'] = t['fwhm_y'] * pixel_scale * u.arcsec
    t['pa'] = col['pa'].astype(np.float64).reshape(n) * u.deg
    t['theta'] = col['theta'].astype(np.float64).reshape(n) * u.deg
    t['fwhm_z'] = col['fwhm_z'].astype(np.float64).reshape(n)
    t['line_width'] = col['line_width'].astype(np.float64).reshape(n) * (u.km / u.s)
    t['flux'] = col['flux'].astype(np.float64).reshape(n) * (u.Jy * u.Hz)
    t['flux_kms'] = col['flux_kms'].astype(np.float64).reshape(n) * (u.Jy * u.km / u.s)
    t['continuum'] = col['continuum'].astype(np.float64).reshape(n) * u.Jy
    t['continuum_index'] = col['continuum_index'].astype(np.float64).reshape(n)
    t['flux_continuum'] = col['flux_continuum'].astype(np.float64).reshape(n) * (u.Jy * u.Hz)
    jyb = u.Jy / u.beam
    t['peak'] = col['peak'].astype(np.float64).reshape(n) * jyb
    t['rms'] = np.full(n, noise) * jyb
    t['snr_peak'] = np.asarray(t['peak'].value / noise, dtype=np.float64)
    t['snr_int'] = col['snr_int'].astype(np.float64).reshape(n)
    t['n_pix'] = col['n_pix'].astype(np.int64).reshape(n)
    t['sightline'] = _sightlines(t)
    t['cut'] = col['cut'].astype(bool).reshape(n)
    return t


def _sightlines(t):
    """Id of another source whose box contains this centre at disjoint frequencies (0: none)."""
    out = np.zeros(len(t), dtype=np.int32)
    for i in range(len(t)):
        for j in range(len(t)):
            if i == j:
                continue
            inside = (t['x_min'][j] <= t['x'][i] <= t['x_max'][j]
                      and t['y_min'][j] <= t['y'][i] <= t['y_max'][j])
            disjoint = t['z_max'][j] < t['z_min'][i] or t['z_max'][i] < t['z_min'][j]
            if inside and disjoint:
                out[i] = t['id'][j]
                break
    return out
