# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
One-to-one matching of detected sources to true sources, by position or by
voxel overlap of their segmentations.
"""

import re
import warnings
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table
from astropy.wcs.utils import proj_plane_pixel_scales
from scipy.optimize import linear_sum_assignment

from ..core.exceptions import AstroMLFinderWarning

__all__ = ['MatchResult', 'as_table', 'match_catalogs', 'parse_unit', 'segment_overlap']

# Cost given to forbidden pairs in the assignment problem.
_FORBIDDEN = 1e12


def as_table(catalog, name='catalog'):
    """
    Return a catalogue as a `~astropy.table.QTable`.

    Parameters
    ----------
    catalog : `~astropy.table.Table`, `~astropy.table.QTable` or object
        A table, or any object with a ``to_table()`` method (for example a
        ``SourceCatalog``).
    name : str, optional
        Name used in error messages.

    Returns
    -------
    table : `~astropy.table.QTable`
    """
    if hasattr(catalog, 'to_table') and not isinstance(catalog, Table):
        catalog = catalog.to_table()
    if not isinstance(catalog, Table):
        raise ValueError(f'{name} must be an astropy Table (or have a '
                         f'to_table() method), got {type(catalog).__name__}')
    return QTable(catalog)


_ALSO_TRIED = ('vounit', 'cds', 'fits')


def parse_unit(unit):
    """
    The unit of a catalogue column, from its string as a writer spelled it.

    A unit string is parsed as astropy parses it (its generic format, then
    the VOUnit, CDS and FITS formats), so ``'Jy/beam'`` from a SoFiA-2
    VOTable and ``'Jy / beam'`` from an ECSV file are the same unit. SoFiA-2's
    own spelling, which multiplies (``*``) and divides (``/``) from left to
    right (``'Jy/beam*Hz'`` is Jy Hz / beam, where astropy's grammar would
    read Jy / (beam Hz)), is recognised by its ``*`` or its second ``/``.

    Parameters
    ----------
    unit : str, `~astropy.units.UnitBase` or None
        A unit string, or a unit (an `~astropy.units.UnrecognizedUnit` is
        parsed again from its string).

    Returns
    -------
    unit : `~astropy.units.UnitBase` or None
        None for no unit (``None``, ``''``, ``'-'``); an
        `~astropy.units.UnrecognizedUnit` for a string no format knows.
    """
    if unit is None:
        return None
    if isinstance(unit, u.UnitBase) and not isinstance(unit, u.UnrecognizedUnit):
        return unit
    text = unit.to_string() if isinstance(unit, u.UnitBase) else str(unit).strip()
    if text in ('', '-'):
        return None
    flat = re.sub(r'\([^()]*\)', '', text)
    if re.search(r'(?<!\*)\*(?!\*)', text) or flat.count('/') > 1:
        from astro_mlfinder.io.sofia_units import parse_sofia_unit
        parsed = parse_sofia_unit(text)
        if not isinstance(parsed, u.UnrecognizedUnit):
            return parsed
    for fmt in ('generic', *_ALSO_TRIED):
        try:
            return u.Unit(text, format=fmt)
        except ValueError:
            continue
    return u.Unit(text, parse_strict='silent')


def _values(table, column, dtype=np.float64):
    """Column values as a plain array (Quantity units stripped)."""
    col = table[column]
    if isinstance(col, u.Quantity):
        col = col.value
    return np.asarray(col, dtype=dtype)


def _ids(table):
    if 'id' in table.colnames:
        return _values(table, 'id', np.int64)
    return np.arange(1, len(table) + 1, dtype=np.int64)


def _require(table, columns, name):
    missing = [c for c in columns if c not in table.colnames]
    if missing:
        raise ValueError(f'{name} catalogue lacks column(s) {missing}; it has '
                         f'{table.colnames}')


def segment_overlap(detected_segment, truth_segment):
    """
    Voxel overlap of every pair of detected and true segments.

    The intersections are counted in one pass with `numpy.unique` on the
    joint labels of the voxels that are labelled in both arrays, and the
    segment sizes with `numpy.bincount`, so the cost is linear in the
    number of voxels whatever the number of sources.

    Parameters
    ----------
    detected_segment, truth_segment : array_like of int
        Label arrays of the same shape (0 = background).

    Returns
    -------
    overlap : `~astropy.table.QTable`
        One row per pair that shares at least one voxel, with columns
        ``det_id``, ``truth_id``, ``n_intersection``, ``n_det``,
        ``n_truth``, ``n_union``, ``iou`` (intersection over union) and
        ``dice`` (``2 |A and B| / (|A| + |B|)``).
    """
    det = np.asarray(detected_segment)
    tru = np.asarray(truth_segment)
    if det.shape != tru.shape:
        raise ValueError(f'detected_segment shape {det.shape} differs from '
                         f'truth_segment shape {tru.shape}')
    for arr, name in ((det, 'detected_segment'), (tru, 'truth_segment')):
        if not np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
            raise ValueError(f'{name} must be an integer label array, got '
                             f'dtype {arr.dtype}')
        if arr.size and arr.min() < 0:
            raise ValueError(f'{name} has negative labels')
    det = det.ravel().astype(np.int64, copy=False)
    tru = tru.ravel().astype(np.int64, copy=False)
    n_det_size = np.bincount(det) if det.size else np.zeros(1, np.int64)
    n_tru_size = np.bincount(tru) if tru.size else np.zeros(1, np.int64)
    both = (det > 0) & (tru > 0)
    span = int(n_tru_size.size)
    keys, counts = np.unique(det[both] * span + tru[both], return_counts=True)
    det_id = keys // span
    truth_id = keys % span
    n_det = n_det_size[det_id]
    n_truth = n_tru_size[truth_id]
    n_union = n_det + n_truth - counts
    out = QTable()
    out['det_id'] = det_id
    out['truth_id'] = truth_id
    out['n_intersection'] = counts.astype(np.int64)
    out['n_det'] = n_det.astype(np.int64)
    out['n_truth'] = n_truth.astype(np.int64)
    out['n_union'] = n_union.astype(np.int64)
    out['iou'] = counts / np.maximum(n_union, 1)
    out['dice'] = 2.0 * counts / np.maximum(n_det + n_truth, 1)
    return out


@dataclass
class MatchResult:
    """
    Result of `match_catalogs`.

    Attributes
    ----------
    matches : `~astropy.table.QTable`
        One row per matched pair: ``det_id``, ``truth_id``, ``distance``
        (normalised distance, <= 1 within the tolerances; ``1 - iou`` for
        overlap matching), ``separation`` (spatial, pixels), ``dz``
        (detected minus true channel), ``iou``, ``dice`` (NaN without both
        segmentations) and ``flux_ratio`` (detected / true ``f_sum``, NaN
        when unavailable).
    false_positives : `~numpy.ndarray`
        Ids of unmatched detections.
    false_negatives : `~numpy.ndarray`
        Ids of unmatched true sources.
    n_detected, n_truth : int
        Catalogue lengths.
    method : str
        ``'distance'`` or ``'overlap'``.
    """

    matches: QTable
    false_positives: np.ndarray
    false_negatives: np.ndarray
    n_detected: int
    n_truth: int
    method: str
    meta: dict = field(default_factory=dict)

    @property
    def tp(self):
        """Number of true positives (matched pairs)."""
        return len(self.matches)

    @property
    def fp(self):
        """Number of false positives."""
        return len(self.false_positives)

    @property
    def fn(self):
        """Number of false negatives."""
        return len(self.false_negatives)

    def __repr__(self):
        return (f'<MatchResult method={self.method!r} tp={self.tp} '
                f'fp={self.fp} fn={self.fn}>')


def _parsed_units(column):
    """A Quantity column whose unit astropy did not recognise, with the unit parsed again."""
    if isinstance(column, u.Quantity) and isinstance(column.unit, u.UnrecognizedUnit):
        unit = parse_unit(column.unit)
        if unit is not None and not isinstance(unit, u.UnrecognizedUnit):
            return column.value * unit
    return column


def _flux_ratio(det, tru, det_rows, tru_rows):
    """Detected / true integrated flux for matched rows (NaN if unknown)."""
    nan = np.full(len(det_rows), np.nan)
    if 'f_sum' not in det.colnames or 'f_sum' not in tru.colnames:
        return nan
    fd, ft = _parsed_units(det['f_sum']), _parsed_units(tru['f_sum'])
    # A dimensionless f_sum (e.g. from a bare array) is taken to be in the
    # units of the other catalogue.
    with_units = [isinstance(f, u.Quantity) and f.unit != u.dimensionless_unscaled
                  for f in (fd, ft)]
    if all(with_units):
        if not fd.unit.is_equivalent(ft.unit):
            alt = _parsed_units(tru['f_sum_phys']) if 'f_sum_phys' in tru.colnames else None
            if isinstance(alt, u.Quantity) and fd.unit.is_equivalent(alt.unit):
                ft = alt
            else:
                warnings.warn(f'detected f_sum unit {fd.unit} cannot be '
                              f'compared with true f_sum unit {ft.unit}; '
                              'flux ratios are NaN', AstroMLFinderWarning, stacklevel=3)
                return nan
        fd = fd.to_value(ft.unit)
        ft = ft.value
    else:
        fd = fd.value if isinstance(fd, u.Quantity) else fd
        ft = ft.value if isinstance(ft, u.Quantity) else ft
    fd = np.asarray(fd, dtype=np.float64)[det_rows]
    ft = np.asarray(ft, dtype=np.float64)[tru_rows]
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(ft != 0, fd / ft, np.nan)


def _sky(table):
    if 'sky_centroid' in table.colnames:
        return SkyCoord(table['sky_centroid'])
    if 'ra' in table.colnames and 'dec' in table.colnames:
        ra, dec = table['ra'], table['dec']
        ra = ra if isinstance(ra, u.Quantity) else np.asarray(ra) * u.deg
        dec = dec if isinstance(dec, u.Quantity) else np.asarray(dec) * u.deg
        return SkyCoord(ra, dec)
    return None


def _spatial_distance(det, tru, spatial_tolerance, wcs):
    """Matrix of spatial separations divided by the tolerance, and the
    separations in pixels (NaN when only angles are known)."""
    is_angle = (isinstance(spatial_tolerance, u.Quantity)
                and spatial_tolerance.unit.physical_type == 'angle')
    if isinstance(spatial_tolerance, u.Quantity) and not is_angle:
        if spatial_tolerance.unit not in (u.pix, u.dimensionless_unscaled):
            raise ValueError('spatial_tolerance must be a number of pixels '
                             f'or an angle, got {spatial_tolerance}')
        spatial_tolerance = spatial_tolerance.value
    sep_pix = None
    if not is_angle or wcs is not None:
        _require(det, ['x', 'y'], 'detected')
        _require(tru, ['x', 'y'], 'truth')
        dx = _values(det, 'x')[:, None] - _values(tru, 'x')[None, :]
        dy = _values(det, 'y')[:, None] - _values(tru, 'y')[None, :]
        sep_pix = np.hypot(dx, dy)
    if not is_angle:
        tol = np.asarray(spatial_tolerance, dtype=np.float64)
        if tol.ndim == 1:
            # one tolerance per true source (e.g. the beam or the source size)
            if tol.size != len(tru):
                raise ValueError(f'spatial_tolerance has {tol.size} values for '
                                 f'{len(tru)} true sources; give one number or '
                                 'one per true source')
            tol = tol[None, :]
        elif tol.ndim:
            raise ValueError('spatial_tolerance must be a number or a 1D array '
                             'with one value per true source')
        if not np.all(tol > 0):
            raise ValueError(f'spatial_tolerance must be > 0, got '
                             f'{np.min(tol) if tol.size else tol}')
        return sep_pix / tol, sep_pix
    if spatial_tolerance <= 0 * u.deg:
        raise ValueError(f'spatial_tolerance must be > 0, got '
                         f'{spatial_tolerance}')
    if wcs is not None:
        scale = proj_plane_pixel_scales(wcs.celestial)
        pix = np.sqrt(scale[0] * scale[1]) * u.Unit(wcs.celestial.wcs.cunit[0]
                                                    or 'deg')
        tol = (spatial_tolerance / pix).decompose().value
        return sep_pix / tol, sep_pix
    sky_d, sky_t = _sky(det), _sky(tru)
    if sky_d is None or sky_t is None:
        raise ValueError('an angular spatial_tolerance needs a wcs, or '
                         'sky_centroid / ra, dec columns in both catalogues')
    sep = sky_d[:, None].separation(sky_t[None, :])
    return (sep / spatial_tolerance).decompose().value, None


def match_catalogs(detected, truth, *, spatial_tolerance=3.0,
                   spectral_tolerance=5.0, detected_segment=None,
                   truth_segment=None, min_iou=0.2, wcs=None):
    """
    Match detected sources one-to-one to true sources.

    Two methods are used:

    * **Overlap** (when both ``detected_segment`` and ``truth_segment`` are
      given): a pair is allowed when its voxel IoU is at least ``min_iou``
      (0.2, the HISF criterion), and the assignment maximises the total
      IoU.
    * **Distance** (otherwise): a pair is allowed when the normalised
      distance ``sqrt((d_xy / spatial_tolerance)**2 + (d_z /
      spectral_tolerance)**2)`` is at most 1, and the assignment minimises
      the total normalised distance.  For 2D catalogues (no ``z`` column
      in either) the spectral term is left out.

    In both cases the assignment is optimal (Hungarian algorithm,
    `scipy.optimize.linear_sum_assignment`).

    Parameters
    ----------
    detected, truth : `~astropy.table.Table` or ``SourceCatalog``
        Catalogues with columns ``id``, ``x``, ``y`` (and ``z`` for cubes),
        0-based pixel coordinates; ``f_sum`` gives flux ratios.  Quantity
        columns are used by value (pixels).
    spatial_tolerance : float, array or `~astropy.units.Quantity`, optional
        Spatial tolerance in pixels, or as an angle (converted with
        ``wcs``, or compared with the catalogues' sky coordinates).  A 1D
        array of pixel tolerances gives one per true source (for example
        the larger of the beam and the source's own size).
    spectral_tolerance : float, optional
        Spectral tolerance in channels.
    detected_segment, truth_segment : array_like of int, optional
        Label arrays whose labels are the catalogue ids.
    min_iou : float, optional
        Minimum IoU for a match by overlap.
    wcs : `~astropy.wcs.WCS`, optional
        WCS used to convert an angular ``spatial_tolerance`` to pixels.

    Returns
    -------
    result : `MatchResult`
    """
    det = as_table(detected, 'detected')
    tru = as_table(truth, 'truth')
    det_ids, tru_ids = _ids(det), _ids(tru)
    nd, nt = len(det), len(tru)

    overlap = None
    if detected_segment is not None and truth_segment is not None:
        overlap = segment_overlap(detected_segment, truth_segment)
    method = 'overlap' if overlap is not None else 'distance'

    iou_m = np.zeros((nd, nt))
    dice_m = np.zeros((nd, nt))
    if overlap is not None:
        d_index = {int(i): k for k, i in enumerate(det_ids)}
        t_index = {int(i): k for k, i in enumerate(tru_ids)}
        for row in overlap:
            k = d_index.get(int(row['det_id']))
            m = t_index.get(int(row['truth_id']))
            if k is not None and m is not None:
                iou_m[k, m] = row['iou']
                dice_m[k, m] = row['dice']

    sep_pix = dz = None
    if method == 'overlap':
        allowed = iou_m >= float(min_iou)
        allowed &= iou_m > 0
        cost = 1.0 - iou_m
    else:
        norm_xy, sep_pix = _spatial_distance(det, tru, spatial_tolerance, wcs)
        has_z = 'z' in det.colnames and 'z' in tru.colnames
        if has_z:
            tol_z = spectral_tolerance
            if isinstance(tol_z, u.Quantity):
                tol_z = tol_z.value
            tol_z = float(tol_z)
            if tol_z <= 0:
                raise ValueError(f'spectral_tolerance must be > 0, got '
                                 f'{tol_z}')
            dz = _values(det, 'z')[:, None] - _values(tru, 'z')[None, :]
            cost = np.hypot(norm_xy, dz / tol_z)
        else:
            cost = norm_xy
        cost = np.where(np.isfinite(cost), cost, np.inf)
        allowed = cost <= 1.0

    rows, cols = np.zeros(0, int), np.zeros(0, int)
    if nd and nt and allowed.any():
        work = np.where(allowed, cost, _FORBIDDEN)
        rows, cols = linear_sum_assignment(work)
        ok = allowed[rows, cols]
        rows, cols = rows[ok], cols[ok]
        order = np.argsort(tru_ids[cols], kind='stable')
        rows, cols = rows[order], cols[order]

    matches = QTable()
    matches['det_id'] = det_ids[rows]
    matches['truth_id'] = tru_ids[cols]
    matches['distance'] = cost[rows, cols] if len(rows) else np.zeros(0)
    if sep_pix is None and 'x' in det.colnames and 'x' in tru.colnames \
            and 'y' in det.colnames and 'y' in tru.colnames:
        sep_pix = np.hypot(
            _values(det, 'x')[:, None] - _values(tru, 'x')[None, :],
            _values(det, 'y')[:, None] - _values(tru, 'y')[None, :])
    matches['separation'] = (sep_pix[rows, cols] if sep_pix is not None
                             else np.full(len(rows), np.nan))
    if dz is None and 'z' in det.colnames and 'z' in tru.colnames:
        dz = _values(det, 'z')[:, None] - _values(tru, 'z')[None, :]
    matches['dz'] = dz[rows, cols] if dz is not None else np.full(len(rows),
                                                                  np.nan)
    if overlap is not None:
        matches['iou'] = iou_m[rows, cols]
        matches['dice'] = dice_m[rows, cols]
    else:
        matches['iou'] = np.full(len(rows), np.nan)
        matches['dice'] = np.full(len(rows), np.nan)
    matches['flux_ratio'] = _flux_ratio(det, tru, rows, cols)

    fp = np.setdiff1d(np.arange(nd), rows)
    fn = np.setdiff1d(np.arange(nt), cols)
    meta = {'spatial_tolerance': spatial_tolerance,
            'spectral_tolerance': spectral_tolerance,
            'min_iou': min_iou, 'det_rows': rows, 'truth_rows': cols,
            'fp_rows': fp, 'fn_rows': fn}
    return MatchResult(matches=matches, false_positives=det_ids[fp],
                       false_negatives=tru_ids[fn], n_detected=nd,
                       n_truth=nt, method=method, meta=meta)
