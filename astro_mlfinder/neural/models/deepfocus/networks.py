"""The six DeepFocus networks (Delli Veneri et al. 2022): Blobs Finder, Deep GRU and four ResNet regressors.

Re-implementations from the paper and the description of its public code in
``../shared/reference/seed_models.md`` section 2 (no code copied):

* `BlobsFinder` -- a 2D convolutional autoencoder from the normalised
  integrated dirty image (optionally with a second input channel, the
  peak over channels, ``inputs``) to the normalised integrated *clean*
  image restored with the beam: four
  strided double-convolution blocks (8-16-32-64 channels; LeakyReLU then
  batch norm, the paper's order), a fully connected bottleneck (1024 in the
  paper; ``hidden=0`` keeps the bottleneck convolutional, so any image size
  divisible by 16 is accepted, the small CPU variant), and a decoder whose
  blocks concatenate a bilinear and a transposed-convolution upsampling of
  their input before a double convolution; a sigmoid output. Trained with
  L1 + DSSIM (`dssim`).
* `DeepGRU` -- a bidirectional GRU over the 128 channels of a normalised
  spectrum, a per-channel linear layer and a sigmoid: the denoised
  spectrum. Trained with L1.
* `ResNetRegressor` -- a ResNet-18-like regressor on 64x64 focused
  cut-outs (stem convolution, max-pool, four stages of two basic blocks,
  adaptive *max* pooling as in the paper, a two-layer head). Four copies,
  one per quantity (FWHM x, FWHM y, PA, flux); the PA network has two
  outputs, ``cos 2PA`` and ``sin 2PA``, so that 0 and 180 degrees are the
  same angle (the original regressed the angle itself, which is
  discontinuous at the wrap). The original's ReLU *before* the residual sum
  and the double down-sampling of its second stage are not reproduced.

* `ResNetEnsemble` -- several `ResNetRegressor` of one quantity (members
  fine-tuned with other batches or bootstrap samples), their outputs
  averaged: for the flux network, whose output is a log, the geometric mean.
  Not in DeepFocus. A ``config`` with ``members`` builds one
  (``ResNetRegressor.from_config`` dispatches), so a registry file holding
  an ensemble loads where a single ResNet did.

Every network has a ``config`` dict (stored with the weights) and
``from_config``. Widths are configurable; `CPU_CONFIGS` is the small variant
that trains on a CPU in minutes, `PAPER_CONFIGS` the published sizes.
Array order: images ``(batch, 1, y, x)``, spectra ``(batch, channels)``.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .defaults import CPU_CONFIGS, NETWORK_NAMES, PAPER_CONFIGS

__all__ = ["BlobsFinder", "DeepGRU", "ResNetRegressor", "ResNetEnsemble", "dssim", "NETWORK_NAMES", "CPU_CONFIGS",
           "PAPER_CONFIGS"]

def _norm(channels, kind):
    """Batch norm (the paper) or group norm (4 groups: no train/eval difference, any batch size)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(math.gcd(4, channels), channels)


def _double_conv(cin, cout, stride, slope, norm="batch"):
    """Conv3x3 (stride) -> LeakyReLU -> norm -> Conv3x3 -> LeakyReLU -> norm (the Blobs Finder block)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
        nn.LeakyReLU(slope, inplace=True),
        _norm(cout, norm),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(slope, inplace=True),
        _norm(cout, norm),
    )


class _UpBlock(nn.Module):
    """Bilinear x2 upsampling and a stride-2 transposed convolution (and a skip), concatenated, then a double conv."""

    def __init__(self, cin, cout, slope, skip=0, norm="batch"):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        self.conv = _double_conv(cin + cout + skip, cout, 1, slope, norm)

    def forward(self, x, skip=None):
        up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        parts = [up, self.deconv(x)] + ([] if skip is None else [skip])
        return self.conv(torch.cat(parts, dim=1))


class BlobsFinder(nn.Module):
    """2D convolutional autoencoder: integrated dirty image -> integrated clean image, both in [0, 1].

    Parameters
    ----------
    inputs : sequence of str
        The input images, one channel each (see
        `~astro_mlfinder.neural.models.deepfocus.focus.blobs_input`):
        ``'sum'`` (the integrated image, the paper's only input) and
        ``'peak'`` (the maximum over channels of the cube smoothed over a
        few channels, in units of its noise), which lifts lines a few
        channels wide that the integration over the whole band dilutes.
    widths : sequence of int
        Channels of the encoder blocks (8, 16, 32, 64 in the paper); each
        halves the image, so the side must be divisible by ``2**len(widths)``.
    hidden : int
        Size of the fully connected bottleneck (1024 in the paper); 0 keeps
        the bottleneck convolutional (any image size).
    image_size : int or None
        Side of the (square) images; needed when ``hidden > 0``.
    negative_slope : float
        Slope of the LeakyReLUs.
    skips : bool
        Concatenate each encoder block's output into the decoder block of
        the same scale (a U-Net; the paper has no skips). Much faster to
        train, which the small CPU variant needs.
    norm : {'batch', 'group'}
        Normalisation layers: batch norm (the paper) or group norm (no
        difference between training and inference statistics).
    """

    def __init__(self, inputs=("sum",), widths=(8, 16, 32, 64), hidden=0, image_size=None, negative_slope=0.01,
                 skips=False, norm="batch"):
        super().__init__()
        inputs = [str(i) for i in inputs]
        if not inputs or set(inputs) - {"sum", "peak"}:
            raise ValueError(f"BlobsFinder inputs must be a non-empty list of 'sum' and 'peak', got {inputs}")
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"BlobsFinder widths must be at least two positive ints, got {widths}")
        hidden = int(hidden)
        if hidden < 0:
            raise ValueError(f"BlobsFinder hidden must be >= 0, got {hidden}")
        factor = 2 ** len(widths)
        if hidden and (image_size is None or int(image_size) % factor):
            raise ValueError(f"BlobsFinder with a fully connected bottleneck needs image_size divisible by {factor}, "
                             f"got {image_size}")
        if norm not in ("batch", "group"):
            raise ValueError(f"BlobsFinder norm must be 'batch' or 'group', got {norm!r}")
        self.config = {"inputs": inputs, "widths": widths, "hidden": hidden,
                       "image_size": None if image_size is None else int(image_size),
                       "negative_slope": float(negative_slope), "skips": bool(skips), "norm": norm}
        self.divisor = factor
        slope = float(negative_slope)
        blocks, cin = [], len(inputs)
        for w in widths:
            blocks.append(_double_conv(cin, w, 2, slope, norm))
            cin = w
        self.encoder = nn.ModuleList(blocks)
        self.bottleneck = None
        if hidden:
            side = int(image_size) // factor
            n = widths[-1] * side * side
            self._bottleneck_shape = (widths[-1], side, side)
            self.bottleneck = nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.LeakyReLU(slope, inplace=True),
                                            nn.Linear(hidden, n), nn.LeakyReLU(slope, inplace=True))
        rev = widths[::-1]
        self.decoder = nn.ModuleList(_UpBlock(a, b, slope, b if skips else 0, norm)
                                     for a, b in zip(rev[:-1], rev[1:], strict=True))
        self.final = _double_conv(widths[0], widths[0], 1, slope, norm)
        self.head = nn.Conv2d(widths[0], 1, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, a=slope, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, config):
        """Build a network from its ``config`` dict (as stored with the weights)."""
        return cls(**dict(config))

    def forward(self, x):
        """The predicted clean image ``(n, 1, y, x)`` in [0, 1] of a batch ``(n, len(inputs), y, x)``."""
        if x.dim() != 4:
            raise ValueError(f"BlobsFinder expects a (batch, channel, y, x) tensor, got shape {tuple(x.shape)}")
        if x.shape[-1] % self.divisor or x.shape[-2] % self.divisor:
            raise ValueError(f"BlobsFinder needs image sides divisible by {self.divisor}, got {tuple(x.shape[-2:])}")
        features = []
        for block in self.encoder:
            x = block(x)
            features.append(x)
        if self.bottleneck is not None:
            if tuple(x.shape[1:]) != self._bottleneck_shape:
                size = self.config["image_size"]
                raise ValueError(f"this BlobsFinder has a fully connected bottleneck for {size}x{size} images")
            x = self.bottleneck(x).view(x.shape[0], *self._bottleneck_shape)
        for block, skip in zip(self.decoder, features[-2::-1], strict=True):
            x = block(x, skip if self.config["skips"] else None)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return torch.sigmoid(self.head(self.final(x)))


class DeepGRU(nn.Module):
    """Bidirectional GRU denoising a normalised spectrum: ``(n, channels)`` -> ``(n, channels)`` in [0, 1].

    Parameters
    ----------
    hidden : int
        Hidden size of each direction (32 in the paper).
    layers : int
        Stacked bidirectional layers (1 in the paper's code).
    dropout : float
        Dropout between stacked layers (no effect with one layer).
    """

    def __init__(self, hidden=32, layers=1, dropout=0.0):
        super().__init__()
        if int(hidden) < 1 or int(layers) < 1:
            raise ValueError(f"DeepGRU hidden and layers must be >= 1, got {hidden}, {layers}")
        self.config = {"hidden": int(hidden), "layers": int(layers), "dropout": float(dropout)}
        self.gru = nn.GRU(1, int(hidden), num_layers=int(layers), bidirectional=True, batch_first=True,
                          dropout=float(dropout) if int(layers) > 1 else 0.0)
        self.head = nn.Linear(2 * int(hidden), 1)

    @classmethod
    def from_config(cls, config):
        """Build a network from its ``config`` dict (as stored with the weights)."""
        return cls(**dict(config))

    def forward(self, x):
        """Denoised spectra ``(n, channels)`` of normalised spectra ``(n, channels)`` or ``(n, channels, 1)``."""
        if x.dim() == 3 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.dim() != 2:
            raise ValueError(f"DeepGRU expects spectra of shape (batch, channels), got {tuple(x.shape)}")
        out, _ = self.gru(x.unsqueeze(-1))
        return torch.sigmoid(self.head(out))[..., 0]


class _BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)), inplace=True)


class ResNetRegressor(nn.Module):
    """ResNet-18-like regressor of a 64x64 focused cut-out: ``(n, in_channels, y, x)`` -> ``(n, out_features)``.

    Parameters
    ----------
    in_channels : int
        Input channels (1).
    widths : sequence of int
        Channels of the four stages (64, 128, 256, 512 in the paper); every
        stage after the first halves the image.
    blocks : int
        Basic blocks per stage (2: ResNet-18).
    head : int
        Hidden size of the two-layer head (128 in the paper).
    out_features : int
        Outputs (1; 2 for the PA network: cos 2PA, sin 2PA).
    """

    def __init__(self, in_channels=1, widths=(64, 128, 256, 512), blocks=2, head=128, out_features=1):
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1 or int(blocks) < 1 or int(head) < 1 or int(out_features) < 1:
            raise ValueError(f"ResNetRegressor needs positive widths, blocks, head and out_features, got "
                             f"{widths}, {blocks}, {head}, {out_features}")
        self.config = {"in_channels": int(in_channels), "widths": widths, "blocks": int(blocks), "head": int(head),
                       "out_features": int(out_features)}
        self.stem = nn.Sequential(nn.Conv2d(int(in_channels), widths[0], 3, padding=1, bias=False),
                                  nn.MaxPool2d(3, stride=2, padding=1), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(int(blocks)):
                layers.append(_BasicBlock(cin, w, 2 if (i > 0 and b == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Sequential(nn.Linear(cin, int(head)), nn.ReLU(inplace=True),
                                nn.Linear(int(head), int(out_features)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @classmethod
    def from_config(cls, config):
        """Build a network from its ``config`` dict (as stored with the weights).

        A config with ``members`` (a list of configs) builds a `ResNetEnsemble`.
        """
        config = dict(config)
        if "members" in config:
            return ResNetEnsemble.from_config(config)
        return cls(**config)

    def forward(self, x):
        """Regressed values ``(n, out_features)`` of cut-outs ``(n, in_channels, y, x)``."""
        if x.dim() != 4:
            raise ValueError(f"ResNetRegressor expects a (batch, channel, y, x) tensor, got shape {tuple(x.shape)}")
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class ResNetEnsemble(nn.Module):
    """Several `ResNetRegressor` of one quantity; the output is the mean of theirs.

    Parameters
    ----------
    members : sequence of dict
        The members' ``config`` dicts (at least one, the same ``out_features``).
    """

    def __init__(self, members):
        super().__init__()
        members = [dict(c) for c in members]
        if not members or any("members" in c for c in members):
            raise ValueError("ResNetEnsemble needs a non-empty list of ResNetRegressor configs as members")
        outs = {int(c.get("out_features", 1)) for c in members}
        if len(outs) != 1:
            raise ValueError(f"ResNetEnsemble members must have the same out_features, got {sorted(outs)}")
        self.members = nn.ModuleList(ResNetRegressor(**c) for c in members)
        self.config = {"members": [m.config for m in self.members]}

    @classmethod
    def from_config(cls, config):
        """Build an ensemble from its ``config`` dict (``{'members': [config, ...]}``)."""
        return cls(dict(config)["members"])

    @classmethod
    def of(cls, networks):
        """An ensemble holding copies of the trained `ResNetRegressor` ``networks`` (their weights)."""
        nets = list(networks)
        ens = cls([n.config for n in nets])
        for member, net in zip(ens.members, nets, strict=True):
            member.load_state_dict(net.state_dict())
        return ens

    def forward(self, x):
        """The members' mean output ``(n, out_features)`` of cut-outs ``(n, in_channels, y, x)``."""
        return torch.stack([m(x) for m in self.members]).mean(0)


def _gaussian_window(size, sigma, device, dtype):
    r = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def dssim(x, y, window=3, sigma=1.5, data_range=1.0):
    """Structural dissimilarity ``(1 - SSIM) / 2`` of image batches ``(n, 1, y, x)`` in [0, data_range], averaged.

    The Gaussian-window SSIM of Wang et al. (2004) with constants
    ``(0.01 R)^2`` and ``(0.03 R)^2``, computed over the valid part of the
    image (the loss the paper adds to L1, window 3).
    """
    w = _gaussian_window(int(window), float(sigma), x.device, x.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mx * mx
    syy = F.conv2d(y * y, w) - my * my
    sxy = F.conv2d(x * y, w) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return ((1 - ssim) / 2).mean()
