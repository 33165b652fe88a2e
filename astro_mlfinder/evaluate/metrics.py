# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Detection scores (precision, recall, F1, IoU/Dice, flux accuracy), overall
and per bin of a truth property such as the SNR, and a file-level entry
point for the command line.
"""

import shlex
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Column, QTable, Table

from astro_mlfinder.evaluate.matching import _values, as_table, match_catalogs, parse_unit

__all__ = ['DEFAULT_SNR_BINS', 'evaluate', 'evaluate_by_bin',
           'evaluate_files', 'read_catalog', 'scores']

#: Default bin edges for `evaluate_by_bin` on the integrated SNR.
DEFAULT_SNR_BINS = (0.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, np.inf)

_MATCH_KEYS = ('spatial_tolerance', 'spectral_tolerance', 'detected_segment',
               'truth_segment', 'min_iou', 'wcs')


def scores(tp, fp, fn):
    """
    Precision, recall and F1 from counts.

    Parameters
    ----------
    tp, fp, fn : int
        True positives, false positives and false negatives.

    Returns
    -------
    precision, recall, f1 : float
        ``tp / (tp + fp)`` (NaN without detections), ``tp / (tp + fn)``
        (NaN without true sources) and ``2 tp / (2 tp + fp + fn)`` (NaN
        when all counts are 0).
    """
    tp, fp, fn = int(tp), int(fp), int(fn)
    precision = tp / (tp + fp) if tp + fp else np.nan
    recall = tp / (tp + fn) if tp + fn else np.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan
    return precision, recall, f1


def _nanstat(func, values):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(func(values)) if values.size else np.nan


def evaluate(detected, truth, **kwargs):
    """
    Score a detection catalogue against the truth.

    Parameters
    ----------
    detected, truth : `~astropy.table.Table` or ``SourceCatalog``
        Catalogues (see `match_catalogs`).
    **kwargs
        Passed to `match_catalogs` (``spatial_tolerance``,
        ``spectral_tolerance``, ``detected_segment``, ``truth_segment``,
        ``min_iou``, ``wcs``).

    Returns
    -------
    result : dict
        ``n_detected``, ``n_truth``, ``tp``, ``fp``, ``fn``,
        ``precision``, ``recall``, ``f1``, ``mean_iou`` and ``mean_dice``
        (over matched pairs, NaN without segmentations),
        ``median_flux_error`` (median of ``f_det / f_true - 1``: the
        relative bias), ``median_abs_flux_error`` (median of its absolute
        value), ``median_separation`` (pixels) and ``median_dz``
        (channels), and ``method``.
    """
    unknown = set(kwargs) - set(_MATCH_KEYS)
    if unknown:
        raise ValueError(f'unknown keyword(s) {sorted(unknown)}; valid are '
                         f'{list(_MATCH_KEYS)}')
    match = match_catalogs(detected, truth, **kwargs)
    return _summary(match)


def _summary(match):
    m = match.matches
    precision, recall, f1 = scores(match.tp, match.fp, match.fn)
    rel = np.asarray(m['flux_ratio'], dtype=np.float64) - 1.0
    return {
        'n_detected': match.n_detected,
        'n_truth': match.n_truth,
        'tp': match.tp,
        'fp': match.fp,
        'fn': match.fn,
        'precision': precision,
        'recall': recall,
        'f1': f1,
        'mean_iou': _nanstat(np.mean, m['iou']),
        'mean_dice': _nanstat(np.mean, m['dice']),
        'median_flux_error': _nanstat(np.median, rel),
        'median_abs_flux_error': _nanstat(np.median, np.abs(rel)),
        'median_separation': _nanstat(np.median, m['separation']),
        'median_dz': _nanstat(np.median, np.abs(m['dz'])),
        'method': match.method,
    }


def evaluate_by_bin(detected, truth, column='snr', bins=None, **kwargs):
    """
    Detection scores in bins of a truth property (by default the SNR).

    True sources are binned by their own ``column`` value, which gives the
    recall per bin.  A matched detection is counted in the bin of its true
    source; a false positive in the bin of its own ``column`` value when
    the detected catalogue has that column (otherwise it is counted in no
    bin; the total is in ``table.meta['fp_unbinned']``).

    Parameters
    ----------
    detected, truth : `~astropy.table.Table` or ``SourceCatalog``
        Catalogues (see `match_catalogs`).
    column : str, optional
        Truth column to bin on.
    bins : sequence of float, optional
        Bin edges (``DEFAULT_SNR_BINS`` by default).  Bins are half-open,
        ``[low, high)``.
    **kwargs
        Passed to `match_catalogs`.

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per bin: ``bin_low``, ``bin_high``, ``n_truth``, ``tp``,
        ``fn``, ``fp``, ``recall``, ``precision``, ``f1``,
        ``median_flux_error``, ``mean_iou``.
    """
    unknown = set(kwargs) - set(_MATCH_KEYS)
    if unknown:
        raise ValueError(f'unknown keyword(s) {sorted(unknown)}; valid are '
                         f'{list(_MATCH_KEYS)}')
    det = as_table(detected, 'detected')
    tru = as_table(truth, 'truth')
    if column not in tru.colnames:
        raise ValueError(f'truth catalogue has no column {column!r}; it has '
                         f'{tru.colnames}')
    edges = np.asarray(DEFAULT_SNR_BINS if bins is None else bins,
                       dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError('bins must be at least two increasing edges')
    match = match_catalogs(det, tru, **kwargs)
    nb = edges.size - 1

    def which(values):
        idx = np.searchsorted(edges, values, side='right') - 1
        idx[(values < edges[0]) | (values >= edges[-1])
            | ~np.isfinite(values)] = -1
        return idx

    t_bin = which(_values(tru, column))
    t_rows = match.meta['truth_rows']
    fp_rows = match.meta['fp_rows']
    fp_bin = np.full(len(fp_rows), -1)
    if column in det.colnames and len(fp_rows):
        fp_bin = which(_values(det, column)[fp_rows])
    matched_bin = t_bin[t_rows]

    out = QTable()
    out['bin_low'] = edges[:-1]
    out['bin_high'] = edges[1:]
    n_truth = np.bincount(t_bin[t_bin >= 0], minlength=nb)
    tp = np.bincount(matched_bin[matched_bin >= 0], minlength=nb)
    fp = np.bincount(fp_bin[fp_bin >= 0], minlength=nb)
    out['n_truth'] = n_truth
    out['tp'] = tp
    out['fn'] = n_truth - tp
    out['fp'] = fp
    precision, recall, f1 = np.transpose(
        [scores(a, b, c) for a, b, c in zip(tp, fp, n_truth - tp, strict=True)]
        or np.zeros((0, 3)))
    out['recall'] = recall
    out['precision'] = precision
    out['f1'] = f1
    rel = np.asarray(match.matches['flux_ratio'], dtype=np.float64) - 1.0
    iou = np.asarray(match.matches['iou'], dtype=np.float64)
    out['median_flux_error'] = [_nanstat(np.median, rel[matched_bin == k])
                                for k in range(nb)]
    out['mean_iou'] = [_nanstat(np.mean, iou[matched_bin == k])
                       for k in range(nb)]
    out.meta['column'] = column
    out.meta['fp_unbinned'] = int(np.sum(fp_bin < 0))
    out.meta['truth_unbinned'] = int(np.sum(t_bin < 0))
    return out


# --------------------------------------------------------------------------
# Files


def _read_sofia_ascii(path):
    """Read a SoFiA-2 plain-text catalogue (names and units in the last two
    comment lines before the data)."""
    comments, data = [], []
    with open(path) as fh:
        for line in fh:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith('#'):
                comments.append(stripped[1:].split())
            else:
                data.append(shlex.split(stripped))
    header = [c for c in comments if 'id' in c and 'x' in c]
    if not header:
        raise ValueError(f'{path} is not a SoFiA-2 text catalogue (no '
                         'column-name header line)')
    names = header[-1]
    pos = comments.index(names)
    units = comments[pos + 1] if pos + 1 < len(comments) else ['-'] * len(names)
    table = QTable()
    for k, name in enumerate(names):
        column = [row[k] for row in data]
        try:
            values = np.asarray(column, dtype=np.float64)
            if name in ('id', 'n_pix', 'flag') or name.endswith(('_min',
                                                                  '_max')):
                if name not in ('f_min', 'f_max') and np.all(
                        values == np.round(values)):
                    values = values.astype(np.int64)
        except ValueError:
            values = np.asarray(column, dtype=str)
        unit = units[k] if k < len(units) else '-'
        if unit not in ('-', 'pix') and values.dtype.kind == 'f':
            unit = parse_unit(unit)   # SoFiA's '*' and '/' run left to right
            if unit is not None:
                values = values * unit
        table[name] = values
    return table


def read_catalog(path, format=None):
    """
    Read a catalogue file for evaluation.

    Parameters
    ----------
    path : str or path-like
        ECSV (``.ecsv``), FITS table (``.fits``, ``.fit``, ``.fits.gz``),
        VOTable or SoFiA-2 XML catalogue (``.xml``, ``.vot``), SoFiA-2
        plain-text catalogue (``.txt``), or CSV (``.csv``).
    format : str, optional
        Astropy table format, or ``'sofia-ascii'``, overriding the guess
        from the extension.

    Returns
    -------
    table : `~astropy.table.QTable`
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f'catalogue file {path} does not exist')
    name = path.name.lower()
    if format is None:
        if name.endswith('.ecsv'):
            format = 'ascii.ecsv'
        elif name.endswith(('.fits', '.fit', '.fits.gz', '.fts')):
            format = 'fits'
        elif name.endswith(('.xml', '.vot', '.votable')):
            format = 'votable'
        elif name.endswith('.txt'):
            format = 'sofia-ascii'
        elif name.endswith('.csv'):
            format = 'ascii.csv'
        else:
            raise ValueError(f'cannot tell the format of {path}; use a '
                             '.ecsv, .fits, .xml, .vot, .txt or .csv file '
                             'or pass format=')
    if format == 'sofia-ascii':
        return _read_sofia_ascii(path)
    try:
        if format == 'votable':
            from astropy.io.votable import parse_single_table
            table = parse_single_table(str(path)).to_table()
        elif format == 'fits':
            table = Table.read(path, format='fits',
                               hdu=_first_table_hdu(path))
        else:
            table = Table.read(path, format=format)
    except Exception as exc:   # astropy raises many types for bad files
        raise ValueError(f'could not read catalogue {path} as {format}: '
                         f'{exc}') from exc
    for col in table.itercols():
        # SoFiA XML gives text columns (name) a unit '-'; drop such units,
        # and dimensionless '-' units, so that QTable makes no Quantity.
        unit = getattr(col, 'unit', None)
        if (isinstance(col, Column) and unit is not None
                and (col.dtype.kind in 'USOb' or str(unit) in ('-', ''))):
            col.unit = None
        elif isinstance(col, Column) and isinstance(unit, u.UnrecognizedUnit):
            # e.g. 'Jy/beam' in a VOTable, which its unit format cannot read
            col.unit = parse_unit(unit)
    return QTable(table)


def _first_table_hdu(path):
    with fits.open(path) as hdul:
        for k, hdu in enumerate(hdul):
            if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)):
                return k
    raise ValueError(f'{path} has no FITS table extension')


def _read_segment(segment):
    if segment is None or isinstance(segment, np.ndarray):
        return segment
    path = Path(segment)
    if not path.exists():
        raise ValueError(f'segmentation file {path} does not exist')
    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.data is not None and hdu.is_image:
                return np.asarray(hdu.data).astype(np.int64)
    raise ValueError(f'{path} holds no image with a segmentation')


def evaluate_files(catalog_path, truth_path, *, column=None, bins=None,
                   detected_segment=None, truth_segment=None, **kwargs):
    """
    Score a catalogue file against a truth file (the ``astro-mlfinder
    evaluate`` command).

    Parameters
    ----------
    catalog_path, truth_path : str or path-like
        Catalogue files, any format accepted by `read_catalog` (ECSV, FITS,
        VOTable, SoFiA-2 XML or text).
    column : str, optional
        If given (for example ``'snr'``), return the scores per bin of this
        truth column (`evaluate_by_bin`) instead of one row.
    bins : sequence of float, optional
        Bin edges for ``column``.
    detected_segment, truth_segment : array_like or path, optional
        Segmentations (arrays or FITS files, e.g. SoFiA ``_mask.fits``);
        with both, sources are matched by voxel overlap.
    **kwargs
        Passed to `match_catalogs`.

    Returns
    -------
    table : `~astropy.table.QTable`
        One row of `evaluate` results, or one row per bin.
    """
    detected = read_catalog(catalog_path)
    truth = read_catalog(truth_path)
    kwargs['detected_segment'] = _read_segment(detected_segment)
    kwargs['truth_segment'] = _read_segment(truth_segment)
    if column is not None:
        table = evaluate_by_bin(detected, truth, column=column, bins=bins,
                                **kwargs)
    else:
        result = evaluate(detected, truth, **kwargs)
        table = QTable(rows=[result], names=list(result))
    table.meta['catalog'] = str(catalog_path)
    table.meta['truth'] = str(truth_path)
    return table
