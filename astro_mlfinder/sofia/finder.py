"""`SofiaFinder`: run an installed SoFiA-2 binary and return a `SourceCatalog`.

The wrapper writes the cube (when it did not come from a plain FITS file) and
a complete parameter file (lowercase booleans, absolute paths) into a
temporary directory, runs SoFiA-2 with its output directed there, shows
SoFiA's pipeline stages as a progress bar, maps SoFiA's exit codes onto
Python exceptions, and reads the VOTable catalogue and the label mask back
into a `~astro_mlfinder.SourceCatalog` whose columns are SoFiA's own values.

Exit codes of SoFiA-2 (``ERR_*`` in SoFiA's ``common.h``):

====  ===================================================  =============================
code  meaning                                              raised here
====  ===================================================  =============================
0     success                                              (catalogue returned)
1     generic failure (e.g. no negative sources for        `RuntimeError`
      reliability)
2-6   null pointer, memory, index, file access, overflow   `RuntimeError`
7     invalid user input (parameter, kernel too large)     `ValueError`
8     no sources found                                     (empty catalogue returned)
====  ===================================================  =============================
"""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits

from ..core.exceptions import AstroMLFinderWarning
from ..core.finder import Finder, build_catalog, smooth_clip_margin
from ..core.progress import progress_bar
from ..core.segmentation import Segmentation
from ..io.sofia_par import SofiaParameters, as_sofia_parameters, check_par, finder_kwargs_to_par
from ..io.sofia_reader import read_sofia_xml
from ..io.sofia_units import sofia_unit_string

__all__ = [
    "SofiaFinder",
    "SofiaVersionWarning",
    "find_sofia_executable",
    "sofia_version",
    "sofia_outputs_to_catalog",
    "sofia_outputs_to_segmentation",
    "strip_ansi",
    "SOFIA_EXIT_CODES",
    "SOFIA_STAGES",
]

#: Meaning of SoFiA-2's exit codes.
SOFIA_EXIT_CODES = {
    0: "success",
    1: "failure",
    2: "null pointer",
    3: "memory allocation error",
    4: "index out of range",
    5: "file access error",
    6: "integer overflow",
    7: "invalid user input",
    8: "no sources found",
}

#: Pipeline stages SoFiA-2 2.5.1 announces on stdout, in order.
SOFIA_STAGES = (
    "Pipeline started",
    "Loading parameter settings",
    "Loading data cube",
    "Loading and applying flagging catalogue",
    "Loading and applying noise cube",
    "Loading and applying weights cube",
    "Continuum subtraction",
    "Scaling data by noise",
    "Auto-flagging",
    "Applying ripple filter",
    "Writing filtered cube",
    "Measuring global noise level",
    "Running S+C finder",
    "Running threshold finder",
    "Loading mask cube",
    "Creating source mask cube",
    "Writing raw binary mask",
    "Running Linker",
    "Measuring reliability",
    "Creating initial catalogue",
    "Mask dilation",
    "Reloading data cube for parameterisation",
    "Loading and applying gain cube",
    "Measuring source parameters",
    "Creating cubelets",
    "Creating moment maps",
    "Writing mask cube",
    "Writing source catalogue",
    "Pipeline finished",
)
_STAGE_INDEX = {name: i for i, name in enumerate(SOFIA_STAGES)}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_VERSION = re.compile(r"Version:\s*(\d+)\.(\d+)(?:\.(\d+))?[^\s(]*\s*(?:\(([^)]*)\))?")
_VERSION_CACHE = {}
_OUTPUT_NAME = "sofia"
# outputs the wrapper never needs (the products are rewritten by write_products)
_DISABLED_OUTPUTS = ("output.writeCatASCII", "output.writeCatSQL", "output.writeKarma",
                     "output.writeMask2d", "output.writeMoments", "output.writeCubelets",
                     "output.writePV", "reliability.plot", "reliability.debug",
                     "flag.log")  # fmt: skip
_PATH_KEYS = ("input.gain", "input.noise", "input.weights", "input.mask", "flag.catalog",
              "reliability.catalog")  # fmt: skip


class SofiaVersionWarning(AstroMLFinderWarning):
    """The SoFiA-2 binary is not version 2.5.x, whose parameter names this package writes."""


def strip_ansi(text):
    """Remove ANSI colour/escape sequences (SoFiA colours its messages)."""
    return _ANSI.sub("", text)


def find_sofia_executable(executable=None):
    """Locate the SoFiA-2 binary.

    Parameters
    ----------
    executable : str or path-like, optional
        Path or command name; otherwise the environment variable
        ``SOFIA2_BIN``, then ``sofia`` and ``sofia2`` on ``PATH``.

    Returns
    -------
    path : str
        Absolute path of the executable.

    Raises
    ------
    FileNotFoundError
        If no executable is found.
    """
    candidates = []
    if executable is not None:
        candidates.append(("the executable argument", os.fspath(executable)))
    elif os.environ.get("SOFIA2_BIN"):
        candidates.append(("SOFIA2_BIN", os.environ["SOFIA2_BIN"]))
    else:
        candidates += [("PATH", "sofia"), ("PATH", "sofia2")]
    for origin, name in candidates:
        path = (
            shutil.which(name)
            if os.sep not in name
            else (name if os.access(name, os.X_OK) and os.path.isfile(name) else None)
        )
        if path:
            return os.path.abspath(path)
        if origin != "PATH":
            raise FileNotFoundError(
                f"SoFiA-2 executable {name!r} (from {origin}) not found or not executable"
            )
    raise FileNotFoundError(
        "no SoFiA-2 executable found: pass executable=..., set SOFIA2_BIN, or put 'sofia' on PATH "
        "(build SoFiA-2 2.5.x from source with ./compile.sh -fopenmp; it needs wcslib)"
    )


def sofia_version(executable, timeout=60):
    """Return ``(major, minor, patch, text)`` of a SoFiA-2 binary from its ``Version:`` line.

    SoFiA prints its banner (including ``Version:``) and exits with code 7
    when called without a parameter file; that is what is run here.

    Raises
    ------
    RuntimeError
        If the output holds no version line.
    """
    path = find_sofia_executable(executable)
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key in _VERSION_CACHE:
        return _VERSION_CACHE[key]
    try:
        result = subprocess.run(
            [path], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise RuntimeError(f"cannot run SoFiA-2 executable {path}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"{path} did not answer within {timeout} s when asked for its version"
        ) from None
    text = strip_ansi(
        result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")
    )
    match = _VERSION.search(text)
    if match is None:
        raise RuntimeError(f"{path} printed no 'Version:' line; is it SoFiA-2?")
    major, minor, patch = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    full = f"{major}.{minor}.{patch}" + (f" ({match.group(4)})" if match.group(4) else "")
    _VERSION_CACHE[key] = (major, minor, patch, full)
    return _VERSION_CACHE[key]


def _sofia_message(stderr, stdout=""):
    """SoFiA's ERROR text (ANSI removed) with the warnings that preceded it."""
    text = strip_ansi(stderr)
    lines = [line.rstrip() for line in text.splitlines()]
    error, warns, current = [], [], None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("ERROR:"):
            current = error
            error.clear()
            stripped = stripped[len("ERROR:") :].strip()
        elif stripped.startswith("WARNING:"):
            current = []
            warns.append(current)
            stripped = stripped[len("WARNING:") :].strip()
        elif not stripped:
            current = None
            continue
        if stripped.startswith("Terminating with error code") or current is None:
            continue
        stripped = stripped.strip("│┌┐└┘─ ").strip()
        if stripped:
            current.append(stripped)
    message = " ".join(error)
    if not message:
        tail = [
            line for line in strip_ansi(stdout).replace("\r", "\n").splitlines() if line.strip()
        ]
        message = " ".join(tail[-3:]).strip() or "(SoFiA printed no error message)"
    warn_text = [" ".join(w) for w in warns if w]
    if warn_text:
        message += "\nSoFiA warnings:\n" + "\n".join(f"  - {w}" for w in warn_text)
    return message


def _run(command, cwd, timeout, progress):
    """Run SoFiA, streaming stdout into a stage progress bar; return (rc, stdout, stderr)."""
    proc = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    stderr_chunks = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    timer = None
    timed_out = threading.Event()
    if timeout is not None:

        def kill():
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
    stdout_lines = []
    bar = progress_bar(total=len(SOFIA_STAGES), desc="SoFiA-2", enabled=progress, unit="stage")
    position = 0
    try:
        for raw in iter(proc.stdout.readline, b""):
            line = strip_ansi(raw.decode("utf-8", "replace"))
            # progress bars are redrawn with carriage returns; keep the final state only
            stdout_lines.append(line.rsplit("\r", 1)[-1])
            stage = line.strip()
            if stage in _STAGE_INDEX and _STAGE_INDEX[stage] + 1 > position:
                bar.update(_STAGE_INDEX[stage] + 1 - position)
                position = _STAGE_INDEX[stage] + 1
                bar.set_postfix_str(stage)
        proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:  # pragma: no cover - interrupted (e.g. KeyboardInterrupt)
            proc.kill()
            proc.wait()
        bar.close()
        reader.join()
    if timed_out.is_set():
        raise TimeoutError(f"SoFiA-2 did not finish within {timeout} s and was stopped")
    stderr = b"".join(stderr_chunks).decode("utf-8", "replace")
    return proc.returncode, "".join(stdout_lines), stderr


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


def sofia_outputs_to_segmentation(
    image,
    cat_xml,
    mask,
    *,
    params=None,
    raw_mask=None,
    filtered=None,
    noise=None,
    region=None,
    meta=None,
):
    """Build a `~astro_mlfinder.core.segmentation.Segmentation` from SoFiA-2's VOTable catalogue and label mask.

    Parameters
    ----------
    image : `~astro_mlfinder.core.inputs.ImageData`
        The searched data.
    cat_xml : str, path-like or None
        SoFiA's ``_cat.xml`` (None for an empty result).
    mask : str, path-like, `~numpy.ndarray` or None
        SoFiA's ``_mask.fits`` (int32 ids) or the array itself (None: empty).
    params : `~astro_mlfinder.io.sofia_par.parfile.SofiaParameters`, optional
        The parameters of the run (``parameter.physical``/``prefix``).
    raw_mask, filtered, noise : path-like or array, optional
        Further SoFiA outputs, stored in ``catalog.products``.
    region : tuple of int, optional
        ``input.region`` of the run; the outputs are embedded at its origin
        and peak positions shifted, so that every position refers to
        ``image``.
    meta : dict, optional
        Extra provenance for ``catalog.meta``.

    Returns
    -------
    segmentation : `~astro_mlfinder.core.segmentation.Segmentation`
        All SoFiA catalogue columns (except ``id``, which comes from the
        mask) are finder columns, so the catalogue's values are SoFiA's.
    """
    params = SofiaParameters() if params is None else params

    def read(obj, dtype):
        if obj is None:
            return None
        if isinstance(obj, str | os.PathLike):
            with fits.open(obj, memmap=False) as hdul:
                array = hdul[0].data
        else:
            array = obj
        return np.array(array, dtype=dtype)

    def embed(array, fill):
        if array is None:
            return None
        while array.ndim > image.ndim and array.shape[0] == 1:
            array = array[0]
        if array.shape == image.shape:
            return array
        if region is None or array.ndim != 3:
            raise ValueError(
                f"SoFiA output of shape {array.shape} does not match the data shape {image.shape}"
            )
        full = np.full(image.shape, fill, dtype=array.dtype)
        x0, y0, z0 = region[0], region[2], region[4]
        full[z0 : z0 + array.shape[0], y0 : y0 + array.shape[1], x0 : x0 + array.shape[2]] = array
        return full

    segment = embed(read(mask, np.int32), 0)
    if segment is None:
        segment = np.zeros(image.shape, dtype=np.int32)
    columns = {}
    catalog_params = {}
    if cat_xml is not None and os.path.exists(cat_xml):
        table = read_sofia_xml(cat_xml)
        catalog_params = table.meta.get("params", {})
        order = np.argsort(np.asarray(table["id"]))
        table = table[order]
        ids = np.unique(segment[segment > 0])
        if not np.array_equal(np.asarray(table["id"]), ids):
            raise RuntimeError(
                f"SoFiA catalogue ids {list(np.asarray(table['id']))} do not match the "
                f"labels in the mask {list(ids)}"
            )
        offset = bool(params["parameter.offset"])
        for name in table.colnames:
            if name == "id":
                continue
            col = table[name]
            shifted = name in ("x_peak", "y_peak", "z_peak") or (
                not offset
                and name in ("x", "y", "z", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
            )
            if region is not None and shifted and isinstance(col, u.Quantity):
                origin = region[{"x": 0, "y": 2, "z": 4}[name[0]]]
                col = col + u.Quantity(origin, col.unit, dtype=col.dtype)
            columns[name] = col
    elif np.any(segment):
        raise RuntimeError("SoFiA wrote a mask with sources but no catalogue")
    products = {}
    for key, obj, dtype, fill in (
        ("mask_raw", raw_mask, np.uint8, 0),
        ("filtered", filtered, np.float32, np.nan),
        ("noise", noise, np.float32, np.nan),
    ):
        array = read(obj, dtype)
        if array is not None:
            products[key] = embed(array, fill) if array.ndim >= image.ndim else array
    meta = dict(meta or {})
    meta["sofia_params"] = params
    if catalog_params:
        meta["sofia_catalog_params"] = catalog_params
    return Segmentation(
        segment,
        columns=columns,
        products=products,
        meta=meta,
        physical=bool(params["parameter.physical"]),
        name_prefix=params["parameter.prefix"] or "SoFiA",
    )


def sofia_outputs_to_catalog(image, cat_xml, mask, **kwargs):
    """`SourceCatalog` of SoFiA-2's outputs: `sofia_outputs_to_segmentation` measured on ``image``.

    Takes the same arguments as `sofia_outputs_to_segmentation`.
    """
    return build_catalog(image, sofia_outputs_to_segmentation(image, cat_xml, mask, **kwargs))


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
