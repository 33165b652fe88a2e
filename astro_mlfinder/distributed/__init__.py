"""Tiled runs of any finder, locally or on dask.distributed, and surveys of many cubes.

``finder(data, tiles=..., max_memory=..., client=...)`` and `run` cut the
data into tiles that overlap by the finder's halo, compute what must be
global first (the classical finder's noise of every smoothed cube), segment
every tile as a Dask task, merge the sources cut by tile borders and measure
every source once on its bounding box: the catalogue equals the single
pass's. `run_survey` searches many cubes as independent tasks.

Dask is imported only when tasks run. Importing this package registers `run`
as the tiled runner of `astro_mlfinder.core.finder.Finder` (core cannot import
the floors above it; the package ``__init__`` imports this one).
"""

from ..core.finder import register_tiled_runner
from .plan import TiledPlan, make_plan, parse_memory
from .runner import plan_for, run
from .survey import SurveyResult, run_survey

__all__ = ["run", "plan_for", "make_plan", "parse_memory", "TiledPlan", "run_survey", "SurveyResult"]

register_tiled_runner(run)
