"""Flagging of bad data (SoFiA-2 ``flag.*`` and the search for infinite values).

Regions use SoFiA-2's convention: 6-tuples ``(x1, x2, y1, y2, z1, z2)``,
0-based and inclusive, x being the last numpy axis.  Flagging sets float data
to NaN (integer arrays, such as masks, to 0) in place.

Auto-flagging (:func:`auto_flag`) measures a robust noise per channel and/or
per spatial pixel (``1.4826 * median |x|``, the upper middle value for even
counts) and flags those that deviate from the median of all of them by more
than ``threshold`` times their ``1.4826 * MAD``.  Its log lines use SoFiA-2's
codes ``C z`` (channel), ``P x y`` (spatial pixel) and ``R x1 x2 y1 y2``
(spatial region over all channels).
"""

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core._numba import njit, prange
from ..core.exceptions import AstroMLFinderWarning
from ..core.stats import MAD_TO_STD, abs_finite_into, mad_about, nth_element, sofia_median

__all__ = [
    "FlagResult",
    "apply_flags",
    "auto_flag",
    "find_infinite",
    "flag_catalog",
    "flag_log_lines",
    "flag_regions",
    "format_flag_log",
]


def _as_cube(data, name="data"):
    if not isinstance(data, np.ndarray):
        raise ValueError(f"{name} must be a numpy array (it is modified in place).")
    if data.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2D (y, x) or 3D (z, y, x), got shape {data.shape}.")
    return data if data.ndim == 3 else data[np.newaxis]


def find_infinite(data):
    """Voxels with +/-Inf, as single-voxel flagging regions.

    Parameters
    ----------
    data : array_like
        Cube (z, y, x) or image (y, x).

    Returns
    -------
    list of tuple
        One ``(x, x, y, y, z, z)`` region per infinite voxel (z = 0 for
        images), ordered by z, y, x; empty if there are none.
    """
    arr = np.asarray(data)
    if arr.ndim not in (2, 3):
        raise ValueError(f"data must be 2D (y, x) or 3D (z, y, x), got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.floating):
        return []
    cube = arr if arr.ndim == 3 else arr[np.newaxis]
    idx = np.argwhere(np.isinf(cube))
    return [(int(x), int(x), int(y), int(y), int(z), int(z)) for z, y, x in idx]


def _normalise_regions(regions):
    if regions is None:
        return []
    arr = np.asarray(regions, dtype=object)
    if arr.size == 0:
        return []
    flat = []
    for item in np.ravel(np.asarray(regions, dtype=float)):
        if not math.isfinite(item) or item != int(item) or item < 0:
            raise ValueError(f"Flagging region bounds must be integers >= 0, got {item!r}.")
        flat.append(int(item))
    if len(flat) % 6:
        raise ValueError("Flagging regions must contain a multiple of 6 entries "
                         "(x1, x2, y1, y2, z1, z2 per region).")
    return [tuple(flat[i:i + 6]) for i in range(0, len(flat), 6)]


def flag_regions(data, regions):
    """Blank rectangular regions in place (SoFiA-2 ``flag.region``).

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x) or image (y, x).  Float data become NaN, integer data
        (e.g. a mask) become 0, inside every region.
    regions : sequence
        6-tuples ``(x1, x2, y1, y2, z1, z2)``, 0-based inclusive, or a flat
        sequence of a multiple of 6 numbers.  Upper bounds beyond the array
        are clipped; a lower bound above its upper bound is set to it (as in
        SoFiA-2).

    Returns
    -------
    list of tuple
        The regions as applied (after clipping).
    """
    cube = _as_cube(data)
    nz, ny, nx = cube.shape
    value = np.nan if np.issubdtype(cube.dtype, np.floating) else 0
    applied = []
    for x1, x2, y1, y2, z1, z2 in _normalise_regions(regions):
        x2 = min(x2, nx - 1)
        y2 = min(y2, ny - 1)
        z2 = min(z2, nz - 1)
        x1 = min(x1, x2)
        y1 = min(y1, y2)
        z1 = min(z1, z2)
        cube[z1:z2 + 1, y1:y2 + 1, x1:x2 + 1] = value
        applied.append((x1, x2, y1, y2, z1, z2))
    return applied


def _read_position_file(path):
    rows = []
    for line in Path(path).read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = [p for p in re.split(r"[ \t,|]+", text) if p]
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            continue
    if not rows or any(len(r) != 2 for r in rows):
        return None
    return np.array(rows, dtype=float)


def flag_catalog(data, wcs, path_or_coords, radius=5):
    """Blank discs around catalogued positions in all channels (SoFiA-2 ``flag.catalog``).

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x) or image (y, x); changed in place.
    wcs : astropy.wcs.WCS
        WCS of ``data``; its celestial part converts the positions.
    path_or_coords : str, path, array_like or SkyCoord
        A text file with two columns (longitude, latitude in degrees in the
        cube's frame; separators space, tab, comma or ``|``; ``#`` starts a
        comment), an (N, 2) array of the same, or a SkyCoord.
    radius : int
        Disc radius in pixels: ``dx**2 + dy**2 <= radius**2`` is blanked.

    Returns
    -------
    int
        Number of positions that fell inside the image and were flagged.
    """
    cube = _as_cube(data)
    if wcs is None:
        raise ValueError("flag_catalog needs a WCS to convert catalogue positions to pixels.")
    radius = int(radius)
    if radius < 0:
        raise ValueError(f"flag radius must be >= 0, got {radius}.")
    celestial = wcs.celestial if hasattr(wcs, "celestial") else wcs
    try:
        from astropy.coordinates import SkyCoord
    except ImportError:  # pragma: no cover - astropy is a core dependency
        SkyCoord = ()
    if isinstance(path_or_coords, SkyCoord):
        px, py = celestial.world_to_pixel(path_or_coords)
        px, py = np.atleast_1d(px), np.atleast_1d(py)
    else:
        if isinstance(path_or_coords, (str, Path)):
            coords = _read_position_file(path_or_coords)
            if coords is None:
                warnings.warn(f"Flagging catalogue {path_or_coords} must contain 2 data columns; "
                              "it is ignored.", AstroMLFinderWarning, stacklevel=2)
                return 0
        else:
            coords = np.atleast_2d(np.asarray(path_or_coords, dtype=float))
            if coords.ndim != 2 or coords.shape[1] != 2:
                raise ValueError("Flagging positions must be an (N, 2) array of longitude and "
                                 "latitude in degrees.")
        px, py = celestial.wcs_world2pix(coords[:, 0], coords[:, 1], 0)
    nz, ny, nx = cube.shape
    value = np.nan if np.issubdtype(cube.dtype, np.floating) else 0
    r2 = radius * radius
    count = 0
    for fx, fy in zip(px, py, strict=True):
        if not (np.isfinite(fx) and np.isfinite(fy)):
            continue
        x0 = int(fx + 0.5)  # C cast: truncation towards zero, as in SoFiA-2
        y0 = int(fy + 0.5)
        if x0 < 0 or y0 < 0 or x0 >= nx or y0 >= ny:
            continue
        count += 1
        xa, xb = max(x0 - radius, 0), min(x0 + radius, nx - 1)
        ya, yb = max(y0 - radius, 0), min(y0 + radius, ny - 1)
        yy, xx = np.mgrid[ya:yb + 1, xa:xb + 1]
        disc = (xx - x0) ** 2 + (yy - y0) ** 2 <= r2
        cube[:, ya:yb + 1, xa:xb + 1][:, disc] = value
    return count


@njit(cache=True)
def _upper_median_abs(buf, n):
    if n == 0:
        return np.nan
    return np.float64(nth_element(buf, n, n // 2))


@njit(cache=True, parallel=True)
def _channel_noise(cube):
    # robust_noise_2_flt per channel (float32 result)
    nz, ny, nx = cube.shape
    out = np.empty(nz, dtype=np.float32)
    for z in prange(nz):
        buf = np.empty(ny * nx, dtype=np.float32)
        n = abs_finite_into(cube[z].ravel(), buf)
        out[z] = np.float32(MAD_TO_STD * np.float64(_upper_median_abs(buf, n)))
    return out


@njit(cache=True, parallel=True)
def _pixel_noise(cube):
    # robust_noise_2_dbl per spectrum (float64 result)
    nz, ny, nx = cube.shape
    out = np.empty((ny, nx), dtype=np.float64)
    for y in prange(ny):
        block = np.empty((nx, nz), dtype=np.float64)
        for z in range(nz):
            for x in range(nx):
                block[x, z] = cube[z, y, x]
        buf = np.empty(nz, dtype=np.float64)
        for x in range(nx):
            n = abs_finite_into(block[x], buf)
            out[y, x] = MAD_TO_STD * _upper_median_abs(buf, n)
    return out


def _outliers(noise, threshold):
    """Indices where |noise - median| > threshold * 1.4826 * MAD (SoFiA-2 rules)."""
    finite = noise[~np.isnan(noise)]
    median = sofia_median(finite)
    rms = MAD_TO_STD * float(mad_about(noise, median, 1, 0))
    dev = np.abs((noise - median).astype(np.float64))
    return np.flatnonzero(dev > threshold * rms), float(median), rms


@dataclass
class FlagResult:
    """Result of :func:`auto_flag`.

    Attributes
    ----------
    channels : list of int
        Flagged channels (z), ascending.
    pixels : list of tuple
        Flagged spatial pixels ``(x, y)``, in (y, x) raster order.
    regions : list of tuple
        The same as SoFiA-2 regions ``(x1, x2, y1, y2, z1, z2)``, channels
        first; ready for :func:`flag_regions`.
    log_lines : list of str
        SoFiA-2 flag-log lines (``C z`` / ``P x y``).
    channel_noise, pixel_noise : ndarray or None
        The robust noise per channel / per spatial pixel that was tested.
    stats : dict
        ``median`` and ``rms`` (1.4826 x MAD) of those noise values, per mode.
    n_channels : int
        Number of channels of the cube (needed to format the log).
    """

    channels: list = field(default_factory=list)
    pixels: list = field(default_factory=list)
    regions: list = field(default_factory=list)
    log_lines: list = field(default_factory=list)
    channel_noise: np.ndarray = None
    pixel_noise: np.ndarray = None
    stats: dict = field(default_factory=dict)
    n_channels: int = 0

    def log_text(self, offset=(0, 0, 0), creator="astro_mlfinder"):
        """Text of SoFiA-2's ``_flags.log`` file for these flags (see :func:`format_flag_log`)."""
        return format_flag_log(self.regions, self.n_channels, offset=offset, creator=creator)


def _auto_mode(mode):
    if mode is None or mode is False:
        return 0
    if mode is True:
        return 3
    key = str(mode).lower()
    table = {"false": 0, "channels": 1, "pixels": 2, "true": 3}
    if key not in table:
        raise ValueError(f"auto-flag mode must be False, 'channels', 'pixels' or True, got "
                         f"{mode!r}.")
    return table[key]


def auto_flag(data, mode, threshold=5.0, *, apply=True):
    """Find noisy channels and/or spatial pixels (SoFiA-2 ``flag.auto``).

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x), float; the flagged channels/pixels are blanked in
        place unless ``apply`` is False.
    mode : {False, 'channels', 'pixels', True}
        What to test; True means channels and pixels.
    threshold : float
        Flag where the robust noise deviates from the median robust noise by
        more than ``threshold`` x 1.4826 x MAD of all of them (> 0).
    apply : bool
        Blank the flagged channels/pixels in ``data`` (in place), as SoFiA-2's
        auto-flagging stage does.  Both tests run on the data as they were
        before anything was blanked.  Use :func:`apply_flags` to blank the
        same voxels in another cube (e.g. the original before a reload).

    Returns
    -------
    FlagResult
        Flagged channels and pixels, their regions and flag-log lines.
    """
    code = _auto_mode(mode)
    threshold = float(threshold)
    if not (math.isfinite(threshold) and threshold > 0.0):
        raise ValueError(f"flag threshold must be > 0, got {threshold}.")
    if not isinstance(data, np.ndarray) or data.ndim != 3:
        raise ValueError("auto_flag needs a 3D (z, y, x) numpy array.")
    cube = np.ascontiguousarray(data, dtype=np.float32)
    nz, ny, nx = cube.shape
    res = FlagResult(n_channels=nz)
    if code & 1:
        noise = _channel_noise(cube)
        idx, median, rms = _outliers(noise, threshold)
        res.channel_noise = noise
        res.stats["channels"] = {"median": median, "rms": rms}
        res.channels = [int(i) for i in idx]
        res.regions += [(0, nx - 1, 0, ny - 1, z, z) for z in res.channels]
    if code & 2:
        noise = _pixel_noise(cube)
        idx, median, rms = _outliers(noise.ravel(), threshold)
        res.pixel_noise = noise
        res.stats["pixels"] = {"median": median, "rms": rms}
        res.pixels = [(int(i % nx), int(i // nx)) for i in idx]
        res.regions += [(x, x, y, y, 0, nz - 1) for x, y in res.pixels]
    res.log_lines = flag_log_lines(res.regions, nz)
    if apply and res.regions:
        flag_regions(data, res.regions)
    return res


def apply_flags(data, flags):
    """Blank the regions of a :class:`FlagResult` (or a region list) in place.

    Parameters
    ----------
    data : ndarray
        Cube (z, y, x) or image; float data become NaN, integer data 0.
    flags : FlagResult or sequence
        Result of :func:`auto_flag`, or regions as for :func:`flag_regions`.

    Returns
    -------
    list of tuple
        The regions applied.
    """
    regions = flags.regions if isinstance(flags, FlagResult) else flags
    return flag_regions(data, regions)


def flag_log_lines(regions, nz, offset=(0, 0, 0)):
    """SoFiA-2 flag-log lines for flagging regions.

    Parameters
    ----------
    regions : sequence of tuple
        ``(x1, x2, y1, y2, z1, z2)`` regions.
    nz : int
        Number of channels of the cube.
    offset : tuple of int
        ``(x0, y0, z0)`` added to the coordinates (SoFiA-2 adds the
        ``input.region`` origin when ``parameter.offset`` is true).

    Returns
    -------
    list of str
        ``C z`` when ``z1 == z2``; else ``P x y`` for a single pixel; else
        ``R x1 x2 y1 y2`` when the region spans all channels; other regions
        are not logged (SoFiA-2's rules, in that order).
    """
    ox, oy, oz = (int(v) for v in offset)
    lines = []
    for x1, x2, y1, y2, z1, z2 in _normalise_regions(regions):
        if z1 == z2:
            lines.append(f"C {z1 + oz}")
        elif x1 == x2 and y1 == y2:
            lines.append(f"P {x1 + ox} {y1 + oy}")
        elif z1 == 0 and z2 == nz - 1:
            lines.append(f"R {x1 + ox} {x2 + ox} {y1 + oy} {y2 + oy}")
    return lines


def format_flag_log(regions, nz, offset=(0, 0, 0), creator="astro_mlfinder"):
    """Full text of a SoFiA-2 style ``_flags.log`` file.

    Parameters
    ----------
    regions, nz, offset
        As in :func:`flag_log_lines`.
    creator : str
        Name written on the ``# Creator:`` line.

    Returns
    -------
    str
        The header comment block followed by one line per logged region.
    """
    header = (
        "# Auto-flagging log file\n"
        f"# Creator: {creator}\n#\n"
        "# Flagging codes:\n"
        "#   C z            =  spectral channel (z)\n"
        "#   P x y          =  spatial pixel (x, y)\n"
        "#   R x1 x2 y1 y2  =  spatial region (x1:x2, y1:y2)\n"
        "# Note that coordinates will be relative to subregion\n"
        "# unless parameter.offset was set to true.\n\n"
    )
    return header + "".join(line + "\n" for line in flag_log_lines(regions, nz, offset))
