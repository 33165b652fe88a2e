"""The truth table of `~astro_mlfinder.simulate.simulate_blends`: one row per source, from its own image."""


import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable

__all__ = []


def _truth_table(placed, cube, labels, variance, bg_rms, wcs, opts, gain):
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
