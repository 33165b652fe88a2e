"""NeuralFinder('pais'): tiled inference, the catalogue with attribution, deblended images and flux; errors."""

import numpy as np
import pytest
from astropy import units as u

torch = pytest.importorskip("torch")

from astro_mlfinder import ClassicalFinder, NeuralFinder, SourceCatalog  # noqa: E402
from astro_mlfinder.neural.models import available_models, get_model  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from astro_mlfinder.neural import train

    out = tmp_path_factory.mktemp("pais_model") / "p.pt"
    train("pais", epochs=1, train_images=8, val_images=0, batch_size=8, output=out, progress=False, num_threads=1,
          config={"filters": [4, 8, 8, 8], "head_width": 8})
    return out


@pytest.fixture(scope="module")
def field():
    from astro_mlfinder.simulate.blends import simulate_blends

    return simulate_blends(shape=(96, 112), n_blends=2, seed=123)


def test_registered_as_a_2d_model():
    assert "pais" in available_models()
    model = get_model("pais")
    assert model.ndim == 2 and "threshold" in model.keywords and model.training.command.startswith("astro-mlfinder")


def test_catalogue_attribution_and_deblended_images(weights, field):
    # a barely trained network: a low threshold gives detections to decode on an image larger than a tile
    finder = NeuralFinder("pais", weights=weights, threshold=0.01, nms_radius=3, tile_shape=64, overlap=16,
                          progress=False)
    cat = finder(field.to_hdu())
    assert isinstance(cat, SourceCatalog) and len(cat) > 0
    att = cat.attribution
    assert att.shape == (len(cat), 96, 112) and att.dtype == np.float32
    sums = att.sum(axis=0)
    assert att.min() >= 0 and sums.max() <= 1 + 1e-5
    footprint = cat.products["footprint"]
    assert np.allclose(sums[footprint], 1.0, atol=1e-5) and np.all(sums[~footprint] == 0)
    # the deblended images of all sources add up to the (sky-subtracted) image inside the footprint
    deb = cat.deblended_images
    np.testing.assert_allclose(deb.sum(axis=0)[footprint], cat.image.data[footprint], rtol=1e-5, atol=1e-3)
    # the flux column is the sum of each deblended image, in the data unit
    t = cat.to_table()
    assert t["flux"].unit == u.adu and t["score"].shape == (len(cat),)
    np.testing.assert_allclose(t["flux"].value, deb.sum(axis=(1, 2)), rtol=1e-5, atol=1e-3)
    assert np.array_equal(cat.flux, t["flux"])
    # x, y: the heatmap peaks (sub-pixel), with sky positions from them
    heat = cat.products["heatmap"]
    iy, ix = np.round(t["y"].value).astype(int), np.round(t["x"].value).astype(int)
    np.testing.assert_allclose(heat[iy, ix], t["score"], atol=0.05)
    from astropy.wcs import WCS

    world = WCS(field.to_hdu().header).pixel_to_world(t["x"].value, t["y"].value)
    assert cat.sky_centroid.separation(world).max().arcsec < 1e-6
    # labels: every footprint pixel to its largest share, every source at least one pixel
    assert np.all((cat.segment > 0) == footprint)
    assert set(np.unique(cat.segment[cat.segment > 0])) == set(range(1, len(cat) + 1))
    first = cat.segment == 1
    assert np.all(att[0][first] >= att[:, first].max(axis=0) - 1e-7)
    assert cat.meta["model"] == "pais" and cat.meta["noise"] > 0
    assert cat[0].attribution.shape == (96, 112)


def test_same_script_for_classical_and_pais(field):
    """The shipped weights with their tuned decoding: one script for both finders, and PAIS separates the blends
    the classical finder (without deblending) finds as single sources."""
    def summary(cat):
        t = cat.to_table(["id", "x", "y", "f_sum", "n_pix"])
        return len(cat), sorted(t.colnames), t["f_sum"].unit

    hdu = field.to_hdu()
    n_c, cols_c, unit_c = summary(ClassicalFinder()(hdu, progress=False))
    n_n, cols_n, unit_n = summary(NeuralFinder("pais", device="cpu", progress=False)(hdu))
    assert cols_c == cols_n and unit_c == unit_n == u.adu
    assert 0 < n_c < len(field.truth) == n_n


def test_errors(weights):
    with pytest.raises(ValueError, match="accepts 2D images"):
        NeuralFinder("pais", weights=weights, progress=False)(np.zeros((4, 32, 32)))
    with pytest.raises(TypeError, match="unexpected keyword 'min_size'"):
        NeuralFinder("pais", min_size=3)
    with pytest.raises(ValueError, match="threshold must be in"):
        NeuralFinder("pais", threshold=2.0)
    with pytest.raises(ValueError, match="refine must be >= 0"):
        NeuralFinder("pais", refine=-1)
    with pytest.raises(ValueError, match="residual_gain must be >= 0"):
        NeuralFinder("pais", residual_gain=-2.0)
    with pytest.raises(ValueError, match="prune must be >= 0"):
        NeuralFinder("pais", prune=-1.0)
    with pytest.raises(ValueError, match="PAIS needs a noisy image"):
        NeuralFinder("pais", weights=weights, progress=False)(np.ones((32, 32)))
    # a tiled run would keep tile-local centres and drop the attribution array: refused before any work
    finder = NeuralFinder("pais", weights=weights, progress=False)
    for kwargs in ({"tiles": (2, 2)}, {"max_memory": "1MB"}):
        with pytest.raises(ValueError, match="does not run tile by tile"):
            finder(np.zeros((32, 32)), **kwargs)
    from astro_mlfinder.distributed import run

    with pytest.raises(ValueError, match="does not run tile by tile"):
        run(finder, np.zeros((32, 32)), tiles=(2, 2))


def test_registered_weights_load_with_their_tuned_parameters():
    from astro_mlfinder.neural.weights import get_entry

    entry = get_entry("pais")
    finder = NeuralFinder("pais", device="cpu", progress=False)
    networks, info = finder.load_model()
    assert info["weights"]["sha256"] == entry["files"][0]["sha256"]
    assert networks["pais"].config == entry["config"]
    params = finder.inference_params()
    for key in ("threshold", "nms_radius", "tta", "footprint_snr", "dilate", "background"):
        assert params[key] == entry["inference"][key]
    assert entry["hardware"]["device"] == "cpu" and entry["training"]["train_seeds"][0] == 5_000_000
