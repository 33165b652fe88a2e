"""SoFiA-style cubelets: cut-out cube, mask, moment maps, SNR map and spectrum per source.

`cubelet_products` computes the cut-outs of one source; `write_products
<astro_mlfinder.io.products.write_products>` with ``cubelets=True`` writes them
as ``<prefix>_cubelets/<prefix>_<id>_{cube,mask,mom0,mom1,mom2,chan,snr}.fits``
and ``<prefix>_<id>_spec.txt`` (SoFiA-2's integrated-spectrum text file).
"""

import math
import os
import re

import numpy as np
from astropy import units as u

from ..core.columns import spectral_column_name
from .atomic import write_text
from .fits_headers import _origin, _param_flag, _product_header, _wcs_pairs, _write_fits
from .moments import _spectral_values, moment_maps
from .sofia_catalog import SOFIA_SPECTRAL_NAMES, _time_string
from .sofia_units import sofia_unit_string

__all__ = ["cubelet_products"]

_CUBELET_SUFFIXES = ("cube", "mask", "mom0", "mom1", "mom2", "chan", "snr")


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


def _spectrum_text(result, *, spec_name, spec_unit, flux_unit, beam_area, wcs_values, creator):
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
    name = spectral_column_name(image)  # SoFiA-2's name, from the header's CTYPE as written
    return name if name in SOFIA_SPECTRAL_NAMES.values() else "spec"


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

    # the table reports positions in the input cube when parameter.offset is on; the cut-outs are
    # taken from the searched array, so the bounding boxes are moved back into it
    ox, oy, oz = getattr(catalog, "pixel_offset", None) or (0, 0, 0)
    wcs_pairs = {naxis: _wcs_pairs(image, naxis) for naxis in (2, 3)}
    creator = _origin()
    offsets = (ox, ox, oy, oy, oz, oz)
    for row in range(len(table)):
        sid = int(value("id", row))
        names_bbox = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
        bbox = [int(value(k, row)) - d for k, d in zip(names_bbox, offsets, strict=True)]
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
            header = _product_header(
                image,
                naxis,
                bunit=unit,
                beam=beam,
                history=history,
                obj_name=name,
                crpix_shift=shift,
                wcs_pairs=wcs_pairs[naxis],
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
            creator=creator,
        )
        written.append(write_text(paths[f"cubelet {sid} spec"], text, overwrite))
    return written
