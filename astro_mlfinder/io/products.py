"""SoFiA-style output products: catalogues, masks, moment maps, cubelets and regions.

`write_products` writes the product set SoFiA-2 2.5.1 writes (same file
names, data types, BUNIT values and moment-map definitions) for any
`~astro_mlfinder.SourceCatalog`.  The moment maps and the 2-D mask come from
the pure functions `moment_maps` and `mask_2d`, which reproduce SoFiA's
arithmetic (float32 accumulation from the highest channel down) and so match
SoFiA's maps bit for bit.

SoFiA definitions reproduced here:

* ``mom0`` = sum of the mask voxels along z, times the channel width when a
  spectral WCS exists (BUNIT e.g. ``Jy/beam*Hz``); 0 outside sources;
* ``mom1``, ``mom2`` = flux-weighted mean and dispersion of the spectral
  coordinate over mask voxels with flux above a threshold (0 for the global
  maps, ``threshold_mom12`` x the source rms in cubelets); NaN where there is
  no such flux;
* ``chan`` = number of mask channels per pixel (int32);
* ``mask-2d`` = the first source id met when scanning down from the highest
  channel.

Differences from SoFiA: mask voxels whose data are NaN are ignored (SoFiA's
masks never hold such voxels); spectral coordinates and units are those of
the astropy WCS (SI, e.g. m/s for a km/s cube, where SoFiA labels the values
with the header's CUNIT3); no PV diagrams or reliability plots are written.
"""

import datetime
import math
import os
import re
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits

from .atomic import atomic_path, check_writable, write_text
from .sofia_catalog import (
    SOFIA_SPECTRAL_NAMES,
    _param_strings,
    _sanitise,
    sofia_unit_string,
    write_karma,
    write_sofia_ascii,
    write_sofia_sql,
    write_sofia_xml,
)

__all__ = ["write_products", "moment_maps", "mask_2d", "cubelet_products", "product_paths"]

_REGION_EXTENSIONS = {"ds9": ".reg", "crtf": ".crtf"}
_CUBELET_SUFFIXES = ("cube", "mask", "mom0", "mom1", "mom2", "chan", "snr")
_WCS_KEYS = ("CTYPE", "CRPIX", "CDELT", "CRVAL", "CUNIT", "CROTA")
_MISC_KEYS = ("RESTFREQ", "RESTFRQ", "VELREF", "SPECSYS", "SPECSYS1", "SPECSYS2", "SPECSYS3",
              "EQUINOX", "EPOCH", "RADESYS", "LONPOLE", "LATPOLE")  # fmt: skip
_JY_BEAM = ("JY/BEAM", "Jy/Beam", "Jy*beam-1", "beam-1*Jy")


# --------------------------------------------------------------------------- pure functions
def _spectral_axis(wcs):
    """(spectral world values per channel function, channel width) of a 3D WCS, or None."""
    if wcs is None or wcs.naxis != 3 or wcs.wcs.spec < 0:
        return None
    spec = wcs.wcs.spec
    width = abs(float(wcs.pixel_scale_matrix[spec, 2]))
    return spec, width


def _spectral_values(wcs, nz):
    spec = wcs.wcs.spec
    z = np.arange(nz, dtype=float)
    world = wcs.pixel_to_world_values(np.zeros(nz), np.zeros(nz), z)
    return np.asarray(world[spec], dtype=np.float64)


def moment_maps(data, labels, wcs=None, *, threshold=0.0):
    """Moment 0, 1, 2 and channel-count maps with SoFiA-2's definitions.

    Parameters
    ----------
    data : `~numpy.ndarray`
        (z, y, x) cube (or (y, x) image).
    labels : `~numpy.ndarray` of int
        Mask of the same shape; non-zero voxels are summed.
    wcs : `~astropy.wcs.WCS`, optional
        3D WCS of the cube.  With a spectral axis, moment 1 and 2 are in
        spectral world units (the spectral coordinate of pixel (0, 0, z)) and
        moment 0 is multiplied by the channel width; otherwise channels are
        used and moment 0 is the plain sum.
    threshold : float, optional
        Only voxels with flux above this enter moments 1 and 2 (SoFiA: 0 for
        the global maps, ``thresholdMom12 * rms`` for cubelets).

    Returns
    -------
    mom0, mom1, mom2 : `~numpy.ndarray` of float32
        Moment 0 is 0 outside the mask; moments 1 and 2 are NaN where no
        voxel exceeds ``threshold``.  For a 2D image, ``mom1``, ``mom2`` and
        ``chan`` are None (as in SoFiA).
    chan : `~numpy.ndarray` of int32
        Number of mask channels per pixel.
    """
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.shape != labels.shape:
        raise ValueError(f"data shape {data.shape} and mask shape {labels.shape} differ")
    if data.ndim == 2:
        inside = (labels != 0) & np.isfinite(data)
        return np.where(inside, data, 0).astype(np.float32), None, None, None
    if data.ndim != 3:
        raise ValueError(
            f"moment maps need a (z, y, x) cube or (y, x) image, got shape {data.shape}"
        )
    nz, ny, nx = data.shape
    axis = _spectral_axis(wcs)
    spectral = _spectral_values(wcs, nz) if axis else np.arange(nz, dtype=np.float64)
    mom0 = np.zeros((ny, nx), dtype=np.float32)
    mom1 = np.zeros((ny, nx), dtype=np.float32)
    mom2 = np.zeros((ny, nx), dtype=np.float32)
    sum_pos = np.zeros((ny, nx), dtype=np.float32)
    chan = np.zeros((ny, nx), dtype=np.int32)

    # SoFiA accumulates into float32 maps from the highest channel down: each
    # increment is computed in double precision, rounded to float32 and added
    # in float32; divisions and the final scaling are done in double precision.
    def planes():
        for z in range(nz - 1, -1, -1):
            inside = labels[z] != 0
            if not inside.any():
                continue
            flux = data[z].astype(np.float64)
            inside &= np.isfinite(flux)
            yield z, inside, inside & (flux > threshold), flux

    for z, inside, positive, flux in planes():
        mom0 += np.where(inside, flux, 0.0).astype(np.float32)
        chan += inside
        mom1 += np.where(positive, flux * spectral[z], 0.0).astype(np.float32)
        sum_pos += np.where(positive, flux, 0.0).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = sum_pos > 0
        mom1 = np.where(
            ok, (mom1.astype(np.float64) / sum_pos).astype(np.float32), np.float32(np.nan)
        )
        for z, _, positive, flux in planes():  # second pass: dispersion about moment 1
            velo = mom1.astype(np.float64) - spectral[z]
            mom2 += np.where(positive, velo * velo * flux, 0.0).astype(np.float32)
        ok2 = ok & (mom2 > 0)
        mom2 = np.where(
            ok2, np.sqrt(mom2.astype(np.float64) / sum_pos).astype(np.float32), np.float32(np.nan)
        )
    if axis:
        mom0 = (mom0.astype(np.float64) * axis[1]).astype(np.float32)
    return mom0, mom1.astype(np.float32), mom2.astype(np.float32), chan


def mask_2d(labels):
    """Project a 3D label cube onto the sky as SoFiA's ``_mask-2d.fits``.

    Parameters
    ----------
    labels : `~numpy.ndarray` of int
        (z, y, x) label cube (a 2D label image is returned as is).

    Returns
    -------
    mask : `~numpy.ndarray` of int32
        For each pixel the first non-zero id met when scanning down from the
        highest channel, 0 where the pixel holds no source.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype(np.int32)
    if labels.ndim != 3:
        raise ValueError(f"mask_2d needs a (z, y, x) label cube, got shape {labels.shape}")
    nonzero = labels != 0
    top = labels.shape[0] - 1 - np.argmax(nonzero[::-1], axis=0)
    out = np.take_along_axis(labels, top[np.newaxis], axis=0)[0]
    return np.where(nonzero.any(axis=0), out, 0).astype(np.int32)


_project_mask = mask_2d  # write_products has a mask_2d switch


def cubelet_products(data, labels, source_id, bbox, *, margin=10, threshold=0.0, rms=0.0, wcs=None):
    """Cut-out cube, mask, moment maps, SNR map and spectrum of one source (SoFiA cubelets).

    Parameters
    ----------
    data, labels : `~numpy.ndarray`
        (z, y, x) cube and label cube.
    source_id : int
        Label of the source.
    bbox : tuple of int
        ``(x_min, x_max, y_min, y_max, z_min, z_max)``, inclusive.
    margin : int, optional
        Margin added on every side (clipped at the cube edges).
    threshold : float, optional
        Moment 1/2 flux threshold in units of ``rms`` (``thresholdMom12``).
    rms : float, optional
        Local noise of the source; the SNR map needs ``rms > 0``.
    wcs : `~astropy.wcs.WCS`, optional
        WCS of the full cube (the cut-out's WCS is derived from it).

    Returns
    -------
    products : dict
        ``origin`` (x0, y0, z0 of the cut-out), ``cube`` (float32), ``mask``
        (uint8 0/1, this source only), ``mom0``, ``mom1``, ``mom2``, ``chan``,
        ``snr`` (None without a valid rms), ``spectrum`` (float64 sum per
        channel), ``n_pix`` (pixels per channel), ``channels`` (channel
        numbers) and ``wcs`` (of the cut-out, or None).
    """
    nz, ny, nx = data.shape
    x_min, x_max, y_min, y_max, z_min, z_max = (int(v) for v in bbox)
    if not (0 <= x_min <= x_max < nx and 0 <= y_min <= y_max < ny and 0 <= z_min <= z_max < nz):
        raise ValueError(
            f"bounding box {tuple(bbox)} of source {source_id} lies outside the data "
            f"shape {data.shape}"
        )
    x0, y0, z0 = max(x_min - margin, 0), max(y_min - margin, 0), max(z_min - margin, 0)
    x1, y1, z1 = (
        min(x_max + margin, nx - 1),
        min(y_max + margin, ny - 1),
        min(z_max + margin, nz - 1),
    )
    window = (slice(z0, z1 + 1), slice(y0, y1 + 1), slice(x0, x1 + 1))
    cube = np.asarray(data[window], dtype=np.float32)
    mask = (np.asarray(labels[window]) == source_id).astype(np.uint8)
    sub_wcs = wcs.slice(window) if wcs is not None else None
    rms = float(rms) if rms is not None and np.isfinite(rms) else 0.0
    mom0, mom1, mom2, chan = moment_maps(cube, mask, sub_wcs, threshold=threshold * rms)
    snr = None
    if rms > 0:
        raw0, _, _, _ = moment_maps(cube, mask, None, threshold=threshold * rms)
        with np.errstate(invalid="ignore", divide="ignore"):
            snr = np.where(chan > 0, raw0.astype(np.float64) / (rms * np.sqrt(chan)), np.nan)
        snr = snr.astype(np.float32)
    inside = (mask != 0) & np.isfinite(cube)
    spectrum = np.where(inside, cube.astype(np.float64), 0.0).sum(axis=(1, 2))
    return {
        "origin": (x0, y0, z0),
        "cube": cube,
        "mask": mask,
        "mom0": mom0,
        "mom1": mom1,
        "mom2": mom2,
        "chan": chan,
        "snr": snr,
        "spectrum": spectrum,
        "n_pix": inside.sum(axis=(1, 2)),
        "channels": np.arange(z0, z1 + 1),
        "wcs": sub_wcs,
    }


# --------------------------------------------------------------------------- headers
def _origin():
    from .sofia_catalog import _default_creator

    return _default_creator()


def _normalise_bunit_text(text):
    text = str(text).strip().replace(" ", "*")
    return "Jy/beam" if text in _JY_BEAM else text


def _bunit(image):
    text = sofia_unit_string(image.unit)
    if not text and image.header is not None and str(image.header.get("BUNIT", "")).strip():
        text = _normalise_bunit_text(image.header["BUNIT"])
    return text


def _wcs_cards(image, naxis, crpix_shift=None):
    """WCS and related keywords of ``image`` for the first ``naxis`` axes."""
    header = fits.Header()
    source = image.header
    if source is None and image.wcs is not None:
        source = image.wcs.sub(naxis).to_header()
    if source is None:
        return header
    for i in range(1, naxis + 1):
        for key in _WCS_KEYS:
            name = f"{key}{i}"
            if name in source:
                header[name] = source[name]
    for i in range(1, naxis + 1):
        for j in range(1, naxis + 1):
            for key in (f"PC{i}_{j}", f"CD{i}_{j}", f"PC{i:03d}{j:03d}"):
                if key in source:
                    header[key] = source[key]
    for key in _MISC_KEYS:
        if key in source:
            header[key] = source[key]
    if crpix_shift is not None:
        for i, shift in enumerate(crpix_shift[:naxis], start=1):
            if f"CRPIX{i}" in header:
                header[f"CRPIX{i}"] = float(header[f"CRPIX{i}"]) - shift
    return header


def _history_lines(params):
    strings = _param_strings(params)
    if strings is None:
        return []
    title = "SoFiA control parameters" if hasattr(params, "to_strings") else "control parameters"
    lines = [f"  {title}"]
    for key, value in strings.items():
        lines.extend(_history_cards(_sanitise(f"{key} = {value}")))
    return lines


def _history_cards(text, width=70):
    """Split one HISTORY entry as SoFiA's ``Header_comment`` does: 70-character chunks, each on
    its own card after the 10-character key field (astropy reads the two padding blanks back)."""
    chunks = [text[i : i + width] for i in range(0, len(text), width)] or [""]
    return [f"  {chunk}" for chunk in chunks]


def _make_header(image, naxis, *, bunit, beam, history, obj_name=None, crpix_shift=None):
    header = _wcs_cards(image, naxis, crpix_shift=crpix_shift)
    header["ORIGIN"] = _origin()
    header["DATE"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    header["BUNIT"] = bunit if bunit else " "
    if beam and image.beam:
        header["BMAJ"] = float(image.beam["bmaj"])
        header["BMIN"] = float(image.beam["bmin"])
        header["BPA"] = float(image.beam.get("bpa", 0.0))
    if obj_name is not None:
        header["OBJECT"] = str(obj_name)
    for line in history:
        header.add_history(line)
    return header


def _filtered_header(image, history):
    """The input header (data keywords removed) plus the HISTORY block, as SoFiA keeps it."""
    if image.header is None:
        return _make_header(image, image.ndim, bunit=_bunit(image), beam=True, history=history)
    header = image.header.copy()
    for key in (
        "SIMPLE",
        "BITPIX",
        "NAXIS",
        "EXTEND",
        "BSCALE",
        "BZERO",
        "BLANK",
        "XTENSION",
        "PCOUNT",
        "GCOUNT",
        "CHECKSUM",
        "DATASUM",
    ):
        header.remove(key, ignore_missing=True, remove_all=True)
    for i in range(1, 10):
        header.remove(f"NAXIS{i}", ignore_missing=True, remove_all=True)
    for line in history:
        header.add_history(line)
    return header


# --------------------------------------------------------------------------- writing
def _write_fits(path, data, header, overwrite):
    with atomic_path(path, overwrite=overwrite) as tmp:
        fits.PrimaryHDU(data=data, header=header).writeto(tmp)
    return Path(path)


def _spectrum_text(result, *, spec_name, spec_unit, flux_unit, beam_area, wcs_values, creator):
    from .sofia_catalog import _time_string

    lines = [
        "# Integrated source spectrum",
        f"# Creator: {creator}",
        f"# Time:    {_time_string()}",
        "#",
        "# Description of parameters:",
        "#",
        "# - chan    Spectral channel number (zero-based).",
        "#",
        "# - v_opt / v_rad / v_app",
        "#           Radial velocity corresponding to the channel number as",
        "#           described by the WCS information in the header. The suf-",
        "#           fix denotes optical, radio or apparent radial velocity,",
        "#           respectively.",
        "#",
        "# - freq    Frequency corresponding to the channel number as described",
        "#           by the WCS information in the header.",
        "#",
        "# - f_sum   Sum of flux density values of all spatial pixels covered",
        "#           by the source in that channel. If the unit is Jy, then",
        "#           the flux density has already been corrected for the solid",
        "#           angle of the beam. If instead the unit is Jy/beam, you",
        "#           will need to manually divide by the beam area which, for",
        "#           Gaussian beams, will be",
        "#",
        "#             pi * a * b / (4 * ln(2))",
        "#",
        "#           where a and b are the major and minor axis of the beam in",
        "#           units of pixels.",
        "#",
        "# - n_pix   Number of spatial pixels covered by the source in that",
        "#           channel. This can be used to determine the statistical",
        "#           uncertainty of the summed flux value. Again, this has",
        "#           not yet been corrected for any potential spatial correla-",
        "#           tion of pixels due to the beam solid angle.",
        "#",
        "# Note that a WCS-related column will only be present if WCS conversion",
        "# was explicitly requested when running the pipeline.",
        "#",
        "# Header rows:",
        "#   1 = column number",
        "#   2 = parameter name",
        "#   3 = parameter unit",
        "#",
    ]
    flux_unit = flux_unit or "???"
    if wcs_values is not None:
        lines += [
            f"#{'1':>9}{'2':>18}{'3':>18}{'4':>10}",
            f"#{'chan':>9}{spec_name:>18}{'f_sum':>18}{'n_pix':>10}",
            f"#{'-':>9}{spec_unit:>18}{flux_unit:>18}{'-':>10}",
        ]
    else:
        lines += [
            f"#{'1':>9}{'2':>18}{'3':>10}",
            f"#{'chan':>9}{'f_sum':>18}{'n_pix':>10}",
            f"#{'-':>9}{flux_unit:>18}{'-':>10}",
        ]
    lines.append("#")
    for j, channel in enumerate(result["channels"]):
        flux = result["spectrum"][j] / beam_area
        n = int(result["n_pix"][j])
        if wcs_values is not None:
            lines.append(f"{int(channel):10d}{wcs_values[j]:18.7e}{flux:18.7e}{n:10d}")
        else:
            lines.append(f"{int(channel):10d}{flux:18.7e}{n:10d}")
    return "\n".join(lines) + "\n"


def _spectral_name(image):
    if not image.has_spectral:
        return "spec"
    ctype = image.wcs.wcs.ctype[image.wcs.wcs.spec].upper()[:4]
    return SOFIA_SPECTRAL_NAMES.get(ctype, "spec")


def _param_flag(params, key, default):
    """A boolean SoFiA setting from SofiaParameters or a plain mapping (bools or SoFiA strings)."""
    if params is None:
        return default
    try:
        value = params[key]
    except (KeyError, ValueError):
        return default
    if isinstance(value, str):
        return value.strip() == "true"
    return bool(value)


def _resolve_params(catalog, params):
    """SofiaParameters (or a plain mapping) for the HISTORY block and the VOTable PARAMs."""
    if params is not None:
        return params
    meta = getattr(catalog, "meta", {}) or {}
    if meta.get("sofia_params") is not None:
        return meta["sofia_params"]
    finder = meta.get("finder")
    if isinstance(finder, dict):
        kwargs = finder.get("params", finder)
        if finder.get("class") == "ClassicalFinder" or finder.get("name") == "classical":
            from ..sofia.par import finder_kwargs_to_par

            try:
                return finder_kwargs_to_par({k: v for k, v in kwargs.items()})
            except (ValueError, TypeError):
                pass
        if isinstance(kwargs, dict):
            return {f"{finder.get('name', 'finder')}.{k}": v for k, v in kwargs.items()}
    return None


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
    cubelets=False,
    noise=False,
    filtered=False,
    regions=("ds9",),
    source_ids=(),
    ndim=3,
    noise_spectrum=False,
):
    """Return ``{product: path}`` of every file `write_products` would write.

    Cubelet files are keyed ``'cubelet <id> <suffix>'``.
    """
    outdir = Path(outdir)
    base = outdir / prefix
    paths = {}

    def add(key, suffix, flag):
        if flag:
            paths[key] = Path(f"{base}{suffix}")

    add("cat_ascii", "_cat.txt", cat_ascii)
    add("cat_xml", "_cat.xml", cat_xml)
    add("cat_sql", "_cat.sql", cat_sql)
    add("karma", "_cat.ann", karma)
    add("noise", "_noise.txt" if noise_spectrum else "_noise.fits", noise)
    add("filtered", "_filtered.fits", filtered)
    add("mask", "_mask.fits", mask)
    add("mask_2d", "_mask-2d.fits", mask_2d and ndim == 3)
    add("raw_mask", "_mask-raw.fits", raw_mask)
    add("mom0", "_mom0.fits", moments)
    for name in ("mom1", "mom2", "chan"):
        add(name, f"_{name}.fits", moments and ndim == 3)
    if cubelets and ndim == 3:
        directory = outdir / f"{prefix}_cubelets"
        for sid in source_ids:
            for suffix in _CUBELET_SUFFIXES:
                paths[f"cubelet {sid} {suffix}"] = directory / f"{prefix}_{sid}_{suffix}.fits"
            paths[f"cubelet {sid} spec"] = directory / f"{prefix}_{sid}_spec.txt"
    for fmt in regions or ():
        if fmt not in _REGION_EXTENSIONS:
            raise ValueError(
                f"unknown region format {fmt!r}; choose from {tuple(_REGION_EXTENSIONS)}"
            )
        paths[f"regions {fmt}"] = Path(f"{base}{_REGION_EXTENSIONS[fmt]}")
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
    cubelets=False,
    margin_cubelets=10,
    threshold_mom12=0.0,
    noise=False,
    filtered=False,
    regions=("ds9",),
    params=None,
    reliability_plot=False,
):
    """Write the SoFiA-style product set of a catalogue.

    Parameters
    ----------
    catalog : `~astro_mlfinder.SourceCatalog`
        The result of a finder.
    outdir : str or path-like
        Output directory (created if needed).
    prefix : str
        Base name of the files (SoFiA's ``output.filename``).
    overwrite : bool, optional
        Replace existing files.  When False, *all* target paths are checked
        first and a `FileExistsError` naming the first existing one is
        raised before anything is written.
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
        and ``_spec.txt`` per source (cubes only).
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
    reliability_plot : bool, optional
        ``_rel.png`` (parameter space of the reliability KDE) and
        ``_skellam.png`` when the finder measured reliability (needs
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
        ``catalog.products['mask_raw']``).
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
    if regions and "crtf" in regions and not image.has_celestial:
        import warnings

        warnings.warn("no CRTF region file: CRTF needs sky coordinates and the data have no celestial WCS",
                      UserWarning, stacklevel=2)
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
    )
    rel_result = catalog.meta.get("reliability") if reliability_plot else None
    if rel_result is not None:
        paths["reliability_plot"] = outdir / f"{prefix}_rel.png"
        paths["skellam_plot"] = outdir / f"{prefix}_skellam.png"
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
                _write_fits(paths["noise"], noise_data.astype(np.float32), header, overwrite)
            )
    if "filtered" in paths:
        header = _filtered_header(image, history)
        written.append(
            _write_fits(paths["filtered"], filtered_data.astype(np.float32), header, overwrite)
        )
    if "raw_mask" in paths:
        header = _make_header(image, ndim, bunit=" ", beam=False, history=history)
        written.append(
            _write_fits(paths["raw_mask"], (raw_data != 0).astype(np.uint8), header, overwrite)
        )
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
            header = _make_header(image, 2, bunit=unit, beam=True, history=history)
            written.append(_write_fits(paths[key], array, header, overwrite))
    elif "mom0" in paths:
        mom0 = moment_maps(data, segment)[0]
        header = _make_header(image, 2, bunit=bunit, beam=True, history=history)
        written.append(_write_fits(paths["mom0"], mom0, header, overwrite))
    if "mask_2d" in paths:
        header = _make_header(image, 2, bunit=" ", beam=False, history=history)
        written.append(_write_fits(paths["mask_2d"], _project_mask(segment), header, overwrite))
    if "mask" in paths:
        header = _make_header(image, ndim, bunit=" ", beam=False, history=history)
        written.append(_write_fits(paths["mask"], segment.astype(np.int32), header, overwrite))
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
        text = regs.serialize(format=fmt)
        written.append(write_text(paths[key], text, overwrite))
    if rel_result is not None:
        from ..classical.reliability import plot_reliability

        for key, fig in zip(("reliability_plot", "skellam_plot"), plot_reliability(rel_result), strict=True):
            with atomic_path(paths[key], overwrite=overwrite) as tmp:
                fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
            written.append(paths[key])
    return written


def _write_cubelets(
    catalog, table, paths, outdir, prefix, margin, threshold, wcs, bunit, history, params, overwrite
):
    image = catalog.image
    data = np.asarray(image.data)
    segment = np.asarray(catalog.segment)
    directory = outdir / f"{prefix}_cubelets"
    directory.mkdir(parents=True, exist_ok=True)
    if overwrite:  # as SoFiA: remove cubelets of an earlier run that are not rewritten now
        pattern = re.compile(
            rf"^{re.escape(prefix)}_\d+_(cube|mask|mom0|mom1|mom2|chan|snr|pv|pv_min|"
            r"pv_mask|pv_min_mask)\.fits$|^" + re.escape(prefix) + r"_\d+_spec\.txt$"
        )
        keep = {p.name for k, p in paths.items() if k.startswith("cubelet ")}
        for entry in os.listdir(directory):
            if pattern.match(entry) and entry not in keep:
                os.unlink(directory / entry)
    names = [str(v) for v in np.asarray(table["name"])] if "name" in table.colnames else None
    spec_unit = sofia_unit_string(image.spectral_unit) if wcs is not None else ""
    spec_name = _spectral_name(image)
    f_sum_unit = getattr(table["f_sum"], "unit", None) if "f_sum" in table.colnames else None
    physical = (
        bunit == "Jy/beam"
        and f_sum_unit is not None
        and u.beam not in getattr(f_sum_unit, "bases", [])
        and image.beam is not None
    )
    physical = physical and _param_flag(params, "parameter.physical", True)
    beam_area = image.beam_area if physical else 1.0
    flux_unit = "Jy" if physical else bunit
    written = []

    def value(name, row):
        col = table[name]
        return float(np.asarray(getattr(col, "value", col))[row])

    for row in range(len(table)):
        sid = int(value("id", row))
        bbox = [int(value(k, row)) for k in ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")]
        rms = value("rms", row) if "rms" in table.colnames else 0.0
        result = cubelet_products(
            data,
            segment,
            sid,
            bbox,
            margin=margin,
            threshold=threshold,
            rms=rms if math.isfinite(rms) else 0.0,
            wcs=wcs,
        )
        name = names[row] if names else str(sid)
        shift = result["origin"]
        unit0 = (f"{bunit}*{spec_unit}" if bunit else spec_unit) if wcs is not None else bunit
        items = (
            ("cube", result["cube"], 3, bunit, True),
            ("mask", result["mask"], 3, " ", False),
            ("mom0", result["mom0"], 2, unit0, True),
            ("mom1", result["mom1"], 2, spec_unit, True),
            ("mom2", result["mom2"], 2, spec_unit, True),
            ("chan", result["chan"], 2, " ", True),
            ("snr", result["snr"], 2, " ", True),
        )
        for suffix, array, naxis, unit, beam in items:
            key = f"cubelet {sid} {suffix}"
            if array is None:
                continue
            header = _make_header(
                image,
                naxis,
                bunit=unit,
                beam=beam,
                history=history,
                obj_name=name,
                crpix_shift=shift,
            )
            written.append(_write_fits(paths[key], array, header, overwrite))
        wcs_values = (
            _spectral_values(wcs, data.shape[0])[result["channels"]] if wcs is not None else None
        )
        text = _spectrum_text(
            result,
            spec_name=spec_name,
            spec_unit=spec_unit,
            flux_unit=flux_unit,
            beam_area=beam_area,
            wcs_values=wcs_values,
            creator=_origin(),
        )
        written.append(write_text(paths[f"cubelet {sid} spec"], text, overwrite))
    return written
