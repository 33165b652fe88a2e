import numpy as np
import pytest
from scipy import ndimage

from astro_mlfinder.neural.inference import (
    normalize_cube,
    predict_tiled,
    robust_noise,
    segment_probability,
)


def _box3(batch):
    # 3x3x3 mean filter with zero padding at the tile border: receptive field 1 voxel
    return np.stack([ndimage.uniform_filter(b, 3, mode="constant") for b in batch])


def test_tiling_reproduces_untiled_prediction():
    rng = np.random.default_rng(1)
    vol = rng.normal(size=(45, 70, 37)).astype(np.float32)  # odd sizes, padded internally
    whole = predict_tiled(vol, _box3, (64, 96, 48), (0, 0, 0))  # one tile covers everything
    tiled = predict_tiled(vol, _box3, (32, 32, 32), (16, 16, 16), batch_size=3)
    assert tiled.shape == vol.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # a pointwise function is reproduced everywhere, whatever the tiling
    sq = predict_tiled(vol, lambda b: b**2, (16, 16, 16), (0, 0, 0))
    np.testing.assert_allclose(sq, vol**2, rtol=1e-6)


def test_tiling_a_2d_image_reproduces_untiled_prediction():
    rng = np.random.default_rng(5)
    img = rng.normal(size=(70, 45)).astype(np.float32)

    def box2(batch):
        return np.stack([ndimage.uniform_filter(b, 3, mode="constant") for b in batch])

    whole = predict_tiled(img, box2, (96, 48), (0, 0))
    tiled = predict_tiled(img, box2, 32, 16, batch_size=2)
    assert tiled.shape == img.shape and tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    np.testing.assert_allclose(predict_tiled(img, lambda b: 2 * b, (16, 16), 0), 2 * img, rtol=1e-6)
    with pytest.raises(ValueError, match=r"overlap must be an int or a \(y, x\)"):
        predict_tiled(img, box2, 32, (16, 16, 16))
    with pytest.raises(ValueError, match="image or a"):
        predict_tiled(np.zeros(8, np.float32), box2, 8, 0)


def test_predict_tiled_checks_output_shape():
    with pytest.raises(ValueError, match="returned shape"):
        predict_tiled(np.zeros((16, 16, 16), np.float32), lambda b: b[:, :8], 16, 0)


def test_robust_noise_per_channel_and_normalisation_is_unit_free():
    rng = np.random.default_rng(2)
    sig = np.array([1.0, 2.0, 4.0])[:, None, None]
    cube = (rng.normal(size=(3, 100, 100)) * sig).astype(np.float32)
    noise = robust_noise(cube)
    np.testing.assert_allclose(noise.ravel(), sig.ravel(), rtol=0.05)
    assert robust_noise(cube, per_channel=False).shape == (1, 1, 1)
    cube[0, :5, :5] = np.nan
    a = normalize_cube(cube)
    b = normalize_cube(cube * 1e-3)  # another flux unit
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert a.min() >= 0 and a.max() <= 1
    assert np.all(a[0, :5, :5] == 0)  # NaN -> low value
    clip = normalize_cube(np.full((2, 4, 4), 1.0, np.float32), {"clip": [-5, 15]}, noise=np.float32(0.5))
    np.testing.assert_allclose(clip, (2.0 + 5) / 20)
    with pytest.raises(ValueError, match="hi > lo"):
        normalize_cube(cube, {"clip": [1, 1]})


def test_segment_probability_labels_sizes_and_scores():
    prob = np.zeros((20, 20, 20), np.float32)
    prob[2:6, 2:6, 2:6] = 0.9  # 64 voxels
    prob[10:15, 10:15, 12:16] = 0.7  # 100 voxels
    prob[18, 18, 18] = 0.99  # single voxel: removed by opening / min_size
    labels, score = segment_probability(prob, 0.5, min_size=10)
    score_max = ndimage.maximum(prob, labels, [1, 2])  # the peak of each source is no longer returned
    no_morph, _ = segment_probability(prob, 0.5, min_size=1, opening=False, closing=False)
    assert np.bincount(no_morph.ravel()).tolist()[1:] == [64, 100, 1]
    assert labels.dtype == np.int32 and labels.max() == 2
    assert labels[3, 3, 3] == 1 and labels[12, 12, 13] == 2  # raster order of the first voxel
    np.testing.assert_allclose(score, [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(score_max, [0.9, 0.7], rtol=1e-6)
    # the cross-shaped opening trims box edges: 64 -> 32 and 100 -> 60 voxels
    assert np.bincount(labels.ravel()).tolist()[1:] == [32, 60]
    labels, score = segment_probability(prob, 0.5, min_size=40)
    assert labels.max() == 1 and labels[12, 12, 13] == 1 and len(score) == 1
    labels, score = segment_probability(prob, 0.95, min_size=1)
    assert labels.max() == 0 and len(score) == 0
    with pytest.raises(ValueError, match="threshold"):
        segment_probability(prob, 1.5)


def test_predict_probability_with_unet_shapes_and_tiling():
    torch = pytest.importorskip("torch")
    from astro_mlfinder.neural.inference import predict_probability
    from astro_mlfinder.neural.models.unet3d import UNet3D

    torch.manual_seed(0)
    model = UNet3D(base_channels=2).eval()
    rng = np.random.default_rng(3)
    cube = rng.normal(size=(61, 40, 35)).astype(np.float32)
    cube[:, :3, :3] = np.nan
    prob = predict_probability(model, cube, tile_shape=(256, 64, 64), overlap=(0, 0, 0), device="cpu")
    assert prob.shape == cube.shape and prob.dtype == np.float32
    assert np.all((prob >= 0) & (prob <= 1))
    assert np.all(prob[:, :3, :3] == 0)
    # tiling with overlap agrees with the single-tile result away from the seams' influence
    big = rng.normal(size=(64, 64, 64)).astype(np.float32)
    whole = predict_probability(model, big, tile_shape=(256, 64, 64), overlap=0, device="cpu")
    tiled = predict_probability(model, big, tile_shape=(64, 32, 32), overlap=(0, 16, 16), device="cpu", batch_size=4)
    assert np.abs(tiled - whole).mean() < 0.02


def test_test_time_augmentation_is_exact_for_a_flip_equivariant_model():
    torch = pytest.importorskip("torch")
    from astro_mlfinder.neural.inference import predict_probability

    torch.manual_seed(1)
    model = torch.nn.Conv3d(1, 1, 1).eval()  # pointwise: commutes with every flip
    rng = np.random.default_rng(4)
    cube = rng.normal(size=(50, 20, 30)).astype(np.float32)
    plain = predict_probability(model, cube, device="cpu")
    tta = predict_probability(model, cube, device="cpu", tta=True)
    np.testing.assert_allclose(tta, plain, atol=1e-6)
