"""The HISF large-kernel 3D U-Net ("Unet-LK") and its spectral rebinning.

Re-implementation, from the description in Song et al. (2024,
arXiv:2403.19912) and the design notes of the HISF code, of a 3D U-Net for
HI cubes whose sources are much longer along frequency than on the sky:

* four encoder levels; each level starts with a stride-2 convolution with a
  *large* kernel (7, 3, 3) (7 along frequency) followed by a 3x3x3
  convolution, every convolution bias-free and followed by BatchNorm3d and
  LeakyReLU(0.01);
* three transposed-convolution decoder levels with skip connections, then a
  final full-resolution level that concatenates the network *input* before a
  3x3x3 convolution to one logit channel (sigmoid at loss/inference);
* Kaiming-normal initialisation (fan_out, leaky_relu) of the convolutions;
* the width is configurable (``base_channels``; HISF uses 32), so a small CPU
  model and a large GPU model share this definition.

Before the network the cube is rebinned along frequency by an average pool of
kernel 6 and stride 4 (`SpectralRebin`, `spectral_rebin`); the prediction is
brought back to the cube's channel count by `spectral_upsample`. Both are
exact for any channel count (odd ones included): ``n_out = ceil(n / 4)`` and
rebinned channel ``j`` is centred on native channel ``4 j + 1.5``.

Array order everywhere is (batch, channel, z, y, x) with z = frequency.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UNet3D", "SpectralRebin", "spectral_rebin", "spectral_upsample", "rebinned_length"]

REBIN_KERNEL = 6
REBIN_STRIDE = 4


def rebinned_length(n_channels, stride=REBIN_STRIDE):
    """Number of channels after rebinning ``n_channels`` by ``stride`` (``ceil(n / stride)``)."""
    if n_channels < 1:
        raise ValueError(f"n_channels must be >= 1, got {n_channels}")
    return int(math.ceil(n_channels / stride))


def _rebin_padding(n_channels, kernel, stride):
    n_out = rebinned_length(n_channels, stride)
    front = (kernel - stride) // 2
    back = stride * (n_out - 1) + kernel - n_channels - front
    return front, back, n_out


def spectral_rebin(x, kernel=REBIN_KERNEL, stride=REBIN_STRIDE, nan_aware=True):
    """Average-pool a (batch, channel, z, y, x) tensor along z with an overlapping box.

    The z axis is edge-padded so that output channel ``j`` averages native
    channels ``[stride*j - (kernel-stride)//2, ... + kernel)``, i.e. it is
    centred on the centre of block ``[stride*j, stride*j + stride)``; the
    output has ``ceil(n_z / stride)`` channels.

    Parameters
    ----------
    x : `torch.Tensor`
        5D tensor.
    kernel, stride : int
        Box length and decimation along z (HISF: 6 and 4).
    nan_aware : bool
        If True, NaNs are ignored in the averages (a box of only NaNs gives NaN).

    Returns
    -------
    `torch.Tensor`
        ``(batch, channel, ceil(n_z/stride), y, x)``.
    """
    if x.dim() != 5:
        raise ValueError(f"spectral_rebin expects a 5D (batch, channel, z, y, x) tensor, got shape {tuple(x.shape)}")
    if kernel < stride:
        raise ValueError(f"kernel ({kernel}) must be >= stride ({stride})")
    front, back, n_out = _rebin_padding(x.shape[2], kernel, stride)
    if nan_aware and torch.isnan(x).any():
        finite = torch.isfinite(x)
        values = torch.where(finite, x, torch.zeros((), dtype=x.dtype, device=x.device))
        weight = finite.to(x.dtype)
        total = _padded_pool(values, kernel, stride, front, back)
        count = _padded_pool(weight, kernel, stride, front, back)
        out = total / count  # 0/0 -> NaN where a box holds no finite value
    else:
        out = _padded_pool(x, kernel, stride, front, back)
    assert out.shape[2] == n_out
    return out


def _padded_pool(x, kernel, stride, front, back):
    """``avg_pool3d`` along z of ``x`` edge-padded by (front, back), without padding the whole tensor.

    Only the boxes that reach beyond the data are pooled from padded slices;
    the others from the data themselves, with the same values in the same
    order, so the result equals pooling the padded tensor.
    """
    n = x.shape[2]
    n_out = (n + front + back - kernel) // stride + 1
    pool = dict(kernel_size=(kernel, 1, 1), stride=(stride, 1, 1))
    # output j reads native channels [stride * j - front, stride * j - front + kernel)
    first = min(-(-front // stride), n_out)  # the first box inside the data
    last = max(min((n + front - kernel) // stride, n_out - 1), first - 1)  # the last box inside
    parts = []
    for j in range(0, first):
        parts.append(_edge_box(x, j, kernel, stride, front, pool))
    if last >= first:
        lo = stride * first - front
        parts.append(F.avg_pool3d(x[:, :, lo : stride * last - front + kernel], **pool))
    for j in range(max(last + 1, first), n_out):
        parts.append(_edge_box(x, j, kernel, stride, front, pool))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)


def _edge_box(x, j, kernel, stride, front, pool):
    n = x.shape[2]
    lo, hi = stride * j - front, stride * j - front + kernel
    part = x[:, :, max(lo, 0) : min(hi, n)]
    part = F.pad(part, (0, 0, 0, 0, max(-lo, 0), max(hi - n, 0)), mode="replicate")
    return F.avg_pool3d(part, **pool)


def spectral_upsample(x, n_channels, stride=REBIN_STRIDE):
    """Interpolate a rebinned (batch, channel, z, y, x) tensor back to ``n_channels`` along z.

    Inverse geometry of `spectral_rebin`: native channel ``i`` sits at rebinned
    coordinate ``(i + 0.5)/stride - 0.5``; values beyond the first/last
    rebinned channel are held constant.

    Parameters
    ----------
    x : `torch.Tensor`
        5D tensor with ``ceil(n_channels / stride)`` channels along z.
    n_channels : int
        Channel count of the native cube.

    Returns
    -------
    `torch.Tensor`
        ``(batch, channel, n_channels, y, x)``.
    """
    if x.dim() != 5:
        raise ValueError(f"spectral_upsample expects a 5D tensor, got shape {tuple(x.shape)}")
    n_in = x.shape[2]
    if n_in != rebinned_length(n_channels, stride):
        raise ValueError(
            f"a cube of {n_channels} channels rebins to "
            f"{rebinned_length(n_channels, stride)} channels, "
            f"but the tensor has {n_in}"
        )
    pos = (torch.arange(n_channels, dtype=torch.float64, device=x.device) + 0.5) / stride - 0.5
    pos = pos.clamp(0, n_in - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=n_in - 1)
    w = (pos - lo.to(pos.dtype)).to(x.dtype).view(1, 1, -1, 1, 1)
    return x.index_select(2, lo) * (1 - w) + x.index_select(2, hi) * w


class SpectralRebin(nn.Module):
    """Module form of `spectral_rebin` (average pool kernel (6,1,1), stride (4,1,1))."""

    def __init__(self, kernel=REBIN_KERNEL, stride=REBIN_STRIDE, nan_aware=True):
        super().__init__()
        self.kernel = int(kernel)
        self.stride = int(stride)
        self.nan_aware = bool(nan_aware)

    def forward(self, x):
        return spectral_rebin(x, self.kernel, self.stride, self.nan_aware)

    def extra_repr(self):
        return f"kernel={self.kernel}, stride={self.stride}, nan_aware={self.nan_aware}"


def _conv_bn_act(c_in, c_out, kernel=3, stride=1, padding=1, slope=0.01):
    return [
        nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm3d(c_out),
        nn.LeakyReLU(slope, inplace=True),
    ]


class _Down(nn.Sequential):
    """Stride-2 large-kernel conv + 3x3x3 conv, each with BN and LeakyReLU."""

    def __init__(self, c_in, c_out, kernel, slope):
        pad = tuple(k // 2 for k in kernel)
        super().__init__(
            *_conv_bn_act(c_in, c_out, kernel, stride=2, padding=pad, slope=slope),
            *_conv_bn_act(c_out, c_out, 3, slope=slope),
        )


class _Up(nn.Module):
    """Transposed conv x2 + BN + LeakyReLU, concatenation with the skip, two 3x3x3 convs."""

    def __init__(self, c_in, c_skip, c_out, slope):
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose3d(c_in, c_out, kernel_size=2, stride=2, bias=False),
            nn.BatchNorm3d(c_out),
            nn.LeakyReLU(slope, inplace=True),
        )
        self.conv = nn.Sequential(
            *_conv_bn_act(c_skip + c_out, c_out, 3, slope=slope),
            *_conv_bn_act(c_out, c_out, 3, slope=slope),
        )

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


def check_sizes(x, divisor):
    """Refuse an input (batch, channel, z, y, x) whose spatial sizes are not multiples of ``divisor``."""
    if any(n % divisor for n in x.shape[2:]):
        raise ValueError(
            f"UNet3D input sizes must be multiples of {divisor}, "
            f"got {tuple(x.shape[2:])}; "
            "pad the input (astro_mlfinder.neural.inference does this)"
        )


def unet_trunk(net, x):
    """The encoder-decoder path of `UNet3D` (or of its fused inference copy, which has the same stages):
    the features at full resolution that the output head reads with the input."""
    d1 = net.down1(x)
    d2 = net.down2(d1)
    d3 = net.down3(d2)
    d4 = net.down4(d3)
    u = net.up1(d4, d3)
    u = net.up2(u, d2)
    u = net.up3(u, d1)
    return net.final_up(u)


class UNet3D(nn.Module):
    """Large-kernel 3D U-Net (HISF "Unet-LK") returning one logit per voxel.

    Parameters
    ----------
    in_channels : int
        Input channels (1 for a single cube).
    base_channels : int
        Width ``C`` of the first level; the levels have C, 2C, 4C, 8C channels
        (HISF: 32; the bundled CPU model uses a smaller value).
    large_kernel : tuple of int
        Kernel of the first (stride-2) convolution of each encoder level.
    negative_slope : float
        LeakyReLU slope.
    prior : float
        Initial foreground probability: the bias of the output convolution is
        set to ``log(prior / (1 - prior))`` (sources fill a small fraction of a
        cube; this only speeds up early training).

    Notes
    -----
    Every spatial size of the input must be divisible by 16 (four stride-2
    levels). The output has the input's spatial shape.
    """

    levels = 4

    def __init__(
        self,
        in_channels=1,
        base_channels=16,
        large_kernel=(7, 3, 3),
        negative_slope=0.01,
        prior=0.05,
    ):
        super().__init__()
        if base_channels < 1:
            raise ValueError(f"base_channels must be >= 1, got {base_channels}")
        if not 0 < prior < 1:
            raise ValueError(f"prior must be in (0, 1), got {prior}")
        large_kernel = tuple(int(k) for k in large_kernel)
        if len(large_kernel) != 3 or any(k % 2 == 0 for k in large_kernel):
            raise ValueError(f"large_kernel must be three odd integers, got {large_kernel}")
        self.config = {
            "in_channels": int(in_channels),
            "base_channels": int(base_channels),
            "large_kernel": list(large_kernel),
            "negative_slope": float(negative_slope),
            "prior": float(prior),
        }
        c = int(base_channels)
        s = float(negative_slope)
        self.down1 = _Down(in_channels, c, large_kernel, s)
        self.down2 = _Down(c, 2 * c, large_kernel, s)
        self.down3 = _Down(2 * c, 4 * c, large_kernel, s)
        self.down4 = _Down(4 * c, 8 * c, large_kernel, s)
        self.up1 = _Up(8 * c, 4 * c, 4 * c, s)
        self.up2 = _Up(4 * c, 2 * c, 2 * c, s)
        self.up3 = _Up(2 * c, c, c, s)
        self.final_up = nn.Sequential(
            nn.ConvTranspose3d(c, c, kernel_size=2, stride=2, bias=False),
            nn.BatchNorm3d(c),
            nn.LeakyReLU(s, inplace=True),
        )
        self.head = nn.Conv3d(c + in_channels, 1, kernel_size=3, padding=1, bias=True)
        self._init_weights(s, prior)

    @classmethod
    def from_config(cls, config):
        """Build a model from its ``config`` dict (as stored with the weights)."""
        return cls(**dict(config))

    def _init_weights(self, slope, prior):
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, a=slope, mode="fan_out", nonlinearity="leaky_relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.constant_(self.head.bias, math.log(prior / (1 - prior)))

    @property
    def divisor(self):
        """Every input dimension must be a multiple of this (16)."""
        return 2**self.levels

    def for_inference(self):
        """A faster copy computing the same logits in eval mode (`~astro_mlfinder.neural.models.unet3d.fused`).

        BatchNorm folded into the convolutions, channels_last_3d on a CPU,
        and the output convolution without its concatenation; ``self`` when
        the network is training. The copy is kept and reused while no weight,
        running statistic or device changes (tensor versions and identities).
        """
        from .fused import fuse_for_inference

        if self.training:
            return self
        tensors = [*self.parameters(), *self.buffers()]
        key = (tensors[0].device, tuple((id(t), t._version) for t in tensors))
        cached = self.__dict__.get("_inference_copy")  # a tuple: not registered as a submodule
        if cached is None or cached[0] != key:
            cached = (key, fuse_for_inference(self, channels_last=tensors[0].device.type == "cpu"))
            self.__dict__["_inference_copy"] = cached
        return cached[1]

    def forward(self, x):
        """Return logits of shape (batch, 1, z, y, x) for an input (batch, in_channels, z, y, x)."""
        if x.dim() != 5:
            raise ValueError(f"UNet3D expects a 5D (batch, channel, z, y, x) tensor, got shape {tuple(x.shape)}")
        check_sizes(x, self.divisor)
        u = unet_trunk(self, x)
        return self.head(torch.cat([x, u], dim=1))
