"""Segmentation losses: soft Dice, BCE with logits and the HISF mix (Dice + 0.5 BCE)."""

from ._torch import require_torch

__all__ = ["soft_dice", "dice_loss", "bce_loss", "dice_bce_loss", "DiceBCELoss"]

_EPS = 1e-8


def soft_dice(logits, target, eps=_EPS):
    """Soft Dice coefficient per sample.

    ``(2 sum(p y) + eps) / (sum(p) + sum(y) + eps)`` with ``p = sigmoid(logits)``.

    Parameters
    ----------
    logits, target : `torch.Tensor`
        Same shape, (batch, ...); ``target`` in [0, 1].
    eps : float
        Smoothing term (an empty prediction of an empty target gives Dice 1).

    Returns
    -------
    `torch.Tensor`
        Shape (batch,).
    """
    torch = require_torch("soft_dice")
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    p = torch.sigmoid(logits.float()).flatten(1)
    y = target.float().flatten(1)
    return (2 * (p * y).sum(1) + eps) / (p.sum(1) + y.sum(1) + eps)


def dice_loss(logits, target, eps=_EPS):
    """``1 - mean over the batch of soft_dice``."""
    return 1 - soft_dice(logits, target, eps).mean()


def bce_loss(logits, target):
    """Binary cross-entropy with logits, averaged over all voxels."""
    torch = require_torch("bce_loss")
    return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target.float())


def dice_bce_loss(logits, target, bce_weight=0.5, eps=_EPS):
    """HISF training loss: ``dice_loss + bce_weight * bce_loss`` (``bce_weight`` = 0.5)."""
    return dice_loss(logits, target, eps) + bce_weight * bce_loss(logits, target)


def DiceBCELoss(bce_weight=0.5, eps=_EPS):  # noqa: N802 - module factory named like a class
    """Return a `torch.nn.Module` computing `dice_bce_loss` (``loss(logits, target)``)."""
    torch = require_torch("DiceBCELoss")

    class _DiceBCELoss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bce_weight = float(bce_weight)
            self.eps = float(eps)

        def forward(self, logits, target):
            return dice_bce_loss(logits, target, self.bce_weight, self.eps)

        def extra_repr(self):
            return f"bce_weight={self.bce_weight}"

    return _DiceBCELoss()
