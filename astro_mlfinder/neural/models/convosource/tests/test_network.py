"""The ConvoSource network: architecture, shapes, receptive field, configuration errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astro_mlfinder.neural.models.convosource.network import ConvoSourceNet  # noqa: E402


def test_architecture_matches_the_paper():
    net = ConvoSourceNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 1]
    assert [c.kernel_size for c in convs] == [(7, 7), (5, 5), (3, 3), (1, 1)]
    drops = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 1 and drops[0].p == 0.25
    assert sum(p.numel() for p in net.parameters()) == 32_193  # as in Lukic et al.
    assert net.receptive_field == 13


@pytest.mark.parametrize("shape", [(50, 50), (37, 64), (13, 101)])
def test_output_has_the_input_shape(shape):
    net = ConvoSourceNet().eval()
    out = net(torch.zeros((2, 1, *shape)))
    assert out.shape == (2, 1, *shape)
    # initial output is the prior probability on empty sky
    prob = torch.sigmoid(out)
    assert float(prob.detach().mean()) == pytest.approx(0.01, rel=0.5)


def test_receptive_field_is_13_pixels():
    torch.manual_seed(0)
    net = ConvoSourceNet().eval()
    with torch.no_grad():  # positive weights: every path contributes, no ReLU cancellation hides a pixel
        for p in net.parameters():
            p.copy_(p.abs() + 0.01)
    x = torch.zeros((1, 1, 41, 41), requires_grad=True)
    net(x)[0, 0, 20, 20].backward()
    touched = np.argwhere(x.grad[0, 0].numpy() != 0)
    assert touched.min(axis=0).tolist() == [14, 14]
    assert touched.max(axis=0).tolist() == [26, 26]


def test_config_round_trip_and_errors():
    net = ConvoSourceNet(filters=(8, 16, 32), kernels=(5, 3, 3), dropout=0.1)
    again = ConvoSourceNet.from_config(net.config)
    assert again.config == net.config
    assert again.receptive_field == 9
    with pytest.raises(ValueError, match="odd"):
        ConvoSourceNet(kernels=(6, 5, 3))
    with pytest.raises(ValueError, match="same, non-zero length"):
        ConvoSourceNet(filters=(16, 32), kernels=(7, 5, 3))
    with pytest.raises(ValueError, match="dropout"):
        ConvoSourceNet(dropout=1.0)
    with pytest.raises(ValueError, match=r"\(batch, channel, y, x\)"):
        net(torch.zeros((1, 50, 50)))


def test_named_configurations_and_dilation():
    from astro_mlfinder.neural.models.convosource.network import CONFIGURATIONS

    paper = ConvoSourceNet.from_config(CONFIGURATIONS["paper"])
    assert paper.config == ConvoSourceNet().config and paper.receptive_field == 13
    deep = ConvoSourceNet.from_config(CONFIGURATIONS["deep"])
    assert deep.config["dilations"] == [1, 1, 1, 3]
    assert deep.receptive_field == 19
    assert ConvoSourceNet.from_config(deep.config).config == deep.config
    assert deep(torch.zeros((1, 1, 37, 50))).shape == (1, 1, 37, 50)
    with torch.no_grad():  # the dilated layer sees exactly 19 x 19 input pixels
        for p in deep.parameters():
            p.copy_(p.abs() + 0.01)
    x = torch.zeros((1, 1, 41, 41), requires_grad=True)
    deep.eval()(x)[0, 0, 20, 20].backward()
    touched = np.argwhere(x.grad[0, 0].numpy() != 0)
    assert touched.min(axis=0).tolist() == [11, 11] and touched.max(axis=0).tolist() == [29, 29]
    with pytest.raises(ValueError, match="dilations"):
        ConvoSourceNet(dilations=(1, 2))
