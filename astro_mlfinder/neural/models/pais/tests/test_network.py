"""The PAIS network and losses: shapes, the stop-gradient between the decoders, loss terms."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.models.pais.losses import PAPER_WEIGHTS, pais_loss  # noqa: E402
from astro_mlfinder.neural.models.pais.network import PAISNet  # noqa: E402
from astro_mlfinder.neural.models.pais.pcr import encode_pcr  # noqa: E402

from .blends import gaussian_blend  # noqa: E402


def test_output_shapes_and_stacking():
    torch.manual_seed(0)
    net = PAISNet(filters=(4, 8, 8, 16), head_width=8, k=3).eval()
    x = torch.randn(2, 1, 32, 48)
    com, vec, maps = net(x)
    assert com.shape == (2, 1, 32, 48) and vec.shape == (2, 3, 2, 32, 48) and maps.shape == (2, 3, 32, 48)
    stacked = net.stacked(x)
    assert stacked.shape == (2, 10, 32, 48)
    c2, v2, m2 = PAISNet.split(stacked, 3)
    assert torch.equal(c2, com) and torch.equal(v2, vec) and torch.equal(m2, maps)
    assert net.divisor == 16
    assert PAISNet.from_config(net.config).config == net.config


def test_published_size():
    # the PAIS v9 widths: 305,114 trainable parameters in Keras; here ~309k (the heads also see the input)
    n = sum(p.numel() for p in PAISNet().parameters())
    assert 300_000 < n < 320_000


def test_claim_map_loss_does_not_train_the_spatial_decoder():
    torch.manual_seed(0)
    net = PAISNet(filters=(4, 8), head_width=8, k=2)
    _, _, maps = net(torch.randn(1, 1, 16, 16))
    maps.sum().backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in net.fuse_a.parameters())
    assert all(p.grad is None for p in net.com_head.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in net.encoder.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in net.fuse_b.parameters())


def test_bad_inputs_are_refused():
    net = PAISNet(filters=(4, 8), head_width=8)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 1, 10, 16))
    with pytest.raises(ValueError, match="batch, channel, y, x"):
        net(torch.zeros(1, 16, 16))
    with pytest.raises(ValueError, match="filters must be"):
        PAISNet(filters=())


def _targets(models, centres):
    pcr = encode_pcr(models, centres=centres)
    return {key: torch.from_numpy(np.asarray(pcr[key], np.float32))[None]
            for key in ("center_of_mass", "claim_vectors", "claim_maps")}


def test_loss_is_zero_parts_at_the_truth_and_weights_apply():
    centres = [(12.0, 12.0), (20.0, 18.0)]
    _, models = gaussian_blend(centres, [100.0, 50.0], [2.0, 2.0], shape=(32, 32))
    t = _targets(models, centres)
    com = torch.logit(t["center_of_mass"].clamp(1e-6, 1 - 1e-6))[:, None]
    logits = torch.log(t["claim_maps"].clamp_min(1e-12))
    total, parts = pais_loss((com, t["claim_vectors"], logits), t, weights={"entropy": 0.0})
    assert parts["com"] < 1e-10 and parts["vectors"] == 0.0
    # cross-entropy against soft targets is their entropy at the optimum
    assert parts["maps"] == pytest.approx(parts["entropy"], rel=1e-5)
    assert float(total) == pytest.approx(4.0 * parts["maps"], rel=1e-5)
    shifted = (com, t["claim_vectors"] + 1.0, logits)
    _, p2 = pais_loss(shifted, t)
    assert p2["vectors"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown loss weight"):
        pais_loss(shifted, t, weights={"semantic": 1.0})
    assert set(PAPER_WEIGHTS) == {"vectors", "maps", "com", "entropy"}


def test_test_time_augmentation_is_equivariant():
    from astro_mlfinder.neural.models.pais.inference import predict_outputs

    torch.manual_seed(0)
    net = PAISNet(filters=(4, 8), head_width=8, k=2).eval()
    x = np.random.default_rng(0).normal(size=(32, 32)).astype(np.float32)
    heat, vec, maps = predict_outputs(net, x, tile_shape=32, overlap=0, tta=True)
    # the averaged outputs of a flipped image are the flipped outputs, vectors' y component negated
    heat_f, vec_f, maps_f = predict_outputs(net, x[::-1].copy(), tile_shape=32, overlap=0, tta=True)
    np.testing.assert_allclose(heat_f, heat[::-1], atol=1e-5)
    np.testing.assert_allclose(maps_f, maps[:, ::-1], atol=1e-4)
    np.testing.assert_allclose(vec_f[:, 0], -vec[:, 0, ::-1], atol=1e-4)
    np.testing.assert_allclose(vec_f[:, 1], vec[:, 1, ::-1], atol=1e-4)
    # and of a transposed image the transposed outputs, vector components swapped
    heat_t, vec_t, _ = predict_outputs(net, x.T.copy(), tile_shape=32, overlap=0, tta=True)
    np.testing.assert_allclose(heat_t, heat.T, atol=1e-5)
    np.testing.assert_allclose(vec_t[:, 0], np.swapaxes(vec[:, 1], -1, -2), atol=1e-4)
