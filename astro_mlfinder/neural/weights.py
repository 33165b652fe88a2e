"""Registry, download cache and loading of trained network weights.

The registry ``data/weights/registry.json`` lists every published set of
weights (name, model, version, file, sha256, size, url, architecture config,
input normalisation, training recipe, validation scores). `fetch` returns the
path of a verified local copy:

1. the user cache (``$ASTRO_MLFINDER_CACHE_DIR``, default the astropy cache
   directory of ``astro_mlfinder``, i.e. ``~/.astro_mlfinder/cache/weights``)
   is used when it holds the file with the right sha256;
2. otherwise the file is downloaded from a mirror into the cache (streamed to
   a temporary file, sha256-verified, then atomically renamed). The mirror is,
   in order: the ``url`` argument; the environment variable
   ``ASTRO_MLFINDER_WEIGHTS_URL``; the config item
   ``astro_mlfinder.conf.weights_url``; the package's own ``data/weights``
   directory (a source checkout or installed package data) as a ``file://``
   URL, which makes the bundled models work offline. ``file://`` and
   ``http(s)://`` mirrors both work.

Weights files are read with ``torch.load(weights_only=True)``: only tensors
and plain Python containers, never arbitrary pickled objects.
"""

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ._torch import require_torch

__all__ = [
    "WeightsError",
    "ChecksumError",
    "registry_path",
    "load_registry",
    "list_weights",
    "get_entry",
    "cache_dir",
    "mirror_urls",
    "fetch",
    "verify",
    "sha256sum",
    "load_weights",
    "save_weights",
    "registry_entry",
    "bundled_weights_dir",
    "WEIGHTS_FORMAT",
]

WEIGHTS_FORMAT = "astro_mlfinder-weights"
_ENV_URL = "ASTRO_MLFINDER_WEIGHTS_URL"
_ENV_CACHE = "ASTRO_MLFINDER_CACHE_DIR"
_CHUNK = 1 << 20


class WeightsError(OSError):
    """A set of weights cannot be found, downloaded or read."""


class ChecksumError(WeightsError, ValueError):
    """A downloaded or cached weights file does not have the registered sha256."""


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
        missing = {"name", "model", "version", "file", "sha256"} - set(entry)
        if missing:
            raise WeightsError(f"registry entry {entry.get('name')!r} in {path} lacks {sorted(missing)}")
    return entries


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
    """Value of ``astro_mlfinder.conf.<item>`` ('' if unset or unavailable)."""
    try:
        import astro_mlfinder

        conf = getattr(astro_mlfinder, "conf", None)
        value = getattr(conf, item, None) if conf is not None else None
    except Exception:  # pragma: no cover - a broken package import must not hide the real error
        value = None
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


def _join(base, filename):
    if "://" not in base:  # a plain directory path
        base = Path(base).expanduser().resolve().as_uri()
    if not base.endswith("/"):
        base += "/"
    return urllib.parse.urljoin(base, urllib.parse.quote(filename))


def sha256sum(path):
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _mirror_help(urls_tried):
    tried = ", ".join(urls_tried) if urls_tried else "no mirror configured"
    return (
        f"tried: {tried}. Set a mirror with the environment variable {_ENV_URL} or the config item "
        "astro_mlfinder.conf.weights_url (http(s):// or file://), e.g. "
        f"{_ENV_URL}=file:///path/to/astro_mlfinder-source/data/weights/ to use a source checkout"
    )


def _download(url, target_dir, expected_sha, timeout, progress):
    from tqdm.auto import tqdm

    fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=target_dir)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
            with tqdm(
                total=int(length) if length else None,
                unit="B",
                unit_scale=True,
                desc=Path(urllib.parse.urlparse(url).path).name,
                disable=not progress,
                leave=False,
            ) as bar:
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    digest = h.hexdigest()
    if digest != expected_sha:
        Path(tmp).unlink(missing_ok=True)
        raise ChecksumError(
            f"sha256 mismatch for {url}: expected {expected_sha}, got {digest}; "
            "the downloaded file was deleted (corrupted download or wrong mirror)"
        )
    return Path(tmp)


def fetch(name, version=None, *, registry=None, url=None, force=False, progress=False, timeout=30):
    """Return the local path of verified weights, downloading them if needed.

    Parameters
    ----------
    name : str
        Registry entry name or model name (e.g. ``'unet3d'``).
    version : str, optional
        Registry version; the newest if omitted.
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
        Network timeout in seconds.

    Returns
    -------
    `~pathlib.Path`
        Path of the file in the cache.

    Raises
    ------
    ChecksumError
        If the downloaded file does not have the registered sha256 (it is deleted).
    WeightsError
        If no mirror could deliver the file; the message names the URLs tried
        and how to configure a mirror.
    """
    entry = get_entry(name, version, registry)
    target_dir = cache_dir()
    target = target_dir / entry["file"]
    if target.is_file() and not force:
        if sha256sum(target) == entry["sha256"]:
            return target
        target.unlink()  # stale or corrupted cache entry: fetch again
    errors, tried = [], []
    for base in mirror_urls(url):
        file_url = _join(base, entry.get("url") or entry["file"])
        tried.append(file_url)
        try:
            tmp = _download(file_url, target_dir, entry["sha256"], timeout, progress)
        except ChecksumError:
            raise
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            errors.append(f"{file_url}: {reason}")
            continue
        os.replace(tmp, target)
        return target
    detail = "; ".join(errors) if errors else "no mirror available"
    raise WeightsError(
        f"cannot download weights {entry['name']!r} version {entry['version']} ({detail}). " + _mirror_help(tried)
    )


def verify(name, version=None, *, registry=None):
    """Check the cached copy of ``name`` against the registry's sha256.

    ``registry`` is as in `fetch`.

    Returns
    -------
    bool
        True if the cached file matches, False if it differs.

    Raises
    ------
    FileNotFoundError
        If the weights are not in the cache (use `fetch` first).
    """
    entry = get_entry(name, version, registry)
    path = cache_dir() / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(
            f"weights {entry['name']!r} version {entry['version']} are not cached at {path}; "
            f"fetch them with astro_mlfinder.neural.weights.fetch({entry['name']!r})"
        )
    return sha256sum(path) == entry["sha256"]


def list_weights(registry=None):
    """Registry entries as a list of dicts, each with ``cached`` (a valid copy is in the cache)."""
    out = []
    base = cache_dir()
    entries = load_registry(registry) if registry is None or isinstance(registry, str | os.PathLike) else list(registry)
    for entry in entries:
        row = dict(entry)
        path = base / entry["file"]
        row["cached"] = bool(path.is_file() and sha256sum(path) == entry["sha256"])
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
    torch = require_torch("save_weights")
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
    torch.save(payload, path)
    return path


def load_weights(source, version=None, *, registry=None, map_location="cpu", progress=False):
    """Load a weights file or training checkpoint safely.

    Parameters
    ----------
    source : str or path
        An existing file (weights or checkpoint), or a registry name.
    version : str, optional
        Registry version when ``source`` is a name.

    Returns
    -------
    dict
        ``{'model', 'config', 'state_dict' (float32), 'meta', 'path', 'registry'}``;
        ``registry`` is the registry entry (None for a local file).
    """
    torch = require_torch("load_weights")
    entry = None
    path = Path(str(source)).expanduser()
    if not path.is_file():
        if any(sep in str(source) for sep in ("/", "\\")) or str(source).endswith((".pt", ".pth")):
            raise FileNotFoundError(f"weights file not found: {source}")
        entry = get_entry(str(source), version, registry)
        path = fetch(str(source), version, registry=registry, progress=progress)
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
    }


def registry_entry(path, *, name, model, version, **info):
    """Build a registry entry (dict) for the weights file ``path``.

    ``file`` and ``url`` are the file name (resolved against the mirror),
    ``sha256`` and ``size`` are computed; ``info`` adds the architecture
    config, normalisation, training recipe, scores...
    """
    path = Path(path)
    entry = {
        "name": str(name),
        "model": str(model),
        "version": str(version),
        "file": path.name,
        "url": path.name,
        "sha256": sha256sum(path),
        "size": path.stat().st_size,
    }
    entry.update(_to_plain(info))
    return entry
