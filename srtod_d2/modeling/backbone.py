"""ResNet-FPN whose stride-4 level is enhanced by SR-TOD before any head sees it."""
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import BACKBONE_REGISTRY, FPN, build_resnet_backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool, LastLevelP6P7

from .enhancement import DifferenceMapEnhancement, difference_map
from .reconstruction import EfficientReconstructionHead, ReconstructionHead

HEADS = ("reference", "efficient")


def _fpn_kwargs(cfg, input_shape: ShapeSpec) -> dict:
    bottom_up = build_resnet_backbone(cfg, input_shape)
    out_channels = cfg.MODEL.FPN.OUT_CHANNELS
    top = cfg.MODEL.SRTOD.FPN_TOP_BLOCK
    if top == "maxpool":
        top_block = LastLevelMaxPool()
    elif top == "p6p7":
        top_block = LastLevelP6P7(bottom_up.output_shape()["res5"].channels, out_channels)
    else:
        raise ValueError(f"MODEL.SRTOD.FPN_TOP_BLOCK must be 'maxpool' or 'p6p7', got {top!r}")
    return dict(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=out_channels,
        norm=cfg.MODEL.FPN.NORM,
        top_block=top_block,
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )


def build_reconstruction_head(cfg, in_channels: int, stride: int) -> nn.Module:
    """The head named by ``MODEL.SRTOD.HEAD`` for a feature of ``in_channels`` at ``stride``."""
    name = cfg.MODEL.SRTOD.HEAD
    if name == "reference":
        head = ReconstructionHead(in_channels, cfg.MODEL.SRTOD.HEAD_CHANNELS)
    elif name == "efficient":
        head = EfficientReconstructionHead(in_channels, cfg.MODEL.SRTOD.EFFICIENT_CHANNELS, stride,
                                           kernel_size=cfg.MODEL.SRTOD.EFFICIENT_KERNEL)
    else:
        raise ValueError(f"MODEL.SRTOD.HEAD must be one of {HEADS}, got {name!r}")
    if head.scale != stride:
        raise ValueError(
            f"MODEL.SRTOD.HEAD={name!r} upsamples x{head.scale} but MODEL.SRTOD.IN_FEATURE="
            f"{cfg.MODEL.SRTOD.IN_FEATURE!r} has stride {stride}"
        )
    return head


class SRTODFPN(FPN):
    """detectron2's FPN plus a reconstruction head and DGFE on one level (``p2``). Every FPN
    state-dict key is unchanged, so stock ResNet-FPN checkpoints load; the SR-TOD parameters
    live under ``recon_head.`` and ``enhancement.``.

    After each forward, ``srtod_outputs`` holds the reconstruction, the input image recovered in
    [0, 1] RGB, the difference map and the binary map (padded batch size, full resolution), for
    the meta-architecture's loss and for visualisation. In eval mode with a head that has
    ``forward_sampled`` (the efficient head) and the nearest resize, the head computes only the
    pixels the resize reads (same detections, see ``_samples_only``) and ``srtod_outputs`` is
    None unless ``keep_full_maps`` is set (``capture_maps()`` sets it).
    """

    @configurable
    def __init__(self, *, recon_head: nn.Module, enhancement: DifferenceMapEnhancement,
                 in_feature: str, pixel_mean, pixel_std, input_format: str, **fpn_kwargs):
        """
        Args:
            recon_head: maps ``in_feature`` to an image at input resolution.
            enhancement: the DGFE module applied to ``in_feature``.
            in_feature: FPN output that is reconstructed from and enhanced.
            pixel_mean, pixel_std: the model's input normalisation (``MODEL.PIXEL_MEAN/STD``).
            input_format: "BGR" or "RGB", channel order of the network input.
            fpn_kwargs: arguments of :class:`detectron2.modeling.FPN`.
        """
        super().__init__(**fpn_kwargs)
        if in_feature not in self._out_features:
            raise ValueError(f"MODEL.SRTOD.IN_FEATURE={in_feature!r} is not an FPN output {self._out_features}")
        if input_format not in ("BGR", "RGB"):
            raise ValueError(f"SR-TOD reconstructs 3-channel images: INPUT.FORMAT must be BGR or RGB, got {input_format!r}")
        self.recon_head = recon_head
        self.enhancement = enhancement
        self.in_feature = in_feature
        self.input_format = input_format
        # Not persistent: the checkpoint keys stay those of a stock FPN plus SR-TOD's modules.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        self.srtod_outputs: Optional[Dict[str, torch.Tensor]] = None
        # Set by the meta-architecture's capture_maps(): compute full-resolution maps in eval too.
        self.keep_full_maps = False
        # Set by the meta-architecture before each forward (the padded batch's image sizes) and
        # used once: a backbone called on its own treats the whole input as image.
        self.image_sizes: Optional[List[Tuple[int, int]]] = None

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        fpn_kwargs = _fpn_kwargs(cfg, input_shape)
        sr = cfg.MODEL.SRTOD
        strides = {f"p{i}": 2 ** i for i in range(2, 8)}
        if sr.IN_FEATURE not in strides:
            raise ValueError(f"MODEL.SRTOD.IN_FEATURE must be an FPN level p2..p7, got {sr.IN_FEATURE!r}")
        stride = strides[sr.IN_FEATURE]
        channels = cfg.MODEL.FPN.OUT_CHANNELS
        return dict(
            recon_head=build_reconstruction_head(cfg, channels, stride),
            enhancement=DifferenceMapEnhancement(
                channels=channels,
                threshold_init=sr.THRESHOLD_INIT,
                threshold_grad=sr.THRESHOLD_GRAD,
                ste_tau=sr.THRESHOLD_STE_TAU,
                threshold_range=tuple(sr.THRESHOLD_RANGE),
                reduction=sr.REWEIGHT_REDUCTION,
                mask_resize=sr.MASK_RESIZE,
                threshold_base=sr.THRESHOLD_BASE,
                mask_dilation=sr.MASK_DILATION,
                map_dropout=sr.MAP_DROPOUT,
            ),
            in_feature=sr.IN_FEATURE,
            pixel_mean=cfg.MODEL.PIXEL_MEAN,
            pixel_std=cfg.MODEL.PIXEL_STD,
            input_format=cfg.INPUT.FORMAT,
            **fpn_kwargs,
        )

    def recover_image(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the model's normalisation: network input -> RGB image in [0, 1]."""
        image = (x * self.pixel_std + self.pixel_mean) / 255.0
        if self.input_format == "BGR":
            image = image.flip(1)
        return image

    def _samples_only(self, x: torch.Tensor, feature: torch.Tensor) -> bool:
        # A nearest resize from (s*h, s*w) to (h, w) reads pixel (s*i, s*j) and no other, so at
        # inference the head need only produce those pixels. Training needs the whole image for
        # the loss, and callers of capture_maps() want every pixel to look at.
        s = self.recon_head.scale
        return (not self.training and not self.keep_full_maps
                and self.enhancement.mask_resize == "nearest"
                and hasattr(self.recon_head, "forward_sampled")
                and tuple(x.shape[-2:]) == (s * feature.shape[-2], s * feature.shape[-1]))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        sizes, self.image_sizes = self.image_sizes, None
        if sizes is not None and len(sizes) != x.shape[0]:
            sizes = None
        features = super().forward(x)
        feature = features[self.in_feature]
        if self._samples_only(x, feature):
            s = self.recon_head.scale
            diff = difference_map(self.recon_head.forward_sampled(feature), self.recover_image(x[..., ::s, ::s]))
            sampled = [(-(-h // s), -(-w // s)) for h, w in sizes] if sizes else None
            features[self.in_feature] = self.enhancement.enhance(
                feature, self.enhancement.binarize(diff, image_sizes=sampled))
            self.srtod_outputs = None
            return features
        image = self.recover_image(x)
        # Inputs padded to the FPN's size divisibility reconstruct exactly; others are cropped.
        recon = self.recon_head(feature)[..., : x.shape[-2], : x.shape[-1]]
        diff = difference_map(recon, image)
        features[self.in_feature], binary = self.enhancement(feature, diff, image_sizes=sizes)
        self.srtod_outputs = {"recon": recon, "image": image, "diff": diff, "binary": binary}
        return features


@BACKBONE_REGISTRY.register()
def build_srtod_resnet_fpn_backbone(cfg, input_shape: ShapeSpec):
    """ResNet-FPN with SR-TOD on ``MODEL.SRTOD.IN_FEATURE``; the plain FPN (same keys, same
    top block) when ``MODEL.SRTOD.ENABLED`` is off, so baselines differ in that one key."""
    if not cfg.MODEL.SRTOD.ENABLED:
        return FPN(**_fpn_kwargs(cfg, input_shape))
    return SRTODFPN(cfg, input_shape)
