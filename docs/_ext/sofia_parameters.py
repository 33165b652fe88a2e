"""Generate ``docs/sofia_parameters.rst`` from the SoFiA-2 parameter table.

The page lists every SoFiA-2 parameter with the keyword it becomes, its
default and its meaning, all read from
`astro_mlfinder.io.sofia_par.FINDER_MAPPING`, so the documentation cannot
drift from the code.  Used three ways:

* as a Sphinx extension (``docs/conf.py`` lists it): at ``builder-inited``
  the page is rewritten when its text differs from `render_mapping_rst`;
* as a script: ``python docs/_ext/sofia_parameters.py`` rewrites the page;
* from the tests, which load this file by path and check that the page in
  the repository equals `render_mapping_rst()`.
"""

from pathlib import Path

from astro_mlfinder.io.sofia_par import FINDER_MAPPING, SOFIA_VERSION

__all__ = ["PAGE", "render_mapping_rst", "write_page", "setup"]

#: The generated page.
PAGE = Path(__file__).resolve().parents[1] / "sofia_parameters.rst"


def _rst_literal(value):
    """Return ``value`` as an RST literal (``None`` stays plain)."""
    if value is None:
        return "None"
    return f"``{value!r}``"


def render_mapping_rst():
    """Render `FINDER_MAPPING` as the reStructuredText page ``docs/sofia_parameters.rst``.

    Returns
    -------
    text : str
        The whole page: an introduction, one table row per SoFiA-2 parameter
        (key, argument, default, meaning) and the fixed sections of
        ``_DOC_EPILOGUE``.
    """
    title = "SoFiA-2 parameter mapping"
    lines = [
        ".. This file is generated from astro_mlfinder.io.sofia_par by docs/_ext/sofia_parameters.py; do not edit.",
        "",
        title,
        "=" * len(title),
        "",
        f"`~astro_mlfinder.ClassicalFinder` takes one keyword argument per SoFiA-2 {SOFIA_VERSION}",
        "control parameter.  `~astro_mlfinder.io.sofia_par.parfile.read_par` reads a SoFiA-2 parameter file,",
        "`~astro_mlfinder.io.sofia_par.mapping.par_to_finder_kwargs` turns it into finder keywords,",
        "`~astro_mlfinder.io.sofia_par.mapping.par_output_options` into",
        "`~astro_mlfinder.io.products.write_products` switches, and",
        "`~astro_mlfinder.io.sofia_par.mapping.finder_kwargs_to_par` and",
        "`~astro_mlfinder.io.sofia_par.parfile.write_par`",
        "go the other way.  ``ClassicalFinder.from_sofia_par('sofia.par')`` does it in one step.",
        "",
        "Parameter-file syntax follows SoFiA-2: one ``key = value`` per line, ``#`` starts a",
        "comment, lists are comma separated and a boolean is true *only* for the lowercase",
        "``true`` (``True`` silently means false in SoFiA; ``read_par`` warns).  Unknown or",
        "misspelt keys are errors that name the closest valid key; keys of SoFiA-2 >= 2.6",
        "(``filter.minSNR``, ``filter.minPixels``, ``filter.discardNegative``,",
        "``reliability.plotExtra``) are recognised and their 2.5.1 equivalent is named.",
        "",
        "Columns: the SoFiA-2 key, the keyword it becomes (*finder* =",
        "`~astro_mlfinder.ClassicalFinder` keyword, *output* =",
        "`~astro_mlfinder.io.products.write_products` switch, *call* = argument of the finder",
        "call, *none* = no equivalent), its default (equal to SoFiA's default) and its",
        "meaning.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 22 22 14 42",
        "",
        "   * - SoFiA-2 key",
        "     - Argument",
        "     - Default",
        "     - Meaning",
    ]
    for entry in FINDER_MAPPING:
        argument = f"``{entry.argument}`` ({entry.target})" if entry.argument else "(none)"
        meaning = entry.meaning + (f" {entry.note}" if entry.note else "")
        lines += [
            f"   * - ``{entry.sofia_key}``",
            f"     - {argument}",
            f"     - {_rst_literal(entry.default)}",
            f"     - {meaning}",
        ]
    return "\n".join(lines) + "\n" + _DOC_EPILOGUE


_DOC_EPILOGUE = """
Sanity checks
-------------

`~astro_mlfinder.io.sofia_par.parfile.check_par` (run by ``read_par``, ``write_par`` and
``SofiaFinder``) rejects what SoFiA-2 rejects when it starts (its exit code 7): ``linker.keepNegative`` or
``linker.positivity`` together with reliability filtering, reliability with fewer than two
parameter-space dimensions, and no source finder without an input mask.  It warns where SoFiA
warns: kernels lists without 0, spatial kernels between 0 and 3 pixels, even or unit spectral
widths, and a noise cube combined with a weights cube.  Unlike SoFiA-2 2.5.1, which silently
uses ``std`` for an unknown statistic and 0 for a non-numeric number, invalid values are errors.

Output products
---------------

`~astro_mlfinder.io.products.write_products` (also ``cat.write_products``) writes SoFiA-2's
product set with SoFiA's file names: ``<prefix>_cat.txt``, ``_cat.xml`` (VOTable 1.3),
``_cat.sql``, ``_cat.ann`` (Karma), ``_mask.fits`` (int32 ids), ``_mask-raw.fits`` (uint8),
``_mask-2d.fits``, ``_mom0.fits``, ``_mom1.fits``, ``_mom2.fits``, ``_chan.fits``,
``_noise.fits``, ``_filtered.fits``, the ``<prefix>_cubelets/`` directory (cut-out cube, mask,
moment, channel and SNR maps and the integrated spectrum per source) and region files.  Every
file is written to a temporary file and moved into place; with ``overwrite=False`` all targets
are checked before anything is written.  The prefix is a plain file name (a path separator or
``..`` is refused, so products stay inside the output directory; an empty prefix writes
``_cat.txt``, ... inside it), and no product ever replaces the file the data were read from,
whatever ``overwrite`` says.

``astro-mlfinder find INPUT --par sofia.par`` honours the ``output.*`` keys as SoFiA-2 does:
``output.directory`` (default: the directory of INPUT), ``output.filename`` (default: INPUT's name
without ``.fits``), the ``output.write*`` switches, ``output.marginCubelets``,
``output.thresholdMom12`` and ``output.overwrite`` (default true, as in SoFiA-2).
``--output-dir``, ``--prefix`` and ``--overwrite``/``--no-overwrite`` win when given.  The
command checks every output before it starts the search.

The moment maps follow SoFiA: moment 0 is the sum over the mask times the channel width (0
outside sources), moments 1 and 2 use only voxels with positive flux (above
``threshold_mom12`` times the local rms in cubelets) and are NaN elsewhere.  On SoFiA's own
mask they reproduce SoFiA's maps bit for bit.  PV diagrams and reliability plots are not
produced.

SofiaFinder
-----------

`~astro_mlfinder.SofiaFinder` runs an installed SoFiA-2 2.5.x binary (``executable=``, the
``SOFIA2_BIN`` environment variable, or ``sofia``/``sofia2`` on ``PATH``; SoFiA-2 is built
from source with ``./compile.sh -fopenmp`` and needs wcslib).  It checks the ``Version:``
line of the binary, writes the cube and a complete parameter file to a temporary directory,
shows SoFiA's pipeline stages as a progress bar and maps the exit codes: 0 gives the
catalogue, 8 (no sources) an empty catalogue, 7 (invalid input) a `ValueError` and any other
code a `RuntimeError`, each with SoFiA's own message without its colour codes.  The returned
catalogue holds SoFiA's catalogue values, its mask as ``segment`` and the raw mask as
``products['mask_raw']``.  A binary newer than 2.5 gets a warning: SoFiA >= 2.6 renamed
``reliability.minSNR``, ``reliability.minPixels`` and ``linker.keepNegative`` to ``filter.*``.

SoFiA-2 behaviours worth knowing
--------------------------------

* The spatial "Gaussian" of S+C is an iterated boxcar (3 to 6 passes) with zero-padded edges;
  the noise is 1.4826 times the median absolute value *about zero* of a strided sample.
* The default linker radii (1, 1) link face neighbours only (6-connectivity); size limits
  apply to bounding-box extents; source ids follow reverse raster order.
* ``mean``, ``std``, ``skew``, ``kurt`` and ``fill`` come from the linker: ``mean`` and
  ``std`` are in units of the global noise although SoFiA labels them with BUNIT.
* ``rel`` is 0 when reliability is off.  Reliability needs negative detections (SoFiA stops
  with exit code 1 without any) and uses (P - N) / P.
* ``input.gain`` is only applied when SoFiA reloads the cube (after noise scaling, a noise or a
  weights cube); continuum subtraction and the ripple filter are lost on a reload.
* The recorded value of ``reliability.parameters`` is cut to its first entry in SoFiA's own
  VOTable and FITS headers (a side effect of its parser); the run uses the full list.
"""


def write_page(path=PAGE):
    """Write `render_mapping_rst` to ``path`` unless it already holds that text.

    Parameters
    ----------
    path : str or path-like, optional
        Destination; ``docs/sofia_parameters.rst`` by default.

    Returns
    -------
    changed : bool
        Whether the file was (re)written.
    """
    path = Path(path)
    text = render_mapping_rst()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def _builder_inited(app):
    write_page(Path(app.srcdir) / PAGE.name)


def setup(app):
    """Sphinx entry point: regenerate the page before the sources are read.

    Parameters
    ----------
    app : `sphinx.application.Sphinx`

    Returns
    -------
    metadata : dict
    """
    app.connect("builder-inited", _builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    print(f"{PAGE}: {'written' if write_page() else 'up to date'}")
