"""The truth table of `~astro_mlfinder.simulate.simulate_hi_cube`: one row per galaxy, from its own model."""


import astropy.units as u
import numpy as np
from astropy.table import QTable

from astro_mlfinder.simulate._base import world_columns
from astro_mlfinder.simulate._hi_sources import _C_KMS, HI_REST_FREQUENCY, _width

__all__ = []

def _truth_table(records, model, labels, rms, wcs, omega, channel_width,
                 freq0):
    """Measure the truth catalogue from the model and the labels."""
    names = ['id', 'x', 'y', 'z', 'f_sum', 'f_total', 'peak', 'snr',
             'snr_target', 'n_pix', 'w20', 'w50', 'w20_kms', 'w50_kms',
             'x_min', 'x_max', 'y_min', 'y_max', 'z_min', 'z_max', 'x0', 'y0',
             'z0', 'r_hi', 'incl', 'pa', 'v_rot', 'sigma_v', 'profile', 'cut',
             'sightline']
    rows = {n: [] for n in names}
    for sid, p, kind, target, sl, f_total, cut in records:
        lab = labels[sl] == sid
        if not lab.any():
            continue
        vals = np.where(lab, model[sl], 0.0).astype(np.float64)
        f_sum = vals.sum()
        zz, yy, xx = np.nonzero(lab)
        w = vals[zz, yy, xx]
        off = [s.start for s in sl]
        rows['id'].append(sid)
        rows['x'].append(off[2] + (w * xx).sum() / f_sum)
        rows['y'].append(off[1] + (w * yy).sum() / f_sum)
        rows['z'].append(off[0] + (w * zz).sum() / f_sum)
        rows['f_sum'].append(f_sum)
        rows['f_total'].append(f_total)
        rows['peak'].append(w.max())
        var = (rms[off[0] + zz]**2).sum()
        rows['snr'].append(f_sum / np.sqrt(omega * var))
        rows['snr_target'].append(target)
        rows['n_pix'].append(int(lab.sum()))
        spectrum = vals.sum(axis=(1, 2))
        spec = spectrum[zz.min():zz.max() + 1]
        w20, w50 = _width(spec, 0.2), _width(spec, 0.5)
        zc = rows['z'][-1]
        freq = freq0 + zc * channel_width
        dv = _C_KMS * abs(channel_width) * HI_REST_FREQUENCY / freq**2
        rows['w20'].append(w20)
        rows['w50'].append(w50)
        rows['w20_kms'].append(w20 * dv)
        rows['w50_kms'].append(w50 * dv)
        for axis, name, idx in ((2, 'x', xx), (1, 'y', yy), (0, 'z', zz)):
            rows[f'{name}_min'].append(int(off[axis] + idx.min()))
            rows[f'{name}_max'].append(int(off[axis] + idx.max()))
        rows['x0'].append(p.x0)
        rows['y0'].append(p.y0)
        rows['z0'].append(p.z0)
        rows['r_hi'].append(p.r_hi)
        rows['incl'].append(p.incl)
        rows['pa'].append(p.pa)
        rows['v_rot'].append(p.v_rot)
        rows['sigma_v'].append(p.sigma_v)
        rows['profile'].append(p.profile)
        rows['cut'].append(bool(cut))
        rows['sightline'].append(kind == 'sightline')

    n = len(rows['id'])
    t = QTable()
    t['id'] = np.asarray(rows['id'], dtype=np.int32)
    for name in ('x', 'y', 'z'):
        t[name] = np.asarray(rows[name], dtype=np.float64)
    freq = world_columns(t, wcs)
    t['v_sys'] = (_C_KMS * (HI_REST_FREQUENCY / freq - 1.0) if n
                  else np.zeros(0)) * (u.km / u.s)
    jyb = u.Jy / u.beam
    t['f_sum'] = np.asarray(rows['f_sum'], dtype=np.float64) * jyb
    t['f_sum_phys'] = (np.asarray(rows['f_sum'], dtype=np.float64)
                       * abs(channel_width) / omega) * (u.Jy * u.Hz)
    t['f_total'] = np.asarray(rows['f_total'], dtype=np.float64) * jyb
    t['peak'] = np.asarray(rows['peak'], dtype=np.float64) * jyb
    t['snr'] = np.asarray(rows['snr'], dtype=np.float64)
    t['snr_target'] = np.asarray(rows['snr_target'], dtype=np.float64)
    t['n_pix'] = np.asarray(rows['n_pix'], dtype=np.int64)
    t['w20'] = np.asarray(rows['w20'], dtype=np.float64)
    t['w50'] = np.asarray(rows['w50'], dtype=np.float64)
    t['w20_kms'] = np.asarray(rows['w20_kms'], dtype=np.float64) * (u.km / u.s)
    t['w50_kms'] = np.asarray(rows['w50_kms'], dtype=np.float64) * (u.km / u.s)
    for name in ('x_min', 'x_max', 'y_min', 'y_max', 'z_min', 'z_max'):
        t[name] = np.asarray(rows[name], dtype=np.int64)
    for name in ('x0', 'y0', 'z0', 'r_hi'):
        t[name] = np.asarray(rows[name], dtype=np.float64)
    t['incl'] = np.asarray(rows['incl'], dtype=np.float64) * u.deg
    t['pa'] = np.asarray(rows['pa'], dtype=np.float64) * u.deg
    t['v_rot'] = np.asarray(rows['v_rot'], dtype=np.float64) * (u.km / u.s)
    t['sigma_v'] = np.asarray(rows['sigma_v'], dtype=np.float64) * (u.km / u.s)
    t['profile'] = np.asarray(rows['profile'], dtype='U11')
    t['cut'] = np.asarray(rows['cut'], dtype=bool)
    t['sightline'] = np.asarray(rows['sightline'], dtype=bool)
    return t


def _renumber(truth, labels, n_records):
    """Ids 1..N for the galaxies that kept truth voxels (one may be hidden by a brighter one, or lie in
    blank pixels); ``truth['id']`` is updated in place and the relabelled ``labels`` returned."""
    expected = np.arange(1, len(truth) + 1, dtype=np.int32)
    if np.array_equal(np.asarray(truth['id']), expected):
        return labels
    lut = np.zeros(n_records + 1, dtype=np.int32)
    lut[np.asarray(truth['id'])] = expected
    truth['id'] = expected
    return lut[labels]
