import functools
import json
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from astro_mlfinder.neural import weights as W


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("ASTRO_MLFINDER_CACHE_DIR", str(path))
    monkeypatch.delenv("ASTRO_MLFINDER_WEIGHTS_URL", raising=False)
    return path


@pytest.fixture
def mirror(tmp_path):
    """A directory with one small weights file and its registry entry."""
    torch = pytest.importorskip("torch")
    from astro_mlfinder.neural.models.unet3d import UNet3D

    root = tmp_path / "mirror"
    root.mkdir()
    torch.manual_seed(0)
    model = UNet3D(base_channels=1)
    path = W.save_weights(
        root / "tiny-0.1.pt",
        "unet3d",
        model,
        meta={"normalization": {"clip": [-5, 15]}},
        dtype=torch.float16,
    )
    entry = W.registry_entry(path, name="tiny", model="unet3d", version="0.1", hardware="cpu", config=model.config)
    return root, entry, model


def _file(entry):
    """The (only) file of a registry entry."""
    (item,) = W.entry_files(entry)
    return item


def _serve(server):
    """Run ``server`` on a thread; yield its base URL, then stop it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def http_server(mirror):
    root = mirror[0]
    yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))))


def _leftovers(cache):
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_fetch_over_http_then_from_cache(cache, mirror, http_server):
    root, entry, _ = mirror
    path = W.fetch("tiny", registry=[entry], url=http_server)
    assert path.parent == cache and path.name == _file(entry)["file"]
    assert W.sha256sum(path) == _file(entry)["sha256"] and path.stat().st_size == _file(entry)["size"]
    assert W.verify("tiny", registry=[entry])
    # the cached copy is used without any network access
    (root / _file(entry)["file"]).unlink()
    assert W.fetch("tiny", registry=[entry], url="http://127.0.0.1:9/") == path
    assert _leftovers(cache) == [_file(entry)["file"]]


def test_fetch_file_url_from_environment(cache, mirror, monkeypatch):
    root, entry, _ = mirror
    monkeypatch.setenv("ASTRO_MLFINDER_WEIGHTS_URL", root.as_uri() + "/")
    assert W.mirror_urls() == [root.as_uri() + "/"]
    path = W.fetch("unet3d", "0.1", registry=[entry])  # model name resolves to its entry
    assert W.sha256sum(path) == _file(entry)["sha256"]
    # a plain directory path also works as a mirror
    path.unlink()
    assert W.fetch("tiny", registry=[entry], url=str(root)) == path


def test_checksum_mismatch_is_refused_and_file_deleted(cache, mirror, http_server):
    root, entry, _ = mirror
    bad = dict(entry, files=[dict(_file(entry), sha256="0" * 64)])
    with pytest.raises(W.ChecksumError, match="sha256 mismatch"):
        W.fetch("tiny", registry=[bad], url=http_server)
    assert _leftovers(cache) == []
    # a corrupted file on the mirror is refused the same way
    data = bytearray((root / _file(entry)["file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / _file(entry)["file"]).write_bytes(bytes(data))
    with pytest.raises(W.ChecksumError, match=_file(entry)["sha256"]):
        W.fetch("tiny", registry=[entry], url=http_server)
    assert _leftovers(cache) == []


def test_corrupted_cache_is_detected_and_refetched(cache, mirror):
    root, entry, _ = mirror
    path = W.fetch("tiny", registry=[entry], url=root.as_uri())
    path.write_bytes(b"garbage")
    assert W.verify("tiny", registry=[entry]) is False
    assert W.sha256sum(W.fetch("tiny", registry=[entry], url=root.as_uri())) == _file(entry)["sha256"]


def test_unreachable_mirror_error_names_url_and_remedy(cache, mirror):
    _, entry, _ = mirror
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/weights/"
    with pytest.raises(W.WeightsError) as err:
        W.fetch("tiny", registry=[entry], url=url, timeout=5)
    msg = str(err.value)
    assert url + _file(entry)["file"] in msg
    assert "ASTRO_MLFINDER_WEIGHTS_URL" in msg and "file://" in msg and "weights_url" in msg
    assert _leftovers(cache) == []


def test_registry_lookup_and_verify_errors(cache, mirror):
    _, entry, _ = mirror
    with pytest.raises(ValueError, match="available: tiny 0.1"):
        W.get_entry("nope", registry=[entry])
    with pytest.raises(ValueError, match="version '9'"):
        W.get_entry("tiny", "9", registry=[entry])
    newer = dict(entry, version="0.10")
    assert W.get_entry("tiny", registry=[entry, newer])["version"] == "0.10"
    with pytest.raises(FileNotFoundError, match="fetch"):
        W.verify("tiny", registry=[entry])
    rows = W.list_weights(registry=[entry])
    assert rows[0]["name"] == "tiny" and rows[0]["cached"] is False


def test_load_weights_roundtrip_and_refuses_pickled_objects(tmp_path, mirror):
    torch = pytest.importorskip("torch")
    root, entry, model = mirror
    loaded = W.load_weights(root / _file(entry)["file"])
    assert loaded["model"] == "unet3d" and loaded["config"] == model.config
    assert all(v.dtype == torch.float32 for v in loaded["state_dict"].values() if v.is_floating_point())
    clone = type(model).from_config(loaded["config"])
    clone.load_state_dict(loaded["state_dict"])
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(clone.state_dict()[key], value, atol=2e-3, rtol=2e-3)
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "config": {}, "payload": functools.partial(print, "x")}, evil)
    with pytest.raises(W.WeightsError, match="cannot read weights"):
        W.load_weights(evil)
    with pytest.raises(FileNotFoundError):
        W.load_weights(tmp_path / "missing.pt")


def test_shipped_registry_matches_shipped_files():
    registry = W.registry_path()
    entries = json.loads(registry.read_text())
    entries = entries["weights"] if isinstance(entries, dict) else entries
    assert any(e["model"] == "unet3d" for e in entries)
    for entry in entries:
        assert "files" in entry, f"registry entry {entry['name']} is in the old single-file form"
        for item in W.entry_files(entry):
            path = registry.parent / item["file"]
            assert path.is_file(), f"{path} is listed in the registry but missing"
            assert path.stat().st_size == item["size"] < 20 * 2**20
            assert W.sha256sum(path) == item["sha256"]
        assert entry["hardware"]["device"] == entry["device"]
        for key in ("config", "normalization", "training", "validation", "device", "hardware"):
            assert key in entry, f"registry entry {entry['name']} lacks {key}"
        assert entry["training"]["command"]
    # the bundled directory is the last-resort mirror, so the package works offline
    assert W.mirror_urls()[-1] == registry.parent.as_uri() + "/"


def test_old_single_file_entries_still_load(cache, mirror, http_server):
    torch = pytest.importorskip("torch")
    root, entry, model = mirror
    item = _file(entry)
    legacy = {k: v for k, v in entry.items() if k != "files"} | {
        "file": item["file"],
        "url": item["url"],
        "sha256": item["sha256"],
        "size": item["size"],
    }
    registry = root / "registry.json"
    registry.write_text(json.dumps({"weights": [legacy]}))
    assert W.load_registry(registry)[0]["file"] == item["file"]
    assert W.entry_files(legacy) == [dict(item, name="unet3d")]  # one network, named after the model
    path = W.fetch("tiny", registry=registry, url=http_server)
    assert W.sha256sum(path) == item["sha256"] and W.verify("tiny", registry=registry)
    assert W.fetch_all("tiny", registry=[legacy], url=http_server) == {"unet3d": path}
    row = W.list_weights(registry=[legacy])[0]
    assert row["cached"] and row["size"] == item["size"]
    loaded = W.load_weights("tiny", registry=[legacy])
    assert loaded["network"] == "unet3d" and loaded["sha256"] == item["sha256"]
    assert loaded["config"] == model.config and loaded["registry"]["name"] == "tiny"
    assert all(v.dtype == torch.float32 for v in loaded["state_dict"].values() if v.is_floating_point())
    with pytest.raises(W.WeightsError, match="lacks"):
        W.load_registry(_write(root / "bad.json", [{k: v for k, v in legacy.items() if k != "sha256"}]))


def _write(path, entries):
    path.write_text(json.dumps({"weights": entries}))
    return path


def test_entries_with_several_files(cache, tmp_path, http_server, mirror):
    torch = pytest.importorskip("torch")
    from astro_mlfinder.neural.models.unet3d import UNet3D

    root = mirror[0]
    paths = {}
    for k, name in enumerate(("encoder", "decoder")):
        torch.manual_seed(k)
        paths[name] = W.save_weights(root / f"two-{name}.pt", "two", UNet3D(base_channels=1))
    entry = W.registry_entry(paths, name="two", model="two", version="1.0", hardware={"device": "cuda:0"})
    assert [f["name"] for f in entry["files"]] == ["encoder", "decoder"]
    assert entry["hardware"] == {"device": "cuda:0"}
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in entry["files"])
    registry = _write(tmp_path / "registry.json", [entry])
    assert W.load_registry(registry)[0]["files"][1]["file"] == "two-decoder.pt"
    with pytest.raises(ValueError, match="hold 2 files .*encoder, decoder.*fetch_all"):
        W.fetch("two", registry=[entry], url=http_server)
    with pytest.raises(ValueError, match="no network 'middle'"):
        W.fetch("two", network="middle", registry=[entry], url=http_server)
    with pytest.raises(FileNotFoundError, match="fetch_all"):
        W.verify("two", registry=[entry])
    one = W.fetch("two", network="decoder", registry=[entry], url=http_server)
    assert one.name == "two-decoder.pt" and W.verify("two", network="decoder", registry=[entry])
    assert W.list_weights(registry=[entry])[0]["cached"] is False  # the encoder is not cached yet
    files = W.fetch_all("two", registry=[entry], url=http_server)
    assert list(files) == ["encoder", "decoder"] and files["decoder"] == one
    assert W.verify("two", registry=[entry]) and W.list_weights(registry=[entry])[0]["cached"]
    # each file has its own checksum: corrupting one is detected
    files["encoder"].write_bytes(b"garbage")
    assert W.verify("two", registry=[entry]) is False
    assert W.verify("two", network="decoder", registry=[entry]) is True
    loaded = W.load_weights("two", network="decoder", registry=[entry])
    assert loaded["network"] == "decoder" and loaded["sha256"] == entry["files"][1]["sha256"]
    with pytest.raises(ValueError, match="hardware"):
        W.registry_entry(paths, name="two", model="two", version="1.0")  # nothing records it
    with pytest.raises(W.WeightsError, match="files"):
        W.load_registry(_write(tmp_path / "bad.json", [dict(entry, files=[])]))


class _TrickleHandler(SimpleHTTPRequestHandler):
    """Announces the whole file, then sends one byte every 0.2 s (for at most ~10 s)."""

    def log_message(self, *args):
        pass

    started = threading.Event()  # set once the first byte of a download is sent

    def do_GET(self):
        import time

        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        end = time.monotonic() + 10
        try:
            while time.monotonic() < end:
                self.wfile.write(b"x")
                self.wfile.flush()
                type(self).started.set()
                time.sleep(0.2)
        except OSError:  # the client gave up
            pass


@pytest.fixture
def trickle_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TrickleHandler)
    server.daemon_threads = True
    yield from _serve(server)


def test_trickling_mirror_hits_the_overall_deadline_and_leaves_no_part_file(cache, mirror, trickle_server):
    """Issue 8 item 13: each read succeeds within the read timeout, the whole download must still end."""
    import time

    from astro_mlfinder import conf

    _, entry, _ = mirror
    start = time.monotonic()
    with pytest.raises(W.WeightsError, match=r"1\.5 s deadline"):
        W.fetch("tiny", registry=[entry], url=trickle_server, deadline=1.5)
    assert time.monotonic() - start < 5
    assert _leftovers(cache) == []
    # the default deadline is the config item
    start = time.monotonic()
    with conf.set_temp("download_deadline", 1.0), pytest.raises(W.WeightsError, match="deadline"):
        W.fetch_all("tiny", registry=[entry], url=trickle_server)
    assert time.monotonic() - start < 5
    assert _leftovers(cache) == []


def test_interrupted_download_leaves_no_part_file(cache, mirror, trickle_server):
    import os
    import signal

    _, entry, _ = mirror
    _TrickleHandler.started.clear()

    def interrupt_once_the_download_runs():
        # a real SIGINT, sent when bytes are flowing (not after a fixed delay, which a loaded machine can
        # stretch past the deadline); the deadline is far away so the interrupt is what ends the download
        if _TrickleHandler.started.wait(30):
            os.kill(os.getpid(), signal.SIGINT)

    # a process started in the background by a non-interactive shell inherits SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: install it for this test (what an interactive user has)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        killer = threading.Thread(target=interrupt_once_the_download_runs, daemon=True)
        killer.start()
        with pytest.raises(KeyboardInterrupt):
            W.fetch("tiny", registry=[entry], url=trickle_server, deadline=60)
        killer.join(5)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert _leftovers(cache) == []


def test_partial_file_of_a_killed_download_is_removed_by_the_next_fetch(cache, mirror):
    import os
    import time

    root, entry, _ = mirror
    cache.mkdir(parents=True, exist_ok=True)
    old = cache / ".download-abc123.part"  # what a SIGKILLed process leaves
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = cache / ".download-live.part"  # a download running in another process right now
    fresh.write_bytes(b"running")
    W.fetch("tiny", registry=[entry], url=root.as_uri())
    assert _leftovers(cache) == sorted([fresh.name, _file(entry)["file"]])


def test_no_progress_bar_when_progress_is_off(cache, mirror, capsys):
    root, entry, _ = mirror
    W.fetch("tiny", registry=[entry], url=root.as_uri(), progress=False)
    assert capsys.readouterr().err == ""


def test_neural_finder_downloads_without_a_bar_when_called_with_progress_off(cache, capsys):
    """``find --no-progress``: the finder is called with progress=False, the weights download shows no bar."""
    pytest.importorskip("torch")
    import numpy as np

    from astro_mlfinder.neural import NeuralFinder

    cube = np.random.default_rng(1).normal(size=(32, 32, 32)).astype(np.float32)
    NeuralFinder("unet3d", device="cpu")(cube, progress=False)  # progress=True at construction
    assert list(cache.glob("*.pt"))  # the weights were downloaded (from the bundled file:// mirror)
    assert capsys.readouterr().err == ""
