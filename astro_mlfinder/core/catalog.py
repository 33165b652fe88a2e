"""`SourceCatalog`: the one result type every finder returns.

Columns follow SoFiA-2's names and definitions (0-based pixel coordinates) and
are computed lazily from the data and the label image the first time any of
them is asked for; finder-specific columns (``rel``, ``score``, linker
statistics, model outputs) are passed in by the finder.
"""

import datetime
import functools
import warnings

import numpy as np
from astropy import units as u

from ..config import version
from ._catalog_world import WorldColumnsMixin
from .attribution import AttributionMixin, check_attribution
from .columns import (
    _CUBE_ONLY,
    _DEG,
    _FLUX,
    _FLUX_SUM,
    _IMAGE_ONLY,
    _INT,
    _LINKER_NAMES,
    _PARAM_NAMES,
    _PIX,
    _WIDTH,
    DECONVOLVED_COLUMNS,
    DEFAULT_COLUMNS_2D,
    DEFAULT_COLUMNS_3D,
    SOFIA_COLUMNS,
)
from .exceptions import AstroMLFinderWarning
from .inputs import ImageData
from .measure2d import IMAGE_COLUMNS

__all__ = ["SourceCatalog", "register_plotter"]

#: ``SourceCatalog.plot``'s functions by kind, registered by astro_mlfinder.visualization (core may not import it)
_PLOTTERS = {}


def register_plotter(kind, func):
    """Make ``func(catalog, kind, **kwargs)`` draw ``cat.plot(kind)`` (as the writers' registries)."""
    _PLOTTERS[str(kind)] = func


def _param_property(name, doc):
    def getter(self):
        return self._column(name)

    getter.__name__ = name
    getter.__doc__ = doc
    return property(getter)


class SourceCatalog(WorldColumnsMixin, AttributionMixin):
    """Catalogue of the sources in a label image or cube.

    Mirrors `photutils.segmentation.SourceCatalog`: columns are lazily
    computed properties, ``len(cat)``, indexing and iteration give per-source
    views, and `to_table` builds an `~astropy.table.QTable`.

    Parameters
    ----------
    image : `~astro_mlfinder.core.inputs.ImageData`
        The data the sources were measured on (original units).
    segment : `~numpy.ndarray` of int
        Label image/cube, 0 = background, labels = source ids.
    columns : dict, optional
        Finder-specific per-source columns ordered by id (``rel``, ``flag``,
        ``score``, linker ``fill``/``mean``/``std``/``skew``/``kurt``, model
        columns). Values may be Quantities.
    products : dict, optional
        Extra arrays produced by the finder (``mask_raw``, ``filtered``,
        ``noise``, ``probability``...), used by `write_products`; a
        deblender's ``attribution`` ``(n_src, *shape)`` gives ``cat.attribution``
        and ``cat.deblended_images`` (`astro_mlfinder.core.attribution`).
    meta : dict, optional
        Provenance; ``meta['finder']`` records the finder and its parameters.
    physical : bool, optional
        Report ``f_sum`` in Jy times the spectral unit and widths in spectral
        units (SoFiA-2's ``parameter.physical``; needs Jy/beam data with a beam).
    name_prefix : str, optional
        Prefix of the source names (SoFiA-2's ``parameter.prefix``).
    pixel_offset : tuple of int, optional
        ``(x0, y0, z0)`` added to the reported positions and bounding boxes
        (not to the ``_peak`` columns), as SoFiA-2's ``parameter.offset`` for a
        sub-cube read with ``input.region``.
    params : dict, optional
        The SoFiA parameters (`astro_mlfinder.core.measure.parameterise`'s
        columns) already measured, e.g. source by source on bounding boxes by
        a tiled run; a lazy ``image`` is then not read into memory.
    """

    def __init__(self, image, segment, *, columns=None, products=None, meta=None, physical=False,
                 name_prefix="SoFiA", pixel_offset=None, params=None):
        if not isinstance(image, ImageData):
            raise TypeError("image must be an ImageData (see astro_mlfinder.core.inputs.load_image)")
        segment = np.asarray(segment)
        if segment.shape != image.shape:
            raise ValueError(f"segment shape {segment.shape} does not match the data shape {image.shape}")
        if segment.dtype.kind not in "iu":
            raise ValueError(f"segment must be an integer label array, got dtype {segment.dtype}")
        # columns compute on data in memory: a lazy input is read here, unless the parameters come measured
        # (``params``: a tiled run measures every source on its bounding box and keeps the input lazy)
        self.image = image.loaded() if params is None else image
        self._segment = segment.astype(np.int32, copy=False)
        self.products = dict(products or {})
        self.meta = dict(meta or {})
        self.meta.setdefault("date", datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
        self.meta.setdefault("input", image.filename)
        self.physical = bool(physical)
        self.name_prefix = name_prefix
        self.pixel_offset = tuple(pixel_offset) if pixel_offset is not None else None
        # plane by plane: no cube-sized boolean temporary (peak memory on large cubes)
        planes = self._segment.reshape((-1,) + self._segment.shape[-2:])
        self._ids_all = np.unique(np.concatenate([np.unique(p[p > 0]) for p in planes] or [[]])).astype(np.int64)
        self._extra = {}
        for key, values in (columns or {}).items():
            if len(values) != len(self._ids_all):
                raise ValueError(
                    f"column {key!r} has {len(values)} values but the segment holds {len(self._ids_all)} sources"
                )
            self._extra[key] = values
        check_attribution(self.products, segment.shape, len(self._ids_all))  # cat.attribution (core/attribution.py)
        self._index = None  # None = all sources; else an index array into _ids_all
        self._cache = {} if params is None else {"params": dict(params)}

    # ------------------------------------------------------------------ basics
    @property
    def segment(self):
        """Label array (2D or 3D), 0 = background, labels = ``id``."""
        return self._segment

    @property
    def segment_img(self):
        """`photutils.segmentation.SegmentationImage` of a 2D label image."""
        if self._segment.ndim != 2:
            raise ValueError("segment_img is defined for 2D images only; use cat.segment for cubes")
        from photutils.segmentation import SegmentationImage

        return SegmentationImage(self._segment)

    def to_photutils(self, **kwargs):
        """`photutils.segmentation.SourceCatalog` of a 2D image on the same labels.

        Every photutils property (``segment_flux``, ``kron_flux``,
        ``fwhm``, ...) is then one call away. The data are the measured image,
        its NaN pixels masked, with the image's WCS; a sliced catalogue gives
        the photutils catalogue of the same sources.

        Parameters
        ----------
        **kwargs
            Passed to `photutils.segmentation.SourceCatalog` (``error``,
            ``background``, ``convolved_data``, ``kron_params`` ...).
        """
        if self._segment.ndim != 2:
            raise ValueError("to_photutils is defined for 2D images only; use cat.to_table() for cubes")
        from photutils.segmentation import SourceCatalog as PhotutilsCatalog

        data = self.image.data
        mask = ~np.isfinite(data)
        kwargs.setdefault("wcs", self.image.wcs)
        kwargs.setdefault("mask", mask if mask.any() else None)
        catalog = PhotutilsCatalog(np.where(mask, 0.0, data), self.segment_img, **kwargs)
        if self._index is None:
            return catalog
        labels = np.asarray(self._select(self._ids_all))
        return catalog.select_labels(labels) if not self.isscalar else catalog.select_label(int(labels))

    @property
    def ndim(self):
        """Dimensionality of the searched data."""
        return self._segment.ndim

    @property
    def nlabels(self):
        """Number of sources in this (possibly sliced) catalogue."""
        return len(self)

    @property
    def isscalar(self):
        """True for a single-source view (``cat[i]``)."""
        return self._index is not None and np.ndim(self._index) == 0

    def __len__(self):
        if self.isscalar:
            raise TypeError("a single-source catalogue has no len()")
        return len(self._ids_all) if self._index is None else len(self._index)

    def __getitem__(self, index):
        new = object.__new__(SourceCatalog)
        new.__dict__.update(self.__dict__)
        base = np.arange(len(self._ids_all)) if self._index is None else np.atleast_1d(self._index)
        if self.isscalar:
            raise TypeError("a single-source catalogue cannot be indexed")
        new._index = base[index]
        return new

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        n = 1 if self.isscalar else len(self)
        return f"<SourceCatalog: {n} source(s) in a {self.ndim}D {'x'.join(map(str, self.image.shape))} array>"

    def _select(self, values):
        if self._index is None:
            return values
        return values[self._index]

    # ------------------------------------------------------ lazy measurements
    @functools.cached_property
    def _params(self):
        if "params" in self._cache:
            return self._cache["params"]
        n = len(self._ids_all)
        if n == 0:
            params = {name: np.zeros(0) for name in _PARAM_NAMES}
        else:
            from .measure import parameterise

            params = parameterise(
                self.image.data,
                self._segment,
                physical=self._physical_ok,
                spectral_cdelt=self.image.spectral_cdelt,
                beam_area=self.image.beam_area,
            )
        self._cache["params"] = params
        return params

    @functools.cached_property
    def _physical_ok(self):
        if not self.physical:
            return False
        ok = (
            self.image.unit == u.Jy / u.beam
            and self.image.beam is not None
            and self.image.has_spectral
        )
        if not ok and self.ndim == 3:
            warnings.warn(
                "physical=True needs Jy/beam data with a beam and a spectral WCS; reporting fluxes in "
                "data units and widths in channels",
                AstroMLFinderWarning,
                stacklevel=3,
            )
        return ok

    def _unit_of(self, name):
        if name in _PIX:
            return u.pix
        if name in _DEG:
            return u.deg
        if name in _FLUX:
            return self.image.unit
        if name in _FLUX_SUM:
            if self._physical_ok:
                return u.Jy * self.image.spectral_unit
            return self.image.unit
        if name in _WIDTH:
            if self._physical_ok:
                return self.image.spectral_unit
            return u.pix
        return None

    def _column(self, name):
        if name in self._extra:
            values = self._extra[name]
        elif name == "id":
            values = self._ids_all
        elif name in _PARAM_NAMES:
            values = np.asarray(self._params[name])
        elif name == "snr":
            values = self._snr_all
        elif name == "rel":
            values = np.zeros(len(self._ids_all))
        elif name == "flag":
            values = self._flags_all
        elif name in _LINKER_NAMES:
            values = self._linker_stats_all[name]
        elif name in _IMAGE_ONLY and self.ndim == 2:
            values = self._image_columns_all[name]
        elif name == "name":
            values = self._names_all
        else:
            raise AttributeError(f"SourceCatalog has no column {name!r}")
        if self.pixel_offset is not None and name[0] in "xyz" and name[1:] in ("", "_min", "_max"):
            values = np.asarray(values) + self.pixel_offset["xyz".index(name[0])]
        if name in _INT and not isinstance(values, u.Quantity):
            values = np.asarray(values).astype(np.int64)
        if not isinstance(values, u.Quantity):
            unit = self._unit_of(name)
            if unit is not None:
                values = np.asarray(values, dtype=float if name not in _INT else np.int64) * unit
        return self._select(values)

    @functools.cached_property
    def _snr_all(self):
        """Integrated SNR: f_sum / (rms * sqrt(n_pix * beam_area)), as SoFiA-2's minSNR."""
        params = self._params
        n_pix = np.asarray(params["n_pix"], dtype=float)
        f_sum = np.asarray(params["f_sum"], dtype=float)
        if self._physical_ok:  # undo the physical scaling to compare with the rms in data units
            f_sum = f_sum * self.image.beam_area / abs(self.image.spectral_cdelt)
        rms = np.asarray(params["rms"], dtype=float).copy()
        bad = ~np.isfinite(rms) | (rms <= 0)
        if bad.any():
            from .stats import measure_noise

            rms[bad] = measure_noise(self.image.data)
        with np.errstate(invalid="ignore", divide="ignore"):
            return f_sum / (rms * np.sqrt(n_pix * self.image.beam_area))

    @functools.cached_property
    def _image_columns_all(self):
        """Continuum columns of a 2D image (`astro_mlfinder.core.measure2d.image_columns`)."""
        from .measure2d import image_columns
        from .stats import measure_noise

        return image_columns(self, self._params, measure_noise(self.image.data))

    @functools.cached_property
    def _flags_all(self):
        """SoFiA flags: 1 spatial edge, 2 spectral edge, 4 blank (NaN) neighbour."""
        params = self._params
        shape = self.image.shape
        flags = np.zeros(len(self._ids_all), dtype=np.int64)
        if not len(flags):
            return flags
        spatial = (
            (np.asarray(params["x_min"]) == 0)
            | (np.asarray(params["x_max"]) == shape[-1] - 1)
            | (np.asarray(params["y_min"]) == 0)
            | (np.asarray(params["y_max"]) == shape[-2] - 1)
        )
        flags[spatial] |= 1
        if self.ndim == 3:
            spectral = (np.asarray(params["z_min"]) == 0) | (np.asarray(params["z_max"]) == shape[0] - 1)
            flags[spectral] |= 2
        blank = ~np.isfinite(self.image.data)
        if blank.any():
            from scipy import ndimage

            near_blank = ndimage.binary_dilation(blank)
            touched = np.unique(self._segment[near_blank & (self._segment > 0)])
            flags[np.isin(self._ids_all, touched)] |= 4
        return flags

    @functools.cached_property
    def _linker_stats_all(self):
        """fill, mean, std, skew, kurt of the voxel values, in units of the global noise."""
        from scipy import ndimage

        from .stats import global_rms

        ids = self._ids_all
        data = self.image.data
        labels = self._segment
        sel = labels > 0
        values = data[sel].astype(np.float64) / global_rms(data)
        lab = labels[sel]
        index = np.searchsorted(ids, lab)
        n = np.bincount(index, minlength=len(ids)).astype(float)
        mean = np.bincount(index, values, len(ids)) / n
        d = values - mean[index]
        m2 = np.bincount(index, d**2, len(ids))
        m3 = np.bincount(index, d**3, len(ids))
        m4 = np.bincount(index, d**4, len(ids))
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(m2 / (n - 1))
            var_pop = m2 / n
            skew = (m3 / n) / var_pop**1.5
            kurt = (m4 / n) / var_pop**2 - 3.0
        slices = ndimage.find_objects(labels)
        volume = np.array([np.prod([s.stop - s.start for s in slices[i - 1]]) for i in ids], dtype=float)
        return {"fill": n / volume, "mean": mean, "std": std, "skew": skew, "kurt": kurt}

    # ---------------------------------------------------------------- columns
    id = _param_property("id", "Source id (the label in `segment`).")
    x = _param_property("x", "Flux-weighted x centroid over the positive pixels (pix).")
    y = _param_property("y", "Flux-weighted y centroid over the positive pixels (pix).")
    z = _param_property("z", "Flux-weighted spectral centroid (channels).")
    x_min = _param_property("x_min", "Bounding box, inclusive.")
    x_max = _param_property("x_max", "Bounding box, inclusive.")
    y_min = _param_property("y_min", "Bounding box, inclusive.")
    y_max = _param_property("y_max", "Bounding box, inclusive.")
    z_min = _param_property("z_min", "Bounding box, inclusive.")
    z_max = _param_property("z_max", "Bounding box, inclusive.")
    n_pix = _param_property("n_pix", "Number of pixels/voxels in the source mask.")
    f_min = _param_property("f_min", "Minimum pixel value in the mask.")
    f_max = _param_property("f_max", "Maximum pixel value in the mask.")
    f_sum = _param_property("f_sum", "Sum of the mask pixels (Jy times spectral unit when physical).")
    rms = _param_property("rms", "Local noise: 1.4826 MAD about 0 of non-source pixels in the bounding box.")
    snr = _param_property("snr", "Integrated SNR f_sum / (rms sqrt(n_pix * beam area in pixels)).")
    w20 = _param_property("w20", "Line width at 20% of the peak of the integrated spectrum.")
    w50 = _param_property("w50", "Line width at 50% of the peak of the integrated spectrum.")
    wm50 = _param_property("wm50", "Courtois et al. (2009) width at 50% of the mean flux.")
    ell_maj = _param_property("ell_maj", "Major axis of the moment-based ellipse (pix).")
    ell_min = _param_property("ell_min", "Minor axis of the moment-based ellipse (pix).")
    ell_pa = _param_property("ell_pa", "Ellipse position angle, 0 = +y, towards -x (deg).")
    ell3s_maj = _param_property("ell3s_maj", "Major axis of the ellipse of pixels above 3 sigma (pix).")
    ell3s_min = _param_property("ell3s_min", "Minor axis of the ellipse of pixels above 3 sigma (pix).")
    ell3s_pa = _param_property("ell3s_pa", "Position angle of the 3-sigma ellipse (deg).")
    kin_pa = _param_property("kin_pa", "Kinematic position angle (deg), -1 when undefined.")
    err_x = _param_property("err_x", "Statistical uncertainty of x (pix).")
    err_y = _param_property("err_y", "Statistical uncertainty of y (pix).")
    err_z = _param_property("err_z", "Statistical uncertainty of z (pix).")
    err_f_sum = _param_property("err_f_sum", "Statistical uncertainty of f_sum.")
    x_peak = _param_property("x_peak", "x of the maximum of the moment-0 map (pix).")
    y_peak = _param_property("y_peak", "y of the maximum of the moment-0 map (pix).")
    z_peak = _param_property("z_peak", "Channel of the maximum of the integrated spectrum.")
    rel = _param_property("rel", "Reliability (0 when not measured).")
    flag = _param_property("flag", "Flags: 1 spatial edge, 2 spectral edge, 4 blank neighbour, 8 other source.")
    fill = _param_property("fill", "n_pix over the bounding-box volume.")
    mean = _param_property("mean", "Mean pixel value in units of the global noise.")
    std = _param_property("std", "Standard deviation of the pixel values in units of the global noise.")
    skew = _param_property("skew", "Skewness of the pixel values.")
    kurt = _param_property("kurt", "Excess kurtosis of the pixel values.")
    name = _param_property("name", "SoFiA-style source name.")
    peak_flux = _param_property("peak_flux", "2D: peak flux density, f_max (data unit, Jy/beam).")
    err_peak_flux = _param_property("err_peak_flux", "2D: uncertainty of peak_flux, the noise rms.")
    int_flux = _param_property(
        "int_flux", "2D: integrated flux density, sum / beam area in pixels at the source (Jy for Jy/beam data)."
    )
    err_int_flux = _param_property("err_int_flux", "2D: uncertainty of int_flux, rms sqrt(n_pix / beam area).")
    size_maj = _param_property("size_maj", "2D: FWHM major axis from the moments (arcsec; pix without a WCS).")
    size_min = _param_property("size_min", "2D: FWHM minor axis from the moments (arcsec; pix without a WCS).")
    size_pa = _param_property("size_pa", "2D: position angle of size_maj, east of north (deg).")
    deconv_maj = _param_property("deconv_maj", "2D: size_maj with the beam removed (arcsec), 0 if unresolved.")
    deconv_min = _param_property("deconv_min", "2D: size_min with the beam removed (arcsec), 0 if unresolved.")
    deconv_pa = _param_property("deconv_pa", "2D: position angle of the deconvolved ellipse (deg east of north).")

    @property
    def column_names(self):
        """Names of the columns available for `to_table`."""
        params = [n for n in _PARAM_NAMES if self.ndim == 3 or n not in _CUBE_ONLY]
        names = ["name", "id", *params, "snr", "rel", "flag", *_LINKER_NAMES]
        if self.ndim == 2:
            names += list(IMAGE_COLUMNS)
        names += [k for k in self._extra if k not in names]
        if self._world_all:
            names += ["sky_centroid", *self._world_all]
        return list(dict.fromkeys(names))

    def _default_columns(self):
        base = list(DEFAULT_COLUMNS_3D if self.ndim == 3 else DEFAULT_COLUMNS_2D)
        if self.ndim == 2 and self.image.beam and self.image.has_celestial:
            base += DECONVOLVED_COLUMNS
        base += [k for k in self._extra if k not in base and k not in _LINKER_NAMES]
        if self._world_all:
            base.append("sky_centroid")
            if self._spectral_name:
                base.append(self._spectral_name)
        return base

    def _sofia_columns(self):
        cols = []
        for name in SOFIA_COLUMNS:
            if self.ndim == 2 and name in _CUBE_ONLY:
                continue
            if name in ("ra", "dec", "freq", "ra_peak", "dec_peak", "freq_peak"):
                if not self._world_all:
                    continue
                lon, lat = self._celestial_names
                spec = self._spectral_name
                suffix = "_peak" if name.endswith("_peak") else ""
                base = name.removesuffix("_peak")
                mapped = {"ra": lon, "dec": lat, "freq": spec}[base]
                if mapped is None:
                    continue
                cols.append(mapped + suffix)
            else:
                cols.append(name)
        return cols

    def to_table(self, columns=None):
        """Return the catalogue as an `~astropy.table.QTable`.

        Parameters
        ----------
        columns : str, list of str or None
            ``None`` gives the default columns, ``'sofia'`` every SoFiA-2
            column in SoFiA order, ``'all'`` everything available.

        Returns
        -------
        table : `~astropy.table.QTable`
        """
        if columns is None:
            names = self._default_columns()
        elif isinstance(columns, str) and columns == "sofia":
            names = self._sofia_columns()
        elif isinstance(columns, str) and columns == "all":
            names = self.column_names
        else:
            names = [columns] if isinstance(columns, str) else list(columns)
            unknown = [n for n in names if n not in self.column_names]
            if unknown:
                raise ValueError(f"unknown column(s) {unknown}; available: {self.column_names}")
        index = np.atleast_1d(self._index) if self._index is not None else None
        view = self if not self.isscalar else self._as_list_view(index)
        from astropy.table import QTable  # imported on first use: it is slow to import

        table = QTable(meta=self._table_meta())
        for name in names:
            if name == "sky_centroid":
                value = view.sky_centroid
            elif name in self._world_all and name not in self._extra:
                value = view._select(self._world_all[name])
            else:
                value = view._column(name)
            table[name] = value
        return table

    def _as_list_view(self, index):
        new = object.__new__(SourceCatalog)
        new.__dict__.update(self.__dict__)
        new._index = index
        return new

    def _table_meta(self):
        meta = {"version": f"astro_mlfinder {version}", "date": self.meta.get("date")}
        if "finder" in self.meta:
            meta["finder"] = self.meta["finder"]
        if self.image.filename:
            meta["input"] = self.image.filename
        return meta

    # ------------------------------------------------------------- regions
    def to_regions(self, kind="ellipse", sky=True, frame=None):
        """Return the sources as a `regions.Regions` list.

        Parameters
        ----------
        kind : {'ellipse', 'point', 'box'}
            Shape of each region: the moment ellipse, the centroid, or the
            bounding box.
        sky : bool
            Sky regions (needs a celestial WCS) or pixel regions.
        frame : str or `~astropy.coordinates.BaseCoordinateFrame`, optional
            Celestial frame of the sky regions: ``'icrs'``, ``'fk5'`` (J2000),
            ``'fk4'`` (B1950), ``'galactic'`` or an astropy frame; positions
            are transformed and position angles rotated into it (see
            `astro_mlfinder.core.regions.transform_regions`). Default: the
            frame of the data's WCS. Write files with `write` (formats
            ``ds9``/``crtf``), which states the frame in the file.

        Returns
        -------
        regions : `regions.Regions`
            Each region carries ``meta['label']`` and ``meta['text']`` (the
            id, and for cubes the spectral range), and for cubes
            ``meta['range']`` (CRTF ``range=[lo, hi]``).
        """
        from .regions import catalog_to_regions

        return catalog_to_regions(self, kind=kind, sky=sky, frame=frame)

    def plot(self, kind="overview", **kwargs):
        """Draw the catalogue with matplotlib: ``'overview'``, ``'spectra'`` or ``'pv'``.

        The moment-0 map (a 2D catalogue's image) with the source ellipses on
        WCS axes, spectra in Jy against km/s, position-velocity slices; see
        `astro_mlfinder.visualization.plot_catalog` for ``kind`` and ``kwargs``.
        """
        if kind not in _PLOTTERS:
            if not _PLOTTERS:
                raise ImportError("cat.plot draws with astro_mlfinder.visualization: import it first, and install "
                                  "matplotlib: pip install 'astro_mlfinder[plot]'")
            raise ValueError(f"unknown plot kind {kind!r}; choose one of {', '.join(_PLOTTERS)}")
        return _PLOTTERS[kind](self, kind, **kwargs)

    # ------------------------------------------------------------- writing
    def write(self, path, format=None, overwrite=False, **kwargs):
        """Write the catalogue or its regions.

        The writer of each format is registered in
        `astro_mlfinder.core.registry.catalog_writers` (by `astro_mlfinder.io`).

        Parameters
        ----------
        path : str or path-like
        format : {'ecsv', 'fits', 'votable', 'sofia-ascii', 'sofia-xml', 'ds9', 'crtf'}, optional
            Guessed from the extension when omitted (.ecsv, .fits, .xml/.vot,
            .txt, .reg, .crtf).
        overwrite : bool
            Replace an existing file (default False).
        **kwargs
            Passed to the writer: ``columns`` for ecsv/fits/votable, the region
            converter's ``kind`` and ``sky`` for ds9/crtf.
        """
        from .registry import write_catalog

        return write_catalog(self, path, format=format, overwrite=overwrite, **kwargs)

    def write_products(self, outdir, prefix=None, *, overwrite=False, **switches):
        """Write the SoFiA-style product set (catalogues, masks, moment maps, regions).

        See `astro_mlfinder.io.products.write_products` for the switches
        (the ``'sofia'`` writer of `astro_mlfinder.core.registry.product_writers`).
        Returns the list of written paths.
        """
        from .registry import write_products

        if prefix is None:
            from pathlib import Path

            prefix = Path(self.image.filename).name.split(".")[0] if self.image.filename else "astro_mlfinder"
        return write_products(self, outdir, prefix, overwrite=overwrite, **switches)
