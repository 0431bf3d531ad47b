import pytest
import torch
from torch.nn import functional as F

from srtod_d2.modeling import EfficientReconstructionHead, ReconstructionHead


def reference_forward(head, x):
    """The authors' head written out layer by layer: deconv (in -> in/2), two bias-free
    conv3x3+ReLU, twice; conv3x3 + sigmoid."""
    for stage in head.stages:
        deconv, c1, _, c2, _ = stage
        x = F.conv_transpose2d(x, deconv.weight, deconv.bias, stride=2, padding=1)
        x = F.relu(F.conv2d(x, c1.weight, None, padding=1))
        x = F.relu(F.conv2d(x, c2.weight, None, padding=1))
    return torch.sigmoid(F.conv2d(x, head.out_conv.weight, head.out_conv.bias, padding=1))


def test_reference_head_matches_layer_by_layer_computation():
    torch.manual_seed(0)
    head = ReconstructionHead(256, (128, 64))
    x = torch.randn(2, 256, 6, 9)
    out = head(x)
    assert out.shape == (2, 3, 24, 36)
    torch.testing.assert_close(out, reference_forward(head, x), rtol=1e-5, atol=1e-6)
    assert 0 <= out.min() and out.max() <= 1


def test_reference_head_widths_and_bias_free_convs():
    head = ReconstructionHead(256, (128, 64))
    d1, c1, _, c2, _ = head.stages[0]
    assert (d1.in_channels, d1.out_channels, d1.kernel_size, d1.stride) == (256, 128, (4, 4), (2, 2))
    assert c1.bias is None and c2.bias is None and c1.out_channels == 128
    assert head.stages[1][0].out_channels == 64 and head.out_conv.in_channels == 64
    assert head.scale == 4


def test_efficient_head_is_pixel_shuffle_of_feature_resolution_convs():
    torch.manual_seed(0)
    head = EfficientReconstructionHead(64, 16, scale=4)
    x = torch.randn(1, 64, 5, 7)
    out = head(x)
    assert out.shape == (1, 3, 20, 28)
    y = head.out_conv(F.relu(head.conv(x)))  # (1, 48, 5, 7)
    # pixel (4i + a, 4j + b) of channel c comes from channel c*16 + a*4 + b at (i, j)
    c, i, j, a, b = 2, 3, 4, 1, 3
    torch.testing.assert_close(out[0, c, 4 * i + a, 4 * j + b], torch.sigmoid(y[0, c * 16 + a * 4 + b, i, j]))


@pytest.mark.parametrize("scale", [2, 4])
def test_efficient_head_sampled_forward_is_the_top_left_pixel_of_each_block(scale):
    torch.manual_seed(0)
    head = EfficientReconstructionHead(64, 16, scale=scale)
    x = torch.randn(2, 64, 5, 7)
    sampled = head.forward_sampled(x)
    assert sampled.shape == (2, 3, 5, 7)
    torch.testing.assert_close(sampled, head(x)[..., ::scale, ::scale], rtol=0, atol=1e-6)


def test_efficient_head_with_a_1x1_hidden_conv():
    torch.manual_seed(0)
    head = EfficientReconstructionHead(64, 64, scale=4, kernel_size=1)
    assert head.conv.kernel_size == (1, 1) and head.out_conv.kernel_size == (3, 3)
    x = torch.randn(1, 64, 5, 7)
    hidden = F.relu(F.conv2d(x, head.conv.weight, head.conv.bias))
    expected = torch.sigmoid(F.pixel_shuffle(F.conv2d(hidden, head.out_conv.weight, head.out_conv.bias, padding=1), 4))
    torch.testing.assert_close(head(x), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head.forward_sampled(x), expected[..., ::4, ::4], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="EFFICIENT_KERNEL must be 1 or 3, got 5"):
        EfficientReconstructionHead(64, 16, kernel_size=5)
