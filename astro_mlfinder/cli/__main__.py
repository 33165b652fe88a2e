"""``python -m astro_mlfinder.cli``."""

import sys

from . import main

sys.exit(main())
