"""SoFiA-style output products: catalogues, masks, moment maps, cubelets and regions.

`write_products` writes the product set SoFiA-2 2.5.1 writes (same file
names, data types, BUNIT values and moment-map definitions) for any
`~astro_mlfinder.SourceCatalog`, and is the ``'sofia'`` product writer of
`SourceCatalog.write_products <astro_mlfinder.SourceCatalog.write_products>`
(registered in `astro_mlfinder.core.registry.product_writers`).  The pieces
live in their own modules: the moment maps and the 2-D mask in
`astro_mlfinder.io.moments` (SoFiA's arithmetic, bit for bit), the cubelets
and their spectra in `astro_mlfinder.io.cubelets`, the FITS headers in
``astro_mlfinder.io.fits_headers``, the catalogue files in
`astro_mlfinder.io.sofia_catalog` and the region files in
`astro_mlfinder.io.regions`.

By default the set is what SoFiA-image-pipeline (``sofia_image_pipeline``,
the figure maker for SoFiA products) reads: the catalogues, the moment maps
and, per source, the cubelets with their moment maps, SNR map and spectrum.

Differences from SoFiA: cubelets are written by default; mask voxels whose data are NaN are ignored (SoFiA's
masks never hold such voxels); spectral coordinates and units are those of
the astropy WCS (SI, e.g. m/s for a km/s cube, where SoFiA labels the values
with the header's CUNIT3); no PV diagrams are written, and the reliability
plots are PNG files where SoFiA writes EPS.
"""

import os
import warnings
from pathlib import Path

import numpy as np

from ..core.exceptions import AstroMLFinderWarning
from ..core.registry import _input_files, check_not_input, register_product_writer
from .atomic import atomic_path, check_writable, write_text
from .cubelets import _CUBELET_SUFFIXES, _write_cubelets
from .fits_headers import (
    _bunit,
    _filtered_header,
    _history_lines,
    _make_header,
    _origin,
    _param_flag,
    _product_header,
    _resolve_params,
    _write_fits,
)
from .moments import mask_2d as _project_mask  # write_products has a mask_2d switch
from .moments import moment_maps
from .regions import REGION_FORMATS, serialize_regions
from .sofia_catalog import (
    sofia_unit_string,
    write_karma,
    write_sofia_ascii,
    write_sofia_sql,
    write_sofia_xml,
)

__all__ = ["write_products", "product_paths", "check_prefix"]


def check_prefix(prefix):
    """Refuse a product prefix that is not a plain file name.

    Products stay inside the output directory: a prefix holding a path
    separator or ``..`` (an absolute path, ``../x``, ``a/b``) is refused; an
    empty prefix is allowed (the files are then ``_cat.txt``, ... inside the
    directory).

    Raises
    ------
    ValueError
        Naming the prefix and how to put the products elsewhere.
    """
    text = str(prefix)
    separators = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if any(sep in text for sep in separators) or ".." in text or "\0" in text:
        raise ValueError(
            f"product prefix {text!r} is not a plain file name (it holds a path separator or '..'); "
            "give the directory as the output directory (--output-dir, output.directory) and a name "
            "without '/' or '..' as the prefix (--prefix, output.filename)"
        )
    return text


def product_paths(
    outdir,
    prefix,
    *,
    cat_ascii=True,
    cat_xml=True,
    cat_sql=False,
    karma=False,
    mask=True,
    mask_2d=False,
    raw_mask=False,
    moments=True,
    cubelets=True,
    noise=False,
    filtered=False,
    regions=("ds9",),
    source_ids=(),
    ndim=3,
    noise_spectrum=False,
    deblended=False,
):
    """Return ``{product: path}`` of every file `write_products` would write.

    Cubelet files are keyed ``'cubelet <id> <suffix>'``; their directory is
    ``'cubelets'`` (present even before the source ids are known, so a
    directory left by an earlier run is refused before a search when
    ``overwrite`` is False).
    """
    outdir = Path(outdir)
    prefix = check_prefix(prefix)
    paths = {}

    def add(key, suffix, flag):
        if flag:
            paths[key] = outdir / f"{prefix}{suffix}"  # inside outdir, even for an empty prefix

    add("cat_ascii", "_cat.txt", cat_ascii)
    add("cat_xml", "_cat.xml", cat_xml)
    add("cat_sql", "_cat.sql", cat_sql)
    add("karma", "_cat.ann", karma)
    add("noise", "_noise.txt" if noise_spectrum else "_noise.fits", noise)
    add("filtered", "_filtered.fits", filtered)
    add("mask", "_mask.fits", mask)
    add("mask_2d", "_mask-2d.fits", mask_2d and ndim == 3)
    add("raw_mask", "_mask-raw.fits", raw_mask)
    add("deblended", "_deblended.fits", deblended)
    add("mom0", "_mom0.fits", moments)
    for name in ("mom1", "mom2", "chan"):
        add(name, f"_{name}.fits", moments and ndim == 3)
    if cubelets and ndim == 3:
        directory = paths["cubelets"] = outdir / f"{prefix}_cubelets"
        for sid in source_ids:
            for suffix in _CUBELET_SUFFIXES:
                paths[f"cubelet {sid} {suffix}"] = directory / f"{prefix}_{sid}_{suffix}.fits"
            paths[f"cubelet {sid} spec"] = directory / f"{prefix}_{sid}_spec.txt"
    for fmt in regions or ():
        if fmt not in REGION_FORMATS:
            raise ValueError(f"unknown region format {fmt!r}; choose from {tuple(REGION_FORMATS)}")
        paths[f"regions {fmt}"] = outdir / f"{prefix}{REGION_FORMATS[fmt]}"
    return paths


def _product(catalog, name, switch):
    products = getattr(catalog, "products", None) or {}
    value = products.get(name)
    if value is None:
        raise ValueError(
            f"{switch}=True needs the catalogue product {name!r}, which the finder did not "
            f"produce (available: {sorted(products) or 'none'})"
        )
    return np.asarray(value)


def _deblended_switch(catalog, deblended):
    """``deblended`` resolved: None means "when the catalogue has an attribution"; True needs one."""
    has = getattr(catalog, "attribution", None) is not None
    if deblended is None:
        return has
    if deblended and not has:
        raise ValueError(
            "deblended=True needs a catalogue whose finder attributes flux (catalog.attribution, e.g. "
            "NeuralFinder('pais')); this finder assigns every pixel to one source: use mask=True instead"
        )
    return bool(deblended)


def _write_deblended(catalog, path, bunit, history, overwrite):
    """``_deblended.fits``: the sources' deblended images, (n_src, y, x), with plane ``n``'s id in ``IDn``."""
    images = np.asarray(catalog.deblended_images, dtype=np.float32)
    if images.ndim == 2:  # one source, cat[i]
        images = images[np.newaxis]
    header = _make_header(catalog.image, 2, bunit=bunit, beam=True, history=history)
    if "WCSAXES" in header:
        header["WCSAXES"] = 3
    header["CTYPE3"] = ("SOURCE", "plane n (1-based) holds source IDn")
    header["CRPIX3"], header["CRVAL3"], header["CDELT3"] = 1.0, 1.0, 1.0
    ids = np.atleast_1d(np.asarray(getattr(catalog.id, "value", catalog.id), dtype=np.int64))
    for plane, sid in enumerate(ids, start=1):
        header[f"ID{plane}"] = (int(sid), f"source id of plane {plane}")
    return _write_fits(path, images, header, overwrite)


@register_product_writer("sofia")
def write_products(
    catalog,
    outdir,
    prefix,
    *,
    overwrite=False,
    cat_ascii=True,
    cat_xml=True,
    cat_sql=False,
    karma=False,
    mask=True,
    mask_2d=False,
    raw_mask=False,
    moments=True,
    cubelets=True,
    margin_cubelets=10,
    threshold_mom12=0.0,
    noise=False,
    filtered=False,
    regions=("ds9",),
    params=None,
    reliability_plot=False,
    deblended=None,
):
    """Write the SoFiA-style product set of a catalogue.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        The result of a finder.
    outdir : str or path-like
        Output directory (created if needed).
    prefix : str
        Base name of the files (SoFiA's ``output.filename``): a plain file
        name, so that every product stays inside ``outdir`` (see
        `check_prefix`); an empty prefix writes ``_cat.txt``, ... inside it.
    overwrite : bool, optional
        Replace existing files.  When False, *all* target paths are checked
        first and a `FileExistsError` naming the first existing one is
        raised before anything is written. The file the data were read from
        is never written, whatever ``overwrite`` says.
    cat_ascii, cat_xml, cat_sql, karma : bool, optional
        ``_cat.txt``, ``_cat.xml`` (VOTable), ``_cat.sql``, ``_cat.ann``.
    mask, mask_2d, raw_mask : bool, optional
        ``_mask.fits`` (int32 ids), ``_mask-2d.fits`` (int32),
        ``_mask-raw.fits`` (uint8; needs ``catalog.products['mask_raw']``).
    moments : bool, optional
        ``_mom0.fits``, ``_mom1.fits``, ``_mom2.fits``, ``_chan.fits``
        (images: ``_mom0.fits`` only).
    cubelets : bool, optional
        ``<prefix>_cubelets/<prefix>_<id>_{cube,mask,mom0,mom1,mom2,chan,snr}.fits``
        and ``_spec.txt`` per source (cubes only). On by default (SoFiA-2's
        ``output.writeCubelets`` is off by default): with the catalogues and
        these, SoFiA-image-pipeline makes its figures of every source
        (``sofia_image_pipeline -c <prefix>_cat.xml -s none``).
    margin_cubelets : int, optional
        Margin of the cubelets in pixels and channels.
    threshold_mom12 : float, optional
        Flux threshold of the cubelet moments 1 and 2 in units of the
        source's local rms.
    noise, filtered : bool, optional
        ``_noise.fits`` (or ``_noise.txt`` for a noise spectrum) and
        ``_filtered.fits`` from ``catalog.products['noise']`` and
        ``['filtered']``.
    regions : sequence of {'ds9', 'crtf'}, optional
        Region files ``<prefix>.reg`` / ``<prefix>.crtf`` from
        ``catalog.to_regions()``.
    deblended : bool or None, optional
        ``_deblended.fits``: the deblended image of every source
        (``catalog.deblended_images``, float32, one plane per source in
        catalogue order; keyword ``IDn`` gives the source id of plane ``n``)
        with the image's celestial WCS. None (the default) writes it when
        the finder attributes flux (``catalog.attribution``, e.g.
        ``NeuralFinder("pais")``); True without an attribution is an error.
    reliability_plot : bool, optional
        ``_rel.png`` (parameter space of the reliability KDE) and
        ``_skellam.png`` when the finder measured reliability, drawn by the
        ``plot()`` method of ``catalog.meta['reliability']`` (a
        `~astro_mlfinder.classical.reliability.ReliabilityResult`; needs
        matplotlib); SoFiA-2 writes the same plots as EPS.
    params : `~astro_mlfinder.sofia.SofiaParameters` or mapping, optional
        Control parameters for the FITS HISTORY block and the VOTable PARAMs;
        default ``catalog.meta['sofia_params']`` or the finder parameters in
        ``catalog.meta['finder']``.

    Returns
    -------
    paths : list of `~pathlib.Path`
        The files written, in writing order.

    Raises
    ------
    FileExistsError
        If a target exists and ``overwrite`` is False (nothing is written).
    ValueError
        If a requested product is unavailable (e.g. ``raw_mask`` without
        ``catalog.products['mask_raw']``), if ``prefix`` is not a plain file
        name, or if a target is the input file (nothing is written).
    """
    image = catalog.image
    data = np.asarray(image.data)
    segment = np.asarray(catalog.segment)
    ndim = data.ndim
    outdir = Path(outdir)
    params = _resolve_params(catalog, params)
    history = _history_lines(params)
    use_wcs = _param_flag(params, "parameter.wcs", True)
    wcs = image.wcs if (use_wcs and image.has_spectral) else None

    noise_data = _product(catalog, "noise", "noise") if noise else None
    filtered_data = _product(catalog, "filtered", "filtered") if filtered else None
    raw_data = _product(catalog, "mask_raw", "raw_mask") if raw_mask else None
    deblended = _deblended_switch(catalog, deblended)
    if regions and "crtf" in regions and not image.has_celestial:
        warnings.warn("no CRTF region file: CRTF needs sky coordinates and the data have no celestial WCS",
                      AstroMLFinderWarning, stacklevel=2)
        regions = tuple(r for r in regions if r != "crtf")
    need_table = cat_ascii or cat_xml or cat_sql or karma or (cubelets and ndim == 3)
    table = catalog.to_table(columns="sofia") if need_table else None
    source_ids = (
        [int(v) for v in np.asarray(getattr(table["id"], "value", table["id"]))]
        if (cubelets and ndim == 3)
        else []
    )
    paths = product_paths(
        outdir,
        prefix,
        cat_ascii=cat_ascii,
        cat_xml=cat_xml,
        cat_sql=cat_sql,
        karma=karma,
        mask=mask,
        mask_2d=mask_2d,
        raw_mask=raw_mask,
        moments=moments,
        cubelets=cubelets,
        noise=noise,
        filtered=filtered,
        regions=regions,
        source_ids=source_ids,
        ndim=ndim,
        noise_spectrum=noise_data is not None and noise_data.ndim == 1,
        deblended=deblended,
    )
    rel_result = catalog.meta.get("reliability") if reliability_plot else None
    if rel_result is not None and not callable(getattr(rel_result, "plot", None)):
        raise ValueError(
            "reliability_plot=True needs catalog.meta['reliability'] with a plot() method (a "
            f"ReliabilityResult), got {type(rel_result).__name__}"
        )
    if rel_result is not None:
        paths["reliability_plot"] = outdir / f"{prefix}_rel.png"
        paths["skellam_plot"] = outdir / f"{prefix}_skellam.png"
    check_not_input(paths.values(), *_input_files(catalog))
    check_writable(paths.values(), overwrite=overwrite)
    region_objects = {}
    for key in paths:
        if key.startswith("regions "):
            region_objects[key] = catalog.to_regions(sky=image.has_celestial)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    bunit = _bunit(image)
    creator = _origin()

    if "cat_ascii" in paths:
        written.append(
            write_sofia_ascii(table, paths["cat_ascii"], creator=creator, overwrite=overwrite)
        )
    if "cat_xml" in paths:
        written.append(
            write_sofia_xml(
                table, paths["cat_xml"], params=params, creator=creator, overwrite=overwrite
            )
        )
    if "cat_sql" in paths:
        written.append(
            write_sofia_sql(table, paths["cat_sql"], creator=creator, overwrite=overwrite)
        )
    if "karma" in paths:
        written.append(write_karma(table, paths["karma"], creator=creator, overwrite=overwrite))
    if "noise" in paths:
        if noise_data.ndim == 1:
            text = f"# Measured noise spectrum\n# Creator: {creator}\n#\n# Channel\tNoise\n"
            text += "".join(f"{i}\t{v:.15f}\n" for i, v in enumerate(noise_data))
            written.append(write_text(paths["noise"], text, overwrite))
        else:
            header = _make_header(image, ndim, bunit=bunit, beam=True, history=history)
            written.append(
                _write_fits(paths["noise"], np.asarray(noise_data, dtype=np.float32), header, overwrite)
            )
    if "filtered" in paths:
        header = _filtered_header(image, history)
        written.append(
            _write_fits(paths["filtered"], np.asarray(filtered_data, dtype=np.float32), header, overwrite)
        )
    if "raw_mask" in paths:
        header = _make_header(image, ndim, bunit=" ", beam=False, history=history)
        written.append(
            _write_fits(paths["raw_mask"], (raw_data != 0).astype(np.uint8), header, overwrite)
        )
    if "deblended" in paths:
        written.append(_write_deblended(catalog, paths["deblended"], bunit, history, overwrite))
    if ndim == 3 and ("mom0" in paths):
        mom0, mom1, mom2, chan = moment_maps(data, segment, wcs)
        spec_unit = sofia_unit_string(image.spectral_unit) if wcs is not None else ""
        unit0 = (f"{bunit}*{spec_unit}" if bunit else spec_unit) if wcs is not None else bunit
        for key, array, unit in (
            ("mom0", mom0, unit0),
            ("mom1", mom1, spec_unit),
            ("mom2", mom2, spec_unit),
            ("chan", chan, " "),
        ):
            header = _product_header(image, 2, bunit=unit, beam=True, history=history)
            written.append(_write_fits(paths[key], array, header, overwrite))
    elif "mom0" in paths:
        mom0 = moment_maps(data, segment)[0]
        header = _make_header(image, 2, bunit=bunit, beam=True, history=history)
        written.append(_write_fits(paths["mom0"], mom0, header, overwrite))
    if "mask_2d" in paths:
        header = _make_header(image, 2, bunit=" ", beam=False, history=history)
        written.append(_write_fits(paths["mask_2d"], _project_mask(segment), header, overwrite))
    if "mask" in paths:
        header = _product_header(image, ndim, bunit=" ", beam=False, history=history)
        # no copy of an int32 label cube (astropy swaps its bytes in place while writing)
        written.append(_write_fits(paths["mask"], np.asarray(segment, dtype=np.int32), header, overwrite))
    if source_ids:
        written += _write_cubelets(
            catalog,
            table,
            paths,
            outdir,
            prefix,
            margin_cubelets,
            threshold_mom12,
            wcs,
            bunit,
            history,
            params,
            overwrite,
        )
    for key, regs in region_objects.items():
        fmt = key.split()[1]
        text = serialize_regions(regs, fmt)
        written.append(write_text(paths[key], text, overwrite))
    if rel_result is not None:
        for key, fig in zip(("reliability_plot", "skellam_plot"), rel_result.plot(), strict=True):
            with atomic_path(paths[key], overwrite=overwrite) as tmp:
                fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
            written.append(paths[key])
    return written


