"""The ``hi_reliability`` network: a small 3D CNN that scores one candidate's cut-out (needs PyTorch)."""

import torch
from torch import nn

from .features import N_CHANNELS, N_SCALARS

__all__ = ["ReliabilityCNN"]


def _block(c_in, c_out):
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv3d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    )


class ReliabilityCNN(nn.Module):
    """Three convolution blocks (pooling by 2 after each), global mean and max pooling, and a small MLP
    that also reads the candidate's scalar features; one logit per candidate.

    Parameters
    ----------
    channels : int
        Width of the first block (doubled by each following block).
    in_channels, n_scalars : int
        Cut-out channels and scalar features
        (`~astro_mlfinder.neural.models.hi_reliability.features`).
    hidden : int
        Width of the MLP.
    dropout : float
        Dropout before the last layer.
    """

    def __init__(self, channels=12, in_channels=N_CHANNELS, n_scalars=N_SCALARS, hidden=64, dropout=0.2):
        super().__init__()
        self.config = dict(channels=int(channels), in_channels=int(in_channels), n_scalars=int(n_scalars),
                           hidden=int(hidden), dropout=float(dropout))
        c = int(channels)
        self.features = nn.Sequential(
            _block(in_channels, c), nn.MaxPool3d(2),
            _block(c, 2 * c), nn.MaxPool3d(2),
            _block(2 * c, 4 * c), nn.MaxPool3d(2),
        )
        self.scalars = nn.Sequential(nn.Linear(n_scalars, 16), nn.ReLU(inplace=True))
        self.head = nn.Sequential(
            nn.Linear(8 * c + 16, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, 1),
        )

    def forward(self, cutouts, scalars):
        """Logits ``(n,)`` of cut-outs ``(n, C, z, y, x)`` and scalars ``(n, S)``."""
        h = self.features(cutouts)
        pooled = torch.cat([h.mean(dim=(2, 3, 4)), h.amax(dim=(2, 3, 4))], dim=1)
        return self.head(torch.cat([pooled, self.scalars(scalars)], dim=1)).squeeze(1)
