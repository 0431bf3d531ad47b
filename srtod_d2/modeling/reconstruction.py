"""Reconstruction heads: a stride-4 feature map back to an RGB image in [0, 1].

Imports torch only, so the heads can be dropped into any detector.
"""
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def _upsample_stage(in_channels: int, out_channels: int) -> nn.Sequential:
    # The authors' stage: a x2 transposed convolution, then two bias-free 3x3 conv + ReLU.
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.ReLU(inplace=True),
    )


class ReconstructionHead(nn.Module):
    """The paper's reconstruction head (RH): two x2 upsampling stages and a 3x3 output conv with
    a sigmoid. About 215k multiply-adds per output pixel at the reference widths.

    Args:
        in_channels: channels of the input feature (256 for a standard FPN).
        channels: widths of the upsampling stages (reference: (128, 64)).
        out_channels: channels of the reconstructed image.
    """

    def __init__(self, in_channels: int = 256, channels: Sequence[int] = (128, 64),
                 out_channels: int = 3):
        super().__init__()
        widths = [in_channels, *channels]
        self.stages = nn.Sequential(
            *[_upsample_stage(a, b) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.out_conv = nn.Conv2d(widths[-1], out_channels, 3, padding=1)
        self.scale = 2 ** len(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out_conv(self.stages(x)))


class EfficientReconstructionHead(nn.Module):
    """A cheap head: all convolutions run at feature resolution and a pixel shuffle turns
    channels into the full-resolution image. The detector only consumes the reconstruction
    through a map resized back to feature resolution, so full-resolution convolutions buy little.

    Args:
        in_channels: channels of the input feature.
        channels: width of the hidden convolution.
        scale: upsampling factor (the feature's stride).
        out_channels: channels of the reconstructed image.
        kernel_size: of the hidden convolution, 3 or 1 (a 1x1 conv costs a ninth, so it can be
            as wide as the feature for the price of a narrow 3x3 one).
    """

    def __init__(self, in_channels: int = 256, channels: int = 32, scale: int = 4,
                 out_channels: int = 3, kernel_size: int = 3):
        super().__init__()
        if kernel_size not in (1, 3):
            raise ValueError(f"MODEL.SRTOD.EFFICIENT_KERNEL must be 1 or 3, got {kernel_size!r}")
        self.conv = nn.Conv2d(in_channels, channels, kernel_size, padding=kernel_size // 2)
        self.out_conv = nn.Conv2d(channels, out_channels * scale * scale, 3, padding=1)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out_conv(F.relu(self.conv(x)))
        return torch.sigmoid(F.pixel_shuffle(y, self.scale))

    def forward_sampled(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)[..., ::scale, ::scale]`` without computing the other pixels.

        Pixel shuffle puts output channel ``c * scale**2`` of the last convolution at the
        top-left pixel of each ``scale x scale`` block, so only those channels are convolved:
        at inference the detector reads the reconstruction only where a nearest resize to the
        feature's resolution samples it, one pixel in ``scale**2``.
        """
        keep = torch.arange(0, self.out_conv.out_channels, self.scale * self.scale, device=x.device)
        bias = self.out_conv.bias[keep] if self.out_conv.bias is not None else None
        y = F.conv2d(F.relu(self.conv(x)), self.out_conv.weight[keep], bias, padding=self.out_conv.padding)
        return torch.sigmoid(y)
