import math

import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.losses import (  # noqa: E402
    DiceBCELoss,
    bce_loss,
    dice_bce_loss,
    dice_loss,
    soft_dice,
)


def test_loss_values_on_known_inputs():
    target = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    logits = torch.zeros_like(target)  # p = 0.5 everywhere
    # soft Dice = 2 * (0.5 + 0.5) / (2 + 2) = 0.5 ; BCE = log 2
    assert math.isclose(float(soft_dice(logits, target)), 0.5, rel_tol=1e-6)
    assert math.isclose(float(dice_loss(logits, target)), 0.5, rel_tol=1e-6)
    assert math.isclose(float(bce_loss(logits, target)), math.log(2), rel_tol=1e-6)
    assert math.isclose(float(dice_bce_loss(logits, target)), 0.5 + 0.5 * math.log(2), rel_tol=1e-6)
    assert math.isclose(float(DiceBCELoss()(logits, target)), 0.5 + 0.5 * math.log(2), rel_tol=1e-6)


def test_loss_limits_and_batch_mean():
    target = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    perfect = (target * 2 - 1) * 50.0
    assert float(dice_bce_loss(perfect, target)) < 1e-6
    wrong = -perfect
    assert float(dice_loss(wrong, target)) > 0.999
    # Dice is computed per sample and averaged over the batch
    per_sample = soft_dice(torch.zeros_like(target), target)
    assert per_sample.shape == (2,)
    assert math.isclose(
        float(dice_loss(torch.zeros_like(target), target)),
        1 - float(per_sample.mean()),
        rel_tol=1e-6,
    )
    # an empty target predicted empty has Dice 1 (smoothing term)
    assert math.isclose(float(soft_dice(torch.full((1, 4), -100.0), torch.zeros(1, 4))), 1.0, rel_tol=1e-4)
    with pytest.raises(ValueError, match="shape"):
        soft_dice(torch.zeros(1, 3), torch.zeros(1, 4))


def test_loss_gradient_flows():
    logits = torch.zeros(2, 1, 4, 4, 4, requires_grad=True)
    target = torch.zeros(2, 1, 4, 4, 4)
    target[:, :, 1:3, 1:3, 1:3] = 1
    dice_bce_loss(logits, target).backward()
    assert logits.grad is not None
    assert float(logits.grad[0, 0, 2, 2, 2]) < 0 < float(logits.grad[0, 0, 0, 0, 0])
