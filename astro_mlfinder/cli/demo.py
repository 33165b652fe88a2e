"""``astro-mlfinder demo``: the classical finder on the bundled sample cube, scored against its truth."""

from pathlib import Path

from ._common import (
    _physical_table,
    _print_table,
    _progress,
    _quiet_options,
    _require_matplotlib,
    _say,
    _truth_plot,
    _wrote_lines,
)

__all__ = []


def _sample_cube():
    from ..datasets import sample_path

    return sample_path("sample_hi_cube.fits")


def _cmd_demo(args):
    from ..classical.finder import ClassicalFinder
    from ..datasets import sample_path
    from ..evaluate import evaluate_files, read_catalog

    cube = _sample_cube()
    _say(args, f"Searching the bundled sample HI cube {cube}")
    finder = ClassicalFinder(kernels_xy=(0, 3, 6), kernels_z=(0, 3, 7, 15), threshold=5.0)
    cat = finder(cube, progress=_progress(args))
    outdir = Path(args.output_dir)
    paths = cat.write_products(outdir, "sample_hi_cube", overwrite=True, regions=("ds9", "crtf"))
    ecsv = cat.write(outdir / "sample_hi_cube_cat.ecsv", overwrite=True)
    paths.append(ecsv)
    truth = sample_path("sample_hi_truth.ecsv")
    try:
        _require_matplotlib("plots")
    except ImportError:
        from ..visualization._common import INSTALL_HINT

        plots_note = f"no plots written: matplotlib is not installed ({INSTALL_HINT} to get them)"
    else:
        from ..visualization import moment0_map, write_plots

        plots_note = None
        paths += write_plots(cat, outdir, "sample_hi_cube", overwrite=True)
        paths.append(_truth_plot(read_catalog(ecsv), read_catalog(truth), outdir / "sample_hi_cube_truth.png",
                                 overwrite=True, image=moment0_map(cat), wcs=cat.image.wcs,
                                 image_label="moment 0"))
    _say(args, f"\n{len(cat)} source(s) found:", _physical_table(cat) if len(cat) else "")
    scores = evaluate_files(ecsv, truth)
    if not args.quiet:
        print("\nAgainst the simulated truth:")
        _print_table(scores[[c for c in scores.colnames if c not in ("mean_iou", "mean_dice", "method")]])
    _say(args, "", *_wrote_lines(paths))
    if plots_note:
        _say(args, plots_note)
    reg = outdir / "sample_hi_cube.reg"
    plots = "" if plots_note else " --plots"
    import importlib.util

    neural = (f"  astro-mlfinder find {cube} --finder unet3d{plots} --output-dir my_unet3d"
              if importlib.util.find_spec("torch") is not None
              else "  pip install torch==2.13.0 && pip install 'astro_mlfinder[neural]'   # then: find --finder unet3d")
    _say(args, "", "Next, try:",
         f"  astro-mlfinder find {cube}{plots} --output-dir my_run",
         neural,
         f"  astro-mlfinder evaluate {ecsv} {truth}" + ("" if plots_note else " --plot my_truth.png"),
         f"  ds9 {cube} -regions {reg}",
         "  astro-mlfinder find --help")
    return 0


def add_parser(sub):
    """Add the ``demo`` command to the sub-parsers ``sub``."""
    p = sub.add_parser("demo", help="run the classical finder on the bundled sample cube")
    p.add_argument("--output-dir", default="astro_mlfinder_demo",
                   help="directory of the products and plots (default astro_mlfinder_demo; files are replaced)")
    _quiet_options(p)
    p.set_defaults(func=_cmd_demo)
    return p
