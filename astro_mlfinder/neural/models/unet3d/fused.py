"""The inference form of `~astro_mlfinder.neural.models.unet3d.network.UNet3D`: the same function, faster on a CPU.

`fuse_for_inference` builds, from a trained network in eval mode, a copy
that computes the same logits (up to float32 rounding, about 1e-5) in less
time:

* every BatchNorm3d is folded into the (transposed) convolution before it
  (`torch.nn.utils.fusion.fuse_conv_bn_eval`), which removes a pass over
  each activation;
* the weights and activations are kept in the ``channels_last_3d`` memory
  format, for which oneDNN has faster 3D convolution kernels than for the
  default NCDHW layout;
* the output convolution (13 -> 1 channels, 3x3x3, at full resolution: a
  third of the network's time on a CPU, where one output channel leaves
  the vector units mostly idle) is computed without concatenating the input
  to the last decoder level: a numba kernel (`_head_kernel`) keeps the
  three input planes each output plane needs and sums the 27 taps of every
  channel along x (`_Head`; on other devices or dtypes, the plain
  convolution of the concatenation).

The copy shares nothing with the original (weights are copied when folded),
so a network that keeps training is unaffected;
`~astro_mlfinder.neural.models.unet3d.network.UNet3D.for_inference` builds it
(milliseconds) and reuses it until a weight, running statistic or the device
changes.
"""

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .network import UNet3D, check_sizes, unet_trunk

__all__ = ["fuse_for_inference", "FusedUNet3D"]

def _fold(seq):
    """A Sequential with every (transposed) Conv3d + BatchNorm3d pair folded into one convolution."""
    items = list(seq)
    out = []
    i = 0
    while i < len(items):
        mod = items[i]
        conv = isinstance(mod, nn.Conv3d | nn.ConvTranspose3d)
        if conv and i + 1 < len(items) and isinstance(items[i + 1], nn.BatchNorm3d):
            out.append(fuse_conv_bn_eval(mod, items[i + 1], transpose=isinstance(mod, nn.ConvTranspose3d)))
            i += 2
        else:
            out.append(copy.deepcopy(mod))
            i += 1
    return nn.Sequential(*out)


class _Up(nn.Module):
    def __init__(self, up):
        super().__init__()
        self.up = _fold(up.up)
        self.conv = _fold(up.conv)

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class _Head(nn.Module):
    """``Conv3d(c + 1, 1, 3, padding=1)`` of ``cat([x, u])`` without the concatenation (`_head_kernel`)."""

    def __init__(self, conv):
        super().__init__()
        if tuple(conv.kernel_size) != (3, 3, 3) or tuple(conv.padding) != (1, 1, 1) or conv.out_channels != 1:
            raise ValueError("the head must be a 3x3x3 convolution to one channel with padding 1")
        self.register_buffer("weight", conv.weight.detach().clone())  # (1, channels, 3, 3, 3)
        bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(1)
        self.register_buffer("bias", bias)

    def forward(self, x, u):
        if u.device.type != "cpu" or u.dtype != torch.float32:
            w = self.weight.to(u.dtype)
            return nn.functional.conv3d(torch.cat([x, u], dim=1), w, self.bias.to(u.dtype), padding=1)
        x, u = x.detach(), u.detach()  # the numba kernel reads numpy views (no autograd through the head)
        n, _, nz, ny, nx = u.shape
        out = torch.empty((n, 1, nz, ny, nx), dtype=torch.float32)
        w = self.weight[0].contiguous().numpy()
        bias = float(self.bias[0])
        for b in range(n):
            # (z, y, x, channels): contiguous for a channels_last_3d tensor
            uv = u[b].permute(1, 2, 3, 0).contiguous().numpy()
            _head_kernel(x[b, 0].contiguous().numpy(), uv, w, bias, out[b, 0].numpy())
        return out


def _head_kernel(x, u, w, bias, out):
    """``out = bias + conv3d(cat([x, u]), w)`` (3x3x3, zero padding) of one (z, y, x) cube, in place.

    ``x`` (z, y, x) is channel 0 and ``u`` (z, y, x, c) channels 1..c. Each
    thread takes a block of output planes and keeps the three input planes it
    needs as (channel, y, x) arrays with a zero border, so the 351
    multiply-adds of a voxel run as vector operations along x.
    """
    from ..._kernels import announce
    from ._head_kernel import _load, head_conv

    announce(head_conv, _load)

    head_conv(x, u, w, np.float32(bias), out)


class FusedUNet3D(nn.Module):
    """Inference-only copy of a `~astro_mlfinder.neural.models.unet3d.network.UNet3D` (see the module docstring).

    Parameters
    ----------
    net : `~astro_mlfinder.neural.models.unet3d.network.UNet3D`
        A network in eval mode (its BatchNorm running statistics are folded).
    channels_last : bool
        Keep weights and activations in the ``channels_last_3d`` format.
    """

    def __init__(self, net, channels_last=True):
        super().__init__()
        if net.training:
            raise ValueError("fuse_for_inference needs a network in eval mode (call net.eval() first)")
        self.levels = net.levels
        self.channels_last = bool(channels_last)
        self.down1, self.down2, self.down3, self.down4 = (_fold(net.down1), _fold(net.down2),
                                                          _fold(net.down3), _fold(net.down4))
        self.up1, self.up2, self.up3 = _Up(net.up1), _Up(net.up2), _Up(net.up3)
        self.final_up = _fold(net.final_up)
        self.head = _Head(net.head)
        if self.channels_last:
            self.to(memory_format=torch.channels_last_3d)
        self.requires_grad_(False)  # inference only: the numba head reads the activations as numpy arrays
        self.eval()

    @property
    def divisor(self):
        """Every input dimension must be a multiple of this (16)."""
        return 2**self.levels

    def forward(self, x):
        """Logits (batch, 1, z, y, x) of an input (batch, 1, z, y, x) whose sizes are multiples of 16."""
        if x.dim() != 5 or x.shape[1] != 1:
            raise ValueError(f"FusedUNet3D expects a (batch, 1, z, y, x) tensor, got shape {tuple(x.shape)}")
        check_sizes(x, self.divisor)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        u = unet_trunk(self, x)
        if not self.channels_last:
            u = u.contiguous(memory_format=torch.channels_last_3d)
        return self.head(x, u)


def fuse_for_inference(net, channels_last=True):
    """`FusedUNet3D` of ``net`` (eval mode), or ``net`` itself when it is not a plain single-input UNet3D.

    Parameters
    ----------
    net : `torch.nn.Module`
        Usually a `~astro_mlfinder.neural.models.unet3d.network.UNet3D`.
    channels_last : bool
        See `FusedUNet3D`.

    Returns
    -------
    `torch.nn.Module`
    """
    if type(net) is not UNet3D or net.config["in_channels"] != 1 or net.training:
        return net
    with torch.no_grad():
        return FusedUNet3D(net, channels_last=channels_last)
