"""Fine-tuning chosen DeepFocus ResNets on new cubes: samples cached, only those networks change, resume."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.models.deepfocus.defaults import CPU_CONFIGS, NETWORK_NAMES  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.export import load_networks  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.finetune import finetune_resnets  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.model import DeepFocusModel  # noqa: E402

from ._synthetic import synthetic_record  # noqa: E402


def _simulate(seed, shape):
    return synthetic_record(seed, shape, n_sources=2)


def _networks():
    torch.manual_seed(0)
    return {n: DeepFocusModel.network_class(n).from_config(CPU_CONFIGS[n]).eval() for n in NETWORK_NAMES}


def test_finetune_changes_only_the_chosen_resnets_and_resumes(tmp_path):
    nets = _networks()
    before = {n: {k: v.clone() for k, v in net.state_dict().items()} for n, net in nets.items()}
    meta = {"inference": {"detection_threshold": 0.2}, "training": {"train_cubes": 3}}
    kw = dict(first_cube=3, cubes=2, shape=(32, 48, 48), steps=2, batch_size=4, names=("resnet_flux",),
              progress=False, simulate=_simulate)
    record = finetune_resnets(nets, meta, tmp_path, **kw)
    assert record["seeds"] == [3_000_003, 3_000_004] and record["cutouts"] >= 4
    assert np.isfinite(record["phases"]["resnet_flux"]["loss"])
    changed = {n for n in NETWORK_NAMES
               if any(not torch.equal(v, nets[n].state_dict()[k]) for k, v in before[n].items())}
    assert changed == {"resnet_flux"}
    # a weights directory of the six networks with the fine-tuning recorded
    loaded, meta_out = load_networks(tmp_path)
    assert set(loaded) == set(NETWORK_NAMES)
    assert meta_out["training"]["finetune"]["networks"] == ["resnet_flux"]
    assert meta_out["inference"] == {"detection_threshold": 0.2}
    assert json.loads((tmp_path / "finetune.json").read_text())["cubes"] == 2
    samples = list(tmp_path.glob("samples-*.npz"))
    assert len(samples) == 1
    # a second call reads the cached cut-outs and the finished network instead of training again
    stamp = samples[0].stat().st_mtime_ns
    again = _networks()
    finetune_resnets(again, meta, tmp_path, **kw)
    assert samples[0].stat().st_mtime_ns == stamp
    for k, v in nets["resnet_flux"].state_dict().items():
        assert torch.equal(v, again["resnet_flux"].state_dict()[k])
    # cut-outs made with other candidate-finding weights are refused, not reused
    other = _networks()
    with torch.no_grad():
        next(iter(other["blobsfinder"].parameters())).add_(1.0)
    with pytest.raises(ValueError, match="made with other weights, pipeline parameters or seed"):
        finetune_resnets(other, meta, tmp_path, **kw)
    with pytest.raises(ValueError, match="samples-key.json"):
        finetune_resnets(_networks(), meta, tmp_path, **dict(kw, seed=5))


def test_finetune_rejects_unknown_networks_and_empty_seed_ranges(tmp_path):
    with pytest.raises(ValueError, match="names must be among"):
        finetune_resnets(_networks(), {}, tmp_path, names=("blobsfinder",))
    with pytest.raises(ValueError, match="no training seeds"):
        finetune_resnets(_networks(), {}, tmp_path, first_cube=10**6, cubes=5)


def test_finetune_checkpoint_is_never_left_half_written(tmp_path, monkeypatch):
    """A run killed while saving a checkpoint leaves no truncated file that a resume would load."""
    real_save = torch.save

    def crash_on_done(payload, path, *args, **kwargs):
        if isinstance(payload, dict) and payload.get("done"):
            with open(path, "wb") as fh:
                fh.write(b"half a checkpoint")
            raise KeyboardInterrupt("killed while saving")
        return real_save(payload, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", crash_on_done)
    kw = dict(first_cube=3, cubes=1, shape=(32, 48, 48), steps=2, batch_size=4, names=("resnet_flux",),
              progress=False, simulate=_simulate)
    with pytest.raises(KeyboardInterrupt):
        finetune_resnets(_networks(), {"inference": {}}, tmp_path, **kw)
    ckpt = tmp_path / "finetune-resnet_flux.pt"
    if ckpt.exists():  # the last periodic checkpoint, whole
        assert not torch.load(ckpt, map_location="cpu", weights_only=False).get("done")
    assert sorted(p.name for p in tmp_path.iterdir() if "resnet_flux" in p.name) == (
        ["finetune-resnet_flux.pt"] if ckpt.exists() else [])
    monkeypatch.setattr(torch, "save", real_save)
    record = finetune_resnets(_networks(), {"inference": {}}, tmp_path, **kw)  # resumes
    assert np.isfinite(record["phases"]["resnet_flux"]["loss"])
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["done"]


def test_finetune_command_line_params_must_be_a_json_object(tmp_path, capsys):
    from astro_mlfinder.neural.models.deepfocus.finetune import main

    for bad in ("[1, 2]", "{search_snr: 0}"):
        with pytest.raises(SystemExit) as exc:
            main([str(tmp_path / "w"), str(tmp_path / "out"), "--params", bad])
        assert exc.value.code == 2
        assert "--params must be a JSON object of pipeline parameters" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_finetune_params_reach_the_candidates_and_the_samples_key(tmp_path):
    meta = {"inference": {"detection_threshold": 0.2}}
    kw = dict(first_cube=3, cubes=1, shape=(32, 48, 48), steps=1, batch_size=4, names=("resnet_flux",),
              progress=False, simulate=_simulate)
    finetune_resnets(_networks(), meta, tmp_path, params={"search_snr": 0.0, "peak_snr": 0.0}, **kw)
    key = json.loads((tmp_path / "samples-key.json").read_text())
    assert key["params"]["search_snr"] == 0.0 and key["params"]["peak_snr"] == 0.0
    assert key["params"]["detection_threshold"] == 0.2 and key["params"]["snr_keep"] == 0.0
    with pytest.raises(ValueError, match="samples-key.json"):  # other parameters: the cut-outs are not reused
        finetune_resnets(_networks(), meta, tmp_path, params={"search_snr": 8.0}, **kw)
