import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.models import available_models, get_model, get_model_spec, register_model  # noqa: E402
from astro_mlfinder.neural.models.unet3d import (  # noqa: E402
    SpectralRebin,
    UNet3D,
    Unet3DModel,
    rebinned_length,
    spectral_rebin,
    spectral_upsample,
)


@pytest.mark.parametrize("shape", [(16, 16, 16), (32, 16, 48), (48, 32, 16)])
def test_unet3d_output_shape(shape):
    torch.manual_seed(0)
    model = UNet3D(base_channels=2).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, *shape))
    assert out.shape == (2, 1, *shape)
    assert torch.isfinite(out).all()


def test_unet3d_rejects_sizes_not_divisible_by_16():
    model = UNet3D(base_channels=2)
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.zeros(1, 1, 16, 20, 16))
    with pytest.raises(ValueError, match="5D"):
        model(torch.zeros(1, 16, 16, 16))


def test_unet3d_matches_hisf_architecture():
    # HISF UNetLK with C=32 has 7,159,900 parameters and C=16 1,791,548
    for c, n in ((32, 7_159_900), (16, 1_791_548)):
        assert sum(p.numel() for p in UNet3D(base_channels=c).parameters()) == n
    model = UNet3D(base_channels=4)
    first = model.down1[0]
    assert first.kernel_size == (7, 3, 3) and first.stride == (2, 2, 2) and first.bias is None
    assert isinstance(model.down1[2], torch.nn.LeakyReLU)
    assert isinstance(model.up1.up[0], torch.nn.ConvTranspose3d)
    # the head sees the decoder features plus the raw input channel
    assert model.head.in_channels == 4 + 1 and model.head.out_channels == 1


def test_unet3d_config_roundtrip_and_init():
    model = UNet3D(base_channels=3, prior=0.1)
    clone = UNet3D.from_config(model.config)
    assert clone.config == model.config
    assert math.isclose(model.head.bias.detach().item(), math.log(0.1 / 0.9), rel_tol=1e-6)
    bn = model.down2[1]
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    with pytest.raises(ValueError, match="base_channels"):
        UNet3D(base_channels=0)


@pytest.mark.parametrize("nz", [1, 4, 5, 13, 17, 63, 64, 255])
def test_rebin_upsample_shapes_odd_channel_counts(nz):
    x = torch.randn(1, 1, nz, 3, 2)
    small = spectral_rebin(x)
    assert small.shape == (1, 1, math.ceil(nz / 4), 3, 2) == (1, 1, rebinned_length(nz), 3, 2)
    back = spectral_upsample(small, nz)
    assert back.shape == x.shape
    assert torch.equal(SpectralRebin()(x), small)


def test_rebin_geometry_and_upsample_inverse_on_a_ramp():
    nz = 37
    ramp = torch.arange(nz, dtype=torch.float64).view(1, 1, nz, 1, 1).expand(1, 1, nz, 2, 2)
    small = spectral_rebin(ramp)
    # rebinned channel j is the mean of native channels 4j-1 .. 4j+4, centred on 4j+1.5
    j = torch.arange(1, small.shape[2] - 1, dtype=torch.float64)
    assert torch.allclose(small[0, 0, 1:-1, 0, 0], 4 * j + 1.5)
    # a linear ramp survives rebin + upsample away from the (edge-padded) ends
    back = spectral_upsample(small, nz)
    assert torch.allclose(back[0, 0, 6:-6, 0, 0], ramp[0, 0, 6:-6, 0, 0])
    const = torch.full((1, 1, 11, 2, 2), 3.0)
    assert torch.allclose(spectral_upsample(spectral_rebin(const), 11), const)


def test_rebin_ignores_nan_and_upsample_checks_length():
    x = torch.ones(1, 1, 12, 2, 2)
    x[0, 0, 5, 0, 0] = float("nan")
    out = spectral_rebin(x)
    assert torch.isfinite(out).all() and torch.allclose(out, torch.ones_like(out))
    x[0, 0, :, 1, 1] = float("nan")
    assert torch.isnan(spectral_rebin(x)[0, 0, :, 1, 1]).all()
    with pytest.raises(ValueError, match="rebins to"):
        spectral_upsample(torch.zeros(1, 1, 5, 2, 2), 12)


def test_model_registry():
    assert "unet3d" in available_models()
    spec = get_model_spec("UNet3D")
    assert spec is get_model("unet3d") is Unet3DModel
    assert spec.ndim == 3 and spec.network_class() is UNet3D
    with pytest.raises(ValueError, match="known models: .*unet3d"):
        get_model_spec("no-such-model")
    with pytest.raises(ValueError, match="already registered"):
        register_model(Unet3DModel)
    with pytest.raises(ValueError, match="already registered"):
        register_model("astro_mlfinder.neural.models.unet3d.model:Unet3DModel")
    with pytest.raises(TypeError, match="NeuralModel subclass"):
        register_model(UNet3D)
    assert np.all(np.asarray(spec.defaults["tile_shape"]) > 0)


def test_model_class_declares_networks_defaults_keywords_and_recipe():
    assert list(Unet3DModel.networks) == ["unet3d"]
    assert set(Unet3DModel.defaults) == set(Unet3DModel.keywords)
    assert {"threshold", "min_size", "tile_shape", "overlap", "batch_size", "tta"} <= set(Unet3DModel.keywords)
    recipe = Unet3DModel.training
    from astro_mlfinder.neural.training import train

    assert recipe.load() is train and "astro-mlfinder train unet3d" in recipe.command
    assert recipe.data and recipe.loop and recipe.tuning
    with pytest.raises(ValueError, match="no network 'other'; its networks: unet3d"):
        Unet3DModel.network_class("other")


def test_model_keywords_are_validated_and_merged():
    model = Unet3DModel(device="cpu", tile_shape=128, overlap=(32, 16, 16), threshold=0.3)
    assert model.params["tile_shape"] == (128, 128, 128) and model.params["overlap"] == (32, 16, 16)
    assert model.params["min_size"] is None
    # constructor values, else the values recorded with the weights, else the defaults
    merged = model.resolve_params({"threshold": 0.1, "min_size": 300, "tta": True})
    assert merged["threshold"] == 0.3 and merged["min_size"] == 300 and merged["tta"] is True
    assert merged["batch_size"] == 1 and merged["max_source"] == (64, 24, 24)
    with pytest.raises(TypeError, match=r"unexpected keyword 'kernels'.*accepts: model, device, weights, progress, "):
        Unet3DModel(kernels=3)
    with pytest.raises(ValueError, match="min_size must be >= 0"):
        Unet3DModel(min_size=-1)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Unet3DModel(batch_size=0)
    with pytest.raises(ValueError, match=r"overlap must be an int or a \(z, y, x\)"):
        Unet3DModel(overlap=(1, 2))
    # a value the converter cannot read: the error names the keyword
    with pytest.raises(ValueError, match=r"^min_size must be an integer, got 'large'"):
        Unet3DModel(min_size="large")
    # a fraction is refused, not truncated; integral floats, numpy ints and digit strings are fine
    with pytest.raises(ValueError, match=r"^batch_size must be an integer, got 1.5 \(it is not rounded"):
        Unet3DModel(batch_size=1.5)
    with pytest.raises(ValueError, match=r"^min_size must be an integer, got True"):
        Unet3DModel(min_size=True)
    assert Unet3DModel(min_size=2.0, batch_size=np.int64(3)).params["min_size"] == 2
    assert Unet3DModel(batch_size=" 4 ").params["batch_size"] == 4
    with pytest.raises(TypeError, match=r"^threshold of model 'unet3d': .* \(got \[0.1, 0.2\]\)"):
        Unet3DModel(threshold=[0.1, 0.2])


def test_registry_imports_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from astro_mlfinder.neural.models import get_model, available_models\n"
        "m = get_model('unet3d')\n"
        "assert {'convosource', 'deepfocus', 'pais', 'unet3d'} <= set(available_models())\n"
        "assert m.ndim == 3 and m.defaults['tile_shape']\n"
        "try:\n"
        "    m.network_class()\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "needs PyTorch" in out.stdout
