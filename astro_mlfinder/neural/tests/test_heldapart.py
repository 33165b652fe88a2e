import astropy.units as u
import numpy as np

from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.neural.training.data import TRAIN_ENTROPY, SimulatedHIData
from astro_mlfinder.neural.training.heldapart import HELD_APART, HELD_APART_ENTROPY, make_heldapart_set
from astro_mlfinder.neural.training.tuning import VAL_ENTROPY


def test_heldapart_set_uses_telescopes_and_seeds_the_training_never_sees():
    cubes = make_heldapart_set(2, (64, 32, 32), n_sources=2, seed=0)
    assert [sim.params["telescope"] for _, sim in cubes] == ["MeerKAT", "FAST"]
    assert not set(HELD_APART["telescopes"]) & set(SimulatedHIData().telescopes)
    assert len({HELD_APART_ENTROPY, TRAIN_ENTROPY, VAL_ENTROPY}) == 3
    hdu, sim = cubes[1]
    image = load_image(hdu)  # FAST's conventions: VRAD in km/s, mJy/beam
    assert image.unit == u.mJy / u.beam and hdu.header["CTYPE3"] == "VRAD"
    np.testing.assert_allclose(np.nan_to_num(image.read()), 1e3 * np.nan_to_num(sim.data), rtol=1e-6)
    again = make_heldapart_set(2, (64, 32, 32), n_sources=2, seed=0)
    np.testing.assert_array_equal(np.nan_to_num(again[0][1].data), np.nan_to_num(cubes[0][1].data))
    assert set(sim.truth["profile"]) <= set(HELD_APART["morphologies"])
