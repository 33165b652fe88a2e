"""Check the rendered documentation in a real browser: no cut-off code block, no raw markup.

Headless Chromium (Debian package ``chromium``) loads every HTML page of a built tree, one after
the other, in an iframe of a small driver page (``--allow-file-access-from-files`` lets the
driver read the pages' DOM), lets the layout and the web fonts settle, and measures:

* every visible ``<pre>`` (code blocks, console output): a block whose content is wider or taller
  than its box (``scrollWidth > clientWidth`` or ``scrollHeight > clientHeight``) is cut off, or
  hidden behind a scroll bar; and every other element of the page's ``<article>`` (the text) that clips or
  scrolls sideways (``overflow-x`` not ``visible``: a table in a scroll box, an equation) and is
  wider than its box;
* the rendered text (``innerText``): reStructuredText that was not turned into markup, such as
  a double backquote, ``:func:`` or ``±`` glued to a backquote, is raw markup shown to the reader.

Each page is measured at two viewport widths (a laptop and a narrow window). The driver writes its
findings as JSON into its own DOM, which ``chromium --dump-dom`` prints.

Use it as a script::

    python docs/_ext/browser_check.py docs/_build/html       # after tox -e build_docs

or from the tests (``tests/test_docs.py``), which load this file by path.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["RAW_MARKUP", "WIDTHS", "find_chromium", "check_pages", "html_pages", "screenshot", "main"]

#: Text that only appears in a rendered page when reStructuredText markup was not interpreted.
RAW_MARKUP = ("``", ":func:`", ":class:`", ":meth:`", ":mod:`", ":attr:`", ":doc:`", ":ref:`",
              ":obj:`", "±`", ".. code-block::", ".. math::")
#: Viewport widths (CSS pixels) at which every page is measured.
WIDTHS = (1280, 820)

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_SKIPPED_PAGES = {"genindex.html", "search.html", "py-modindex.html"}

_DRIVER = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body>
<pre id="result">pending</pre>
<script>
const PAGES = __PAGES__;
const WIDTHS = __WIDTHS__;
const RAW = __RAW__;
const results = [];

function load(frame, src) {
  return new Promise((resolve) => { frame.onload = () => resolve(); frame.src = src; });
}

function describe(el) {
  const names = typeof el.className === "string" ? el.className.trim() : "";
  return el.tagName.toLowerCase() + (names ? "." + names.split(/\s+/).join(".") : "");
}

function overflowing(el, tall) {
  return el.scrollWidth > el.clientWidth + 1 || (tall && el.scrollHeight > el.clientHeight + 1);
}

function record(cut, el) {
  cut.push({element: describe(el), text: el.textContent.trim().replace(/\s+/g, " ").slice(0, 80),
            scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
            scrollHeight: el.scrollHeight, clientHeight: el.clientHeight});
}

function measure(doc) {
  const cut = [];
  for (const pre of doc.querySelectorAll("pre")) {
    if (pre.getClientRects().length === 0) continue;           // not displayed
    if (overflowing(pre, true)) record(cut, pre);
  }
  // anything else in the page's text that clips or scrolls sideways: a table in a scroll box,
  // a code container, an equation
  const main = doc.querySelector("article") || doc.querySelector("main") || doc.body;
  const view = doc.defaultView;
  for (const el of main ? main.querySelectorAll("*") : []) {
    if (el.tagName === "PRE" || el.getClientRects().length === 0) continue;
    if (view.getComputedStyle(el).overflowX === "visible") continue;
    if (overflowing(el, false)) record(cut, el);
  }
  const text = doc.body ? doc.body.innerText : "";
  const raw = [];
  for (const needle of RAW) {
    const at = text.indexOf(needle);
    if (at >= 0) raw.push({markup: needle, context: text.slice(Math.max(0, at - 40), at + 40)});
  }
  return {cut: cut, raw: raw, pre: doc.querySelectorAll("pre").length, chars: text.length};
}

async function run() {
  const frame = document.createElement("iframe");
  frame.style.height = "900px";
  frame.style.border = "0";
  document.body.appendChild(frame);
  for (const width of WIDTHS) {
    frame.style.width = width + "px";
    for (const page of PAGES) {
      try {
        await load(frame, page);
        const doc = frame.contentDocument;
        if (doc.fonts) await doc.fonts.ready;
        results.push(Object.assign({page: page, width: width}, measure(doc)));
      } catch (err) {
        results.push({page: page, width: width, error: String(err)});
      }
    }
  }
  document.getElementById("result").textContent = JSON.stringify(results);
}
run();
</script>
</body></html>
"""


def find_chromium():
    """Path of a Chromium (or Chrome) executable on ``PATH``, ``$CHROMIUM``, or None."""
    candidates = [os.environ.get("CHROMIUM")] + [shutil.which(name) for name in _CHROMIUM_NAMES]
    return next((c for c in candidates if c and Path(c).exists()), None)


def _chromium_command(chromium, *args):
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--no-first-run", "--mute-audio", *args]


def html_pages(root):
    """The HTML pages of a built tree to check (relative paths), sorted; index and search pages excluded."""
    root = Path(root)
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.parts[0].startswith("_") or rel.name in _SKIPPED_PAGES:
            continue
        pages.append(rel.as_posix())
    return pages


def check_pages(root, pages=None, *, chromium=None, widths=WIDTHS, timeout=600):
    """Render ``pages`` of the built tree ``root`` in headless Chromium and measure them.

    Parameters
    ----------
    root : str or path-like
        A built HTML tree (``docs/_build/html``).
    pages : list of str, optional
        Paths relative to ``root``; default `html_pages`.
    chromium : str, optional
        The browser; default `find_chromium`.
    widths : tuple of int
        Viewport widths in CSS pixels.
    timeout : float
        Seconds before the browser is stopped.

    Returns
    -------
    results : list of dict
        One per page and width: ``page``, ``width``, ``cut`` (the cut-off ``<pre>`` blocks with
        their text and sizes), ``raw`` (raw markup found in the rendered text, with context),
        ``pre`` (number of ``<pre>`` blocks) and ``chars`` (rendered text length), or ``error``.
    """
    root = Path(root).resolve()
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found: apt-get install -y chromium (or set $CHROMIUM)")
    pages = list(html_pages(root) if pages is None else pages)
    driver = (_DRIVER.replace("__PAGES__", json.dumps(pages)).replace("__WIDTHS__", json.dumps(list(widths)))
              .replace("__RAW__", json.dumps(list(RAW_MARKUP))))
    fd, name = tempfile.mkstemp(prefix="_browser_check_", suffix=".html", dir=root)
    driver_path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(driver)
        with tempfile.TemporaryDirectory() as profile:
            budget = 60_000 + 2_000 * len(pages) * len(widths)
            cmd = _chromium_command(chromium, f"--user-data-dir={profile}", "--allow-file-access-from-files",
                                    f"--virtual-time-budget={budget}", "--window-size=1400,1000", "--dump-dom",
                                    driver_path.as_uri())
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    finally:
        driver_path.unlink(missing_ok=True)
    match = re.search(r'<pre id="result">(.*?)</pre>', proc.stdout, re.S)
    if match is None or match.group(1) == "pending":
        raise RuntimeError(f"Chromium did not finish measuring the pages (exit code {proc.returncode}): "
                           f"{proc.stderr.strip()[-500:]}")
    return json.loads(html.unescape(match.group(1)))


def screenshot(page, path, *, chromium=None, width=1280, height=2400, timeout=120):
    """Save a PNG screenshot of one HTML page (``chromium --screenshot``) and return its path."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found: apt-get install -y chromium (or set $CHROMIUM)")
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory() as profile:
        cmd = _chromium_command(chromium, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                                "--virtual-time-budget=5000", f"--screenshot={path}", Path(page).resolve().as_uri())
        subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if not path.exists():
        raise RuntimeError(f"Chromium wrote no screenshot of {page}")
    return path


def problems(results):
    """Human-readable lines, one per cut-off block, raw markup or page error in ``results``."""
    lines = []
    for r in results:
        where = f"{r['page']} at {r['width']} px"
        if "error" in r:
            lines.append(f"{where}: {r['error']}")
            continue
        for c in r["cut"]:
            lines.append(f"{where}: {c['element']} cut off ({c['scrollWidth']}x{c['scrollHeight']} px of content "
                         f"in {c['clientWidth']}x{c['clientHeight']} px): {c['text']!r}")
        for m in r["raw"]:
            lines.append(f"{where}: raw markup {m['markup']!r} in {m['context']!r}")
    return lines


def main(argv=None):
    """Check a built tree; print every problem and return 1 if there is any."""
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else Path(__file__).resolve().parents[1] / "_build" / "html")
    if not (root / "index.html").exists():
        print(f"{root} holds no built documentation: run tox -e build_docs first", file=sys.stderr)
        return 2
    results = check_pages(root)
    found = problems(results)
    for line in found:
        print(line)
    pages = len({r["page"] for r in results})
    blocks = sum(r.get("pre", 0) for r in results if r["width"] == results[0]["width"])
    print(f"{pages} pages, {blocks} code blocks, widths {', '.join(map(str, WIDTHS))} px: "
          f"{len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
