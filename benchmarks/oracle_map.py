"""Control run: SR-TOD whose binary map is drawn from the ground-truth boxes, a perfect map.

Everything else is the reference SR-TOD model (the reconstruction head still trains on its loss,
DGFE still reweights P2 by ``M = Reweighting(P2) * (map + 1)``); only the map fed to DGFE is 1 on
every pixel a box covers and 0 elsewhere, in training and at test time. Its AP is therefore not a
detector's result: it shows whether DGFE can use a map at all. It is no bound on what a better
reconstruction could give where the data holds unlabelled look-alikes of the objects: the map
then also carries the labels' object-versus-clutter decision, which no image-only map has (handed
to a model at test time only, it adds as much AP as training with it; docs/benchmarks.md, session 10).

    .venv/bin/python benchmarks/oracle_map.py --config-file configs/Synthetic/srtod_faster_rcnn_R18_quickstart.yaml \\
        MODEL.META_ARCHITECTURE OracleMapRCNN MODEL.SRTOD.HEAD reference OUTPUT_DIR /tmp/oracle

bench_gain's ``reference-oracle`` variant runs it with the benchmark's schedule. Arguments are
those of train_net.py. ``LocalMeanInBoxesRCNN`` and ``LocalMeanPlusBoxesRCNN`` mix the box map
with benchmarks/local_mean_map.py's, for ``--eval-only`` of the local-mean models.
"""
import sys
from pathlib import Path
from typing import List
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_net  # noqa: E402
from common import box_map, dgfe_reads, local_mean_batch  # noqa: E402
from detectron2.data import build_detection_test_loader  # noqa: E402
from detectron2.data import detection_utils  # noqa: E402
from detectron2.modeling import META_ARCH_REGISTRY  # noqa: E402

from srtod_d2.data import TinyDatasetMapper  # noqa: E402
from srtod_d2.engine import Trainer  # noqa: E402
from srtod_d2.modeling import SRTODRCNN  # noqa: E402


@META_ARCH_REGISTRY.register()
class OracleMapRCNN(SRTODRCNN):
    """SRTODRCNN whose DGFE reads the ground-truth box map in place of the difference map. Every
    input needs ``instances``, at test time too (:class:`OracleTrainer`'s test loader keeps them)."""

    def forward(self, batched_inputs: List[dict]):
        boxes = ground_truth_boxes(batched_inputs, type(self).__name__)
        with dgfe_reads(self.backbone, lambda x, diff: box_map(boxes, diff.shape).to(diff)):
            return super().forward(batched_inputs)


def ground_truth_boxes(batched_inputs: List[dict], who: str) -> List[torch.Tensor]:
    """Each input's ground-truth boxes (XYXY, in the mapped image's pixels). preprocess_image pads
    each image at its bottom and right only, so they are pixels of the padded batch too."""
    missing = [i for i, x in enumerate(batched_inputs) if "instances" not in x]
    if missing:
        raise ValueError(
            f"{who} draws its map from ground-truth boxes: batched_inputs{missing} have no "
            "'instances' (evaluate with benchmarks/oracle_map.py, whose test loader keeps them)"
        )
    return [x["instances"].gt_boxes.tensor for x in batched_inputs]


class _BoxesAndLocalMeanRCNN(SRTODRCNN):
    """DGFE binarises ``combine(local-mean difference, box map)``. Why: handed the ground-truth
    map at test time, models trained with the local-mean map gain 4-5 AP (docs/benchmarks.md,
    sessions 10 and 12), though on the sky-only set the local-mean map already reaches 94% of the
    boxes at P2 and 68% of its marks are objects. These two split that gap between the objects it
    misses and the marks it makes off the objects."""

    @staticmethod
    def combine(local: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batched_inputs: List[dict]):
        boxes = ground_truth_boxes(batched_inputs, type(self).__name__)
        sizes = [tuple(x["image"].shape[-2:]) for x in batched_inputs]

        def mixed(x, diff):
            return self.combine(local_mean_batch(self.backbone, x, sizes, diff), box_map(boxes, diff.shape).to(diff))

        with dgfe_reads(self.backbone, mixed):
            return super().forward(batched_inputs)


@META_ARCH_REGISTRY.register()
class LocalMeanInBoxesRCNN(_BoxesAndLocalMeanRCNN):
    """The local-mean map with its marks off the boxes removed: only the objects it reaches."""

    @staticmethod
    def combine(local, boxes):
        return local * boxes


@META_ARCH_REGISTRY.register()
class LocalMeanPlusBoxesRCNN(_BoxesAndLocalMeanRCNN):
    """The local-mean map with every box marked too: its off-object marks kept, no object missed
    (a box's 1 is above any threshold)."""

    @staticmethod
    def combine(local, boxes):
        return torch.maximum(local, boxes)


class OracleTrainer(Trainer):
    """The project's Trainer; its test loader keeps the annotations (resized with the image) so
    that the oracle's map exists at test time."""

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        mapper = TinyDatasetMapper(True, augmentations=detection_utils.build_augmentation(cfg, False),
                                   image_format=cfg.INPUT.FORMAT)
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)


if __name__ == "__main__":
    with mock.patch.object(train_net, "Trainer", OracleTrainer):
        train_net.invoke_main()
