"""SAOImage DS9 as a real client of our region files (issue 13, item 5).

DS9 (Debian packages ``saods9``, ``xvfb`` and ``xpa-tools``, which ``.ci/run`` installs) is started on
its own virtual X display (Xvfb picks a free display number and reports it), with its XPA access
points on local sockets in a private directory, and loads the bundled sample cube and the DS9 region
file of a classical search of it. Over XPA the test reads back what DS9 parsed, in DS9's image
coordinates: every region, at the catalogue position, with its size, orientation, id label and the
channels of the source as a DS9 group (DS9's region format has no spectral range; a group selects
the sources of given channels). Skipped, with the reason, where DS9 or Xvfb cannot be run; failed
instead when ``ASTRO_MLFINDER_REQUIRE_CLIENTS`` is set (``.ci/run`` sets it where it installed them).
"""

import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

import numpy as np
import pytest

from astro_mlfinder.datasets import sample_path

TOOLS = ("ds9", "Xvfb", "xpaget", "xpaset", "xpaaccess")
START_TIMEOUT = 30.0  # s for Xvfb and DS9 to come up (DS9 takes 1-2 s on an idle machine)
CALL_TIMEOUT = 15.0  # s for one XPA call
_ELLIPSE = re.compile(r"^ellipse\(([^)]*)\)\s*#(.*)$")


def _unavailable(reason):
    """Skip with ``reason``, or fail where the clients are required (ASTRO_MLFINDER_REQUIRE_CLIENTS)."""
    if os.environ.get("ASTRO_MLFINDER_REQUIRE_CLIENTS"):
        pytest.fail(f"{reason} (ASTRO_MLFINDER_REQUIRE_CLIENTS is set)")
    pytest.skip(reason)


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class DS9:
    """A DS9 on its own Xvfb display, driven over XPA."""

    def __init__(self, workdir):
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            _unavailable(f"SAOImage DS9 cannot be run here: {', '.join(missing)} not found "
                        "(apt-get install saods9 xvfb xpa-tools)")
        self.name = f"amlf{os.getpid()}"
        self.xpa_dir = tempfile.mkdtemp(prefix="xpa", dir="/tmp")  # unix socket paths must stay short
        self.env = dict(os.environ, XPA_METHOD="local", XPA_TMPDIR=self.xpa_dir, HOME=str(workdir))
        self.xvfb = self.ds9 = None
        read_fd, write_fd = os.pipe()
        try:
            # -displayfd: Xvfb chooses a free display and writes its number once it accepts clients
            self.xvfb = subprocess.Popen(
                ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            os.close(write_fd)
            display = self._read_display(read_fd)
        finally:
            os.close(read_fd)
        self.env["DISPLAY"] = f":{display}"
        self.ds9 = subprocess.Popen(
            ["ds9", "-title", self.name, "-geometry", "900x800"], env=self.env, cwd=workdir,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._xpa_up():
            if self.ds9.poll() is not None:
                self.close()
                _unavailable(f"SAOImage DS9 exited with status {self.ds9.returncode} on start")
            if time.monotonic() > deadline:
                self.close()
                pytest.fail(f"DS9's XPA access point {self.name!r} did not come up in {START_TIMEOUT:.0f} s")
            time.sleep(0.2)

    def _read_display(self, read_fd):
        deadline = time.monotonic() + START_TIMEOUT
        text = b""
        while not text.endswith(b"\n"):
            if self.xvfb.poll() is not None:
                self.close()
                _unavailable(f"Xvfb exited with status {self.xvfb.returncode}: no virtual display for DS9")
            if time.monotonic() > deadline:
                self.close()
                pytest.fail(f"Xvfb reported no display in {START_TIMEOUT:.0f} s")
            ready, _, _ = select.select([read_fd], [], [], 0.2)
            if ready:
                chunk = os.read(read_fd, 64)
                if not chunk:
                    break
                text += chunk
        return int(text.strip())

    def _xpa_up(self):
        try:
            done = subprocess.run(["xpaaccess", "-n", self.name], env=self.env, capture_output=True, text=True,
                                  timeout=CALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            return False
        return done.stdout.strip() not in ("", "0")

    def get(self, *args):
        done = subprocess.run(["xpaget", self.name, *args], env=self.env, capture_output=True, text=True,
                              timeout=CALL_TIMEOUT)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    def set(self, *args):
        done = subprocess.run(["xpaset", "-p", self.name, *args], env=self.env, capture_output=True, text=True,
                              timeout=CALL_TIMEOUT)
        assert done.returncode == 0 and "error" not in done.stderr.lower(), (args, done.stderr)

    def close(self):
        if self.ds9 is not None and self.ds9.poll() is None:
            try:
                subprocess.run(["xpaset", "-p", self.name, "exit"], env=self.env, capture_output=True, timeout=5)
                self.ds9.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            _stop(self.ds9)
        if self.xvfb is not None:
            if self.xvfb.poll() is None:
                self.xvfb.send_signal(signal.SIGTERM)
            _stop(self.xvfb)
        shutil.rmtree(self.xpa_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ds9(tmp_path_factory):
    viewer = DS9(tmp_path_factory.mktemp("ds9"))
    yield viewer
    viewer.close()


@pytest.fixture(scope="module")
def catalog():
    from astro_mlfinder import ClassicalFinder

    return ClassicalFinder()(sample_path("sample_hi_cube.fits"), progress=False)


def _parse(listing):
    """``{id: (x, y, a, b, angle, tags)}`` from DS9's region listing in image coordinates."""
    regions = {}
    for line in listing.splitlines():
        match = _ELLIPSE.match(line.strip())
        if not match:
            continue
        x, y, a, b, angle = (float(v.strip().rstrip('"')) for v in match.group(1).split(","))
        props = match.group(2)
        text = re.search(r"text=\{([^}]*)\}", props).group(1)
        tags = re.findall(r"tag=\{([^}]*)\}", props)
        regions[text] = (x, y, a, b, angle, tags)
    return regions


def test_ds9_parses_every_region_at_its_source(ds9, catalog, tmp_path):
    path = catalog.write(tmp_path / "sample.reg", format="ds9")
    ds9.set("fits", str(sample_path("sample_hi_cube.fits")))
    assert ds9.get("fits", "depth").split() == ["96"]  # the cube, all its channels
    ds9.set("regions", "delete", "all")
    ds9.set("regions", "load", str(path))
    regions = _parse(ds9.get("regions", "-format", "ds9", "-system", "image"))
    assert sorted(regions) == sorted(str(int(i)) for i in catalog.id)  # every region, labelled by its id
    for source in catalog:
        x, y, a, b, angle, tags = regions[str(int(source.id))]
        # DS9 image pixels count from 1; the catalogue's from 0 (SoFiA)
        assert abs(x - (source.x.value + 1)) < 0.01 and abs(y - (source.y.value + 1)) < 0.01
        assert a == pytest.approx(source.ell_maj.value, rel=1e-3)
        assert b == pytest.approx(source.ell_min.value, rel=1e-3)
        turn = (angle - (source.ell_pa.value + 90.0) + 90.0) % 180.0 - 90.0  # ellipses repeat every 180 deg
        assert abs(turn) < 0.05
        z_min, z_max = int(source.z_min.value), int(source.z_max.value)
        assert tags == [f"slices {z_min + 1}-{z_max + 1}"]


def test_ds9_groups_select_the_sources_of_their_channels(ds9, catalog, tmp_path):
    path = catalog.write(tmp_path / "groups.reg", format="ds9")
    ds9.set("fits", str(sample_path("sample_hi_cube.fits")))
    ds9.set("regions", "delete", "all")
    ds9.set("regions", "load", str(path))
    # DS9 lists its groups on one line, a name with a space in braces: {slices 58-94} {slices 63-86} ...
    groups = {braced or bare for braced, bare in re.findall(r"\{([^}]*)\}|(\S+)", ds9.get("regions", "group"))}
    expected = {}
    for source in catalog:
        tag = f"slices {int(source.z_min.value) + 1}-{int(source.z_max.value) + 1}"
        expected.setdefault(tag, set()).add(str(int(source.id)))
    assert groups == set(expected)
    for tag, ids in expected.items():
        ds9.set("regions", "select", "none")
        ds9.set("regions", "group", f"{{{tag}}}", "select")  # xpaset -p ds9 regions group {slices 58-94} select
        selected = _parse(ds9.get("regions", "-format", "ds9", "-system", "image", "selected"))
        assert set(selected) == ids, tag
    # DS9 shows the cube's slices; the group names use its slice numbers (cube dialog, `cube` command)
    first = catalog[int(np.argmin(catalog.z_min.value))]
    ds9.set("cube", str(int(first.z_min.value) + 1))
    assert ds9.get("cube").strip() == str(int(first.z_min.value) + 1)
