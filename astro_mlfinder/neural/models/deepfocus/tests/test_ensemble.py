"""Ensembles of DeepFocus ResNets: the mean of the members, saved and loaded where one ResNet was, built by
fine-tuning members that share one cut-out cache and differ by their batch seed / bootstrap sample."""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.models.deepfocus.defaults import CPU_CONFIGS, NETWORK_NAMES  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.export import ensemble_networks, load_networks  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.finetune import finetune_resnets  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.model import DeepFocusModel  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.networks import ResNetEnsemble, ResNetRegressor  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.training import _write_networks  # noqa: E402
from astro_mlfinder.neural.weights import load_weights, save_weights  # noqa: E402

from ._synthetic import synthetic_record  # noqa: E402


def _networks(seed=0):
    torch.manual_seed(seed)
    return {n: DeepFocusModel.network_class(n).from_config(CPU_CONFIGS[n]).eval() for n in NETWORK_NAMES}


def _simulate(seed, shape):
    return synthetic_record(seed, shape, n_sources=2)


def test_ensemble_output_is_the_members_mean_and_round_trips(tmp_path):
    torch.manual_seed(1)
    a, b = (ResNetRegressor.from_config(CPU_CONFIGS["resnet_flux"]).eval() for _ in range(2))
    ens = ResNetEnsemble.of([a, b]).eval()
    x = torch.randn(3, 1, 64, 64)
    with torch.no_grad():
        expected = (a(x) + b(x)) / 2
        assert torch.allclose(ens(x), expected, atol=1e-6)
        assert ens(x).shape == (3, 1)
    # the file of an ensemble loads through ResNetRegressor.from_config, as the model loads resnet_flux
    save_weights(tmp_path / "e.pt", "deepfocus", ens)
    payload = load_weights(tmp_path / "e.pt")
    assert len(payload["config"]["members"]) == 2
    back = DeepFocusModel.network_class("resnet_flux").from_config(payload["config"]).eval()
    assert isinstance(back, ResNetEnsemble)
    back.load_state_dict(payload["state_dict"])
    with torch.no_grad():
        assert torch.allclose(back(x), expected, atol=1e-6)
    # a plain config still builds one ResNet (older weights load unchanged)
    assert type(ResNetRegressor.from_config(CPU_CONFIGS["resnet_flux"])) is ResNetRegressor


def test_ensemble_refuses_bad_members():
    with pytest.raises(ValueError, match="non-empty list"):
        ResNetEnsemble([])
    with pytest.raises(ValueError, match="same out_features"):
        ResNetEnsemble([CPU_CONFIGS["resnet_flux"], CPU_CONFIGS["resnet_pa"]])


def test_ensemble_networks_joins_the_flux_resnets_of_weights_directories(tmp_path):
    dirs = []
    for k in range(3):
        d = tmp_path / f"m{k}"
        _write_networks(_networks(k), {"inference": {"peak_snr": 15.0}, "training": {"finetune": {"batch_seed": k}}},
                        d)
        dirs.append(d)
    ensemble_networks(dirs, tmp_path / "ens")
    nets, meta = load_networks(tmp_path / "ens")
    members = [load_networks(d)[0] for d in dirs]
    assert isinstance(nets["resnet_flux"], ResNetEnsemble) and len(nets["resnet_flux"].members) == 3
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        mean = torch.stack([m["resnet_flux"](x) for m in members]).mean(0)
        assert torch.allclose(nets["resnet_flux"](x), mean, atol=1e-5)
        # the other networks are the first member's
        assert torch.allclose(nets["resnet_pa"](x), members[0]["resnet_pa"](x))
    assert meta["inference"] == {"peak_snr": 15.0}
    assert meta["training"]["ensemble"]["members"] == 3
    assert [f["batch_seed"] for f in meta["training"]["ensemble"]["member_finetunes"]] == [0, 1, 2]
    with pytest.raises(ValueError, match="at least one weights directory"):
        ensemble_networks([], tmp_path / "none")


def test_finetune_members_share_the_cutouts_and_differ_by_batch_seed(tmp_path):
    meta = {"inference": {}, "training": {}}
    kw = dict(first_cube=3, cubes=2, shape=(32, 48, 48), steps=3, batch_size=4, names=("resnet_flux",),
              progress=False, simulate=_simulate, seed=7)
    first = _networks()
    finetune_resnets(first, meta, tmp_path / "a", batch_seed=1, **kw)
    # the second member reuses the first one's cut-outs (same jitter seed: the same cache key)
    (tmp_path / "b").mkdir()
    for f in (tmp_path / "a").glob("samples-*"):
        shutil.copy(f, tmp_path / "b" / f.name)
    second = _networks()
    record = finetune_resnets(second, meta, tmp_path / "b", batch_seed=2, bootstrap=True,
                              **dict(kw, simulate=None))  # no simulation: the cut-outs come from the cache
    assert (record["seed"], record["batch_seed"], record["bootstrap"]) == (7, 2, True)
    assert json.loads((tmp_path / "a" / "finetune.json").read_text())["batch_seed"] == 1
    diff = [not torch.equal(v, second["resnet_flux"].state_dict()[k])
            for k, v in first["resnet_flux"].state_dict().items() if v.is_floating_point()]
    assert any(diff)
    # the same batch seed reproduces the member exactly
    third = _networks()
    (tmp_path / "a" / "finetune-resnet_flux.pt").unlink(missing_ok=True)
    finetune_resnets(third, meta, tmp_path / "a", batch_seed=1, **dict(kw, simulate=None))
    for k, v in first["resnet_flux"].state_dict().items():
        assert np.array_equal(v.numpy(), third["resnet_flux"].state_dict()[k].numpy())


def test_rot180_is_a_symmetry_of_the_dirty_beam_and_changes_the_batches(tmp_path):
    from astro_mlfinder.simulate import simulate_alma_cube

    beam = np.asarray(simulate_alma_cube(shape=(16, 64, 64), seed=1).dirty_beam)
    assert np.unravel_index(np.argmax(beam[5]), beam[5].shape) == (32, 32)
    inner = beam[:, 1:, 1:]  # the peak at (31, 31) of a 63x63 square
    np.testing.assert_allclose(inner[:, ::-1, ::-1], inner, atol=1e-6)
    assert np.abs(np.rot90(inner, 1, axes=(1, 2)) - inner).max() > 0.01  # 90 degrees is not a symmetry
    meta = {"inference": {}, "training": {}}
    kw = dict(first_cube=3, cubes=2, shape=(32, 48, 48), steps=3, batch_size=4, names=("resnet_flux",),
              progress=False, simulate=_simulate, seed=7, batch_seed=1)
    plain, rotated = _networks(), _networks()
    finetune_resnets(plain, meta, tmp_path / "a", **kw)
    (tmp_path / "b").mkdir()
    for f in (tmp_path / "a").glob("samples-*"):
        shutil.copy(f, tmp_path / "b" / f.name)
    record = finetune_resnets(rotated, meta, tmp_path / "b", rot180=True, **kw)
    assert record["rot180"] is True
    assert load_networks(tmp_path / "b")[1]["inference"]["flux_rot180"] is True
    assert "flux_rot180" not in load_networks(tmp_path / "a")[1]["inference"]
    assert any(not torch.equal(v, rotated["resnet_flux"].state_dict()[k])
               for k, v in plain["resnet_flux"].state_dict().items() if v.is_floating_point())


def test_regress_flux_rot180_is_the_geometric_mean_over_the_rotation():
    from astro_mlfinder.neural.models.deepfocus.pipeline import regress

    nets = _networks(3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 64, 64)).astype(np.float32)
    scales = rng.uniform(1, 2, 5)
    plain = regress(nets, x, scales)
    rotated = regress(nets, np.ascontiguousarray(x[:, ::-1, ::-1]), scales)
    both = regress(nets, x, scales, flux_rot180=True)
    np.testing.assert_allclose(both["flux"], np.sqrt(plain["flux"] * rotated["flux"]), rtol=1e-5)
    assert not np.allclose(plain["flux"], rotated["flux"])  # the rotation did change the input
    for col in ("fwhm_x", "fwhm_y", "pa"):  # only the flux network sees the rotation
        np.testing.assert_array_equal(both[col], plain[col])
    assert DeepFocusModel.defaults["flux_rot180"] is False
    assert DeepFocusModel(flux_rot180=True).params["flux_rot180"] is True
