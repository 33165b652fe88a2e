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

__all__ = ["CONFIGURATIONS", "ConvoSourceNet"]

#: Named network configurations: ``'paper'`` is ConvoSource as published (13-pixel receptive field);
#: ``'deep'`` adds a fourth 3x3 convolution of 64 filters dilated by 3 (receptive field 19 pixels, about six
#: beams of the SDC1-like images) -- a departure from the paper, for more context around faint peaks.
CONFIGURATIONS = {
    "paper": {"filters": [16, 32, 64], "kernels": [7, 5, 3], "dropout": 0.25, "prior": 0.01},
    "deep": {"filters": [16, 32, 64, 64], "kernels": [7, 5, 3, 3], "dilations": [1, 1, 1, 3], "dropout": 0.25,
             "prior": 0.01},
}


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
    dilations : tuple of int, optional
        Dilation of each convolution (default 1 for all, as in ConvoSource);
        a dilated layer widens the receptive field at no extra cost.
    dropout : float
        Dropout rate after the first convolution (0.25 in ConvoSource).
    prior : float
        Initial probability of the output (bias of the last layer set to
        ``logit(prior)``), so that training on very sparse targets starts
        calm instead of at 0.5 everywhere.
    """

    #: Tile sizes need not be multiples of anything (no pooling).
    divisor = 1

    def __init__(self, in_channels=1, filters=(16, 32, 64), kernels=(7, 5, 3), dropout=0.25, prior=0.01,
                 dilations=None):
        super().__init__()
        filters = tuple(int(f) for f in filters)
        kernels = tuple(int(k) for k in kernels)
        if len(filters) != len(kernels) or not filters:
            raise ValueError(f"filters {filters} and kernels {kernels} must have the same, non-zero length")
        dilations = (1,) * len(kernels) if dilations is None else tuple(int(d) for d in dilations)
        if len(dilations) != len(kernels) or any(d < 1 for d in dilations):
            raise ValueError(f"dilations {dilations} must be positive, one per kernel {kernels}")
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
        if any(d != 1 for d in dilations):   # the paper's configuration keeps its original config dict
            self.config["dilations"] = list(dilations)
        layers = []
        channels = int(in_channels)
        for i, (f, k, d) in enumerate(zip(filters, kernels, dilations, strict=True)):
            layers += [nn.Conv2d(channels, f, k, padding=d * (k // 2), dilation=d), nn.ReLU(inplace=True)]
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
        dilations = self.config.get("dilations") or [1] * len(self.config["kernels"])
        return 1 + sum(d * (k - 1) for k, d in zip(self.config["kernels"], dilations, strict=True))

    def forward(self, x):
        """Logits ``(n, 1, y, x)`` of a batch ``(n, in_channels, y, x)``."""
        if x.dim() != 4:
            raise ValueError(f"ConvoSourceNet expects a (batch, channel, y, x) tensor, got shape {tuple(x.shape)}")
        return self.head(self.features(x))
