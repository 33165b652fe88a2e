"""Shapes, configurations and errors of the six DeepFocus networks and the DSSIM loss."""

import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.models.deepfocus.defaults import CPU_CONFIGS, NETWORK_NAMES, PAPER_CONFIGS  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.model import DeepFocusModel  # noqa: E402
from astro_mlfinder.neural.models.deepfocus.networks import (  # noqa: E402
    BlobsFinder,
    DeepGRU,
    ResNetRegressor,
    dssim,
)


def _count(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("name", NETWORK_NAMES)
@torch.no_grad()
def test_cpu_networks_shapes_and_config_round_trip(name):
    torch.manual_seed(0)
    cls = DeepFocusModel.network_class(name)
    net = cls.from_config(CPU_CONFIGS[name]).eval()
    if name == "blobsfinder":
        x = torch.rand(2, 2, 96, 128)  # 'sum' and 'peak'; any size divisible by 16 without the dense bottleneck
        out = net(x)
        assert out.shape == (2, 1, 96, 128) and float(out.min()) >= 0 and float(out.max()) <= 1
    elif name == "deepgru":
        out = net(torch.rand(3, 128))
        assert out.shape == (3, 128) and float(out.min()) >= 0 and float(out.max()) <= 1
        assert net(torch.rand(3, 40, 1)).shape == (3, 40)
    else:
        out = net(torch.rand(5, 1, 64, 64))
        assert out.shape == (5, 2 if name == "resnet_pa" else 1)
    clone = cls.from_config(net.config)
    clone.load_state_dict(net.state_dict())
    assert clone.config == net.config


def test_parameter_counts():
    # the paper's sizes: Blobs Finder ~33.7 M (dense bottleneck), Deep GRU 6785, ResNets ~11 M
    assert _count(DeepGRU(**PAPER_CONFIGS["deepgru"])) == 6785
    assert 30e6 < _count(BlobsFinder(**PAPER_CONFIGS["blobsfinder"])) < 36e6
    assert 10e6 < _count(ResNetRegressor(**PAPER_CONFIGS["resnet_fwhm_x"])) < 12e6
    # the shipped CPU variant is small
    assert sum(_count(DeepFocusModel.network_class(n).from_config(CPU_CONFIGS[n])) for n in NETWORK_NAMES) < 1.2e6


@torch.no_grad()
def test_skips_and_norm_options():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 32, 48)
    for skips in (False, True):
        for norm in ("batch", "group"):
            net = BlobsFinder(widths=(4, 8, 16), skips=skips, norm=norm).eval()
            assert net(x).shape == (3, 1, 32, 48)
    # group norm: an image's output does not depend on the rest of the batch, in training mode too
    net = BlobsFinder(widths=(4, 8), skips=True, norm="group").train()
    assert torch.allclose(net(x)[:1], net(x[:1]), atol=1e-6)
    with pytest.raises(ValueError, match="norm must be 'batch' or 'group'"):
        BlobsFinder(norm="layer")


def test_dense_bottleneck_needs_its_image_size():
    net = BlobsFinder(widths=(4, 8), hidden=16, image_size=32).eval()
    assert net(torch.rand(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="fully connected bottleneck for 32x32"):
        net(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="image_size divisible by 4"):
        BlobsFinder(widths=(4, 8), hidden=16, image_size=30)


def test_bad_inputs_and_configs():
    with pytest.raises(ValueError, match="divisible by 16"):
        BlobsFinder()(torch.rand(1, 1, 40, 40))
    with pytest.raises(ValueError, match=r"\(batch, channel, y, x\)"):
        BlobsFinder()(torch.rand(1, 64, 64))
    with pytest.raises(ValueError, match=r"spectra of shape \(batch, channels\)"):
        DeepGRU()(torch.rand(2, 3, 4, 5))
    with pytest.raises(ValueError, match="at least two positive ints"):
        BlobsFinder(widths=(8,))
    with pytest.raises(ValueError, match="inputs must be a non-empty list of 'sum' and 'peak'"):
        BlobsFinder(inputs=("moment1",))
    with pytest.raises(ValueError, match="positive widths"):
        ResNetRegressor(widths=())


def test_dssim():
    torch.manual_seed(1)
    x = torch.rand(2, 1, 32, 32)
    assert float(dssim(x, x)) == pytest.approx(0.0, abs=1e-6)
    noisy = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    far = torch.rand(2, 1, 32, 32)
    assert 0 < float(dssim(x, noisy)) < float(dssim(x, far)) <= 1
