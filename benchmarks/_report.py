"""Report helpers shared by the benchmark scripts: number formatting, reStructuredText tables and the
marked block of docs/performance.rst that a benchmark rewrites with its latest report."""

from pathlib import Path

import numpy as np

__all__ = ["fmt", "rst_table", "update_docs_block"]


def fmt(value, digits=3):
    """A table cell: strings as they are, ``--`` for missing values, integers exact, floats to ``digits``."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "--"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{value:.{digits}f}"


def rst_table(header, rows):
    """A reStructuredText simple table."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = "  ".join("=" * w for w in widths)
    out = [line, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    out.append(line)
    return "\n".join(out)


def update_docs_block(path, start, end, text, *, title=None):
    """Put ``text`` between the ``start`` and ``end`` marker lines of the page at ``path``.

    The block replaces the one already there; a page without the markers gets it appended (under the
    section ``title`` when one is given), and a missing page is created as the performance page.
    """
    path = Path(path)
    block = f"{start}\n\n{text}\n\n{end}"
    if not path.exists():
        page = "Performance"
        path.write_text(f"{page}\n{'=' * len(page)}\n\n{block}\n")
        return
    content = path.read_text()
    if start in content and end in content:
        head, rest = content.split(start, 1)
        _, tail = rest.split(end, 1)
        content = head + block + tail
    else:
        section = f"{title}\n{'-' * len(title)}\n\n" if title else ""
        content = content.rstrip("\n") + f"\n\n{section}{block}\n"
    path.write_text(content)
