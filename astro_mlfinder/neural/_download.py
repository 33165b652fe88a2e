"""Downloading one weights file: streamed to a ``.part`` file, sha256-verified, deadline-bounded.

The mechanics under `astro_mlfinder.neural.weights.fetch`, which decides what to
fetch and from where; the errors it raises are re-exported there.
"""

import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..core.progress import progress_bar

__all__ = ["WeightsError", "ChecksumError", "DownloadTimeoutError", "sha256sum"]

_CHUNK = 1 << 20


class WeightsError(OSError):
    """A set of weights cannot be found, downloaded or read."""


class ChecksumError(WeightsError, ValueError):
    """A downloaded or cached weights file does not have the registered sha256."""


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


class DownloadTimeoutError(WeightsError, TimeoutError):
    """A download did not finish within its overall deadline."""


def _set_read_timeout(resp, seconds):
    """Best effort: make the next socket read of an HTTP response wait at most ``seconds``."""
    raw = getattr(getattr(resp, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    if sock is not None and hasattr(sock, "settimeout"):
        sock.settimeout(max(float(seconds), 0.01))


def _download(url, target_dir, expected_sha, timeout, progress, deadline=None):
    """Stream ``url`` into a temporary ``.part`` file of ``target_dir``; return its path once verified.

    ``timeout`` bounds each network read, ``deadline`` (seconds) the whole
    download: a mirror that trickles bytes is abandoned when it passes. The
    partial file is deleted on every exit path that is not success
    (exceptions, ``KeyboardInterrupt``, a checksum mismatch).

    The fetcher is hand-written rather than built on pooch (evaluated for
    issue 8): pooch's ``timeout`` is passed to ``requests`` and bounds each
    read only, with no overall deadline either, and pooch has no ``file://``
    downloader, which the bundled-weights mirror needs; both would need custom
    code here anyway, plus ``requests`` as a new dependency.
    """
    start = time.monotonic()
    limit = None if deadline is None else start + float(deadline)
    per_read = float(timeout) if limit is None else min(float(timeout), float(deadline))
    fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=target_dir)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=per_read) as resp:
            length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
            read = getattr(resp, "read1", resp.read)  # returns what has arrived: the deadline is checked often
            bar = progress_bar(
                total=round(int(length) / _CHUNK, 2) if length else None,
                desc=Path(urllib.parse.urlparse(url).path).name,
                unit="MiB",
                enabled=progress,
            )
            try:
                while True:
                    if limit is not None:
                        remaining = limit - time.monotonic()
                        if remaining <= 0:
                            raise DownloadTimeoutError(
                                f"downloading {url} took longer than the {float(deadline):g} s deadline "
                                "(a slow or stalled mirror); the partial file was deleted"
                            )
                        _set_read_timeout(resp, min(per_read, remaining))
                    try:
                        block = read(_CHUNK)
                    except TimeoutError:
                        if limit is not None and time.monotonic() >= limit:
                            continue  # reported as the deadline above
                        raise
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    bar.update(len(block) / _CHUNK)
            finally:
                bar.close()
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


def _remove_stale_parts(target_dir, older_than):
    """Delete partial downloads left by a process that was killed (older than ``older_than`` seconds)."""
    now = time.time()
    for part in target_dir.glob(".download-*.part"):
        try:
            if now - part.stat().st_mtime > older_than:
                part.unlink()
        except OSError:
            pass
