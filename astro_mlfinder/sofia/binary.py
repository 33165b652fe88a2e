"""Running an installed SoFiA-2 binary: where it is, its version, its stages and its exit codes.

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
import threading

from ..core.exceptions import AstroMLFinderWarning
from ..core.progress import progress_bar

__all__ = [
    "SofiaVersionWarning",
    "find_sofia_executable",
    "sofia_version",
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
