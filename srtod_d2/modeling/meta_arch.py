"""Meta-architectures that add SR-TOD's reconstruction loss to detectron2's detectors."""
import re
from contextlib import contextmanager
from typing import Dict, List, Sequence, Tuple

import torch

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN, RetinaNet
from detectron2.utils.events import get_event_storage


# For each loss, the config keys that most often send it to NaN/inf, for the error message.
_LOSS_SUSPECTS = {
    "loss_recon": "MODEL.SRTOD.RECON_LOSS_WEIGHT or SOLVER.BASE_LR",
    "loss_rpn_cls": "SOLVER.BASE_LR (or a longer SOLVER.WARMUP_ITERS)",
    "loss_rpn_loc": "SOLVER.BASE_LR or MODEL.ANCHOR_GENERATOR.SIZES (anchors far from the objects)",
    "loss_cls": "SOLVER.BASE_LR (or a longer SOLVER.WARMUP_ITERS)",
    "loss_box_reg": "SOLVER.BASE_LR or MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS / MODEL.RETINANET.BBOX_REG_LOSS_TYPE",
}


def check_finite_losses(losses: Dict[str, torch.Tensor], iteration: int, threshold: torch.Tensor = None):
    """Raise FloatingPointError naming the iteration, the loss and the config key most likely at
    fault, before a non-finite value reaches the weights."""
    if threshold is not None and not torch.isfinite(threshold).all():
        raise FloatingPointError(
            f"iteration {iteration}: the SR-TOD threshold became {threshold.item()}; most likely at fault: "
            "MODEL.SRTOD.THRESHOLD_STE_TAU (too small for THRESHOLD_GRAD='ste') or SOLVER.BASE_LR"
        )
    for name, value in losses.items():
        if not torch.isfinite(value).all():
            suspect = _LOSS_SUSPECTS.get(re.sub(r"_stage\d+$", "", name), "SOLVER.BASE_LR")
            raise FloatingPointError(
                f"iteration {iteration}: {name} = {value.detach().cpu().tolist()} is not finite; "
                f"most likely at fault: {suspect}. All losses: "
                + ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in losses.items())
            )


def _check_inputs(batched_inputs, channels: int):
    # A wrong channel count would otherwise fail deep inside normalisation with a broadcast error.
    for i, x in enumerate(batched_inputs):
        image = x.get("image") if isinstance(x, dict) else None
        if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != channels:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(
                f"batched_inputs[{i}]['image'] must be a ({channels}, H, W) tensor, got {shape}; "
                "for grayscale, RGBA or 16-bit arrays use srtod_d2.Predictor, which converts them"
            )
        if image.shape[1] == 0 or image.shape[2] == 0:
            raise ValueError(f"batched_inputs[{i}]['image'] is empty: shape {tuple(image.shape)}")


def masked_mse(recon: torch.Tensor, image: torch.Tensor, image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
    """Mean squared error over the real area of each image: the zero padding detectron2 adds to
    batch images of different sizes is no part of the image, so it must not be reconstructed."""
    mask = torch.zeros_like(recon[:, :1])
    for i, (h, w) in enumerate(image_sizes):
        mask[i, :, :h, :w] = 1
    return ((recon - image) ** 2 * mask).sum() / (mask.sum() * recon.shape[1])


class SRTODMixin:
    """Shared by the SR-TOD meta-architectures: put before a detectron2 detector in the bases.
    The detector's own forward runs unchanged; its backbone (an ``SRTODFPN``) leaves the maps
    in ``srtod_outputs``, from which this adds ``loss_recon`` in training."""

    @configurable
    def __init__(self, *, recon_loss_weight: float = 1.0, map_warmup_iters: int = 0, **kwargs):
        """
        Args:
            recon_loss_weight: weight of ``loss_recon``.
            map_warmup_iters: in training, DGFE applies ``min(1, iteration / map_warmup_iters)``
                of the map (0: all of it from the start, as the paper); always all at inference.
            kwargs: arguments of the detectron2 detector.
        """
        super().__init__(**kwargs)
        if map_warmup_iters < 0:
            raise ValueError(f"MODEL.SRTOD.MAP_WARMUP_ITERS must be >= 0, got {map_warmup_iters}")
        self.recon_loss_weight = recon_loss_weight
        self.map_warmup_iters = int(map_warmup_iters)
        self._captured = None

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        ret["recon_loss_weight"] = cfg.MODEL.SRTOD.RECON_LOSS_WEIGHT
        ret["map_warmup_iters"] = cfg.MODEL.SRTOD.MAP_WARMUP_ITERS
        return ret

    @property
    def srtod_enabled(self) -> bool:
        return hasattr(self.backbone, "enhancement")

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        _check_inputs(batched_inputs, len(self.pixel_mean))
        if self.srtod_enabled:
            self.backbone.enhancement.map_weight = self._map_weight()
        out = super().forward(batched_inputs)
        if self.srtod_enabled:
            self._add_srtod_outputs(batched_inputs, out)
        if self.training:
            threshold = self.backbone.enhancement.threshold if self.srtod_enabled else None
            check_finite_losses(out, get_event_storage().iter, threshold)
        return out

    def _map_weight(self) -> float:
        # Early in training the head reconstructs nothing, so its map marks most of the image and
        # then moves as the head learns; a warm-up lets the detector learn on P2 * attention first.
        if not self.training or self.map_warmup_iters == 0:
            return 1.0
        return min(1.0, get_event_storage().iter / self.map_warmup_iters)

    def preprocess_image(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        images = super().preprocess_image(batched_inputs)
        if self.srtod_enabled:
            # the median threshold base reads each image's own pixels, not its batch's padding
            self.backbone.image_sizes = list(images.image_sizes)
        return images

    def _add_srtod_outputs(self, batched_inputs, out):
        maps = self.backbone.srtod_outputs
        if maps is None:  # eval on sampled pixels only: nothing to add
            return
        # Full-resolution maps are large: the backbone does not keep them past this call.
        self.backbone.srtod_outputs = None
        sizes = [tuple(x["image"].shape[-2:]) for x in batched_inputs]
        t = float(self.backbone.enhancement.effective_threshold().detach())
        if self.training:
            out["loss_recon"] = self.recon_loss_weight * masked_mse(maps["recon"], maps["image"], sizes)
            storage = get_event_storage()
            storage.put_scalar("srtod/threshold_255", t * 255, smoothing_hint=False)
            if self.map_warmup_iters:
                storage.put_scalar("srtod/map_weight", self.backbone.enhancement.map_weight, smoothing_hint=False)
        if self._captured is not None:
            for i, (h, w) in enumerate(sizes):
                self._captured.append({
                    "image": maps["image"][i, :, :h, :w].detach().cpu(),
                    "recon": maps["recon"][i, :, :h, :w].detach().cpu(),
                    "diff": maps["diff"][i, 0, :h, :w].detach().cpu(),
                    "binary": maps["binary"][i, 0, :h, :w].detach().cpu(),
                    "threshold": t,
                })

    @contextmanager
    def capture_maps(self):
        """Within the block, every forward pass appends one dict per image to the yielded list:
        CPU tensors at the network's input resolution (after the test-time resize), cropped to
        the image: ``image`` and ``recon`` (3, H, W) RGB in [0, 1], ``diff`` and ``binary``
        (H, W), and ``threshold`` (float, image units). Works around any caller of the model,
        ``DefaultPredictor`` included."""
        if not self.srtod_enabled:
            raise RuntimeError("SR-TOD maps need MODEL.SRTOD.ENABLED=True: this model has none")
        self._captured = []
        self.backbone.keep_full_maps = True
        try:
            yield self._captured
        finally:
            self._captured = None
            self.backbone.keep_full_maps = False

    @torch.no_grad()
    def inference_with_maps(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """Detections and SR-TOD maps in one pass (eval mode, inputs as for ``forward``).

        Returns:
            (results, maps): ``results`` as ``forward`` returns them, ``maps`` one dict per
            image as described in :meth:`capture_maps`.
        """
        if self.training:
            raise RuntimeError("inference_with_maps is for eval mode: call model.eval() first")
        with self.capture_maps() as maps:
            results = self(batched_inputs)
        return results, maps


@META_ARCH_REGISTRY.register()
class SRTODRCNN(SRTODMixin, GeneralizedRCNN):
    """GeneralizedRCNN (Faster or Cascade R-CNN, by ``ROI_HEADS.NAME``) with SR-TOD."""


@META_ARCH_REGISTRY.register()
class SRTODRetinaNet(SRTODMixin, RetinaNet):
    """RetinaNet with SR-TOD."""
