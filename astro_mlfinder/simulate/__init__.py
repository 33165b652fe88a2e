# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated data with exact truth, for testing, benchmarking and training
source finders.
"""

from astro_mlfinder.simulate.augment import cutmix
from astro_mlfinder.simulate.blends import (
    BENCHMARK_SEED,
    BLEND_SEEDS,
    TRAINING_SEED,
    TUNING_SEED,
    VALIDATION_SEED,
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

__all__ = ['HI_REST_FREQUENCY', 'ContinuumSimulation', 'HISimulation', 'REALISM_DEFAULTS',
           'cutmix', 'make_continuum_header', 'make_hi_header', 'random_realism',
           'simulate_continuum_image', 'simulate_hi_cube']
__all__ += ['BENCHMARK_SEED', 'BLEND_SEEDS', 'TRAINING_SEED', 'TUNING_SEED', 'VALIDATION_SEED',
            'BlendSimulation', 'blend_cutouts', 'make_optical_header', 'simulate_blends']
