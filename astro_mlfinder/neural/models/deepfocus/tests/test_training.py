"""A tiny DeepFocus training run on synthetic cubes: every phase, the weights directory, resume, errors."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.models.deepfocus.dataset import (  # noqa: E402
    match_sources,
    resnet_targets,
    score_matches,
)
from astro_mlfinder.neural.models.deepfocus.defaults import NETWORK_NAMES  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.training import PHASES, train_deepfocus  # noqa: E402

from ._synthetic import synthetic_record  # noqa: E402

TINY = dict(train_cubes=3, val_cubes=1, cube_shape=(32, 48, 48), blobs_steps=3, blobs_batch=2, gru_steps=3,
            resnet_steps=2, stage2_steps=2, batch_size=4, progress=False, num_threads=1, checkpoint_every=0)


def _simulate(seed, shape):
    return synthetic_record(seed, shape, n_sources=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("deepfocus")
    result = train_deepfocus(output=out, simulate=_simulate, **TINY)
    return out, result


def test_every_phase_runs_and_writes_six_networks(trained):
    out, result = trained
    for name in ("blobsfinder", "deepgru", "stage2_deepgru", *(f"resnet:{n}" for n in NETWORK_NAMES[2:])):
        assert np.isfinite(result["phases"][name]["loss"])
    assert {p.name for p in out.glob("*.pt")} == {f"{n}.pt" for n in NETWORK_NAMES} | {"checkpoint.pt"}
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert [p for p in PHASES if p in ckpt["done"]] == list(PHASES)
    record = json.loads((out / "training.json").read_text())
    assert record["train_seeds"] == [3_000_000, 3_000_002] and record["val_seeds"] == [4_000_000, 4_000_000]
    validation = result["validation"]
    assert set(validation) >= {"precision", "recall", "f1", "detection_threshold", "snr_keep", "snr_min"}
    # the cubes are cached for a resume
    assert len(list((out / "cache").glob("cube-*.npz"))) == 4


def test_resume_continues_after_the_last_finished_phase(trained, tmp_path):
    out, _ = trained
    import shutil

    work = tmp_path / "resume"
    shutil.copytree(out, work)
    ckpt = torch.load(work / "checkpoint.pt", weights_only=False)
    before = {k: v.clone() for k, v in ckpt["networks"]["blobsfinder"].items()}
    gru_before = {k: v.clone() for k, v in ckpt["networks"]["deepgru"].items()}
    # as if interrupted after stage 1
    ckpt["done"] = [d for d in ckpt["done"] if not d.startswith("stage2") and d != "tune"]
    torch.save(ckpt, work / "checkpoint.pt")
    result = train_deepfocus(output=work, resume=True, simulate=_simulate, **TINY)
    after = torch.load(work / "checkpoint.pt", weights_only=False)
    assert "stage2_resnets" in after["done"] and "tune" in after["done"]
    for k, v in before.items():  # the finished Blobs Finder is not retrained
        assert torch.equal(v, after["networks"]["blobsfinder"][k])
    assert any(not torch.equal(v, after["networks"]["deepgru"][k]) for k, v in gru_before.items())
    assert "stage2_deepgru" in result["phases"]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="resume=True but .*checkpoint.pt does not exist"):
        train_deepfocus(output=tmp_path, resume=True, simulate=_simulate, **{k: v for k, v in TINY.items()})
    with pytest.raises(ValueError, match="size must be 'cpu' or 'paper'"):
        train_deepfocus(output=tmp_path, size="huge", simulate=_simulate)
    with pytest.raises(ValueError, match="train_cubes must be >= 1"):
        train_deepfocus(output=tmp_path, train_cubes=0, simulate=_simulate)
    with pytest.raises(ValueError, match="trains model 'deepfocus', not 'unet3d'"):
        train_deepfocus("unet3d", output=tmp_path, simulate=_simulate)


def test_matching_and_scores():
    truth = {"center": np.array([[10.0, 10.0], [30.0, 30.0]]), "box": np.array([[5, 16, 5, 16], [25, 36, 25, 36]]),
             "window": np.array([[10, 20], [40, 50]])}
    found = [{"center": (11.0, 10.0), "window": (12, 22)},   # first source
             {"center": (30.0, 31.0), "window": (0, 5)},     # right place, wrong channels
             {"center": (12.0, 12.0), "window": (10, 20)}]   # a duplicate of the first
    m = match_sources(found, truth)
    assert m.tolist() == [0, -1, -1] or m.tolist() == [-1, -1, 0]
    s = score_matches([(m, 2)])
    assert s["tp"] == 1 and s["fp"] == 2 and s["fn"] == 1 and s["precision"] == pytest.approx(1 / 3)


def test_resnet_targets():
    truth = {"fwhm_x": np.array([12.0]), "fwhm_y": np.array([6.0]), "pa": np.array([45.0]), "flux": np.array([20.0])}
    t = resnet_targets(truth, 0, 2.0)
    assert t["resnet_fwhm_x"] == [1.2] and t["resnet_fwhm_y"] == [0.6]
    assert t["resnet_pa"] == pytest.approx([0.0, 1.0], abs=1e-12)
    assert t["resnet_flux"] == pytest.approx([np.log(10.0)])


def test_cli_train_tune_export(tmp_path, capsys):
    from astro_mlfinder.cli import main
    from astro_mlfinder.neural.weights import sha256sum

    out = tmp_path / "df"
    args = ["train", "deepfocus", "--output", str(out), "--train-cubes", "2", "--val-cubes", "1",
            "--cube-shape", "32,48,48", "--blobs-steps", "2", "--gru-steps", "2", "--resnet-steps", "2",
            "--stage2-steps", "1", "--batch-size", "4", "--num-threads", "1", "--no-progress"]
    assert main(args) == 0
    assert "trained deepfocus" in capsys.readouterr().out
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["meta"]["training"]["command"].startswith("astro-mlfinder train deepfocus --output")
    assert ckpt["meta"]["training"]["train_seeds"] == [3_000_000, 3_000_001]
    assert main(["train", "deepfocus", "--tune", str(out), "--val-cubes", "1", "--num-threads", "1"]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert {"detection_threshold", "snr_keep", "snr_min", "precision", "recall"} <= set(tuned)
    assert main(["train", "deepfocus", "--export", str(out), str(tmp_path / "w")]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in entry["files"]] == list(NETWORK_NAMES)
    for f in entry["files"]:
        assert sha256sum(tmp_path / "w" / f["file"]) == f["sha256"]
    assert entry["inference"]["detection_threshold"] == tuned["detection_threshold"]
    assert entry["storage_dtype"] == "float16" and entry["hardware"]["device"] == "cpu"
    # no output directory: a one-line error naming the fix
    assert main(["train", "deepfocus", "--no-progress"]) == 1
    assert "train deepfocus needs --output DIR" in capsys.readouterr().err
