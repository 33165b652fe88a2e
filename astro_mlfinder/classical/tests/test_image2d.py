"""ClassicalFinder on 2D images: sources recovered with their fluxes, the 2D rules and settings."""

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from scipy import ndimage

from astro_mlfinder.classical.finder import ClassicalFinder
from astro_mlfinder.classical.image2d import IMAGE_DEFAULTS, image_settings, noise_window
from astro_mlfinder.core.inputs import load_image

PIX_ARCSEC = 2.0
BEAM_PIX = 4.0  # beam FWHM in pixels
NOISE = 1e-4  # Jy/beam at the image centre


def _header(shape):
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---SIN", "DEC--SIN"
    header["CRVAL1"], header["CRVAL2"] = 60.0, -40.0
    header["CRPIX1"], header["CRPIX2"] = shape[1] / 2 + 1, shape[0] / 2 + 1
    header["CDELT1"], header["CDELT2"] = -PIX_ARCSEC / 3600, PIX_ARCSEC / 3600
    header["CUNIT1"] = header["CUNIT2"] = "deg"
    header["BUNIT"] = "Jy/beam"
    header["BMAJ"] = header["BMIN"] = BEAM_PIX * PIX_ARCSEC / 3600
    header["BPA"] = 0.0
    return header


def _simulate(seed=3, shape=(256, 256), n_sources=14, gradient=3.0, offset=2e-5):
    """Point sources (peak S/N 8-40 against the local noise) on beam-correlated noise that grows
    ``gradient`` times from left to right (a primary-beam-corrected mosaic), plus a constant background."""
    rng = np.random.default_rng(seed)
    sigma_beam = BEAM_PIX / math.sqrt(8 * math.log(2))
    white = rng.normal(size=shape)
    noise = ndimage.gaussian_filter(white, sigma_beam)
    noise /= noise.std()
    scale = NOISE * np.linspace(1.0, gradient, shape[1])[None, :]
    data = noise * scale + offset
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    grid = [(y, x) for y in range(24, shape[0] - 20, 42) for x in range(24, shape[1] - 20, 42)]
    picks = rng.choice(len(grid), n_sources, replace=False)
    truth = []
    for k in picks:
        y0, x0 = grid[k][0] + rng.uniform(-3, 3), grid[k][1] + rng.uniform(-3, 3)
        local = NOISE * (1.0 + (gradient - 1.0) * x0 / (shape[1] - 1))
        peak = rng.uniform(8, 40) * local
        data += peak * np.exp(-0.5 * ((xx - x0) ** 2 + (yy - y0) ** 2) / sigma_beam**2)
        truth.append((x0, y0, peak))  # point source: integrated flux (Jy) = peak (Jy/beam)
    return fits.PrimaryHDU(data.astype(np.float32), _header(shape)), np.array(truth)


@pytest.fixture(scope="module")
def simulated():
    return _simulate()


@pytest.fixture(scope="module")
def found(simulated):
    hdu, _ = simulated
    return ClassicalFinder()(hdu, progress=False)


def _match(cat, truth, radius=3.0):
    """For each true source, the index of the catalogue source within ``radius`` pixels (or -1)."""
    x, y = cat.x.value, cat.y.value
    out = []
    for x0, y0, _ in truth:
        d = np.hypot(x - x0, y - y0)
        out.append(int(np.argmin(d)) if d.size and d.min() < radius else -1)
    return np.array(out)


def test_finds_every_source_and_nothing_else(found, simulated):
    _, truth = simulated
    assert found.ndim == 2 and found.segment.shape == (256, 256)
    matched = _match(found, truth)
    assert (matched >= 0).all()
    assert len(found) == len(truth)


def test_fluxes_positions_and_sizes_of_point_sources(found, simulated):
    _, truth = simulated
    matched = _match(found, truth)
    peak = found.peak_flux.to_value(u.Jy / u.beam)[matched]
    flux = found.int_flux.to_value(u.Jy)[matched]
    err = found.err_int_flux.to_value(u.Jy)[matched]
    assert np.median(np.abs(peak / truth[:, 2] - 1)) < 0.08  # pixel sampling: sub-pixel offsets lower the peak
    assert np.median(flux / truth[:, 2]) == pytest.approx(1.0, abs=0.06)
    assert (np.abs(flux - truth[:, 2]) < 4 * err + 0.05 * truth[:, 2]).all()
    assert np.median(np.hypot(found.x.value[matched] - truth[:, 0], found.y.value[matched] - truth[:, 1])) < 0.3
    # point sources: deconvolved sizes well below the 8" beam
    assert np.median(found.deconv_maj.to_value(u.arcsec)[matched]) < 4.0


def test_local_noise_follows_the_gradient(found, simulated):
    _, truth = simulated
    matched = _match(found, truth)
    expected = NOISE * (1.0 + 2.0 * truth[:, 0] / 255)
    ratio = found.err_peak_flux.to_value(u.Jy / u.beam)[matched] / expected
    assert np.median(ratio) == pytest.approx(1.0, abs=0.15)
    settings = found.meta["image_settings"]
    assert settings["scale_noise"] == "local" and settings["scale_noise_window_xy"] == 41  # 10 beams of 4 px
    assert settings["ripple_filter"] is True
    background = found.products["background"]
    assert background.shape == (256, 256)
    assert np.nanmedian(background) == pytest.approx(2e-5, abs=1.5e-5)


def test_the_table_has_the_2d_columns_with_units(found):
    table = found.to_table()
    assert "z" not in table.colnames and "w20" not in table.colnames
    assert table["int_flux"].unit == u.Jy and table["peak_flux"].unit == u.Jy / u.beam
    assert table["deconv_maj"].unit == u.arcsec
    assert found.meta["finder"]["class"] == "ClassicalFinder"
    assert not (np.asarray(table["flag"]) & 2).any()  # no spectral-edge flag on an image


def test_without_image_defaults_a_global_noise_search_misses_the_noisy_side(simulated):
    hdu, truth = simulated
    plain = ClassicalFinder(image_defaults=False)(hdu, progress=False)
    assert plain.meta["image_settings"]["scale_noise"] is None
    assert plain.meta["image_settings"]["ripple_filter"] is False
    # one global noise for a noise that triples across the image: faint sources on the quiet side are
    # lost and noise peaks on the noisy side are found, where the image defaults recover exactly the truth
    assert (_match(plain, truth) < 0).sum() >= 1
    assert len(plain) - (_match(plain, truth) >= 0).sum() >= 1


def test_kernels_z_are_ignored_for_images(simulated, found):
    hdu, _ = simulated
    other = ClassicalFinder(kernels_z=(0, 3, 7, 15, 31), radius_z=3, min_size_z=20)(hdu, progress=False)
    assert np.array_equal(other.segment, found.segment)


def test_image_settings_rules():
    image = load_image(_simulate(n_sources=1)[0])
    finder = ClassicalFinder(min_size_xy=4)
    settings = image_settings(finder, image)
    assert settings.min_size_xy == 4  # set by the user: kept
    assert settings.scale_noise == IMAGE_DEFAULTS["scale_noise"]
    assert settings.kernels_z == (0,) and settings.min_size_z == 1
    assert noise_window(image) == 41
    # kernel 6 px (1.5 x 6) + the largest image linker radius + extent + dilation
    assert finder.margin_for(2) == (9 + 10 + 32 + 10,) * 2
    assert ClassicalFinder(radius_xy=2).margin_for(2) == (9 + 2 + 32 + 10,) * 2
    default = image_settings(ClassicalFinder(), image)
    assert default.radius_xy == 4 and default.min_size_xy == 1  # one 4-pixel beam
    plain = image_settings(ClassicalFinder(), load_image(np.asarray(image.data)))  # no beam, no WCS
    assert plain.radius_xy == 1 and plain.min_size_xy == 2 and plain.scale_noise_window_xy == 31
    assert finder.min_size_xy == 4 and finder.scale_noise is None  # the finder itself is not changed
    with pytest.raises(ValueError, match="contsub"):
        ClassicalFinder(contsub=True)(image, progress=False)
    with pytest.raises(ValueError, match="flag_auto"):
        ClassicalFinder(flag_auto="pixels")(image, progress=False)


def test_region_of_an_image(simulated, found):
    hdu, _ = simulated
    region = (100, 255, 0, 255)
    cut = ClassicalFinder(region=region, offset=True)(hdu, progress=False)
    inside = found.x.value > 110
    assert len(cut) >= inside.sum() - 1
    assert cut.x.value.min() > 100  # reported in the input's pixels
    with pytest.raises(ValueError, match="z range"):
        ClassicalFinder(region=(0, 10, 0, 10, 0, 3))(hdu, progress=False)
    with pytest.raises(ValueError, match="no z range"):
        ClassicalFinder(region=(0, 10, 0, 10))(np.ones((8, 16, 16), np.float32), progress=False)


@pytest.mark.filterwarnings("ignore:Only .* negative detections")
def test_mask_and_reliability_in_2d(simulated, found):
    hdu, truth = simulated
    first = found[0]
    mask = np.zeros(hdu.data.shape, bool)
    mask[int(first.y_min.value) : int(first.y_max.value) + 1, int(first.x_min.value) : int(first.x_max.value) + 1] = 1
    masked = ClassicalFinder()(hdu, mask=mask, progress=False)
    assert not masked.segment[mask].any() and len(masked) == len(found) - 1
    reliable = ClassicalFinder(threshold=3.0, reliability=True, reliability_threshold=0.5)(hdu, progress=False)
    rel = np.asarray(reliable.rel)
    assert ((rel >= 0.5) & (rel <= 1)).all()
    assert (_match(reliable, truth) >= 0).sum() >= len(truth) - 1


def test_one_plane_fits_image_is_searched_as_an_image(simulated, tmp_path):
    hdu, truth = simulated
    header = hdu.header.copy()
    header["CTYPE3"], header["CRVAL3"], header["CDELT3"], header["CRPIX3"], header["CUNIT3"] = (
        "FREQ", 1.4e9, 1e6, 1.0, "Hz")
    path = tmp_path / "continuum.fits"
    fits.PrimaryHDU(hdu.data[None], header).writeto(path)
    cat = ClassicalFinder()(str(path), progress=False)
    assert cat.ndim == 2 and len(cat) == len(truth)
    assert cat.image.frequency == 1.4e9 * u.Hz


def test_the_same_script_tabulates_and_writes_regions(found, tmp_path):
    table = found.to_table()
    assert len(table) == len(found)
    found.write(tmp_path / "sources.reg", format="ds9")
    found.write(tmp_path / "sources.crtf", format="crtf")
    found.write(tmp_path / "sources.ecsv")
    text = (tmp_path / "sources.crtf").read_text()
    assert text.count("ellipse") == len(found) and "range=" not in text
    assert (tmp_path / "sources.reg").read_text().count("ellipse(") == len(found)
    paths = found.write_products(tmp_path / "products", "img")
    names = sorted(p.name for p in paths)
    assert "img_mask.fits" in names and "img_cat.txt" in names
    assert fits.getdata(tmp_path / "products" / "img_mask.fits").shape == (256, 256)
    pcat = found.to_photutils()
    assert np.allclose(pcat.segment_flux, found.f_sum.value, rtol=1e-5)


def test_the_callers_image_is_not_changed(simulated):
    hdu, truth = simulated
    data = hdu.data.copy()
    cat = ClassicalFinder()(data, progress=False)
    assert np.array_equal(data, hdu.data)
    assert len(cat) == len(truth)  # without a WCS or beam: min_size_xy 2, radius 1, 31-pixel windows


def test_degenerate_reliability_parameters_get_a_clear_error(simulated, monkeypatch):
    from astro_mlfinder.classical import pipeline
    from astro_mlfinder.classical.reliability import ReliabilityError

    def singular(finder, state):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(pipeline, "reliability", singular)
    with pytest.raises(ReliabilityError, match="peak = sum = mean"):
        ClassicalFinder(reliability=True)(simulated[0], progress=False)


# ---------------------------------------------------------------- local noise on noise of known sigma


def _correlated(seed, shape, beam_pix):
    from astro_mlfinder.simulate._noise import correlated_noise

    noise = correlated_noise(shape, beam_pix, 1.0, np.random.default_rng(seed), exact=False).astype(np.float64)
    return noise, float(noise.std())


@pytest.mark.parametrize("margin_beams", [1.0, 5.0])
def test_window_noise_is_unbiased_on_beam_correlated_noise(margin_beams):
    """The MAD about zero of the negative pixels needs no sample mean: unbiased even in windows of few beams."""
    from astro_mlfinder.core.measure2d import window_noise

    beam = 6.0
    data, sigma = _correlated(11, (768, 768), beam)
    margin = int(margin_beams * beam)
    step = 2 * margin + 1  # non-overlapping windows around one-pixel "sources"
    centres = np.arange(margin, 768 - margin, step)
    yc, xc = (c.ravel() for c in np.meshgrid(centres, centres, indexing="ij"))
    params = {"x_min": xc, "x_max": xc, "y_min": yc, "y_max": yc}
    noise = window_noise(data, np.zeros(data.shape, dtype=np.int32), params, margin, np.nan)
    assert np.isfinite(noise).all()
    assert np.mean(noise) / sigma == pytest.approx(1.0, abs=0.02)
    if margin_beams == 1.0:  # 13 x 13 px (4 beam areas): a sample standard deviation is biased low there
        stds = [data[y - margin:y + margin + 1, x - margin:x + margin + 1].std() for y, x in zip(yc, xc, strict=True)]
        assert np.mean(stds) / sigma < 0.93
    else:  # 11 x 11 beams, the catalogue's window: the scatter of one estimate is about 10%
        assert np.std(noise) / sigma < 0.12


def test_catalogue_noise_is_unbiased_on_beam_correlated_noise():
    """Local noise map and err_peak_flux against the true sigma, around bright sources at fixed places."""
    beam = BEAM_PIX
    shape = (384, 384)
    noise, sigma = _correlated(21, shape, beam)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    s = beam / math.sqrt(8 * math.log(2))
    data = noise.copy()
    for y0 in range(40, shape[0] - 30, 60):
        for x0 in range(40, shape[1] - 30, 60):
            data += 50.0 * np.exp(-0.5 * ((xx - x0) ** 2 + (yy - y0) ** 2) / s**2)
    cat = ClassicalFinder()(fits.PrimaryHDU((data * NOISE).astype(np.float32), _header(shape)), progress=False)
    bright = cat.peak_flux.to_value(u.Jy / u.beam) > 20 * NOISE
    assert bright.sum() == 36
    err_peak = np.median(cat.err_peak_flux.to_value(u.Jy / u.beam)[bright])
    assert err_peak / (sigma * NOISE) == pytest.approx(1.0, abs=0.04)
    assert np.nanmedian(cat.products["noise"]) / (sigma * NOISE) == pytest.approx(1.0, abs=0.03)


def test_window_noise_grows_where_few_background_pixels_are_left():
    """Next to blanked pixels a window grows until it holds enough beams; it never measures a beam or two."""
    from astro_mlfinder.core.measure2d import window_noise

    beam = 6.0
    data, sigma = _correlated(31, (256, 256), beam)
    data[:, :120] = np.nan  # the source sits at the edge of a blanked half
    params = {"x_min": np.array([122]), "x_max": np.array([124]), "y_min": np.array([10]), "y_max": np.array([12])}
    labels = np.zeros(data.shape, dtype=np.int32)
    area = math.pi * beam**2 / (4 * math.log(2))
    few = window_noise(data, labels, params, 3, -1.0, min_pixels=1)[0]
    grown = window_noise(data, labels, params, 3, -1.0, min_pixels=int(10 * area))[0]
    assert grown == pytest.approx(sigma, rel=0.2)
    assert grown != few
    # nowhere enough: the fallback
    assert window_noise(data, labels, params, 3, -1.0, min_pixels=data.size)[0] == -1.0
