"""Wrappers around the 2D source finders astro_mlfinder is benchmarked against.

PyBDSF (``bdsf``), Aegean (``AegeanTools``) and photutils' `SourceFinder` are
benchmark dependencies only (the ``bench`` extra); the package never imports
them. Each wrapper takes a 2D image as a FITS HDU whose header has a celestial
WCS, ``BUNIT`` Jy/beam and the restoring beam (``BMAJ``, ``BMIN``, ``BPA``), and
returns a `PeerResult`: a table with 0-based pixel positions ``x``, ``y``, sky
positions ``ra``, ``dec`` (deg), integrated flux ``f_int`` (Jy) and peak flux
``f_peak`` (Jy/beam), the finder's island/segment map where it has one, and the
wall time of the call.

Known frictions, handled here without editing the installed packages:

* PyBDSF needs a frequency for an image without a spectral axis (``frequency=``
  from ``RESTFRQ``/``CRVAL3``/1.4 GHz) and writes ``<input>.pybdsf.log`` beside
  its input, so it runs on a copy of the image in a temporary folder.
* AegeanTools 2.3.5 names ``np.linalg.linalg.LinAlgError`` in two ``except``
  clauses of ``fitting.py``; ``numpy.linalg.linalg`` is gone in numpy 2.4, so a
  failed fit would raise AttributeError. `_numpy_linalg_shim` adds a
  ``numpy.linalg.linalg`` namespace holding ``LinAlgError`` (in this process
  only) before AegeanTools is imported.
* photutils' deblending (``SourceFinder(deblend=True)``) needs scikit-image.
"""

import logging
import tempfile
import time
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS
from scipy import ndimage

__all__ = ["PEERS", "PeerResult", "beam_area_pix", "run_aegean", "run_peer", "run_photutils", "run_pybdsf"]

FWHM_TO_SIGMA = 1.0 / np.sqrt(8.0 * np.log(2.0))


@dataclass
class PeerResult:
    """Catalogue, island map and timing of one finder run on one image."""

    name: str
    table: QTable
    segment: np.ndarray | None
    seconds: float
    params: dict = field(default_factory=dict)


def _celestial(header):
    return WCS(header).celestial


def beam_area_pix(header):
    """Area of the Gaussian restoring beam in pixels, 2 pi sigma_maj sigma_min / |pixel area|."""
    wcs = _celestial(header)
    scale = np.abs(np.linalg.det(wcs.pixel_scale_matrix))
    bmaj, bmin = float(header["BMAJ"]), float(header["BMIN"])
    return 2.0 * np.pi * bmaj * bmin * FWHM_TO_SIGMA**2 / scale


def _frequency(header):
    for key in ("RESTFRQ", "RESTFREQ", "FREQ"):
        if key in header:
            return float(header[key])
    for k in range(3, int(header.get("NAXIS", 2)) + 1):
        if str(header.get(f"CTYPE{k}", "")).startswith("FREQ"):
            return float(header[f"CRVAL{k}"])
    return 1.4e9


def _image2d(hdu):
    """The image as a 2D float array, a clean 2D header and the WCS."""
    data = np.asarray(hdu.data, dtype=np.float64)
    data = np.squeeze(data)
    if data.ndim != 2:
        raise ValueError(f"peer finders need a 2D image, got shape {hdu.data.shape}")
    wcs = _celestial(hdu.header)
    header = wcs.to_header()
    for key in ("BMAJ", "BMIN", "BPA", "BUNIT"):
        if key in hdu.header:
            header[key] = hdu.header[key]
    header["RESTFRQ"] = _frequency(hdu.header)
    return data, header, wcs


def _table(x, y, f_int, f_peak, wcs):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ra, dec = wcs.pixel_to_world_values(x, y) if len(x) else (np.zeros(0), np.zeros(0))
    t = QTable()
    t["id"] = np.arange(1, len(x) + 1, dtype=np.int64)
    t["x"] = x
    t["y"] = y
    t["ra"] = np.asarray(ra, dtype=np.float64) * u.deg
    t["dec"] = np.asarray(dec, dtype=np.float64) * u.deg
    t["f_int"] = np.asarray(f_int, dtype=np.float64) * u.Jy
    t["f_peak"] = np.asarray(f_peak, dtype=np.float64) * u.Jy / u.beam
    return t


# --------------------------------------------------------------------------
# PyBDSF


def run_pybdsf(hdu, threshold=5.0, island_threshold=3.0, ncores=1):
    """
    Run PyBDSF ``process_image`` on a copy of the image in a temporary folder.

    Parameters
    ----------
    hdu : `~astropy.io.fits.PrimaryHDU` or `~astropy.io.fits.ImageHDU`
        2D image with WCS and beam in the header.
    threshold : float
        ``thresh_pix``: the peak S/N an island must reach.
    island_threshold : float
        ``thresh_isl``, capped at ``threshold``.
    ncores : int
        Cores for PyBDSF's fitting.

    Returns
    -------
    result : `PeerResult`
        One row per PyBDSF source (its grouped Gaussians); ``segment`` is its
        island map (``pyrank`` + 1, transposed to (y, x)).
    """
    import bdsf

    t0 = time.perf_counter()
    data, header, wcs = _image2d(hdu)
    thresh_isl = min(float(island_threshold), float(threshold))
    with tempfile.TemporaryDirectory(prefix="pybdsf_") as tmp:
        path = Path(tmp) / "image.fits"
        fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path)
        img = bdsf.process_image(
            str(path),
            frequency=header["RESTFRQ"],
            thresh_pix=float(threshold),
            thresh_isl=thresh_isl,
            quiet=True,
            ncores=int(ncores),
        )
    sources = list(getattr(img, "sources", []) or [])
    ra = np.array([s.posn_sky_centroid[0] for s in sources], dtype=np.float64)
    dec = np.array([s.posn_sky_centroid[1] for s in sources], dtype=np.float64)
    x, y = wcs.world_to_pixel_values(ra, dec) if len(sources) else (np.zeros(0), np.zeros(0))
    table = _table(
        x, y, [s.total_flux for s in sources], [s.peak_flux_max for s in sources], wcs
    )
    table["island"] = np.array([s.island_id + 1 for s in sources], dtype=np.int64)
    rank = getattr(img, "pyrank", None)
    segment = None if rank is None else (np.asarray(rank).T + 1).astype(np.int32)
    params = {"thresh_pix": float(threshold), "thresh_isl": thresh_isl}
    return PeerResult("PyBDSF", table, segment, time.perf_counter() - t0, params)


# --------------------------------------------------------------------------
# Aegean


def _numpy_linalg_shim():
    """Give numpy >= 2.4 the ``numpy.linalg.linalg.LinAlgError`` AegeanTools 2.3.5 names."""
    if not hasattr(np.linalg, "linalg"):
        np.linalg.linalg = types.SimpleNamespace(LinAlgError=np.linalg.LinAlgError)


def _aegean_islands(image, bkg, rms, seedclip, floodclip):
    """Aegean's islands: 8-connected pixels with S/N >= floodclip holding one >= seedclip."""
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = (image - bkg) / rms
    snr = np.where(np.isfinite(snr), snr, -np.inf)
    labels, n = ndimage.label(snr >= floodclip, structure=np.ones((3, 3)))
    if n == 0:
        return labels.astype(np.int32)
    peak = ndimage.maximum(snr, labels, np.arange(1, n + 1))
    keep = np.concatenate([[0], np.flatnonzero(peak > seedclip) + 1])
    lut = np.zeros(n + 1, dtype=np.int32)
    lut[keep] = np.arange(keep.size, dtype=np.int32)
    return lut[labels]


def _aegean_raw(hdu, threshold, outer, cores):
    """One Aegean run: component arrays, island map and seconds."""
    _numpy_linalg_shim()
    from AegeanTools.models import ComponentSource
    from AegeanTools.source_finder import SourceFinder

    t0 = time.perf_counter()
    data, header, wcs = _image2d(hdu)
    log = logging.getLogger("astro_mlfinder.bench.aegean")
    log.setLevel(logging.ERROR)
    for name in ("AegeanTools", "BANE", "source_finder"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="aegean_") as tmp:
        path = Path(tmp) / "image.fits"
        fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path)
        sf = SourceFinder(log=log)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = sf.find_sources_in_image(
                str(path),
                innerclip=float(threshold),
                outerclip=outer,
                cores=int(cores),
                nonegative=True,
                progress=False,
            )
        bkg = np.asarray(sf.bkgimg, dtype=np.float64)
        rms = np.asarray(sf.rmsimg, dtype=np.float64)
    comps = [c for c in found if isinstance(c, ComponentSource) and np.isfinite(c.int_flux)]
    ra = np.array([c.ra for c in comps], dtype=np.float64)
    dec = np.array([c.dec for c in comps], dtype=np.float64)
    x, y = wcs.world_to_pixel_values(ra, dec) if comps else (np.zeros(0), np.zeros(0))
    raw = {
        "x": np.asarray(x, dtype=np.float64),
        "y": np.asarray(y, dtype=np.float64),
        "f_int": np.array([c.int_flux for c in comps], dtype=np.float64),
        "f_peak": np.array([c.peak_flux for c in comps], dtype=np.float64),
        "island": np.array([c.island for c in comps], dtype=np.int64),
        "segment": _aegean_islands(data, bkg, rms, float(threshold), outer),
        "wcs": wcs,
    }
    return raw, time.perf_counter() - t0


# The last image's Aegean runs, so that the component and island catalogues of
# one threshold come from one run (a threshold sweep over both levels).
_AEGEAN_MEMO = {"hdu": None, "runs": {}}


def run_aegean(hdu, threshold=5.0, flood_threshold=4.0, level="component", cores=1):
    """
    Run Aegean's ``SourceFinder.find_sources_in_image`` (positive sources only).

    Parameters
    ----------
    hdu : `~astropy.io.fits.PrimaryHDU` or `~astropy.io.fits.ImageHDU`
        2D image with WCS and beam in the header.
    threshold : float
        ``innerclip`` (seed S/N).
    flood_threshold : float
        ``outerclip``, capped at ``threshold``.
    level : {'component', 'island'}
        One row per fitted Gaussian component, or per island (components
        summed, flux-weighted position). Both levels of one image and
        threshold come from one Aegean run (kept for the last image only);
        ``seconds`` is that run's time.
    cores : int
        Cores for Aegean.

    Returns
    -------
    result : `PeerResult`
        ``segment`` is the island map, rebuilt from Aegean's own background
        and noise maps with its flood-fill rule.
    """
    if level not in ("component", "island"):
        raise ValueError(f"level must be 'component' or 'island', got {level!r}")
    outer = min(float(flood_threshold), float(threshold))
    if _AEGEAN_MEMO["hdu"] is not hdu:
        _AEGEAN_MEMO["hdu"], _AEGEAN_MEMO["runs"] = hdu, {}
    key = (float(threshold), outer, int(cores))
    if key not in _AEGEAN_MEMO["runs"]:
        _AEGEAN_MEMO["runs"][key] = _aegean_raw(hdu, threshold, outer, cores)
    raw, seconds = _AEGEAN_MEMO["runs"][key]
    x, y, f_int, f_peak, island = (raw[k] for k in ("x", "y", "f_int", "f_peak", "island"))
    if level == "island" and len(x):
        keys, inv = np.unique(island, return_inverse=True)
        w = np.clip(f_int, 1e-30, None)
        sw = np.bincount(inv, w)
        x = np.bincount(inv, w * x) / sw
        y = np.bincount(inv, w * y) / sw
        f_int = np.bincount(inv, f_int)
        f_peak = np.array([f_peak[inv == k].max() for k in range(keys.size)])
        island = keys
    table = _table(x, y, f_int, f_peak, raw["wcs"])
    table["island"] = island
    params = {"innerclip": float(threshold), "outerclip": outer, "level": level}
    return PeerResult("Aegean", table, raw["segment"], seconds, params)


# --------------------------------------------------------------------------
# photutils


def run_photutils(hdu, threshold=5.0, npixels=5, box_size=None, deblend=True):
    """
    photutils `~photutils.segmentation.SourceFinder` on the background-subtracted image.

    The background and noise are `~photutils.background.Background2D` maps
    (box of about eight beams), the detection threshold is ``threshold`` times
    the local noise, sources are deblended (scikit-image), and the integrated
    flux is the segment sum divided by the beam area in pixels.

    Parameters
    ----------
    hdu : `~astropy.io.fits.PrimaryHDU` or `~astropy.io.fits.ImageHDU`
        2D image with WCS and beam in the header.
    threshold : float
        Detection threshold in units of the local noise.
    npixels : int
        Minimum number of connected pixels.
    box_size : int, optional
        Background box size (default eight beam FWHM, at least 16 pixels).
    deblend : bool
        Deblend overlapping sources.

    Returns
    -------
    result : `PeerResult`
    """
    from photutils.background import Background2D, MedianBackground, StdBackgroundRMS
    from photutils.segmentation import SourceCatalog, SourceFinder

    t0 = time.perf_counter()
    data, header, wcs = _image2d(hdu)
    bad = ~np.isfinite(data)
    beam_pix = np.sqrt(beam_area_pix(header))
    if box_size is None:
        box_size = int(max(16, round(8 * beam_pix)))
    box_size = int(min(box_size, *data.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bkg = Background2D(
            np.where(bad, 0.0, data),
            box_size,
            filter_size=3,
            coverage_mask=bad,
            bkg_estimator=MedianBackground(),
            bkgrms_estimator=StdBackgroundRMS(),
            fill_value=0.0,
        )
        sub = np.where(bad, 0.0, data - bkg.background)
        finder = SourceFinder(npixels=int(npixels), deblend=deblend, progress_bar=False)
        seg = finder(sub, float(threshold) * bkg.background_rms, mask=bad)
    if seg is None:
        table = _table([], [], [], [], wcs)
        segment = np.zeros(data.shape, np.int32)
    else:
        cat = SourceCatalog(sub, seg, mask=bad, progress_bar=False)
        area = beam_area_pix(header)
        table = _table(
            cat.x_centroid, cat.y_centroid, np.asarray(cat.segment_flux) / area, np.asarray(cat.max_value), wcs
        )
        lut = np.zeros(int(seg.data.max()) + 1, np.int32)
        lut[np.asarray(cat.label)] = np.arange(1, len(cat.label) + 1, dtype=np.int32)
        segment = lut[seg.data]
    params = {"nsigma": float(threshold), "npixels": int(npixels), "box_size": box_size, "deblend": deblend}
    return PeerResult("photutils", table, segment, time.perf_counter() - t0, params)


PEERS = {"PyBDSF": run_pybdsf, "Aegean": run_aegean, "photutils": run_photutils}


def run_peer(name, hdu, threshold, **kwargs):
    """Run the peer ``name`` (a key of `PEERS`) at ``threshold``."""
    try:
        func = PEERS[name]
    except KeyError:
        raise ValueError(f"unknown peer {name!r}; choose from {sorted(PEERS)}") from None
    return func(hdu, threshold, **kwargs)
