"""The contract every finder passes: the checks a new finder or model must pass to join.

Parametrised over every registered finder name (`astro_mlfinder.find.finder_names`:
the classical finder, SoFiA-2 when a binary is installed, every registered
neural model): it declares ``ndim`` and ``margin``, refuses data of the wrong
dimensionality naming the shapes it accepts, returns the one `SourceCatalog`
type with the same schema when nothing is found, records enough in
``meta['finder']`` to be re-created, honours the mask, and its catalogue
writes regions and products. A finder that accepts 2D images passes the same
on a seeded continuum image (the ``test_images_*`` tests): 2D columns with
RA/Dec and fluxes in Jy, no spectral columns, ``to_photutils``, DS9/CRTF
regions without spectral ranges, tables and products.
"""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from regions import Regions

from astro_mlfinder import Finder, SourceCatalog
from astro_mlfinder.find import finder_names, make_finder


def _make(name):
    if name == "sofia":
        from astro_mlfinder.sofia.binary import find_sofia_executable

        try:
            find_sofia_executable(None)
        except (FileNotFoundError, OSError, ValueError):
            pytest.skip("no SoFiA-2 binary installed (set SOFIA2_BIN)")
    if name not in ("classical", "sofia"):
        pytest.importorskip("torch")
    return make_finder(name)


@pytest.fixture(scope="module", params=finder_names())
def finder(request):
    return _make(request.param)


@pytest.fixture(scope="module")
def sim(finder, small_sim):
    """The seeded HI cube, or for a finder of 2D images only a seeded continuum image of bright sources."""
    if 3 in (finder.ndim if isinstance(finder.ndim, tuple) else (finder.ndim,)):
        return small_sim
    from astro_mlfinder.simulate.continuum import simulate_continuum_image

    return simulate_continuum_image(shape=(96, 96), n_sources=6, seed=11, snr_range=(40.0, 200.0),
                                    classes={"sfg": 1.0, "agn_compact": 1.0})


@pytest.fixture(scope="module")
def cube(sim):
    return sim.to_hdu()


@pytest.fixture(scope="module")
def noise_cube(cube):
    """The same header with pure Gaussian noise at the simulated noise level."""
    rng = np.random.default_rng(2024)
    sigma = float(np.nanstd(cube.data[..., :8, :8]))
    return fits.PrimaryHDU(rng.normal(0.0, sigma, cube.data.shape).astype(np.float32), cube.header)


@pytest.fixture(scope="module")
def found(finder, cube):
    return finder(cube, progress=False)


def test_declares_ndim_and_margin(finder):
    assert isinstance(finder, Finder)
    accepted = finder.ndim if isinstance(finder.ndim, tuple) else (finder.ndim,)
    assert set(accepted) <= {2, 3} and accepted
    margin = finder.margin
    # (z, y, x); a finder of 2D images only may declare (y, x)
    assert len(margin) == (3 if 3 in accepted else len(margin)) and len(margin) in (2, 3)
    assert all(isinstance(m, int | np.integer) and m >= 0 for m in margin)
    if 3 in accepted:
        assert finder.margin_for(3) == tuple(margin)
    # images: (y, x); the last two values unless the finder's image settings differ (ClassicalFinder's)
    image_margin = finder.margin_for(2)
    assert len(image_margin) == 2 and all(isinstance(m, int | np.integer) and m >= 0 for m in image_margin)


def test_wrong_dimensionality_names_the_accepted_shapes(finder):
    accepted = finder.ndim if isinstance(finder.ndim, tuple) else (finder.ndim,)
    words = {2: "2D images (y, x)", 3: "3D cubes (z, y, x)"}
    for ndim in {2, 3} - set(accepted):
        data = np.zeros((16,) * ndim, dtype=np.float32) + 1.0
        with pytest.raises(ValueError, match="accepts") as info:
            finder(data, progress=False)
        for n in accepted:
            assert words[n] in str(info.value)


def test_finds_sources_in_the_one_catalogue_type(found, sim):
    assert isinstance(found, SourceCatalog)
    assert len(found) >= len(sim.truth) - 1
    assert found.segment.shape == sim.to_hdu().data.shape
    assert list(found.id) == list(range(1, len(found) + 1))


def test_empty_result_has_the_full_schema(finder, found, noise_cube):
    empty = finder(noise_cube, progress=False)
    assert isinstance(empty, SourceCatalog)
    assert len(empty) == 0
    full, none = found.to_table(), empty.to_table()
    assert none.colnames == full.colnames
    for name in full.colnames:
        assert getattr(none[name], "unit", None) == getattr(full[name], "unit", None), name
    assert len(empty.to_regions()) == 0


def test_meta_recreates_the_finder(finder, found):
    record = found.meta["finder"]
    assert record["class"] == type(finder).__name__
    again = type(finder)(**record["params"])
    assert again.get_params() == finder.get_params()
    assert again.margin == finder.margin


def test_mask_is_honoured(finder, found, cube):
    first = found[0]
    box = (
        slice(int(first.z_min.value), int(first.z_max.value) + 1) if cube.data.ndim == 3 else None,
        slice(int(first.y_min.value), int(first.y_max.value) + 1),
        slice(int(first.x_min.value), int(first.x_max.value) + 1),
    )[3 - cube.data.ndim :]
    mask = np.zeros(cube.data.shape, dtype=bool)
    mask[box] = True
    masked = finder(cube, mask=mask, progress=False)
    assert not np.any(masked.segment[mask]), "a source was found inside the masked region"
    assert isinstance(masked, SourceCatalog)
    with pytest.raises(ValueError, match="mask shape"):
        finder(cube, mask=mask[1:], progress=False)


def test_regions_and_products_are_writable(found, tmp_path):
    regions = found.to_regions()
    assert isinstance(regions, Regions) and len(regions) == len(found)
    paths = found.write_products(tmp_path, "contract", regions=("ds9", "crtf"))
    assert paths and all(p.exists() for p in paths)
    found.write(tmp_path / "contract.ecsv")
    assert len(QTable.read(tmp_path / "contract.ecsv")) == len(found)


# ------------------------------------------------------------------ 2D images
# Every finder that accepts 2D images (``2 in finder.ndim``) passes these on a seeded continuum image,
# whatever it does on cubes: the one SourceCatalog with the 2D columns (no spectral ones), RA/Dec,
# fluxes in Jy, photutils access, regions and writers.


def _accepts(finder, ndim):
    return ndim in (finder.ndim if isinstance(finder.ndim, tuple) else (finder.ndim,))


@pytest.fixture(scope="module")
def image_sim():
    from astro_mlfinder.simulate.continuum import simulate_continuum_image

    return simulate_continuum_image(shape=(96, 96), n_sources=6, seed=11, snr_range=(40.0, 200.0),
                                    classes={"sfg": 1.0, "agn_compact": 1.0})


@pytest.fixture(scope="module")
def image_hdu(image_sim):
    return image_sim.to_hdu()


@pytest.fixture(scope="module")
def found_2d(finder, image_hdu):
    if not _accepts(finder, 2):
        pytest.skip(f"{type(finder).__name__} does not accept 2D images")
    return finder(image_hdu, progress=False)


def test_images_give_the_2d_catalogue(found_2d, image_sim, image_hdu):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    from astro_mlfinder.core.columns import DEFAULT_COLUMNS_2D

    assert isinstance(found_2d, SourceCatalog) and found_2d.ndim == 2
    assert found_2d.segment.shape == image_hdu.data.shape
    assert len(found_2d) >= len(image_sim.truth) - 1
    table = found_2d.to_table()
    assert set(DEFAULT_COLUMNS_2D) <= set(table.colnames)
    assert not {"z", "z_min", "w20", "w50", "kin_pa", "freq"} & set(table.colnames)
    assert isinstance(table["sky_centroid"], SkyCoord)
    assert table["int_flux"].unit == u.Jy and table["peak_flux"].unit == u.Jy / u.beam
    assert table["deconv_maj"].unit == u.arcsec
    assert (table["int_flux"].value > 0).all()
    assert list(found_2d.to_photutils().label) == list(found_2d.id)
    assert found_2d.segment_img.n_labels == len(found_2d)


def test_images_empty_result_has_the_full_schema(finder, found_2d, image_hdu):
    rng = np.random.default_rng(7)
    sigma = float(np.std(image_hdu.data[:10, :10]))
    noise = fits.PrimaryHDU(rng.normal(0.0, sigma, image_hdu.data.shape).astype(np.float32), image_hdu.header)
    empty = finder(noise, progress=False)
    assert len(empty) == 0 and empty.ndim == 2
    full, none = found_2d.to_table(), empty.to_table()
    assert none.colnames == full.colnames
    for name in full.colnames:
        assert getattr(none[name], "unit", None) == getattr(full[name], "unit", None), name


def test_images_mask_is_honoured(finder, found_2d, image_hdu):
    first = found_2d[0]
    mask = np.zeros(image_hdu.data.shape, dtype=bool)
    mask[int(first.y_min.value) : int(first.y_max.value) + 1, int(first.x_min.value) : int(first.x_max.value) + 1] = 1
    masked = finder(image_hdu, mask=mask, progress=False)
    assert not np.any(masked.segment[mask])


def test_images_write_regions_tables_and_products(found_2d, tmp_path):
    found_2d.write(tmp_path / "image.reg", format="ds9")
    found_2d.write(tmp_path / "image.crtf", format="crtf")
    found_2d.write(tmp_path / "image.ecsv")
    crtf = (tmp_path / "image.crtf").read_text()
    assert crtf.count("ellipse[[") == len(found_2d) and "range=" not in crtf
    assert (tmp_path / "image.reg").read_text().count("ellipse(") == len(found_2d)
    assert len(QTable.read(tmp_path / "image.ecsv")) == len(found_2d)
    paths = found_2d.write_products(tmp_path / "products", "image")
    mask = [p for p in paths if p.name == "image_mask.fits"]
    assert mask and fits.getdata(mask[0]).shape == found_2d.segment.shape
