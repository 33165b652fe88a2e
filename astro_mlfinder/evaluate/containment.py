# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Which reference components lie within the sources a finder found, and how
the summed flux of those components compares with each source's flux.

This is the check made against another finder's component catalogue (which
is not a truth): a found source may hold several components of the
reference (an extended source fitted by several Gaussians), so components
are assigned to the segment that contains them rather than matched
one-to-one.
"""

import astropy.units as u
import numpy as np
from astropy.table import QTable

from astro_mlfinder.evaluate.matching import as_table

__all__ = ['components_in_sources']


def _pixels(table, wcs, name):
    if 'x' in table.colnames and 'y' in table.colnames:
        x, y = table['x'], table['y']
        x = x.value if isinstance(x, u.Quantity) else x
        y = y.value if isinstance(y, u.Quantity) else y
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if wcs is None or 'ra' not in table.colnames or 'dec' not in table.colnames:
        raise ValueError(f'{name} catalogue needs x, y pixel columns, or ra, dec '
                         'columns and a wcs to convert them')
    ra, dec = table['ra'], table['dec']
    ra = ra.to_value(u.deg) if isinstance(ra, u.Quantity) else np.asarray(ra, dtype=np.float64)
    dec = dec.to_value(u.deg) if isinstance(dec, u.Quantity) else np.asarray(dec, dtype=np.float64)
    x, y = wcs.celestial.world_to_pixel_values(ra, dec)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _flux(table, column, name, unit):
    if column not in table.colnames:
        raise ValueError(f'{name} catalogue has no flux column {column!r}; it has {table.colnames}')
    col = table[column]
    if isinstance(col, u.Quantity):
        if unit is not None and col.unit != u.dimensionless_unscaled:
            return col.to_value(unit), unit
        return np.asarray(col.value, dtype=np.float64), col.unit
    return np.asarray(col, dtype=np.float64), unit


def _label_at(segment, x, y):
    ny, nx = segment.shape
    ix = np.rint(x).astype(np.int64)
    iy = np.rint(y).astype(np.int64)
    inside = np.isfinite(x) & np.isfinite(y) & (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    label = np.zeros(x.size, dtype=np.int64)
    label[inside] = segment[iy[inside], ix[inside]]
    return label


def components_in_sources(components, detected, segment, *, component_flux='int_flux',
                          source_flux='f_int', label_column=None, wcs=None):
    """
    Assign reference components to the found sources whose segments hold them.

    Parameters
    ----------
    components : `~astropy.table.Table`
        Reference component catalogue with positions (``x``, ``y`` 0-based
        pixels, or ``ra``, ``dec`` in degrees with ``wcs``) and the flux
        column ``component_flux``.
    detected : `~astropy.table.Table` or ``SourceCatalog``
        The finder's catalogue, with the flux column ``source_flux``.
    segment : array_like of int
        2D label map of the found sources (0 = background).
    component_flux, source_flux : str, optional
        Flux columns of ``components`` and ``detected``. A unitless column is
        taken to be in the unit of the other.
    label_column : str, optional
        Column of ``detected`` giving each row's label in ``segment`` (``'id'``
        for a ``SourceCatalog``). Without it a row belongs to the label at its
        ``x``, ``y`` position; several rows in one label (the Gaussians of an
        island) have their fluxes summed.
    wcs : `~astropy.wcs.WCS`, optional
        Converts ``ra``, ``dec`` to pixels where a catalogue has no ``x``, ``y``.

    Returns
    -------
    sources : `~astropy.table.QTable`
        One row per label holding at least one component: ``label``,
        ``n_components``, ``component_flux`` (summed), ``source_flux``
        (summed over the catalogue rows of the label) and ``flux_ratio``
        (``source_flux / component_flux``). ``meta`` holds ``n_components``
        (all), ``n_within`` (components inside a found source),
        ``n_sources`` (labels in ``segment``), ``median_flux_ratio`` and
        ``component_label`` (the label of every component, 0 = none).
    """
    segment = np.asarray(segment)
    if segment.ndim != 2:
        raise ValueError(f'segment must be a 2D label array, got shape {segment.shape}')
    if not np.issubdtype(segment.dtype, np.integer):
        raise ValueError(f'segment must be an integer label array, got dtype {segment.dtype}')
    comp = as_table(components, 'components')
    det = as_table(detected, 'detected')
    cx, cy = _pixels(comp, wcs, 'components')
    fc, unit = _flux(comp, component_flux, 'components', None)
    fd, unit_d = _flux(det, source_flux, 'detected', unit if isinstance(unit, u.UnitBase) else None)
    if unit is None and isinstance(unit_d, u.UnitBase):
        unit = unit_d
    c_label = _label_at(segment, cx, cy)
    if label_column is not None:
        if label_column not in det.colnames:
            raise ValueError(f'detected catalogue has no column {label_column!r}')
        d_label = np.asarray(getattr(det[label_column], 'value', det[label_column]), dtype=np.int64)
    elif len(det):
        d_label = _label_at(segment, *_pixels(det, wcs, 'detected'))
    else:
        d_label = np.zeros(0, dtype=np.int64)
    labels = np.unique(c_label[c_label > 0])
    size = int(max(segment.max(initial=0), c_label.max(initial=0), d_label.max(initial=0))) + 1
    n_comp = np.bincount(c_label, minlength=size)
    f_comp = np.bincount(c_label, np.where(np.isfinite(fc), fc, 0.0), minlength=size)
    ok = (d_label > 0) & np.isfinite(fd)
    f_src = np.bincount(d_label[ok], fd[ok], minlength=size)
    out = QTable()
    out['label'] = labels
    out['n_components'] = n_comp[labels]
    scale = unit if isinstance(unit, u.UnitBase) else 1
    out['component_flux'] = f_comp[labels] * scale
    out['source_flux'] = f_src[labels] * scale
    with np.errstate(divide='ignore', invalid='ignore'):
        ratio = np.where(f_comp[labels] != 0, f_src[labels] / f_comp[labels], np.nan)
    out['flux_ratio'] = ratio
    finite = ratio[np.isfinite(ratio)]
    out.meta['n_components'] = int(len(comp))
    out.meta['n_within'] = int(np.sum(c_label > 0))
    out.meta['n_sources'] = int(np.unique(segment[segment > 0]).size)
    out.meta['median_flux_ratio'] = float(np.median(finite)) if finite.size else np.nan
    out.meta['component_label'] = c_label
    return out
