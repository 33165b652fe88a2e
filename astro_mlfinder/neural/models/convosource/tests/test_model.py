"""NeuralFinder('convosource') on held-out simulated images: recovered sources, fluxes, tiling, bad input."""

import numpy as np
import pytest

from astro_mlfinder.neural.models import get_model
from astro_mlfinder.neural.models.convosource import ConvoSourceModel
from astro_mlfinder.simulate.continuum import simulate_continuum_image


def test_registered_and_keywords_validated():
    assert get_model("convosource") is ConvoSourceModel
    assert ConvoSourceModel.ndim == 2
    with pytest.raises(TypeError, match="accepts: .*threshold.*nms_radius.*grow_snr"):
        ConvoSourceModel(kernels=3)
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\)"):
        ConvoSourceModel(threshold=1.5)
    with pytest.raises(ValueError, match="nms_radius must be >= 0"):
        ConvoSourceModel(nms_radius=-1)
    with pytest.raises(ValueError, match="tile_shape must be"):
        ConvoSourceModel(tile_shape=(64, 64, 64))


torch = pytest.importorskip("torch")

from astro_mlfinder import NeuralFinder  # noqa: E402


@pytest.fixture(scope="module")
def sim():
    # seed 42 is outside the training (1000000+) and validation (2000000+) seeds
    return simulate_continuum_image(shape=(256, 320), n_sources=400, seed=42)


@pytest.fixture(scope="module")
def finder():
    return NeuralFinder("convosource", progress=False)


@pytest.fixture(scope="module")
def cat(finder, sim):
    return finder(sim.to_hdu(), progress=False)


def _match(cat, truth, radius=3.0):
    """For each true source, whether a catalogued source lies within ``radius`` px (peak or centroid)."""
    det = np.column_stack([np.asarray(cat.y_peak.value, float), np.asarray(cat.x_peak.value, float)])
    ty = np.column_stack([np.asarray(truth["y_peak"], float), np.asarray(truth["x_peak"], float)])
    tc = np.column_stack([np.asarray(truth["y"], float), np.asarray(truth["x"], float)])
    d = np.minimum(np.hypot(*(det[:, None] - ty[None]).transpose(2, 0, 1)),
                   np.hypot(*(det[:, None] - tc[None]).transpose(2, 0, 1)))
    return d <= radius


def test_recovers_bright_sources_with_few_false_positives(cat, sim):
    t = sim.truth
    snr = np.asarray(t["snr_int"])
    near = _match(cat, t)
    bright = snr >= 10
    recall_bright = near[:, bright].any(axis=0).mean()
    mid = (snr >= 5) & (snr < 10)
    recall_mid = near[:, mid].any(axis=0).mean()
    # a detection is true when it sits on a source of S/N >= 2
    precision = near[:, snr >= 2].any(axis=1).mean()
    assert bright.sum() >= 15
    # measured with the shipped weights: 1.00, 0.75, 0.98
    assert recall_bright >= 0.95
    assert recall_mid >= 0.6
    assert precision >= 0.85


def test_catalogue_has_fluxes_and_shapes(cat, sim):
    t = sim.truth
    assert {"score", "peak_flux", "int_flux", "err_int_flux", "size_maj", "ra", "dec"} <= set(cat.column_names)
    score = np.asarray(cat.to_table()["score"])
    assert np.all((score >= cat.meta["threshold"]) & (score <= 1))
    assert cat.products["probability"].shape == sim.data.shape
    # bright sources (S/N > 15) caught on their peak: median integrated flux within 15 %, peak within 10 %
    near = _match(cat, t, radius=1.5)
    pick = (np.asarray(t["snr_int"]) > 15) & ~np.asarray(t["cut"])
    ratios, peaks = [], []
    for j in np.flatnonzero(pick):
        hits = np.flatnonzero(near[:, j])
        if hits.size == 1:
            ratios.append(cat.int_flux.value[hits[0]] / t["f_int"][j].value)
            peaks.append(cat.peak_flux.value[hits[0]] / t["f_peak"][j].value)
    assert len(ratios) >= 8
    assert np.median(ratios) == pytest.approx(1.0, abs=0.15)
    assert np.median(peaks) == pytest.approx(1.0, abs=0.1)


def test_tiles_of_any_size_give_the_same_sources(finder, sim):
    # an overlap of 32 > 4 x the 13-pixel receptive field's half width: blended tiles equal one big tile
    small = NeuralFinder("convosource", progress=False, tile_shape=(64, 96), overlap=32)
    a = finder(sim.to_hdu(), progress=False)
    b = small(sim.to_hdu(), progress=False)
    np.testing.assert_allclose(a.products["probability"], b.products["probability"], atol=1e-5)
    assert np.array_equal(a.segment, b.segment)
    assert small.margin == (32 + 48, 32 + 48)


def test_threshold_keyword_trades_recall_for_precision(sim, cat):
    strict = NeuralFinder("convosource", progress=False, threshold=0.95)(sim.to_hdu(), progress=False)
    assert len(strict) < len(cat)
    assert strict.meta["threshold"] == 0.95


def test_bad_input(finder, sim):
    with pytest.raises(ValueError, match=r"accepts 2D images \(y, x\)"):
        finder(np.zeros((8, 32, 32), np.float32) + 1, progress=False)
    with pytest.raises(ValueError, match="no finite values"):
        finder(np.full((64, 64), np.nan, np.float32), progress=False)
    with pytest.raises(ValueError, match="cannot estimate the noise"):  # a constant image has no noise
        finder(np.ones((64, 64), np.float32), progress=False)


def test_tta_map_does_not_depend_on_the_orientation(finder, sim):
    from astro_mlfinder.neural.models.convosource.inference import probability_map

    nets, info = finder.load_model()
    net, norm = nets["convosource"], info["meta"].get("normalization")
    img = np.asarray(sim.data[:96, :96], dtype=np.float32)
    plain, _ = probability_map(net, img, normalization=norm, device="cpu")
    tta, _ = probability_map(net, img, normalization=norm, device="cpu", tta=True)
    turned, _ = probability_map(net, np.rot90(img[:, ::-1]), normalization=norm, device="cpu", tta=True)
    assert np.allclose(np.rot90(tta[:, ::-1]), turned, atol=1e-5)
    assert not np.allclose(plain, tta, atol=1e-3)   # the eight views do differ
    assert abs(float(plain.max()) - float(tta.max())) < 0.2
    small = simulate_continuum_image(shape=(96, 96), n_sources=40, seed=43)
    cat = NeuralFinder("convosource", progress=False, tta=True, threshold=0.5)(small.to_hdu(), progress=False)
    assert cat.meta["tta"] is True and len(cat) >= 1


def test_min_snr_keeps_only_peaks_confirmed_on_the_data(sim, cat):
    cut = NeuralFinder("convosource", progress=False, min_snr=10.0)(sim.to_hdu(), progress=False)
    assert cut.meta["min_snr"] == 10.0 and cat.meta["min_snr"] == 0.0
    assert 0 < len(cut) < len(cat)
    noise = float(sim.params["noise"])
    peak = np.asarray(cut.peak_flux.to_value("Jy / beam"), dtype=float)
    assert np.all(peak >= 0.9 * 10 * noise)   # the local noise is estimated, hence the 10% margin
    kept = np.asarray(cat.peak_flux.to_value("Jy / beam"), dtype=float)
    assert np.sum(kept >= 11 * noise) <= len(cut) + 1   # the bright ones all stay
    with pytest.raises(ValueError, match="min_snr must be >= 0"):
        NeuralFinder("convosource", min_snr=-1)
