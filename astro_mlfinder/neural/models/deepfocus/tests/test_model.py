"""NeuralFinder('deepfocus'): registration, keywords, a catalogue with units from a weights directory, bad input."""

import astropy.units as u
import numpy as np
import pytest

from astro_mlfinder.neural.models import get_model
from astro_mlfinder.neural.models.deepfocus import DeepFocusModel


def test_registered_and_keywords_validated():
    assert get_model("deepfocus") is DeepFocusModel
    assert DeepFocusModel.ndim == 3
    assert list(DeepFocusModel.networks) == ["blobsfinder", "deepgru", "resnet_fwhm_x", "resnet_fwhm_y",
                                             "resnet_pa", "resnet_flux"]
    with pytest.raises(TypeError, match="accepts: .*detection_threshold.*snr_keep"):
        DeepFocusModel(threshold=0.5)
    with pytest.raises(ValueError, match=r"detection_threshold must be in \[0, 1\)"):
        DeepFocusModel(detection_threshold=1.5)
    with pytest.raises(ValueError, match="snr_keep must be >= 0"):
        DeepFocusModel(snr_keep=-1)
    with pytest.raises(ValueError, match="focus_size must be an even int >= 16"):
        DeepFocusModel(focus_size=15)
    assert DeepFocusModel(focus_size=32).margin == (0, 32, 32)


torch = pytest.importorskip("torch")

from astro_mlfinder import NeuralFinder  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.training import train_deepfocus  # noqa: E402

from ._synthetic import synthetic_record  # noqa: E402


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("deepfocus_weights")
    train_deepfocus(output=out, simulate=lambda s, sh: synthetic_record(s, sh, n_sources=2), train_cubes=2,
                    val_cubes=0, cube_shape=(32, 48, 48), blobs_steps=2, blobs_batch=2, gru_steps=2, resnet_steps=2,
                    stage2_steps=0, batch_size=4, progress=False, num_threads=1, checkpoint_every=0)
    return out


@pytest.fixture(scope="module")
def bright():
    from astro_mlfinder.simulate import simulate_alma_cube

    # seed 42 lies outside the training (3,000,000+), validation (4,000,000+) and benchmark (8,000,000+) blocks
    return simulate_alma_cube(shape=(128, 128, 128), seed=42, n_faint=0)


@pytest.fixture(scope="module")
def shipped(bright):
    return NeuralFinder("deepfocus", device="cpu", progress=False)(bright.to_hdu(), progress=False)


def test_shipped_weights_find_the_bright_source(shipped, bright):
    truth = bright.truth[0]
    t = shipped.to_table()
    assert len(t) == 1
    row = t[0]
    x, y = float(u.Quantity(row["x"]).value), float(u.Quantity(row["y"]).value)
    assert truth["x_min"] - 0.5 <= x <= truth["x_max"] + 0.5 and truth["y_min"] - 0.5 <= y <= truth["y_max"] + 0.5
    assert abs(x - truth["x"]) < 1.5 and abs(y - truth["y"]) < 1.5
    z0, z1 = shipped.meta["windows"][0]
    assert z0 <= truth["z"] < z1 and z0 <= truth["z_max"] and z1 > truth["z_min"]
    # measured with the shipped weights: flux 1.07, FWHM x 0.99 and y 0.85 of the truth, PA 9 degrees off
    ratio = u.Quantity(row["flux"]).to_value(u.Jy * u.Hz) / truth["flux"].to_value(u.Jy * u.Hz)
    assert ratio == pytest.approx(1, abs=0.25)
    assert u.Quantity(row["fwhm_x"]).to_value(u.arcsec) == pytest.approx(truth["fwhm_x_arcsec"].value, rel=0.3)
    dpa = abs(u.Quantity(row["pa"]).to_value(u.deg) - truth["pa"].to_value(u.deg)) % 180
    assert min(dpa, 180 - dpa) < 20
    assert row["line_snr"] > 20
    assert shipped.meta["weights"]["name"] == "deepfocus" and len(shipped.meta["weights"]["files"]) == 6


def test_catalogue_columns_have_units(shipped, bright):
    t = shipped.to_table()
    assert t["fwhm_x"].unit == u.arcsec and t["fwhm_y"].unit == u.arcsec
    pa = u.Quantity(t["pa"]).to_value(u.deg)
    assert t["pa"].unit == u.deg and np.all((pa >= 0) & (pa < 180))
    assert t["flux"].unit == u.Jy * u.Hz
    assert {"line_snr", "score", "z_min", "z_max"} <= set(t.colnames)
    assert shipped.segment.shape == bright.data.shape and shipped.segment.max() == len(shipped)
    zmins, zmaxs = (np.asarray(getattr(t[k], "value", t[k])) for k in ("z_min", "z_max"))
    for (z0, z1), zmin, zmax in zip(shipped.meta["windows"], zmins, zmaxs, strict=True):
        assert z0 <= zmin <= zmax < z1  # the label of a source lies in its line window
    assert shipped.products["blobs"].shape == bright.data.shape[1:]
    # without a beam and a unit the flux is the sum over pixels and channels (data unit)
    bare = NeuralFinder("deepfocus", device="cpu", progress=False)(bright.data, progress=False)
    assert bare.to_table()["flux"].unit == u.dimensionless_unscaled


def test_keywords_change_the_result(bright):
    strict = NeuralFinder("deepfocus", device="cpu", progress=False, snr_keep=1e4, snr_min=1e4)
    assert len(strict(bright.to_hdu(), progress=False)) == 0
    boxes = NeuralFinder("deepfocus", device="cpu", progress=False, refine=False)(bright.to_hdu(), progress=False)
    assert boxes.to_table()["n_pix"][0] >= 1


def test_bad_input(weights_dir):
    finder = NeuralFinder("deepfocus", weights=str(weights_dir), progress=False)
    with pytest.raises(ValueError, match="accepts 3D"):
        finder(np.ones((32, 32), np.float32), progress=False)
    with pytest.raises(ValueError, match="at least 16 channels"):
        finder(np.random.default_rng(0).normal(size=(8, 32, 32)).astype(np.float32), progress=False)
    with pytest.raises(ValueError, match="needs 6 networks"):
        NeuralFinder("deepfocus", weights=str(weights_dir / "blobsfinder.pt"), progress=False).load_model()
