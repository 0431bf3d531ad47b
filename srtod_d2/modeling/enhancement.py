"""Difference-map guided feature enhancement (DGFE, Algorithm 1 of the paper).

Imports torch only, so the module can be dropped into any detector.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

THRESHOLD_GRAD_MODES = ("none", "ste")
MASK_RESIZE_MODES = ("nearest", "max")
THRESHOLD_BASES = ("zero", "median")


def difference_map(recon: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Per-pixel mean absolute difference over channels: (N, C, H, W) x2 -> (N, 1, H, W)."""
    return (recon - image).abs().mean(dim=1, keepdim=True)


def dilate_map(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """A binary map (N, 1, h, w) spread by a stride-1 max pool of odd ``kernel`` (1: unchanged);
    what ``MODEL.SRTOD.MASK_DILATION`` applies before DGFE doubles the features."""
    if kernel == 1:
        return mask
    return F.max_pool2d(mask, kernel, stride=1, padding=kernel // 2)


class _SignWithSurrogate(torch.autograd.Function):
    """Forward: the reference binarisation (sign(d - t) + 1) / 2. Backward: the gradient of
    sigmoid((d - t) / tau), sent to t only. The difference map gets none, so the reconstruction
    head stays trained by its own loss alone, as in the paper."""

    @staticmethod
    def forward(ctx, diff, threshold, tau):
        ctx.save_for_backward(diff, threshold)
        ctx.tau = tau
        return (torch.sign(diff - threshold) + 1) / 2

    @staticmethod
    def backward(ctx, grad_out):
        diff, threshold = ctx.saved_tensors
        s = torch.sigmoid((diff - threshold) / ctx.tau)
        grad_t = -(grad_out * s * (1 - s) / ctx.tau).sum().reshape(threshold.shape)
        return None, grad_t, None


class ChannelReweighting(nn.Module):
    """CBAM-style channel attention: sigmoid(MLP(avgpool(x)) + MLP(maxpool(x))), one shared MLP.

    Args:
        channels: channels of the feature map.
        reduction: hidden width of the MLP is channels // reduction.
    """

    def __init__(self, channels: int = 256, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        # Linear layers (not 1x1 convs) so the authors' weights map onto ours one to one.
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3)))
        mx = self.mlp(x.amax(dim=(2, 3)))
        return torch.sigmoid(avg + mx)[:, :, None, None]


class DifferenceMapEnhancement(nn.Module):
    """DGFE: binarise the difference map with a learnable threshold t, resize it to the feature,
    and multiply the feature by ``reweighting(x) * (mask + 1)``.

    Args:
        channels: channels of the enhanced feature.
        threshold_init: initial t in [0, 1] image units.
        threshold_grad: "none" (reference, t never moves) or "ste" (straight-through surrogate).
        ste_tau: temperature of the surrogate sigmoid, in image units.
        threshold_range: t is clamped to [lo, hi] with 0 < lo < hi < 1, so the mask is never
            all ones (every difference is >= 0 > t) nor NaN.
        reduction: reduction of the reweighting MLP.
        mask_resize: "nearest" (reference) or "max" (adaptive max pooling).
        threshold_base: "zero" (reference: a pixel is 1 where d > t) or "median" (where d exceeds
            its image's median difference by more than t).
        mask_dilation: odd kernel of a stride-1 max pool over the map at the feature's
            resolution (1: none).
        map_dropout: in training, the probability that an image's map is replaced by zeros
            (drawn per image and step; 0: never, as the paper).
    """

    def __init__(self, channels: int = 256, threshold_init: float = 4 / 255,
                 threshold_grad: str = "none", ste_tau: float = 2 / 255,
                 threshold_range: Tuple[float, float] = (0.5 / 255, 254.5 / 255),
                 reduction: int = 16, mask_resize: str = "nearest", threshold_base: str = "zero",
                 mask_dilation: int = 1, map_dropout: float = 0.0):
        super().__init__()
        lo, hi = (float(v) for v in threshold_range)
        if not 0 < lo < hi < 1:
            raise ValueError(f"MODEL.SRTOD.THRESHOLD_RANGE must satisfy 0 < lo < hi < 1, got {threshold_range}")
        if not lo <= threshold_init <= hi:
            raise ValueError(
                f"MODEL.SRTOD.THRESHOLD_INIT={threshold_init} is outside THRESHOLD_RANGE {threshold_range}"
                " (it is in [0, 1] image units: 4/255 is 0.0157)"
            )
        if threshold_grad not in THRESHOLD_GRAD_MODES:
            raise ValueError(f"MODEL.SRTOD.THRESHOLD_GRAD must be one of {THRESHOLD_GRAD_MODES}, got {threshold_grad!r}")
        if mask_resize not in MASK_RESIZE_MODES:
            raise ValueError(f"MODEL.SRTOD.MASK_RESIZE must be one of {MASK_RESIZE_MODES}, got {mask_resize!r}")
        if threshold_base not in THRESHOLD_BASES:
            raise ValueError(f"MODEL.SRTOD.THRESHOLD_BASE must be one of {THRESHOLD_BASES}, got {threshold_base!r}")
        if isinstance(mask_dilation, bool) or not isinstance(mask_dilation, int) \
                or mask_dilation < 1 or mask_dilation % 2 == 0:
            raise ValueError(f"MODEL.SRTOD.MASK_DILATION must be an odd integer >= 1, got {mask_dilation!r}")
        if not 0 <= map_dropout < 1:
            raise ValueError(f"MODEL.SRTOD.MAP_DROPOUT must be in [0, 1), got {map_dropout!r}")
        if not ste_tau > 0:
            raise ValueError(f"MODEL.SRTOD.THRESHOLD_STE_TAU must be > 0, got {ste_tau}")
        self.threshold = nn.Parameter(torch.tensor(float(threshold_init)))
        self.threshold_grad = threshold_grad
        self.ste_tau = float(ste_tau)
        self.threshold_range = (lo, hi)
        self.mask_resize = mask_resize
        self.threshold_base = threshold_base
        self.mask_dilation = mask_dilation
        self.map_dropout = float(map_dropout)
        self.reweighting = ChannelReweighting(channels, reduction)
        # How much of the map DGFE applies; the meta-architecture ramps it during a map warm-up
        # (MODEL.SRTOD.MAP_WARMUP_ITERS). Not a parameter or buffer: checkpoints do not hold it.
        self.map_weight = 1.0

    def effective_threshold(self) -> torch.Tensor:
        return self.threshold.clamp(*self.threshold_range)

    def binarize(self, diff: torch.Tensor, median_stride: int = 1,
                 image_sizes: Optional[Sequence[Tuple[int, int]]] = None) -> torch.Tensor:
        """(sign(d - t) + 1) / 2, or with ``threshold_base="median"`` the same for d minus each
        image's median of ``diff[i, :, :h:median_stride, :w:median_stride]``, (h, w) its entry
        in ``image_sizes`` (``diff``'s coordinates; default the whole map)."""
        t = self.effective_threshold()
        median = None
        if self.threshold_base == "median":
            # A reconstruction that is poor everywhere (early in training, on textured
            # background) lifts every pixel over a fixed t; counted from the image's own typical
            # difference, t keeps picking the pixels that reconstruct worse than the rest. The
            # median is taken on the pixels a nearest resize to the feature reads, so the
            # efficient head's sampled fast path (which computes only those) gives the same map,
            # and on the image's own pixels, so its batch's padding does not move it.
            sizes = image_sizes or [tuple(diff.shape[-2:])] * diff.shape[0]
            grid = diff.detach()
            median = torch.stack([grid[i, :, :h:median_stride, :w:median_stride].median()
                                  for i, (h, w) in enumerate(sizes)]).view(-1, 1, 1, 1)
        if self.threshold_grad == "ste" and torch.is_grad_enabled():
            return _SignWithSurrogate.apply(diff if median is None else diff - median, t, self.ste_tau)
        if median is not None:
            t = t + median  # shifting t, not d, saves a pass over the full-resolution map
        return (torch.sign(diff - t) + 1) / 2

    def resize(self, mask: torch.Tensor, size) -> torch.Tensor:
        if self.mask_resize == "max":
            return F.adaptive_max_pool2d(mask, size)
        return F.interpolate(mask, size=size, mode="nearest")

    def forward(self, x: torch.Tensor, diff: torch.Tensor,
                image_sizes: Optional[Sequence[Tuple[int, int]]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Args: x (N, C, h, w) feature; diff (N, 1, H, W) difference map; image_sizes: each
        image's (height, width) inside the padded batch, for the median base.
        Returns the enhanced feature and the binary map at (H, W)."""
        binary = self.binarize(diff, median_stride=max(diff.shape[-2] // x.shape[-2], 1), image_sizes=image_sizes)
        return self.enhance(x, self.resize(binary, x.shape[-2:])), binary

    def enhance(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x * reweighting(x) * (map_weight * mask + 1)`` for a binary ``mask`` (N, 1, h, w)
        already at the feature's resolution, dilated first when ``mask_dilation`` > 1
        (``map_weight`` counts in training only, where a map warm-up sets it; inference always
        applies the whole map, whoever calls the module); in training each image's map is zeros
        with probability ``map_dropout``."""
        # Here, not in resize(): the efficient head's sampled path binarises at the
        # feature's resolution directly and reaches DGFE through enhance() alone.
        mask = dilate_map(mask, self.mask_dilation)
        if self.training and self.map_weight != 1.0:
            mask = mask * self.map_weight
        if self.training and self.map_dropout > 0:
            # A detector that only ever meets objects its map marks learns to score an unmarked
            # one as background (docs/benchmarks.md); images without a map show it unmarked ones.
            keep = torch.rand(mask.shape[0], 1, 1, 1, device=mask.device) >= self.map_dropout
            mask = mask * keep.to(mask.dtype)
        return x * (self.reweighting(x) * (mask + 1))
