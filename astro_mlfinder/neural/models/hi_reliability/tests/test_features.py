"""Cut-outs, scalar features and training labels of the hi_reliability scorer (numpy only)."""

import numpy as np
import pytest

from astro_mlfinder.neural.models.hi_reliability.data import (
    TRAINING_SEEDS,
    VALIDATION_SEEDS,
    cube_settings,
    label_candidates,
)
from astro_mlfinder.neural.models.hi_reliability.features import (
    CUTOUT,
    N_CHANNELS,
    N_SCALARS,
    candidate_boxes,
    candidate_features,
    channel_noise,
)


def _cube():
    rng = np.random.default_rng(3)
    data = rng.standard_normal((40, 50, 60)).astype(np.float32)
    data[5] *= 3.0  # a noisy channel
    labels = np.zeros(data.shape, dtype=np.int32)
    labels[20:26, 10:14, 30:34] = 1  # small: cut at full resolution
    data[20:26, 10:14, 30:34] += 4.0
    labels[0:30, 0:30, 0:3] = 2  # large, on the cube edge: block-averaged
    return data, labels


def test_channel_noise_is_robust_and_fills_blank_channels():
    data, _ = _cube()
    data[7] = np.nan
    rms = channel_noise(data)
    assert rms[5] == pytest.approx(3.0, rel=0.1)
    assert np.median(rms) == pytest.approx(1.0, rel=0.05)
    assert rms[7] == pytest.approx(np.median(rms[np.arange(40) != 7]))


def test_boxes_and_cutouts():
    data, labels = _cube()
    boxes = candidate_boxes(labels, 3)
    assert boxes[0].tolist() == [20, 25, 10, 13, 30, 33]
    assert boxes[1].tolist() == [0, 29, 0, 29, 0, 2]
    assert boxes[2].tolist() == [0, -1, 0, -1, 0, -1]  # label 3 has no voxel
    cut, sca = candidate_features(data, labels, 3)
    assert cut.shape == (3, N_CHANNELS, *CUTOUT) and sca.shape == (3, N_SCALARS)
    # candidate 1: 6x4x4 voxels at full resolution, centred
    assert cut[0, 1].sum() == 6 * 4 * 4
    zz, yy, xx = np.nonzero(cut[0, 1])
    assert (zz.min(), zz.max()) == (9, 14) and (yy.min(), yy.max()) == (10, 13)
    assert cut[0, 0][cut[0, 1] > 0].mean() == pytest.approx(4.0, abs=0.3)  # data in noise units
    assert sca[0, :3].tolist() == [0, 0, 0] and sca[0, -1] == 0
    assert sca[0, 7] == pytest.approx(data[labels == 1].sum() / np.sqrt(96) / np.median(channel_noise(data)),
                                      rel=0.05)
    # candidate 2: 30 channels and pixels -> factor 3 along z, y (60 / 24 rounded up), 1 along x
    assert sca[1, :3] == pytest.approx(np.log2([3, 3, 1]))
    assert sca[1, -1] == 1  # touches the edge
    assert cut[1, 1].sum() == pytest.approx(30 * 30 * 3 / 9)  # block-mean of the mask keeps the volume / 9
    # relative channel noise: candidate 1 (channels 8-35) misses the noisy channel 5, candidate 2 has it
    assert cut[0, 2].max() == pytest.approx(1.0, abs=0.1)
    assert cut[1, 2].max() > 1.5  # channel 5 (3x the noise) averaged with two normal channels
    assert not cut[2].any() and not sca[2].any()


def test_label_by_flux_containment():
    data = np.zeros((4, 4, 4), dtype=np.float32)
    labels = np.zeros_like(data, dtype=np.int32)
    truth = np.zeros_like(labels)
    truth[0, :2] = 1
    truth[3] = 2
    labels[0] = 1  # 8 voxels in galaxy 1, 8 outside
    data[0, :2] = 2.0
    data[0, 2:] = 1.0  # 2/3 of the flux inside galaxy 1
    labels[3, 0] = 2
    data[3, 0] = -1.0  # no positive flux
    labels[1] = 3
    data[1] = 1.0  # noise only
    is_true, galaxy = label_candidates(data, labels, 3, truth)
    assert is_true.tolist() == [True, False, False]
    assert galaxy.tolist() == [1, 0, 0]
    assert label_candidates(data, labels, 3, truth, min_fraction=0.7)[0].tolist() == [False, False, False]


def test_seed_ranges_and_cube_choices():
    assert set(TRAINING_SEEDS).isdisjoint(VALIDATION_SEEDS)
    assert 30_000 not in TRAINING_SEEDS and 30_000 not in VALIDATION_SEEDS  # benchmarks/detection_hi.py seeds
    # NeuralFinder(reliability='neural') was tuned on seeds 4,000,600-4,000,645 (benchmarks/detection_hi.py):
    # validation cubes of the scorer, never its training cubes nor the benchmark's (30,000-30,095)
    tuning = range(4_000_600, 4_000_646)
    assert set(tuning) <= set(VALIDATION_SEEDS) and set(tuning).isdisjoint(TRAINING_SEEDS)
    assert set(tuning).isdisjoint(range(30_000, 30_096))
    settings = [cube_settings(s) for s in TRAINING_SEEDS[:40]]
    assert {s["shape"][0] for s in settings} == {96, 128, 160}
    assert 0.5 < np.mean([s["realism"] == "realistic" for s in settings]) < 0.9
    assert cube_settings(TRAINING_SEEDS[0]) == settings[0]
