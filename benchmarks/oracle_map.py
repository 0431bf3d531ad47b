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
those of train_net.py.
"""
import sys
from pathlib import Path
from typing import List
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_net  # noqa: E402
from common import box_map, dgfe_reads  # noqa: E402
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
        missing = [i for i, x in enumerate(batched_inputs) if "instances" not in x]
        if missing:
            raise ValueError(
                f"OracleMapRCNN draws its map from ground-truth boxes: batched_inputs{missing} have no "
                "'instances' (evaluate with benchmarks/oracle_map.py, whose test loader keeps them)"
            )
        # preprocess_image pads each image at its bottom and right only, so boxes in the mapped
        # image's pixels are pixels of the padded batch.
        boxes = [x["instances"].gt_boxes.tensor for x in batched_inputs]
        with dgfe_reads(self.backbone, lambda x, diff: box_map(boxes, diff.shape).to(diff)):
            return super().forward(batched_inputs)


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
