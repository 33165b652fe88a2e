# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Scoring source finders against the truth: one-to-one matching, precision,
recall, F1, IoU/Dice and flux accuracy, and which reference components lie
within the sources a finder found.
"""

from astro_mlfinder.evaluate.containment import components_in_sources
from astro_mlfinder.evaluate.matching import MatchResult, match_catalogs, segment_overlap
from astro_mlfinder.evaluate.metrics import (
                                              DEFAULT_SNR_BINS,
                                              evaluate,
                                              evaluate_by_bin,
                                              evaluate_files,
                                              read_catalog,
                                              scores,
)

__all__ = ['DEFAULT_SNR_BINS', 'MatchResult', 'components_in_sources', 'evaluate', 'evaluate_by_bin',
           'evaluate_files', 'match_catalogs', 'read_catalog', 'scores',
           'segment_overlap']
