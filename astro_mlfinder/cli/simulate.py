"""``astro-mlfinder simulate``: simulated data sets with their truth tables."""

from pathlib import Path

from ._common import _quiet_options, _say

__all__ = []


def _simulate_hi(args, outdir):
    """``simulate hi``: an HI cube and its truth table."""
    from ..core.tiling import as_tuple
    from ..simulate.hi import simulate_hi_cube

    if args.primary_beam is not None:
        raise ValueError("--primary-beam applies to 'simulate continuum', not to HI cubes")
    shape = as_tuple(args.shape, 3, "--shape", minimum=1) if args.shape else (128, 96, 96)
    n_sources = 8 if args.n_sources is None else args.n_sources
    sim = simulate_hi_cube(shape=shape, n_sources=n_sources, seed=args.seed,
                           realism="realistic" if args.realistic else None)
    cube = outdir / f"sim_hi_{args.seed}.fits"
    sim.write(cube, overwrite=args.overwrite)
    truth = outdir / f"sim_hi_{args.seed}_truth.ecsv"
    sim.truth.write(truth, format="ascii.ecsv", overwrite=args.overwrite)
    _say(args, f"wrote {cube}", f"wrote {truth}")
    return 0


def _simulate_continuum(args, outdir):
    """``simulate continuum``: a 2D SDC1-like image and its truth table, written whole or not at all."""
    from ..core.tiling import as_tuple
    from ..simulate.continuum import simulate_continuum_image

    if args.realistic:
        raise ValueError("--realistic applies to 'simulate hi'; continuum images take --primary-beam")
    shape = as_tuple(args.shape, 2, "--shape", minimum=8) if args.shape else (512, 512)
    n_sources = 400 if args.n_sources is None else args.n_sources
    sim = simulate_continuum_image(shape=shape, n_sources=n_sources, seed=args.seed,
                                   primary_beam=args.primary_beam)
    image = outdir / f"sim_continuum_{args.seed}.fits"
    truth = outdir / f"sim_continuum_{args.seed}_truth.ecsv"
    sim.write_all(image, truth, overwrite=args.overwrite)
    _say(args, f"wrote {image}", f"wrote {truth}")
    return 0


def _simulate_alma(args, outdir):
    """``simulate alma``: an ALMA dirty cube, its clean model, dirty beam and truth, whole or not at all."""
    from ..core.tiling import as_tuple
    from ..simulate.alma import simulate_alma_cube

    if args.realistic or args.primary_beam is not None:
        raise ValueError("--realistic and --primary-beam do not apply to 'simulate alma'")
    shape = as_tuple(args.shape, 3, "--shape", minimum=8) if args.shape else (128, 256, 256)
    if args.n_sources is not None and args.n_sources < 1:
        raise ValueError(f"--n-sources for alma counts the bright source too and must be >= 1, got {args.n_sources}")
    n_faint = (2, 6) if args.n_sources is None else args.n_sources - 1
    sim = simulate_alma_cube(shape=shape, seed=args.seed, n_faint=n_faint)
    stem = f"sim_alma_{args.seed}"
    paths = [outdir / f"{stem}.fits", outdir / f"{stem}_truth.ecsv", outdir / f"{stem}_model.fits",
             outdir / f"{stem}_beam.fits"]
    sim.write_all(paths[0], paths[1], model_path=paths[2], beam_path=paths[3], overwrite=args.overwrite)
    _say(args, *(f"wrote {p}" for p in paths))
    return 0


def _range_option(value, name):
    """``'LOW,HIGH'`` or ``'VALUE'`` of a command-line option as a float or a pair of floats."""
    try:
        parts = [float(v) for v in str(value).split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise ValueError(f"{name} must be VALUE or LOW,HIGH (numbers), got {value!r}")
    return parts[0] if len(parts) == 1 else tuple(parts)


#: Options of ``simulate blends`` only: ``{dest: option}``.
_BLEND_OPTIONS = {"n_blends": "--n-blends", "separation": "--separation",
                  "separation_unit": "--separation-unit", "flux_ratio": "--flux-ratio",
                  "psf_fwhm": "--psf-fwhm"}


def _simulate_blends(args, outdir):
    """``simulate blends``: an optical image of blended sources, the per-source truth cube and the truth
    table, written whole or not at all."""
    from ..core.tiling import as_tuple
    from ..simulate.blends import simulate_blends

    if args.realistic or args.primary_beam is not None:
        raise ValueError("--realistic and --primary-beam apply to 'simulate hi' and 'simulate continuum', "
                         "not to blends")
    shape = as_tuple(args.shape, 2, "--shape", minimum=16) if args.shape else (64, 64)
    kwargs = {"n_sources": (1, 6) if args.n_sources is None else args.n_sources}
    if args.n_blends is not None:
        kwargs["n_blends"] = args.n_blends
    for dest in ("separation", "flux_ratio"):
        value = getattr(args, dest)
        if value is not None:
            kwargs[dest] = _range_option(value, _BLEND_OPTIONS[dest])
    if args.separation_unit is not None:
        kwargs["separation_unit"] = args.separation_unit
    if args.psf_fwhm is not None:
        kwargs["psf_fwhm"] = args.psf_fwhm
    sim = simulate_blends(shape=shape, seed=args.seed, **kwargs)
    image = outdir / f"sim_blends_{args.seed}.fits"
    truth = outdir / f"sim_blends_{args.seed}_truth.ecsv"
    sources = outdir / f"sim_blends_{args.seed}_sources.fits"
    sim.write_all(image, truth, sources, overwrite=args.overwrite)
    _say(args, f"wrote {image}", f"wrote {truth}", f"wrote {sources} (one noise-free image per source)")
    return 0


#: ``{kind: (function(args, outdir) -> exit status, what it writes)}`` of ``simulate KIND``.
_KINDS = {
    "hi": (_simulate_hi, "an HI cube with galaxies"),
    "continuum": (_simulate_continuum, "an SKA SDC1-like continuum image"),
    "alma": (_simulate_alma, "an ALMA dirty line cube with its clean model and dirty beam"),
    "blends": (_simulate_blends, "an optical image of overlapping galaxies and stars"),
}


def _cmd_simulate(args):
    if args.kind != "blends":
        given = [opt for dest, opt in _BLEND_OPTIONS.items() if getattr(args, dest) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise ValueError(f"{', '.join(given)} {verb} to 'simulate blends' only")
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    return _KINDS[args.kind][0](args, outdir)


def add_parser(sub):
    """Add the ``simulate`` command to the sub-parsers ``sub``."""
    p = sub.add_parser("simulate", help="write a simulated data set with its truth table")
    p.add_argument("kind", choices=tuple(_KINDS),
                   help="what to simulate: " + ", ".join(f"{kind} ({what})" for kind, (_, what) in _KINDS.items()))
    p.add_argument("--seed", type=int, default=0, help="random seed; also names the files (default 0)")
    p.add_argument("--output", default=".", help="directory to write the FITS file and its truth table")
    p.add_argument("--shape", help="hi: z,y,x (default 128,96,96); continuum: y,x (default 512,512); "
                   "alma: z,y,x (default 128,256,256); blends: y,x (default 64,64)")
    p.add_argument("--n-sources", type=int, help="default 8 (hi), 400 (continuum, most below the noise), "
                   "3-7 at random (alma: one bright source and the rest fainter); blends: sources per blend "
                   "(default 1-6, drawn per blend)")
    p.add_argument("--realistic", action="store_true", help="hi: add RFI, ripples, varying noise and beams")
    p.add_argument("--primary-beam", type=float, metavar="FWHM",
                   help="continuum: primary-beam FWHM in pixels (the image is primary-beam corrected)")
    p.add_argument("--n-blends", type=int, help="blends: number of blends (default 1, a cut-out; more: a field)")
    p.add_argument("--separation", metavar="VALUE|LOW,HIGH",
                   help="blends: separation of a source from an earlier one of its blend (default 0.7,3.0)")
    p.add_argument("--separation-unit", choices=("hlr", "fwhm", "pixel"),
                   help="blends: unit of --separation: hlr (sum of the two PSF-convolved half-light radii, "
                        "the default), fwhm (the PSF's) or pixel")
    p.add_argument("--flux-ratio", metavar="VALUE|LOW,HIGH",
                   help="blends: flux of a source over that of the earlier one (default 0.1,1.0)")
    p.add_argument("--psf-fwhm", type=float, help="blends: Moffat PSF FWHM in pixels (default 3.5)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    _quiet_options(p, progress=False)
    p.set_defaults(func=_cmd_simulate)
    return p
