"""The ConvoSource network (Lukic, de Gasperin & Brueggen 2020): a small fully convolutional 2D CNN.

Re-implementation from the paper's description (and ../shared/reference/seed_models.md
section 4.2): three 'same'-padded convolutions of 16, 32 and 64 filters with
7x7, 5x5 and 3x3 kernels and ReLU, dropout 0.25 after the first, then a
per-pixel dense layer (a 1x1 convolution) to one output per pixel; the
sigmoid of that output is the probability that a source sits on the pixel.
No pooling: the output has the input's resolution, and any image size is
accepted. 32,193 parameters.

The network returns *logits* (the sigmoid is applied by the loss and at
inference), the convention of every network in `astro_mlfinder.neural`.
Array order is (batch, channel, y, x).
"""

import torch
from torch import nn

__all__ = ["ConvoSourceNet"]


class ConvoSourceNet(nn.Module):
    """Fully convolutional per-pixel source detector.

    Parameters
    ----------
    in_channels : int
        Input channels (1: a continuum image).
    filters : tuple of int
        Filters of the three convolutions (16, 32, 64 in ConvoSource).
    kernels : tuple of int
        Kernel sizes of the three convolutions (7, 5, 3 in ConvoSource).
    dropout : float
        Dropout rate after the first convolution (0.25 in ConvoSource).
    prior : float
        Initial probability of the output (bias of the last layer set to
        ``logit(prior)``), so that training on very sparse targets starts
        calm instead of at 0.5 everywhere.
    """

    #: Tile sizes need not be multiples of anything (no pooling).
    divisor = 1

    def __init__(self, in_channels=1, filters=(16, 32, 64), kernels=(7, 5, 3), dropout=0.25, prior=0.01):
        super().__init__()
        filters = tuple(int(f) for f in filters)
        kernels = tuple(int(k) for k in kernels)
        if len(filters) != len(kernels) or not filters:
            raise ValueError(f"filters {filters} and kernels {kernels} must have the same, non-zero length")
        if any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"kernels must be odd and positive ('same' padding), got {kernels}")
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not 0 < float(prior) < 1:
            raise ValueError(f"prior must be in (0, 1), got {prior}")
        self.config = {
            "in_channels": int(in_channels),
            "filters": list(filters),
            "kernels": list(kernels),
            "dropout": float(dropout),
            "prior": float(prior),
        }
        layers = []
        channels = int(in_channels)
        for i, (f, k) in enumerate(zip(filters, kernels, strict=True)):
            layers += [nn.Conv2d(channels, f, k, padding=k // 2), nn.ReLU(inplace=True)]
            if i == 0 and dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            channels = f
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, 1, 1)
        nn.init.constant_(self.head.bias, float(torch.logit(torch.tensor(float(prior)))))

    @classmethod
    def from_config(cls, config):
        """Build a network from its ``config`` dict (as stored with the weights)."""
        return cls(**dict(config))

    @property
    def receptive_field(self):
        """Side, in pixels, of the square of input pixels that an output pixel sees."""
        return 1 + sum(k - 1 for k in self.config["kernels"])

    def forward(self, x):
        """Logits ``(n, 1, y, x)`` of a batch ``(n, in_channels, y, x)``."""
        if x.dim() != 4:
            raise ValueError(f"ConvoSourceNet expects a (batch, channel, y, x) tensor, got shape {tuple(x.shape)}")
        return self.head(self.features(x))
