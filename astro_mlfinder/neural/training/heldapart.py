"""The held-apart validation set of the HI models: telescopes and galaxies the training never saw.

Training (`~astro_mlfinder.neural.training.data.SimulatedHIData` with
``telescope_prob > 0``) draws its crops from `~astro_mlfinder.simulate.simulate_hi_cube`
and from `~astro_mlfinder.simulate.simulate_telescope_cube` with the **WSRT,
ATCA and ASKAP** presets. The held-apart set differs in every choice the
issue names:

* **instruments**: the **MeerKAT** and **FAST** presets only -- beams of up to
  7 pixels, FAST's boxcar spectral response (correlating 2-3 channels),
  drift-scan noise stripes, MeerKAT's primary-beam-corrected noise with NaN
  beyond the primary beam, FAST's strong RFI and standing waves;
* **FITS conventions**: the cubes are written with the telescope's conventions
  (`~astro_mlfinder.simulate.telescopes.to_telescope_hdu`: VRAD in km/s and
  mJy/beam for FAST, JY/BEAM for MeerKAT) and read back with
  `~astro_mlfinder.core.inputs.load_image`, as a user's file would be;
* **galaxies**: a mix weighted towards the hard cases (warped 0.2,
  interacting 0.15, dwarf 0.2, edge-on 0.15, lopsided 0.1, larger than the
  cube 0.1, plain discs 0.1), HI radii 2-12 pixels;
* **seeds**: ``SeedSequence([i, 0x4E1D])``, disjoint from the training stream
  (``0x7EA1``), the validation set of the training loop (``0x5A11D``) and
  integer benchmark seeds.
"""

import warnings

import numpy as np

__all__ = ["HELD_APART", "HELD_APART_ENTROPY", "make_heldapart_set"]

#: Entropy mixed into every held-apart seed.
HELD_APART_ENTROPY = 0x4E1D

#: The recipe of the held-apart set (recorded with scores measured on it).
HELD_APART = {
    "telescopes": ["MeerKAT", "FAST"],
    "morphologies": {"warped": 0.2, "interacting": 0.15, "dwarf": 0.2, "edge_on": 0.15, "lopsided": 0.1,
                     "large": 0.1, "disk": 0.1},
    "size_range": [2.0, 12.0],
    "snr_range": [2.0, 40.0],
    "mask_threshold": 0.5,
    "entropy": HELD_APART_ENTROPY,
}


def make_heldapart_set(n_cubes=12, shape=(256, 96, 96), n_sources=4, seed=0):
    """The held-apart cubes: list of ``(hdu, sim)``.

    Parameters
    ----------
    n_cubes : int
        Number of cubes (telescopes alternate: MeerKAT, FAST, ...).
    shape : tuple of int
        ``(z, y, x)`` of every cube.
    n_sources : int
        Galaxies per cube.
    seed : int
        Seed of the set (mixed with `HELD_APART_ENTROPY`).

    Returns
    -------
    list of tuple
        ``hdu``: the cube as the telescope writes it (`~astropy.io.fits.PrimaryHDU`);
        ``sim``: the `~astro_mlfinder.simulate.HISimulation` with its truth
        (``labels``, ``model`` and ``truth`` in Jy/beam).
    """
    from ...simulate.hi_telescope import simulate_telescope_cube
    from ...simulate.telescopes import to_telescope_hdu

    root = np.random.SeedSequence([int(seed), HELD_APART_ENTROPY])
    out = []
    for i, child in enumerate(root.spawn(int(n_cubes))):
        telescope = HELD_APART["telescopes"][i % len(HELD_APART["telescopes"])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = simulate_telescope_cube(
                shape,
                n_sources,
                telescope=telescope,
                seed=child,
                snr_range=HELD_APART["snr_range"],
                size_range=HELD_APART["size_range"],
                morphologies=HELD_APART["morphologies"],
                mask_threshold=HELD_APART["mask_threshold"],
            )
        out.append((to_telescope_hdu(sim, telescope), sim))
    return out
