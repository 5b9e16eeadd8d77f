"""count_params / count_macs / summary / model_info against hand-computed values."""

from __future__ import annotations

from torch import nn

from tinycim.models import count_macs, count_params, layer_stats, model_info, summary


class _Net(nn.Module):
    default_input_shape = (3, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)  # -> 4x4x4
        self.bn = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)  # depthwise: 9 MACs per output
        self.conv1d = nn.Conv1d(4, 2, 2)  # on [4, 16] -> [2, 15]
        self.fc = nn.Linear(30, 5)

    def forward(self, x):
        x = self.dw(self.bn(self.conv(x)))
        x = self.conv1d(x.flatten(2))
        return self.fc(x.flatten(1))


def test_macs_formula_per_layer():
    rows = {r.name: r for r in layer_stats(_Net())}
    assert rows["conv"].macs == 3 * 3 * 3 * 4 * 4 * 4
    assert rows["dw"].macs == 3 * 3 * 1 * 4 * 4 * 4
    assert rows["conv1d"].macs == 2 * 4 * 2 * 15
    assert rows["fc"].macs == 30 * 5
    assert rows["conv"].out_shape == (4, 4, 4)
    assert count_macs(_Net()) == 1728 + 576 + 240 + 150  # default_input_shape used


def test_count_params_excludes_buffers_and_respects_trainable_only():
    net = _Net()
    expected = 108 + 8 + (36 + 4) + (16 + 2) + (150 + 5)
    assert count_params(net) == expected
    net.fc.weight.requires_grad_(False)
    assert count_params(net, trainable_only=True) == expected - 150


def test_counting_restores_training_mode_and_bn_stats():
    net = _Net().train()
    before = net.bn.running_mean.clone()
    count_macs(net)
    assert net.training and net.bn.num_batches_tracked.item() == 0
    assert (net.bn.running_mean == before).all()


def test_summary_and_model_info():
    text = summary("kws_cnn5")
    assert "Conv2d" in text and "total params" in text
    info = model_info("dscnn_s")
    assert info["params"] == 23_180 and info["input_shape"] == (1, 49, 10)
    # stem 40*64*25*5 + 4 x (dw 9*64*125 + pw 64*64*125) + fc 64*12
    assert info["macs"] == 320_000 + 4 * (72_000 + 512_000) + 768
