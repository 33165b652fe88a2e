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

from ._synthetic import record_hdu, synthetic_record  # noqa: E402


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("deepfocus_weights")
    train_deepfocus(output=out, simulate=lambda s, sh: synthetic_record(s, sh, n_sources=2), train_cubes=2,
                    val_cubes=0, cube_shape=(32, 48, 48), blobs_steps=2, blobs_batch=2, gru_steps=2, resnet_steps=2,
                    stage2_steps=0, batch_size=4, progress=False, num_threads=1, checkpoint_every=0)
    return out


def test_catalogue_columns_have_units(weights_dir):
    rec = synthetic_record(11, (48, 64, 64), n_sources=2, noise=0.2)
    # thresholds opened wide: a barely trained Blobs Finder still yields candidates
    finder = NeuralFinder("deepfocus", weights=str(weights_dir), progress=False, detection_threshold=0.0,
                          snr_keep=0.0, snr_min=0.0)
    cat = finder(record_hdu(rec), progress=False)
    assert len(cat) >= 1
    t = cat.to_table()
    assert t["fwhm_x"].unit == u.arcsec and t["fwhm_y"].unit == u.arcsec
    pa = u.Quantity(t["pa"]).to_value(u.deg)
    assert t["pa"].unit == u.deg and np.all((pa >= 0) & (pa < 180))
    assert t["flux"].unit == u.Jy * u.Hz
    assert {"line_snr", "score", "z_min", "z_max"} <= set(t.colnames)
    assert cat.segment.shape == rec.dirty.shape and cat.segment.max() == len(cat)
    meta = cat.meta
    assert meta["model"] == "deepfocus" and len(meta["windows"]) == len(cat)
    zmins, zmaxs = (np.asarray(getattr(t[k], "value", t[k])) for k in ("z_min", "z_max"))
    for (z0, z1), zmin, zmax in zip(meta["windows"], zmins, zmaxs, strict=True):
        assert z0 <= zmin <= zmax < z1  # the label of a source lies in its line window
    assert cat.products["blobs"].shape == (64, 64)
    assert set(meta["weights"]["files"]) == set(DeepFocusModel.networks)


def test_bad_input(weights_dir):
    finder = NeuralFinder("deepfocus", weights=str(weights_dir), progress=False)
    with pytest.raises(ValueError, match="accepts 3D"):
        finder(np.ones((32, 32), np.float32), progress=False)
    with pytest.raises(ValueError, match="at least 16 channels"):
        finder(np.random.default_rng(0).normal(size=(8, 32, 32)).astype(np.float32), progress=False)
    with pytest.raises(ValueError, match="needs 6 networks"):
        NeuralFinder("deepfocus", weights=str(weights_dir / "blobsfinder.pt"), progress=False).load_model()
