"""Registry, download cache and loading of trained network weights.

The registry ``data/weights/registry.json`` lists every published set of
weights: name, model, version, its ``files`` (one per network of the model,
each ``{'name': network, 'file', 'url', 'sha256', 'size'}``), the hardware
that trained it, architecture config, input normalisation, training recipe,
validation scores. Entries of the older single-file form (``file``,
``sha256``, ``size``, ``url`` at the top level, one network named after the
model) are still read. `fetch` returns the path of a verified local copy of
one file, `fetch_all` of every file of an entry:

1. the user cache (``$ASTRO_MLFINDER_CACHE_DIR``, default the astropy cache
   directory of ``astro_mlfinder``, i.e. ``~/.astro_mlfinder/cache/weights``)
   is used when it holds the file with the right sha256;
2. otherwise the file is downloaded from a mirror into the cache (streamed to
   a temporary ``.part`` file, sha256-verified, then atomically renamed; the
   download has an overall deadline, ``astro_mlfinder.conf.download_deadline``,
   besides the per-read timeout, and a partial file is deleted on every exit
   path, or by the next fetch when a killed process left it). The mirror is,
   in order: the ``url`` argument; the environment variable
   ``ASTRO_MLFINDER_WEIGHTS_URL``; the config item
   ``astro_mlfinder.conf.weights_url``; the package's own ``data/weights``
   directory (a source checkout or installed package data) as a ``file://``
   URL, which makes the bundled models work offline. ``file://`` and
   ``http(s)://`` mirrors both work.

Weights files are read with ``torch.load(weights_only=True)``: only tensors
and plain Python containers, never arbitrary pickled objects.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..config import conf
from ..io.atomic import atomic_path
from ._download import (
    ChecksumError,
    DownloadTimeoutError,
    WeightsError,
    _download,
    _join,
    _remove_stale_parts,
    sha256sum,
)
from ._torch import describe_hardware, require_torch

__all__ = [
    "WeightsError",
    "ChecksumError",
    "DownloadTimeoutError",
    "registry_path",
    "load_registry",
    "list_weights",
    "get_entry",
    "entry_files",
    "cache_dir",
    "mirror_urls",
    "fetch",
    "fetch_all",
    "verify",
    "corrupted_files",
    "sha256sum",
    "load_weights",
    "save_weights",
    "atomic_save",
    "registry_entry",
    "bundled_weights_dir",
    "describe_hardware",
    "WEIGHTS_FORMAT",
]

WEIGHTS_FORMAT = "astro_mlfinder-weights"
_ENV_URL = "ASTRO_MLFINDER_WEIGHTS_URL"
_ENV_CACHE = "ASTRO_MLFINDER_CACHE_DIR"


def _package_dir():
    return Path(__file__).resolve().parent.parent


def bundled_weights_dir():
    """The ``data/weights`` directory shipped with the package or checkout, or None."""
    candidates = [_package_dir() / "data" / "weights", _package_dir().parent / "data" / "weights"]
    for path in candidates:
        if (path / "registry.json").is_file():
            return path
    return None


def registry_path():
    """Path of ``registry.json`` (package data, else the source checkout's ``data/weights``)."""
    path = bundled_weights_dir()
    if path is None:
        raise WeightsError(
            "the weights registry data/weights/registry.json was not found next to the package "
            f"({_package_dir()}); reinstall astro_mlfinder"
        )
    return path / "registry.json"


def load_registry(path=None):
    """Return the registry entries (list of dicts) from ``path`` (default `registry_path`)."""
    path = Path(path) if path is not None else registry_path()
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    entries = data["weights"] if isinstance(data, dict) else data
    for entry in entries:
        missing = {"name", "model", "version"} - set(entry)
        if "files" in entry:
            files = entry["files"]
            if not isinstance(files, list) or not files:
                raise WeightsError(f"registry entry {entry.get('name')!r} in {path}: 'files' must be a non-empty list")
            for item in files:
                missing |= {f"files[].{k}" for k in ("name", "file", "sha256") if k not in item}
        else:
            missing |= {"file", "sha256"} - set(entry)
        if missing:
            raise WeightsError(f"registry entry {entry.get('name')!r} in {path} lacks {sorted(missing)}")
    return entries


def entry_files(entry):
    """The files of a registry entry: list of ``{'name', 'file', 'url', 'sha256', 'size'}``, one per network.

    Entries of the single-file form (``file`` and ``sha256`` at the top level)
    give one file whose network name is the entry's model.
    """
    if "files" in entry:
        items = entry["files"]
    else:
        items = [{k: entry[k] for k in ("file", "url", "sha256", "size") if k in entry} | {"name": entry["model"]}]
    return [
        {
            "name": str(item["name"]),
            "file": item["file"],
            "url": item.get("url") or item["file"],
            "sha256": item["sha256"],
            "size": item.get("size"),
        }
        for item in items
    ]


def _entry_file(entry, network=None):
    """The file of ``network`` in ``entry`` (default: its only file)."""
    files = entry_files(entry)
    if network is None:
        if len(files) > 1:
            names = ", ".join(f["name"] for f in files)
            raise ValueError(
                f"weights {entry['name']!r} hold {len(files)} files ({names}); name the network, or use fetch_all"
            )
        return files[0]
    for item in files:
        if item["name"] == network:
            return item
    if len(files) == 1 and "files" not in entry:  # an old single-file entry: its one file serves any network name
        return files[0]
    names = ", ".join(f["name"] for f in files)
    raise ValueError(
        f"weights {entry['name']!r} version {entry['version']} have no network {network!r}; files: {names}"
    )


def _version_key(version):
    parts = []
    for p in str(version).replace("-", ".").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return parts


def get_entry(name, version=None, registry=None):
    """Registry entry for ``name`` (entry or model name) and ``version`` (default: newest).

    Raises
    ------
    ValueError
        If no entry matches; the message lists the available names/versions.
    """
    if registry is None:
        entries = load_registry()
    elif isinstance(registry, str | os.PathLike):
        entries = load_registry(registry)
    else:
        entries = list(registry)
    matches = [e for e in entries if e["name"] == name] or [e for e in entries if e["model"] == name]
    if version is not None:
        matches = [e for e in matches if str(e["version"]) == str(version)]
    if not matches:
        known = ", ".join(f"{e['name']} {e['version']}" for e in entries) or "none"
        what = f"{name!r}" + (f" version {version!r}" if version is not None else "")
        raise ValueError(f"no weights named {what} in the registry; available: {known}")
    return max(matches, key=lambda e: _version_key(e["version"]))


def cache_dir():
    """Directory where downloaded weights are cached (created if needed).

    ``$ASTRO_MLFINDER_CACHE_DIR`` if set, else the config item
    ``astro_mlfinder.conf.cache_dir`` if set, else ``<astropy cache dir for
    astro_mlfinder>/weights`` (``~/.astro_mlfinder/cache/weights``).
    """
    env = os.environ.get(_ENV_CACHE) or _config_value("cache_dir")
    if env:
        path = Path(env).expanduser()
    else:
        try:
            from astropy.config import get_cache_dir

            path = Path(get_cache_dir("astro_mlfinder")) / "weights"
        except Exception:  # pragma: no cover - unusual HOME setups
            path = Path.home() / ".astro_mlfinder" / "cache" / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _config_value(item):
    """Value of ``astro_mlfinder.conf.<item>`` ('' if unset)."""
    value = getattr(conf, item, None)
    return str(value).strip() if value else ""


def mirror_urls(url=None):
    """Base URLs to try, in order (see the module docstring)."""
    if url:
        return [str(url)]
    env = os.environ.get(_ENV_URL, "").strip()
    if env:
        return [env]
    urls = []
    conf = _config_value("weights_url")
    if conf:
        urls.append(conf)
    local = bundled_weights_dir()
    if local is not None:
        urls.append(local.as_uri() + "/")
    return urls


def _mirror_help(urls_tried):
    tried = ", ".join(urls_tried) if urls_tried else "no mirror configured"
    return (
        f"tried: {tried}. Set a mirror with the environment variable {_ENV_URL} or the config item "
        "astro_mlfinder.conf.weights_url (http(s):// or file://), e.g. "
        f"{_ENV_URL}=file:///path/to/astro_mlfinder-source/data/weights/ to use a source checkout"
    )


def _resolve_deadline(deadline):
    """``deadline`` in seconds (None: the config item ``download_deadline``); None or <= 0 means none."""
    if deadline is None:
        deadline = getattr(conf, "download_deadline", None)
    if deadline is None:
        return None
    deadline = float(deadline)
    return deadline if deadline > 0 else None


def _fetch_file(entry, item, url, force, progress, timeout, deadline=None):
    """Verified cached copy of one file ``item`` of ``entry`` (see `fetch`)."""
    deadline = _resolve_deadline(deadline)
    target_dir = cache_dir()
    target = target_dir / item["file"]
    if target.is_file() and not force:
        if sha256sum(target) == item["sha256"]:
            return target
        target.unlink()  # stale or corrupted cache entry: fetch again
    # a live download writes at least once per read timeout: a partial file untouched far longer
    # belongs to a process that was killed (SIGKILL leaves no chance to clean up)
    _remove_stale_parts(target_dir, max(10 * float(timeout), 300.0))
    errors, tried = [], []
    for base in mirror_urls(url):
        file_url = _join(base, item["url"])
        tried.append(file_url)
        try:
            tmp = _download(file_url, target_dir, item["sha256"], timeout, progress, deadline)
        except ChecksumError:
            raise
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            errors.append(f"{file_url}: {reason}")
            continue
        os.replace(tmp, target)
        return target
    detail = "; ".join(errors) if errors else "no mirror available"
    what = f"weights {entry['name']!r} version {entry['version']}"
    if len(entry_files(entry)) > 1:
        what += f" (network {item['name']!r})"
    raise WeightsError(f"cannot download {what} ({detail}). " + _mirror_help(tried))


def fetch(
    name, version=None, *, network=None, registry=None, url=None, force=False, progress=False, timeout=30, deadline=None
):
    """Return the local path of one verified weights file, downloading it if needed.

    Parameters
    ----------
    name : str
        Registry entry name or model name (e.g. ``'unet3d'``).
    version : str, optional
        Registry version; the newest if omitted.
    network : str, optional
        The network whose file to fetch, for entries holding several files
        (one per network); default: the entry's only file.
    registry : str, path or list of dict, optional
        Registry file or entries to use instead of the bundled ``registry.json``.
    url : str, optional
        Mirror base URL (``http(s)://...`` or ``file://...``) overriding the
        environment variable, the config item and the bundled directory.
    force : bool
        Download again even when the cache holds a valid copy.
    progress : bool
        Show a download progress bar.
    timeout : float
        Timeout of each network read, in seconds.
    deadline : float, optional
        Overall time limit of the download, in seconds; default the config
        item ``astro_mlfinder.conf.download_deadline`` (1800 s). A mirror
        slower than that is abandoned and its partial file deleted.

    Returns
    -------
    `~pathlib.Path`
        Path of the file in the cache.

    Raises
    ------
    ChecksumError
        If the downloaded file does not have the registered sha256 (it is deleted).
    WeightsError
        If no mirror could deliver the file (unreachable, or slower than the
        deadline); the message names the URLs tried and how to configure a
        mirror.
    ValueError
        If the entry is unknown, or holds several files and ``network`` is not given.
    """
    entry = get_entry(name, version, registry)
    return _fetch_file(entry, _entry_file(entry, network), url, force, progress, timeout, deadline)


def fetch_all(name, version=None, *, registry=None, url=None, force=False, progress=False, timeout=30, deadline=None):
    """Fetch every file of a registry entry; return ``{network: Path}`` (arguments as in `fetch`)."""
    entry = get_entry(name, version, registry)
    return {
        item["name"]: _fetch_file(entry, item, url, force, progress, timeout, deadline) for item in entry_files(entry)
    }


def corrupted_files(name, version=None, *, network=None, registry=None, remove=False):
    """The cached files of ``name`` whose sha256 differs from the registry's.

    Parameters
    ----------
    name, version, network, registry
        As in `verify`.
    remove : bool
        Delete each corrupted cached file, so the next `fetch` downloads it again.

    Returns
    -------
    list of `~pathlib.Path`
        The corrupted files (empty when every cached file matches).

    Raises
    ------
    FileNotFoundError
        If a file is not in the cache (use `fetch` first).
    """
    entry = get_entry(name, version, registry)
    items = [_entry_file(entry, network)] if network is not None else entry_files(entry)
    bad = []
    for item in items:
        path = cache_dir() / item["file"]
        if not path.is_file():
            raise FileNotFoundError(
                f"weights {entry['name']!r} version {entry['version']} are not cached at {path}; "
                f"fetch them with astro_mlfinder.neural.weights.fetch_all({entry['name']!r}) "
                f"or 'astro-mlfinder weights fetch {entry['name']}'"
            )
        if sha256sum(path) != item["sha256"]:
            bad.append(path)
            if remove:
                path.unlink(missing_ok=True)
    return bad


def verify(name, version=None, *, network=None, registry=None, remove=False):
    """Check the cached copies of the files of ``name`` against the registry's sha256.

    ``registry`` is as in `fetch`; ``network`` restricts the check to one file;
    ``remove=True`` deletes a corrupted cached file (see `corrupted_files`,
    which also names them).

    Returns
    -------
    bool
        True if every cached file matches, False if one differs.

    Raises
    ------
    FileNotFoundError
        If a file is not in the cache (use `fetch` first).
    """
    return not corrupted_files(name, version, network=network, registry=registry, remove=remove)


def list_weights(registry=None):
    """Registry entries as a list of dicts, each with ``cached`` (valid copies of all its files are in the cache).

    Every row also has ``files`` (`entry_files`) and ``size`` (their total size in bytes).
    """
    out = []
    base = cache_dir()
    entries = load_registry(registry) if registry is None or isinstance(registry, str | os.PathLike) else list(registry)
    for entry in entries:
        row = dict(entry)
        files = entry_files(entry)
        row["files"] = files
        row["size"] = sum(int(f["size"] or 0) for f in files)
        row["cached"] = all((base / f["file"]).is_file() and sha256sum(base / f["file"]) == f["sha256"] for f in files)
        out.append(row)
    return out


def _to_plain(obj):
    """Recursively turn tuples into lists and numpy scalars into numbers (weights_only-safe)."""
    if isinstance(obj, str):
        return str(obj)  # plain str (e.g. torch.__version__ is a str subclass)
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_plain(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    return obj


def save_weights(path, model_name, model, meta=None, dtype=None):
    """Write a weights file: ``{'format', 'model', 'config', 'state_dict', 'meta'}``.

    Parameters
    ----------
    path : str or path
        Output file (``.pt``).
    model_name : str
        Registry model name (``'unet3d'``).
    model : `torch.nn.Module`
        Model with a ``config`` dict.
    meta : dict, optional
        Plain metadata (normalisation, rebin, inference defaults, training recipe).
    dtype : `torch.dtype`, optional
        Store floating-point tensors in this dtype (e.g. ``torch.float16`` to halve the size).
    """
    require_torch("save_weights")
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        state[key] = value.clone()
    payload = {
        "format": WEIGHTS_FORMAT,
        "format_version": 1,
        "model": str(model_name),
        "config": _to_plain(model.config),
        "state_dict": state,
        "meta": _to_plain(meta or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(payload, path)
    return path


def atomic_save(payload, path):
    """``torch.save(payload, path)`` through a temporary file renamed into place (never a half-written file)."""
    torch = require_torch("saving weights")
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_weights(source, version=None, *, network=None, registry=None, map_location="cpu", progress=False):
    """Load a weights file or training checkpoint safely.

    Parameters
    ----------
    source : str or path
        An existing file (weights or checkpoint), or a registry name.
    version : str, optional
        Registry version when ``source`` is a name.
    network : str, optional
        For a registry entry holding several files, the network whose file to
        load (default: the entry's only file).

    Returns
    -------
    dict
        ``{'model', 'config', 'state_dict' (float32), 'meta', 'path',
        'registry', 'network', 'sha256'}``; ``registry`` is the registry entry
        and ``sha256`` the registered checksum (both None for a local file),
        ``network`` the network name of the registry file (None for a local file).
    """
    torch = require_torch("load_weights")
    entry = item = None
    path = Path(str(source)).expanduser()
    if not path.is_file():
        if any(sep in str(source) for sep in ("/", "\\")) or str(source).endswith((".pt", ".pth")):
            raise FileNotFoundError(f"weights file not found: {source}")
        entry = get_entry(str(source), version, registry)
        item = _entry_file(entry, network)
        path = _fetch_file(entry, item, None, False, progress, 30)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read weights from {path}: {exc}") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise WeightsError(f"{path} is not an astro_mlfinder weights file or checkpoint")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
    return {
        "model": payload.get("model"),
        "config": dict(payload["config"]),
        "state_dict": state,
        "meta": dict(payload.get("meta", {})),
        "path": path,
        "registry": entry,
        "network": None if item is None else item["name"],
        "sha256": None if item is None else item["sha256"],
    }


def _recorded_hardware(path):
    """The hardware recorded in a weights file's training metadata (None if absent or unreadable)."""
    try:
        meta = load_weights(path)["meta"]
    except (ImportError, WeightsError):
        return None
    training = meta.get("training") or {}
    if training.get("hardware"):
        return training["hardware"]
    if training.get("device"):
        return {"device": str(training["device"])}
    return None


def registry_entry(files, *, name, model, version, hardware=None, **info):
    """Build a registry entry (dict) for a set of weights files.

    Parameters
    ----------
    files : str, path or dict
        The weights file of a one-network model (its network is named
        ``model``), or ``{network: path}`` for every network of the model.
        For each file, ``file`` and ``url`` are the file name (resolved against
        the mirror), ``sha256`` and ``size`` are computed.
    name, model, version : str
        Entry name, registered model name and version.
    hardware : dict or str, optional
        What trained the weights (device, accelerator, CPU, threads, torch
        version). Default: as recorded by `~astro_mlfinder.neural.training.train`
        in the first file's metadata.
    **info
        Architecture config, normalisation, training recipe, scores...

    Raises
    ------
    ValueError
        If ``hardware`` is not given and not recorded in the files.
    """
    if isinstance(files, dict):
        paths = {str(k): Path(v) for k, v in files.items()}
    else:
        paths = {str(model): Path(files)}
    items = [
        {
            "name": network,
            "file": path.name,
            "url": path.name,
            "sha256": sha256sum(path),
            "size": path.stat().st_size,
        }
        for network, path in paths.items()
    ]
    if hardware is None:
        hardware = _recorded_hardware(next(iter(paths.values())))
    if hardware is None:
        raise ValueError(
            "the weights files do not record the hardware that trained them; "
            "pass hardware=... (e.g. astro_mlfinder.neural.weights.describe_hardware('cpu'))"
        )
    entry = {
        "name": str(name),
        "model": str(model),
        "version": str(version),
        "files": items,
        "hardware": hardware,
    }
    entry.update(_to_plain(info))
    return _to_plain(entry)
