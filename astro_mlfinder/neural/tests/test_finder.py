import subprocess
import sys
import warnings

import numpy as np
import pytest

from astro_mlfinder.neural.models import available_models


def test_unknown_model_lists_known_ones():
    from astro_mlfinder.neural import NeuralFinder

    with pytest.raises(ValueError, match="unknown neural model 'nope'; known models: .*unet3d"):
        NeuralFinder("nope")
    assert "unet3d" in available_models()


def test_import_without_torch_and_clear_error():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import astro_mlfinder.neural as n\n"
        "from astro_mlfinder.neural.weights import mirror_urls\n"
        "assert n.available_models()\n"
        "try:\n"
        "    n.NeuralFinder('unet3d')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "NeuralFinder needs PyTorch: pip install 'astro_mlfinder[neural]'" in out.stdout


torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    """Fetch the shipped weights into a temporary cache, not the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASTRO_MLFINDER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("ASTRO_MLFINDER_WEIGHTS_URL", raising=False)
        yield


@pytest.fixture(scope="module")
def sim():
    from astro_mlfinder.simulate import simulate_hi_cube

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate_hi_cube((128, 64, 64), 5, seed=20_001, snr=[4.0, 8.0, 20.0, 30.0, 50.0])


@pytest.fixture(scope="module")
def neural_cat(sim):
    from astro_mlfinder.neural import NeuralFinder

    finder = NeuralFinder("unet3d", device="cpu", progress=False)
    return finder, finder(sim.data, wcs=sim.wcs, progress=False)


def test_shipped_weights_find_all_bright_sources(sim, neural_cat):
    from astro_mlfinder.evaluate import evaluate_by_bin

    finder, cat = neural_cat
    table = evaluate_by_bin(
        cat, sim.truth, bins=[0, 15, np.inf], detected_segment=cat.segment, truth_segment=sim.labels
    )
    bright = table[1]
    assert bright["n_truth"] == 3
    assert bright["recall"] == 1.0
    assert len(cat) >= 3


def test_catalogue_has_classical_columns_plus_score(sim, neural_cat):
    from astro_mlfinder import ClassicalFinder

    finder, cat = neural_cat
    classical = ClassicalFinder()(sim.data, wcs=sim.wcs, progress=False)
    assert type(cat) is type(classical)
    names = cat.to_table().colnames
    assert set(names) == set(classical.to_table().colnames) | {"score"}
    score = np.asarray(cat.to_table()["score"])
    thr = finder.inference_params()["threshold"]
    assert np.all((score > thr) & (score <= 1))
    prob = cat.products["probability"]
    assert prob.shape == sim.data.shape and prob.dtype == np.float32
    assert set(np.unique(cat.segment)) == set(range(len(cat) + 1))
    assert np.all(prob[cat.segment > 0] > 0)


def test_meta_records_finder_and_weights(neural_cat):
    finder, cat = neural_cat
    meta = cat.meta
    assert meta["finder"]["class"] == "NeuralFinder"
    params = meta["finder"]["params"]
    assert params["model"] == "unet3d" and params["device"] == "cpu"
    assert len(meta["weights"]["sha256"]) == 64 and meta["weights"]["name"] == "unet3d"
    assert meta["timing"]["total_s"] > 0
    # the finder can be re-created from the recorded parameters
    from astro_mlfinder.neural import NeuralFinder

    assert NeuralFinder(**params).get_params() == params


def test_catalogue_options_shared_with_the_classical_finder(sim):
    """Issue 8 item 14: ``physical`` and ``name_prefix`` belong to every finder (one-line swap)."""
    import astropy.units as u

    from astro_mlfinder import ClassicalFinder
    from astro_mlfinder.neural import NeuralFinder

    finder = NeuralFinder("unet3d", device="cpu", progress=False, physical=True, name_prefix="HI")
    hdu = sim.to_hdu()  # Jy/beam with a beam and a spectral WCS
    cat = finder(hdu, progress=False)
    classical = ClassicalFinder(physical=True, name_prefix="HI")(hdu, progress=False)
    assert len(cat) and len(classical)
    table, reference = cat.to_table(), classical.to_table()
    assert table["f_sum"].unit == reference["f_sum"].unit
    # integrated flux: Jy times the spectral unit (Hz for this frequency cube, km/s for velocity)
    assert (u.Unit(table["f_sum"].unit) / u.Jy).physical_type in ("frequency", "speed")
    assert all(str(name).startswith("HI") for name in cat.name)
    assert all(str(name).startswith("HI") for name in classical.name)
    params = cat.meta["finder"]["params"]
    assert params["physical"] is True and params["name_prefix"] == "HI"
    assert NeuralFinder(**params).get_params() == params
    plain = NeuralFinder("unet3d", device="cpu", progress=False).get_params()
    assert plain["physical"] is False and plain["name_prefix"] == "SoFiA"


def test_rejects_images_and_bad_parameters():
    from astro_mlfinder.neural import NeuralFinder

    finder = NeuralFinder("unet3d", progress=False)
    with pytest.raises(ValueError, match="3D cubes"):
        finder(np.zeros((32, 32), np.float32))
    with pytest.raises(ValueError, match="threshold"):
        NeuralFinder("unet3d", threshold=1.5)
    with pytest.raises(ValueError, match="tile_shape"):
        NeuralFinder("unet3d", tile_shape=(1, 2))
    with pytest.raises(ValueError, match="device"):
        NeuralFinder("unet3d", device="cuda:7" if not torch.cuda.is_available() else "nonsense")


def test_model_keywords_are_forwarded_validated_and_recorded():
    from astro_mlfinder.neural import NeuralFinder

    with pytest.raises(TypeError, match=r"unexpected keyword 'kernels_xy'.*accepts: .*threshold, min_size, tile_shape"):
        NeuralFinder("unet3d", kernels_xy=(0, 3))
    finder = NeuralFinder("unet3d", device="cpu", threshold=0.2, tile_shape=64, progress=False)
    params = finder.get_params()
    assert params["threshold"] == 0.2 and params["tile_shape"] == [64, 64, 64] and params["min_size"] is None
    assert {"model", "device", "weights", "progress", "overlap", "batch_size", "tta"} <= set(params)
    assert NeuralFinder(**params).get_params() == params
    effective = finder.inference_params()
    assert effective["threshold"] == 0.2 and effective["tile_shape"] == (64, 64, 64)
    assert effective["min_size"] == 256  # recorded with the shipped weights
    assert finder.ndim == 3 and finder.name == "unet3d"


def test_margin_is_tile_overlap_plus_largest_source():
    from astro_mlfinder.neural import NeuralFinder

    # overlap (64, 32, 32): z rebinned by 4 to 16 = one divisor; plus max_source (64, 24, 24)
    assert NeuralFinder("unet3d", device="cpu", progress=False).margin == (128, 56, 56)
    # plus the largest mask growth of dilate (5 channels, 10 pixels)
    assert NeuralFinder("unet3d", device="cpu", progress=False, dilate=True).margin == (128 + 5, 56 + 10, 56 + 10)
    finder = NeuralFinder("unet3d", device="cpu", progress=False, overlap=(30, 10, 40), max_source=(10, 0, 5),
                          dilate=False)
    assert finder.margin == (64 + 10, 16, 48 + 5)
    assert finder.margin_for(2) == (16, 53)


def test_finder_pickles_without_its_loaded_networks():
    import pickle

    from astro_mlfinder.neural import NeuralFinder

    finder = NeuralFinder("unet3d", device="cpu", progress=False, threshold=0.3)
    finder.load_model()
    clone = pickle.loads(pickle.dumps(finder))
    assert clone.neural_model._loaded is None and clone.get_params() == finder.get_params()
    assert clone.inference_params() == finder.inference_params()


def test_mask_and_nan_voxels_are_never_sources(sim):
    from astro_mlfinder.neural import NeuralFinder

    data = sim.data.copy()
    data[:, :, :8] = np.nan
    mask = np.zeros(data.shape, bool)
    mask[:, :8, :] = True
    cat = NeuralFinder("unet3d", progress=False, tile_shape=(128, 48, 48), overlap=(32, 16, 16))(
        data, mask=mask, progress=False
    )
    assert not np.any(cat.segment[:, :, :8]) and not np.any(cat.segment[:, :8, :])
    assert np.all(cat.products["probability"][mask] == 0)


@pytest.mark.slow
def test_speed_requirement_256x96x96_under_a_minute_on_cpu():
    import time

    from astro_mlfinder.neural import NeuralFinder
    from astro_mlfinder.simulate import simulate_hi_cube

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = simulate_hi_cube((256, 96, 96), 8, seed=20_002)
    t0 = time.perf_counter()
    cat = NeuralFinder("unet3d", device="cpu", progress=False)(sim.data, progress=False)
    elapsed = time.perf_counter() - t0  # includes fetching and loading the weights
    assert elapsed < 60, f"NeuralFinder took {elapsed:.1f} s"
    assert cat.meta["timing"]["total_s"] < 60
