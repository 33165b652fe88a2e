"""The faster inference paths compute what the plain ones do: fused unet3d, region-wise segmentation, kernels."""

import numpy as np
import pytest
from scipy import ndimage

from astro_mlfinder.neural import _kernels
from astro_mlfinder.neural.inference import _upsample_z, filter_sizes, segment_probability


def _reference_segmentation(prob, threshold, min_size, mask=None):
    """scipy on the whole array: closing, opening (cross), 26-connected labels, size filter, mean probability."""
    cross = ndimage.generate_binary_structure(prob.ndim, 1)
    fg = prob > threshold
    if mask is not None:
        fg &= ~mask
    fg = ndimage.binary_opening(ndimage.binary_closing(fg, cross, border_value=0), cross)
    if mask is not None:
        fg &= ~mask
    labels, n = ndimage.label(fg, np.ones((3,) * prob.ndim, bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = np.flatnonzero(sizes >= max(min_size, 1))
    keep = keep[keep > 0]
    out = np.zeros_like(labels)
    for new, old in enumerate(keep, start=1):
        out[labels == old] = new
    score = np.array([prob[out == i].astype(np.float64).mean() for i in range(1, len(keep) + 1)])
    return out, score


def _blobs(shape, rng):
    """Blobs on a grid 40 voxels apart (separate regions), each with a second blob close by, plus noise."""
    prob = (0.3 * rng.random(shape, dtype=np.float32)).astype(np.float32)
    for centre in np.ndindex(*(max(1, s // 40) for s in shape)):
        for extra in (0, 7):
            c = [20 + 40 * i + int(rng.integers(-3, 4)) + extra for i in centre]
            half = [int(rng.integers(1, 5)) for _ in shape]
            box = tuple(slice(max(ci - h, 0), ci + h) for ci, h in zip(c, half, strict=True))
            prob[box] = np.maximum(prob[box], 0.45 + 0.5 * rng.random(prob[box].shape, dtype=np.float32))
    return prob


@pytest.mark.parametrize("seed", range(6))
def test_segmentation_of_separate_regions_matches_scipy_on_the_whole_array(seed):
    from astro_mlfinder.neural.inference import _regions

    rng = np.random.default_rng(seed)
    shape = (90, 85, 80) if seed % 3 else (130, 120)
    prob = _blobs(shape, rng)
    mask = rng.random(shape) < 0.01 if seed % 2 else None
    assert len(_regions(prob > 0.5)) >= 2  # labelled region by region
    labels, score = segment_probability(prob, 0.5, 8, mask=mask)
    ref_labels, ref_score = _reference_segmentation(prob, 0.5, 8, mask)
    assert labels.max() >= 2  # several sources, in raster order of their first voxel
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(score, ref_score, rtol=1e-6)


def test_filter_sizes_with_many_components_renumbers_in_order():
    rng = np.random.default_rng(3)
    labels, n = ndimage.label(rng.random((40, 50, 50)) > 0.75)
    assert n > 4000  # the vectorised branch
    out = filter_sizes(labels, 3)
    sizes = np.bincount(labels.ravel())
    kept = [i for i in range(1, n + 1) if sizes[i] >= 3]
    assert out.max() == len(kept)
    first = labels == kept[0]
    assert np.all(out[first] == 1) and np.all(out[labels == kept[-1]] == len(kept))
    assert not np.any(out[np.isin(labels, np.flatnonzero(sizes < 3))])


def test_upsampling_kernel_matches_numpy_and_zeroes_blank_voxels():
    rng = np.random.default_rng(2)
    small = rng.random((9, 12, 7), dtype=np.float32)
    cube = rng.random((35, 12, 7), dtype=np.float32)
    cube[rng.random(cube.shape) < 0.1] = np.nan
    out = _upsample_z(small, 35, 4, blank_from=cube)
    pos = np.clip((np.arange(35) + 0.5) / 4 - 0.5, 0, 8)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, 8)
    w = (pos - lo).astype(np.float32)[:, None, None]
    expected = small[lo] * (np.float32(1) - w) + small[hi] * w
    expected[~np.isfinite(cube)] = 0
    np.testing.assert_array_equal(out, expected)


def test_block_any():
    rng = np.random.default_rng(4)
    fg = rng.random((19, 20, 33)) > 0.999
    grid = _kernels.block_any(fg.view(np.uint8), 8)
    padded = np.zeros((24, 24, 40), bool)
    padded[:19, :20, :33] = fg
    expected = padded.reshape(3, 8, 3, 8, 5, 8).any(axis=(1, 3, 5))
    np.testing.assert_array_equal(grid.astype(bool), expected)


def _trained_like_unet(torch):
    from astro_mlfinder.neural.models.unet3d.network import UNet3D

    torch.manual_seed(0)
    net = UNet3D(base_channels=4)
    with torch.no_grad():  # BatchNorm statistics and affine terms that are not the identity
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.mark.parametrize("channels_last", [True, False])
def test_fused_unet3d_gives_the_same_logits(channels_last):
    torch = pytest.importorskip("torch")
    from astro_mlfinder.neural.models.unet3d.fused import FusedUNet3D, fuse_for_inference

    net = _trained_like_unet(torch)
    fused = fuse_for_inference(net, channels_last=channels_last)
    assert isinstance(fused, FusedUNet3D)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fused.modules())
    x = torch.rand(2, 1, 32, 16, 48)
    with torch.inference_mode():
        ref, out = net(x), fused(x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    with pytest.raises(ValueError, match="multiples of 16"):
        fused(torch.rand(1, 1, 20, 16, 16))
    # outside inference_mode too (the numba head reads numpy views), the original still trainable
    out = fused(x.requires_grad_(True))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    assert all(p.requires_grad for p in net.parameters())


def test_inference_copy_is_reused_until_the_weights_change():
    torch = pytest.importorskip("torch")
    net = _trained_like_unet(torch)
    first = net.for_inference()
    assert net.for_inference() is first
    assert "_inference_copy" not in dict(net.named_modules())  # not a submodule, not in state_dict
    assert len(net.state_dict()) == len(net.train().state_dict())
    assert net.for_inference() is net  # training: the network itself
    net.eval()
    with torch.no_grad():
        net.head.weight.mul_(2)
    second = net.for_inference()
    assert second is not first
    x = torch.rand(1, 1, 16, 16, 16)
    with torch.inference_mode():
        np.testing.assert_allclose(second(x).numpy(), net(x).numpy(), rtol=1e-4, atol=1e-4)
