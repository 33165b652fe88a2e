# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Build the bundled sample HI cube and its truth catalogue.

Run from the repository root::

    python data/make_sample.py            # writes data/sample_hi_cube.fits
                                          # and data/sample_hi_truth.ecsv
    python data/make_sample.py --check    # rebuild in memory and compare

The result is deterministic: the same astro_mlfinder version always writes
the same numbers.  See data/README.md for what the files contain.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

#: Everything that defines the sample (passed to simulate_hi_cube).
SAMPLE_PARAMETERS = {
    'shape': (96, 64, 64),
    'n_sources': 5,
    'seed': 20240521,
    'snr': [8.0, 12.0, 18.0, 27.0, 40.0],
    'noise': 1.0e-3,
    'beam_fwhm': 3.0,
    'channel_width': 5.0e4,
    'pixel_scale': 10.0,
    'freq0': 1.40e9,
    'center': (150.0, 30.0),
    'size_range': (2.5, 6.0),
    'incl_range': (30.0, 75.0),
    'vrot_range': (60.0, 180.0),
    'mask_threshold': 0.5,
}

CUBE_NAME = 'sample_hi_cube.fits'
TRUTH_NAME = 'sample_hi_truth.ecsv'


def build_sample():
    """
    Simulate the sample cube.

    Returns
    -------
    sim : `~astro_mlfinder.simulate.HISimulation`
    """
    from astro_mlfinder.simulate import simulate_hi_cube

    sim = simulate_hi_cube(**SAMPLE_PARAMETERS)
    if len(sim.truth) != SAMPLE_PARAMETERS['n_sources']:
        raise RuntimeError('the sample simulation did not place every source')
    return sim


def _truth_for_file(sim):
    truth = sim.truth.copy()
    truth.meta['description'] = (
        'Truth catalogue of data/sample_hi_cube.fits, made by '
        'data/make_sample.py with astro_mlfinder.simulate.simulate_hi_cube. '
        '0-based pixel coordinates (x, y, z); flux-weighted centroids of the '
        'noiseless model inside each truth mask.')
    truth.meta['parameters'] = {k: (list(v) if isinstance(v, tuple) else v)
                                for k, v in SAMPLE_PARAMETERS.items()}
    return truth


def write_sample(outdir, overwrite=True):
    """
    Write the sample cube and truth table into ``outdir``.

    Parameters
    ----------
    outdir : str or path-like
        Output directory.
    overwrite : bool, optional
        Replace existing files.

    Returns
    -------
    paths : tuple of `~pathlib.Path`
        The cube and the truth table.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sim = build_sample()
    cube_path = outdir / CUBE_NAME
    truth_path = outdir / TRUTH_NAME
    if not overwrite:
        for path in (cube_path, truth_path):
            if path.exists():
                raise FileExistsError(f'{path} exists; use --overwrite')
    sim.write(cube_path, overwrite=True)
    sim.truth = _truth_for_file(sim)
    sim.write_truth(truth_path, overwrite=True)
    return cube_path, truth_path


def check_sample(outdir):
    """
    Compare the files in ``outdir`` with a fresh simulation.

    Returns
    -------
    ok : bool
    """
    from astropy.io import fits
    from astropy.table import QTable

    sim = build_sample()
    # Tolerances allow for last-bit differences between numpy/scipy builds;
    # the noise is 1e-3 Jy/beam.
    with fits.open(Path(outdir) / CUBE_NAME) as hdul:
        same_cube = (hdul[0].data.shape == sim.data.shape
                     and np.allclose(hdul[0].data, sim.data, rtol=0,
                                     atol=1e-8))
    truth = QTable.read(Path(outdir) / TRUTH_NAME)
    same_truth = (len(truth) == len(sim.truth) and all(
        np.allclose(np.asarray(truth[c]), np.asarray(sim.truth[c]),
                    rtol=1e-6) for c in ('x', 'y', 'z', 'snr', 'n_pix')))
    return bool(same_cube and same_truth)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--outdir', default=str(Path(__file__).parent),
                        help='output directory (default: this folder)')
    parser.add_argument('--check', action='store_true',
                        help='compare existing files with a fresh build')
    parser.add_argument('--no-overwrite', action='store_true',
                        help='refuse to replace existing files')
    args = parser.parse_args(argv)
    if args.check:
        ok = check_sample(args.outdir)
        print('sample files are up to date' if ok else
              'sample files differ from a fresh build')
        return 0 if ok else 1
    cube, truth = write_sample(args.outdir, overwrite=not args.no_overwrite)
    print(f'wrote {cube} ({cube.stat().st_size / 1e6:.2f} MB) and {truth}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
