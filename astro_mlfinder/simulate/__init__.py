# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated data with exact truth, for testing, benchmarking and training
source finders.
"""

from astro_mlfinder.simulate.alma import (
    ALMA_FAST_PARAMS,
    ALMA_SEEDS,
    CO21_REST_FREQUENCY,
    ALMASimulation,
    make_alma_header,
    simulate_alma_cube,
)
from astro_mlfinder.simulate.augment import cutmix
from astro_mlfinder.simulate.blends import (
    BLEND_SEEDS,
    BlendSimulation,
    blend_cutouts,
    make_optical_header,
    simulate_blends,
)
from astro_mlfinder.simulate.continuum import (
    ContinuumSimulation,
    make_continuum_header,
    simulate_continuum_image,
)
from astro_mlfinder.simulate.hi import (
                                        HI_REST_FREQUENCY,
                                        REALISM_DEFAULTS,
                                        HISimulation,
                                        make_hi_header,
                                        random_realism,
                                        simulate_hi_cube,
)
from astro_mlfinder.simulate.hi_telescope import simulate_telescope_cube
from astro_mlfinder.simulate.telescopes import TELESCOPES, draw_instrument, to_telescope_hdu

__all__ = ['ALMA_FAST_PARAMS', 'ALMA_SEEDS', 'CO21_REST_FREQUENCY', 'ALMASimulation',
           'make_alma_header', 'simulate_alma_cube',
           'HI_REST_FREQUENCY', 'ContinuumSimulation', 'HISimulation', 'REALISM_DEFAULTS',
           'cutmix', 'make_continuum_header', 'make_hi_header', 'random_realism',
           'simulate_continuum_image', 'simulate_hi_cube', 'simulate_telescope_cube', 'TELESCOPES',
           'draw_instrument', 'to_telescope_hdu']
__all__ += ['BLEND_SEEDS', 'BlendSimulation', 'blend_cutouts', 'make_optical_header', 'simulate_blends']
