"""The detectron2 trainer of this project: TinyCOCOEvaluator for evaluation, multi-process
training on GPUs or on CPU (gloo), and the SR-TOD metrics in every log."""
import os
from unittest import mock

from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import DefaultTrainer
from detectron2.engine import defaults as d2_defaults

from ..data import TinyDatasetMapper
from ..evaluation import AITOD, TinyCOCOEvaluator
from .checkpoint import make_atomic
from .sliced import SlicedInferenceModel, build_sliced_test_loader


_create_ddp_model = d2_defaults.create_ddp_model


def _ddp_for_any_device(model, **kwargs):
    # detectron2 passes device_ids=[local_rank], which DistributedDataParallel rejects for a CPU
    # model; CPU processes (gloo) must leave device_ids unset.
    if next(model.parameters()).device.type == "cpu":
        kwargs["device_ids"] = None
    return _create_ddp_model(model, **kwargs)


def threshold_param_group(optimizer, params, lr_scale: float = 1.0):
    """Move ``params`` into param groups of their own with weight decay 0 and the group's
    learning rate times ``lr_scale`` (other settings kept).

    Weight decay pulls the SR-TOD threshold towards 0, a mask of all ones, even in the reference
    mode where it gets no gradient and must stay where it was initialised. With a surrogate
    gradient, the threshold is one scalar that every pixel's gradient feeds: at the detector's
    learning rate it leaves its useful range within tens of iterations (docs/benchmarks.md).
    """
    ids = {id(p) for p in params}
    for group in list(optimizer.param_groups):
        moved = [p for p in group["params"] if id(p) in ids]
        if moved and (group.get("weight_decay", 0) != 0 or lr_scale != 1.0):
            group["params"] = [p for p in group["params"] if id(p) not in ids]
            optimizer.add_param_group({**{k: v for k, v in group.items() if k != "params"},
                                       "params": moved, "weight_decay": 0.0,
                                       "lr": group["lr"] * lr_scale})
    optimizer.param_groups[:] = [g for g in optimizer.param_groups if g["params"]]
    return optimizer


class Trainer(DefaultTrainer):
    """DefaultTrainer with the AI-TOD evaluator and CPU multi-process support."""

    def __init__(self, cfg):
        with mock.patch.object(d2_defaults, "create_ddp_model", _ddp_for_any_device):
            super().__init__(cfg)
        # The periodic-checkpoint hook shares this checkpointer, so its saves are atomic too.
        make_atomic(self.checkpointer)

    @classmethod
    def build_optimizer(cls, cfg, model):
        optimizer = super().build_optimizer(cfg, model)
        thresholds = [p for n, p in model.named_parameters() if n.endswith("enhancement.threshold")]
        return threshold_param_group(optimizer, thresholds, cfg.MODEL.SRTOD.THRESHOLD_LR_SCALE)

    @classmethod
    def build_train_loader(cls, cfg):
        # Our mapper reads 16-bit, palette, RGBA and grayscale images as 3-channel 8-bit.
        return build_detection_train_loader(cfg, mapper=TinyDatasetMapper(cfg, True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        if cfg.TEST.SLICED.ENABLED:
            # Frames at native resolution: the tiles get the test-time resize, not the frame.
            return build_sliced_test_loader(cfg, dataset_name)
        return build_detection_test_loader(cfg, dataset_name, mapper=TinyDatasetMapper(cfg, False))

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        if cfg.TEST.SLICED.ENABLED and not isinstance(model, SlicedInferenceModel):
            model = SlicedInferenceModel(model, cfg)
        return super().test(cfg, model, evaluators)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        # AP is read at min(TEST.DETECTIONS_PER_IMAGE, 1500): AI-TOD's protocol stops at 1500
        # even where the configs keep 3000 detections per image.
        return TinyCOCOEvaluator(
            dataset_name,
            output_dir=output_folder,
            max_dets_per_image=min(cfg.TEST.DETECTIONS_PER_IMAGE, AITOD.max_dets[-1]),
        )
