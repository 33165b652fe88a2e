"""`SofiaFinder`: run an installed SoFiA-2 binary and return a `SourceCatalog`.

The wrapper writes the cube (when it did not come from a plain FITS file) and
a complete parameter file (lowercase booleans, absolute paths) into a
temporary directory, runs SoFiA-2 with its output directed there, shows
SoFiA's pipeline stages as a progress bar, maps SoFiA's exit codes onto
Python exceptions, and reads the VOTable catalogue and the label mask back
into a `~astro_mlfinder.SourceCatalog` whose columns are SoFiA's own values.

Running the binary (its discovery, version, stages and exit codes) is in
`astro_mlfinder.sofia.binary`; reading its outputs back in `astro_mlfinder.sofia.outputs`.
"""

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..core.finder import Finder, smooth_clip_margin
from ..io.sofia_par import SofiaParameters, as_sofia_parameters, check_par, finder_kwargs_to_par
from ..io.sofia_units import sofia_unit_string
from .binary import SOFIA_EXIT_CODES, SofiaVersionWarning, _run, _sofia_message, find_sofia_executable, sofia_version
from .outputs import sofia_outputs_to_segmentation

__all__ = ["SofiaFinder"]

_OUTPUT_NAME = "sofia"
# outputs the wrapper never needs (the products are rewritten by write_products)
_DISABLED_OUTPUTS = ("output.writeCatASCII", "output.writeCatSQL", "output.writeKarma",
                     "output.writeMask2d", "output.writeMoments", "output.writeCubelets",
                     "output.writePV", "reliability.plot", "reliability.debug",
                     "flag.log")  # fmt: skip
_PATH_KEYS = ("input.gain", "input.noise", "input.weights", "input.mask", "flag.catalog",
              "reliability.catalog")  # fmt: skip


def _float_header(image, data):
    """FITS header for writing ``image`` (WCS, BUNIT and beam) with ``data``."""
    if image.header is not None:
        header = image.header.copy()
        for key in ("BSCALE", "BZERO", "BLANK", "CHECKSUM", "DATASUM", "EXTEND"):
            header.remove(key, ignore_missing=True, remove_all=True)
    elif image.wcs is not None:
        header = image.wcs.to_header()
    else:
        header = fits.Header()
    bunit = sofia_unit_string(image.unit)
    if bunit:
        header["BUNIT"] = bunit
    if image.beam:
        header["BMAJ"] = float(image.beam["bmaj"])
        header["BMIN"] = float(image.beam["bmin"])
        header["BPA"] = float(image.beam.get("bpa", 0.0))
    hdu = fits.PrimaryHDU(data=data, header=header)
    return hdu


def _reusable_file(image):
    """True if SoFiA can read ``image.filename`` directly and it holds exactly ``image``."""
    name = image.filename
    if not name or not os.path.isfile(name) or not name.lower().endswith((".fits", ".fit", ".fts")):
        return False
    try:
        with fits.open(name, mode="readonly", memmap=True) as hdul:
            primary = hdul[0]
            shape = tuple(s for s in primary.shape if s != 1)  # from the header: the data are not read
            if primary.header.get("BITPIX") not in (-32, -64) or shape != tuple(
                s for s in image.shape if s != 1
            ):
                return False
            header = primary.header
    except (OSError, ValueError):
        return False
    if image.wcs is None:
        return "CTYPE1" not in header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from astropy.wcs import WCS  # slow import, only needed here

            file_wcs = WCS(header, naxis=image.ndim)
        except Exception:
            return False
    return bool(file_wcs.wcs.compare(image.wcs.wcs, tolerance=1e-12))


def _sofia_margin(params):
    """`smooth_clip_margin` of a SoFiA-2 parameter set."""
    dilate = bool(params["dilation.enable"])
    return smooth_clip_margin(
        params["scfind.kernelsXY"] if params["scfind.enable"] else (),
        params["scfind.kernelsZ"] if params["scfind.enable"] else (),
        radius_xy=params["linker.radiusXY"], radius_z=params["linker.radiusZ"],
        max_size_xy=params["linker.maxSizeXY"], max_size_z=params["linker.maxSizeZ"],
        dilation_xy=params["dilation.iterationsXY"] if dilate else 0,
        dilation_z=params["dilation.iterationsZ"] if dilate else 0,
    )


class SofiaFinder(Finder):
    """Source finding with an installed SoFiA-2 binary (version 2.5.x).

    Parameters
    ----------
    par : str, path-like, `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters` or mapping, optional
        SoFiA-2 parameter file or settings; SoFiA's defaults if omitted.
        ``input.data`` and the ``output.*`` settings are replaced by the
        wrapper (the data come from the call).
    executable : str or path-like, optional
        The SoFiA-2 binary; default ``$SOFIA2_BIN``, then ``sofia`` or
        ``sofia2`` on ``PATH`` (looked up when the finder is called).
    timeout : float, optional
        Seconds after which SoFiA is stopped (`TimeoutError`).
    **overrides
        `ClassicalFinder` keywords applied on top of ``par`` (e.g.
        ``threshold=4.0``, ``reliability=True``); see
        `~astro_mlfinder.io.sofia_par.mapping.FINDER_MAPPING`.

    Raises
    ------
    ValueError
        For an unknown override keyword, an invalid value or settings that
        SoFiA would reject at start-up (see `~astro_mlfinder.io.sofia_par.parfile.check_par`).

    Notes
    -----
    The call runs SoFiA in a temporary directory and returns a
    `~astro_mlfinder.SourceCatalog` holding SoFiA's own catalogue values,
    its label mask as ``segment`` and its raw (unlinked) mask as
    ``products['mask_raw']``.  Exit code 8 (no sources) gives an empty
    catalogue, exit code 7 a `ValueError` with SoFiA's message, any other
    failure a `RuntimeError`.  Pixels excluded by the call's ``mask`` are
    blanked (NaN) in the cube SoFiA sees.

    Examples
    --------
    >>> from astro_mlfinder import SofiaFinder
    >>> finder = SofiaFinder("sofia.par", threshold=4.0)   # doctest: +SKIP
    >>> cat = finder("cube.fits")                          # doctest: +SKIP
    """

    name = "sofia"
    ndim = 3

    def __init__(self, par=None, executable=None, *, timeout=None, **overrides):
        params = SofiaParameters() if par is None else as_sofia_parameters(par).copy()
        self.params = finder_kwargs_to_par(overrides, params) if overrides else params
        check_par(self.params)
        self.executable = None if executable is None else os.fspath(executable)
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = timeout
        self.overrides = dict(overrides)

    def get_params(self):
        """Return ``{'par', 'executable', 'timeout'}``; ``par`` maps changed keys to strings."""
        changed = {k: self.params.string(k) for k in self.params.changed()}
        return {"par": changed, "executable": self.executable, "timeout": self.timeout}

    def __repr__(self):
        return f"SofiaFinder(par={self.get_params()['par']!r}, executable={self.executable!r})"

    # ------------------------------------------------------------------ helpers
    def _check_version(self, path):
        """Return (version text, mode): mode None for 2.5.x, else 'newer' or 'older'."""
        major, minor, patch, text = sofia_version(path)
        if (major, minor) == (2, 5):
            return text, None
        if (major, minor) > (2, 5):
            warnings.warn(
                f"{path} is SoFiA-2 {text}; this wrapper writes SoFiA-2 2.5.x parameters. "
                "SoFiA >= 2.6 renamed reliability.minSNR, reliability.minPixels and "
                "linker.keepNegative to filter.minSNR, filter.minPixels and "
                "filter.discardNegative: both spellings are written and pipeline.pedantic is "
                "switched off, other differences are not handled",
                SofiaVersionWarning,
                stacklevel=2,
            )
            return text, "newer"
        warnings.warn(
            f"{path} is SoFiA-2 {text}, older than 2.5; parameters added since (e.g. "
            "output.writeKarma, output.writePV) may be unknown to it, so pipeline.pedantic is "
            "switched off",
            SofiaVersionWarning,
            stacklevel=2,
        )
        return text, "older"

    def _check_kernels(self, shape):
        params = self.params
        if not params["scfind.enable"]:
            return
        nz, ny, nx = shape
        for k in params["scfind.kernelsXY"]:
            if not k < min(nx, ny):
                raise ValueError(
                    f"spatial kernel {k} (scfind.kernelsXY) is not smaller than the "
                    f"cube's spatial size {nx} x {ny}; SoFiA would stop with exit code 7"
                )
        for k in params["scfind.kernelsZ"]:
            if not k < nz:
                raise ValueError(
                    f"spectral kernel {k} (scfind.kernelsZ) is not smaller than the "
                    f"number of channels {nz}; SoFiA would stop with exit code 7"
                )

    def _run_params(self, data_path, workdir, mode=None):
        """The parameters of the run and the text of its parameter file."""
        params = self.params.copy()
        for key in _PATH_KEYS:
            if params[key]:
                params[key] = os.path.abspath(params[key])
        params["input.data"] = os.path.abspath(data_path)
        params["output.directory"] = os.path.abspath(workdir)
        params["output.filename"] = _OUTPUT_NAME
        params["output.overwrite"] = True
        params["output.writeCatXML"] = True
        params["output.writeMask"] = True
        params["output.writeRawMask"] = True
        for key in _DISABLED_OUTPUTS:
            params[key] = False
        if mode is not None:
            params["pipeline.pedantic"] = False
        text = params.to_text(header="written by astro_mlfinder.SofiaFinder")
        if mode == "newer":
            text += (
                f"\nfilter.minSNR = {params.string('reliability.minSNR')}\n"
                f"filter.minPixels = {params.string('reliability.minPixels')}\n"
                f"filter.discardNegative = {'false' if params['linker.keepNegative'] else 'true'}\n"
            )
        return params, text

    # ------------------------------------------------------------------ search
    @property
    def margin(self):
        """Per-axis (z, y, x) overlap for tiled runs: the largest S+C kernel plus the largest source allowed."""
        return _sofia_margin(self.params)

    def segment(self, image, mask, progress):
        """Run SoFiA-2 on ``image`` and read its mask and catalogue back as a Segmentation."""
        path = find_sofia_executable(self.executable)
        version, mode = self._check_version(path)
        self._check_kernels(image.shape)
        with tempfile.TemporaryDirectory(prefix="astro_mlfinder_sofia_") as workdir:
            if mask is None and _reusable_file(image):
                data_path = image.filename
            else:
                data = image.read()
                if data is image.data:  # in memory: copy, the caller's array is never touched
                    data = data.copy()
                if mask is not None:
                    data[np.asarray(mask, dtype=bool)] = np.nan
                data_path = os.path.join(workdir, "input.fits")
                _float_header(image, data).writeto(data_path)
            params, text = self._run_params(data_path, workdir, mode)
            par_path = os.path.join(workdir, "sofia.par")
            with open(par_path, "w", encoding="utf-8") as fh:
                fh.write(text)
            rc, stdout, stderr = _run([path, par_path], workdir, self.timeout, progress)
            meta = {
                "sofia_version": version,
                "sofia_executable": path,
                "sofia_exit_code": rc,
                "sofia_log": stdout,
            }
            if rc == 7:
                raise ValueError(
                    f"SoFiA-2 rejected the input (exit code 7, invalid user input): "
                    f"{_sofia_message(stderr, stdout)}"
                )
            if rc not in (0, 8):
                reason = SOFIA_EXIT_CODES.get(rc, "unknown error")
                raise RuntimeError(
                    f"SoFiA-2 failed with exit code {rc} ({reason}): "
                    f"{_sofia_message(stderr, stdout)}"
                )
            base = Path(workdir) / _OUTPUT_NAME
            if rc == 8:
                meta["sofia_message"] = _sofia_message(stderr, stdout)
                return sofia_outputs_to_segmentation(
                    image, None, None, params=params, meta=meta, region=params["input.region"]
                )

            def existing(suffix):
                candidate = Path(f"{base}{suffix}")
                return candidate if candidate.exists() else None

            segmentation = sofia_outputs_to_segmentation(
                image,
                existing("_cat.xml"),
                existing("_mask.fits"),
                params=params,
                raw_mask=existing("_mask-raw.fits"),
                filtered=existing("_filtered.fits"),
                noise=existing("_noise.fits"),
                region=params["input.region"],
                meta=meta,
            )
            # read everything into memory before the directory disappears
            segmentation.products = {k: np.array(v) for k, v in segmentation.products.items()}
            return segmentation
