"""The PAIS network (Morpheus-Deblend, Hausen & Robertson 2022): one encoder, two decoders.

Re-implementation in PyTorch from the paper and ../shared/reference/seed_models.md
section 5.2 (the "v9" design of ryanhausen/morpheus-deblend):

* **encoder** -- ``len(filters)`` residual down-sampling stages (two residual
  blocks each; the first strided by 2 with a strided 3x3 convolution as
  shortcut), every stage's output kept;
* **fast attention** (Hu et al. 2020) on every encoder output: L2-normalised
  1x1 query and key, a 1x1 value, ``(1/N) Q (K^T V)`` without softmax, a 3x3
  convolution and the value as residual;
* **spatial decoder** (A) -- fuse-up from the coarsest level: upsample x2,
  ReLU, dropout, add the attention output of the level, 3x3 convolution; a
  final x2 upsampling to the input resolution; heads for the
  centre-of-mass heatmap (1 channel, logits) and the claim vectors (``2 k``);
* **attribution decoder** (B) -- at every level a **stop-gradient**
  (``detach``) copy of decoder A's fused features concatenated with the
  encoder features, embedded by a 3x3 convolution, its own fast attention and
  fuse-up; head for the claim-map logits (``k`` channels, softmax over the
  ``k`` claims). The claim-map loss therefore trains decoder B and the
  encoder, never decoder A.

One addition to the published design: the heads also see the input image
at full resolution (concatenated to the decoder output), because the
decoders end at half resolution and nearest upsampling would give two
neighbouring pixels the same claim vector.

`PAISNet.forward` returns ``(com_logits (n, 1, y, x), vectors (n, k, 2, y, x),
claim_logits (n, k, y, x))``; `PAISNet.stacked` the same as one
``(n, 1 + 3k, y, x)`` tensor (for tiled inference). Input sizes must be
multiples of `PAISNet.divisor` (``2 ** len(filters)``).
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["PAISNet", "FastAttention", "ResDown"]


def _conv_bn(cin, cout, k=3, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.BatchNorm2d(cout))


class ResDown(nn.Module):
    """Two residual blocks, the first halving the resolution (strided 3x3 shortcut)."""

    def __init__(self, cin, cout, dropout=0.1):
        super().__init__()
        self.a1 = _conv_bn(cin, cout, stride=2)
        self.a2 = _conv_bn(cout, cout)
        self.short = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.b1 = _conv_bn(cout, cout)
        self.b2 = _conv_bn(cout, cout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        h = self.drop(F.relu(self.drop(self.a1(x))))
        h = self.drop(self.a2(h))
        x = F.relu(h + self.short(x))
        h = self.drop(self.b2(F.relu(self.b1(x))))
        return F.relu(h + x)


class FastAttention(nn.Module):
    """Adaptive fast attention: ``(1/N) Q (K^T V)`` with L2-normalised Q, K and a residual value."""

    def __init__(self, channels, qk_channels=None):
        super().__init__()
        qk = int(qk_channels or channels)
        self.q = _conv_bn(channels, qk, k=1)
        self.k = _conv_bn(channels, qk, k=1)
        self.v = _conv_bn(channels, channels, k=1)
        self.out = _conv_bn(channels, channels)

    def forward(self, x):
        n, c, h, w = x.shape
        q = F.normalize(self.q(x).flatten(2), dim=1)  # (n, c', N)
        k = F.normalize(self.k(x).flatten(2), dim=1)
        v_res = self.v(x)
        v = F.relu(v_res).flatten(2)  # (n, c, N)
        npix = h * w
        if q.shape[1] * npix < npix * npix:  # Q (K^T V): O(N c' c)
            att = torch.einsum("bkn,bcn->bkc", k, v)
            att = torch.einsum("bkn,bkc->bcn", q, att) / npix
        else:  # (Q K^T) V
            att = torch.einsum("bkn,bkm->bnm", q, k)
            att = torch.einsum("bnm,bcm->bcn", att, v) / npix
        att = F.relu(self.out(att.reshape(n, c, h, w)))
        return att + v_res


class _FuseUp(nn.Module):
    """Coarse-to-fine fusion of per-level features; returns the full-resolution output and the fused levels."""

    def __init__(self, filters, out_channels, dropout=0.1):
        super().__init__()
        n = len(filters)
        self.first = _conv_bn(filters[-1], filters[-2]) if n > 1 else _conv_bn(filters[-1], out_channels)
        self.convs = nn.ModuleList(
            _conv_bn(filters[i], filters[i - 1] if i > 0 else out_channels) for i in range(n - 2, -1, -1)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, feats):
        fused = [None] * len(feats)
        fused[-1] = feats[-1]
        x = self.first(feats[-1])
        for conv, i in zip(self.convs, range(len(feats) - 2, -1, -1), strict=True):
            x = self.drop(F.relu(F.interpolate(x, scale_factor=2, mode="nearest")))
            x = x + feats[i]
            fused[i] = x
            x = conv(x)
        return F.interpolate(x, scale_factor=2, mode="nearest"), fused


class _Head(nn.Module):
    def __init__(self, cin, width, cout):
        super().__init__()
        self.pre = nn.Conv2d(cin, width, 5, padding=2)
        self.out = nn.Conv2d(width, cout, 1)

    def forward(self, x):
        return self.out(F.relu(self.pre(x)))


class PAISNet(nn.Module):
    """Encoder with fast attention, a spatial and an attribution decoder (PAIS / Morpheus-Deblend v9).

    Parameters
    ----------
    in_channels : int
        Input bands (1).
    filters : tuple of int
        Channels of the encoder stages, fine to coarse ((8, 16, 32, 32) in PAIS).
    head_width : int
        Channels of the decoders' full-resolution output and of the heads'
        5x5 pre-convolutions (32 in PAIS).
    k : int
        Nearest sources per pixel (3 in PAIS).
    dropout : float
        Dropout rate (0.1 in PAIS).
    vector_scale : float
        The claim-vector head's output is multiplied by this (pixels), so that
        offsets of tens of pixels are reached with weights of order 1.
    """

    def __init__(self, in_channels=1, filters=(8, 16, 32, 32), head_width=32, k=3, dropout=0.1, vector_scale=8.0):
        super().__init__()
        filters = tuple(int(f) for f in filters)
        if not filters or any(f < 1 for f in filters):
            raise ValueError(f"filters must be a non-empty sequence of positive ints, got {filters}")
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.config = {"in_channels": int(in_channels), "filters": list(filters), "head_width": int(head_width),
                       "k": int(k), "dropout": float(dropout), "vector_scale": float(vector_scale)}
        self.k = int(k)
        self.vector_scale = float(vector_scale)
        chans = (int(in_channels),) + filters
        self.encoder = nn.ModuleList(ResDown(chans[i], chans[i + 1], dropout) for i in range(len(filters)))
        self.att_a = nn.ModuleList(FastAttention(f) for f in filters)
        self.fuse_a = _FuseUp(filters, head_width, dropout)
        self.embed_b = nn.ModuleList(
            nn.Sequential(_conv_bn(2 * f, f), nn.ReLU(inplace=True)) for f in filters
        )
        self.att_b = nn.ModuleList(FastAttention(f) for f in filters)
        self.fuse_b = _FuseUp(filters, head_width, dropout)
        # the heads also see the input at full resolution (the decoders end at half resolution, upsampled)
        cin_head = head_width + int(in_channels)
        self.com_head = _Head(cin_head, head_width, 1)
        self.vec_head = _Head(cin_head, head_width, 2 * self.k)
        self.map_head = _Head(cin_head, head_width, self.k)
        nn.init.constant_(self.com_head.out.bias, -4.0)  # a sparse heatmap: start near 0

    #: Multiple of which the input sizes must be (set per instance: 2 ** number of stages).
    @property
    def divisor(self):
        """Input sizes must be multiples of this (``2 ** len(filters)``)."""
        return 2 ** len(self.config["filters"])

    @classmethod
    def from_config(cls, config):
        """Build a network from its ``config`` dict (as stored with the weights)."""
        return cls(**dict(config))

    def forward(self, x):
        """``(com_logits, vectors, claim_logits)`` of a batch ``(n, in_channels, y, x)``."""
        if x.dim() != 4:
            raise ValueError(f"PAISNet expects a (batch, channel, y, x) tensor, got shape {tuple(x.shape)}")
        d = self.divisor
        if x.shape[-2] % d or x.shape[-1] % d:
            raise ValueError(f"PAISNet input sizes must be multiples of {d}, got {tuple(x.shape[-2:])}")
        feats = []
        h = x
        for stage in self.encoder:
            h = stage(h)
            feats.append(h)
        out_a, fused_a = self.fuse_a([att(f) for att, f in zip(self.att_a, feats, strict=True)])
        feats_b = [
            att(embed(torch.cat([fa.detach(), f], dim=1)))
            for att, embed, fa, f in zip(self.att_b, self.embed_b, fused_a, feats, strict=True)
        ]
        out_b, _ = self.fuse_b(feats_b)
        n, _, hh, ww = x.shape
        out_a = torch.cat([out_a, x], dim=1)
        out_b = torch.cat([out_b, x], dim=1)
        com = self.com_head(out_a)
        vec = self.vec_head(out_a).reshape(n, self.k, 2, hh, ww) * self.vector_scale
        maps = self.map_head(out_b)
        return com, vec, maps

    def stacked(self, x):
        """The outputs as one ``(n, 1 + 3k, y, x)`` tensor: heatmap logit, claim vectors, claim-map logits."""
        com, vec, maps = self(x)
        n, _, hh, ww = x.shape
        return torch.cat([com, vec.reshape(n, 2 * self.k, hh, ww), maps], dim=1)

    @staticmethod
    def split(stacked, k):
        """Split a `stacked` array/tensor ``(..., 1 + 3k, y, x)`` into ``(com_logits, vectors, claim_logits)``."""
        com = stacked[..., :1, :, :]
        vec = stacked[..., 1 : 1 + 2 * k, :, :]
        vec = vec.reshape(*vec.shape[:-3], k, 2, *vec.shape[-2:])
        maps = stacked[..., 1 + 2 * k : 1 + 3 * k, :, :]
        return com, vec, maps
