"""File formats: catalogues, SoFiA-style products, region files and SoFiA-2 parameter files.

io imports core only, never a finder. Importing it registers the catalogue
writers (ecsv, fits, votable, sofia-ascii, sofia-xml, ds9, crtf) and the
``'sofia'`` product writer in `astro_mlfinder.core.registry`, through which
`SourceCatalog.write <astro_mlfinder.SourceCatalog.write>` and
`SourceCatalog.write_products <astro_mlfinder.SourceCatalog.write_products>`
reach them; the package ``__init__`` imports it.
"""

from . import catalog, products, regions  # noqa: F401  (each registers its writers)
from .catalog import CATALOG_FORMATS, guess_format, write_catalog
from .products import check_prefix, product_paths, write_products
from .regions import REGION_FORMATS, write_regions

__all__ = [
    "CATALOG_FORMATS",
    "REGION_FORMATS",
    "check_prefix",
    "guess_format",
    "product_paths",
    "write_catalog",
    "write_products",
    "write_regions",
]
