"""AP on the objects an SR-TOD map marks, and on the objects it misses, for several models.

The first run's model splits a dataset's ground-truth boxes in two: those its binary map leaves a
1 in after DGFE's resize to P2 (with the run's MASK_RESIZE), whose features DGFE doubles, and
the rest. Every run's model is then scored on each half with the AI-TOD metrics, the other half
marked ``iscrowd`` so that a detection on it is neither a hit nor a false positive. Runs of the
same seed with and without the map then say where the map's AP goes: to the objects it marks,
or away from those it misses.

    .venv/bin/python benchmarks/ap_by_map.py [--images N] DATASET SPLIT_RUN [RUN ...]

Each run is a bench_gain run folder (its ``config.yaml`` and ``model_final.pth``); the split
run's model is scored too.
"""
import argparse
import copy
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from detectron2.config import get_cfg  # noqa: E402
from detectron2.data import DatasetCatalog  # noqa: E402
from detectron2.structures import BoxMode  # noqa: E402

from srtod_d2 import Predictor, add_srtod_config  # noqa: E402
from srtod_d2.evaluation import evaluate_coco_json  # noqa: E402
from common import describe_run  # noqa: E402
from difference_map_stats import marked_boxes  # noqa: E402

METRICS = ["AP", "AP50", "AP75", "APvt", "APt", "APs"]


def load_run(run):
    """A Predictor for a bench_gain run folder, on the CPU."""
    run = Path(run)
    for name in ("config.yaml", "model_final.pth"):
        if not (run / name).is_file():
            raise SystemExit(f"{run}: no {name} (pass a bench_gain run folder)")
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(str(run / "config.yaml"))
    cfg.merge_from_list(["MODEL.WEIGHTS", str(run / "model_final.pth"), "MODEL.DEVICE", "cpu"])
    return cfg, Predictor(cfg)


def coco_ground_truth(dicts, num_classes):
    """COCO ground truth of detectron2 dataset dicts: category ids are the contiguous ids + 1,
    areas w * h (the AI-TOD bands), annotation ids in reading order from 1."""
    images, anns = [], []
    for d in dicts:
        images.append({"id": d["image_id"], "width": d["width"], "height": d["height"]})
        for a in d["annotations"]:
            x, y, w, h = BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYWH_ABS)
            anns.append({"id": len(anns) + 1, "image_id": d["image_id"], "category_id": a["category_id"] + 1,
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": int(a.get("iscrowd", 0))})
    return {"images": images, "annotations": anns,
            "categories": [{"id": c, "name": str(c)} for c in range(1, num_classes + 1)]}


def split_ground_truth(gt, marked):
    """Two copies of ``gt``: in the first the unmarked boxes are ``iscrowd`` (ignored), in the
    second the marked ones. ``marked`` maps annotation id -> bool; boxes it lacks (crowds) keep
    their flag in both."""
    halves = []
    for keep in (True, False):
        half = copy.deepcopy(gt)
        for a in half["annotations"]:
            if a["id"] in marked and marked[a["id"]] != keep:
                a["iscrowd"] = 1
        halves.append(half)
    return halves


def coco_detections(instances, image_id):
    """A COCO results list of one image's detectron2 Instances (category ids + 1, as the
    ground truth's)."""
    boxes = BoxMode.convert(instances.pred_boxes.tensor.numpy(), BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
    return [{"image_id": image_id, "category_id": int(c) + 1, "bbox": [float(v) for v in b], "score": float(s)}
            for b, s, c in zip(boxes, instances.scores.numpy(), instances.pred_classes.numpy())]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("runs", nargs="+", help="bench_gain run folders; the first one's map splits the boxes")
    ap.add_argument("--images", type=int, default=0, help="the first N images (default: all)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    print(describe_run())
    dicts = DatasetCatalog.get(args.dataset)
    dicts = dicts[: args.images] if args.images else dicts
    models = [load_run(r) for r in args.runs]
    gt = coco_ground_truth(dicts, models[0][0].MODEL.ROI_HEADS.NUM_CLASSES)
    split_cfg, split_model = models[0]
    if not split_cfg.MODEL.SRTOD.ENABLED:
        raise SystemExit(f"{args.runs[0]}: SR-TOD is off in this run, it has no map to split the boxes by")
    mode = split_cfg.MODEL.SRTOD.MASK_RESIZE
    marked, dets = {}, [[] for _ in models]
    ann_ids = iter(a["id"] for a in gt["annotations"])
    for d in dicts:
        image = cv2.imread(d["file_name"])
        if image is None:
            raise SystemExit(f"{d['file_name']}: cannot read the image")
        with split_model.model.capture_maps() as maps:
            dets[0] += coco_detections(split_model(image)["instances"], d["image_id"])
        binary, threshold = maps[0]["binary"].numpy() > 0, maps[0]["threshold"]
        sy, sx = binary.shape[0] / image.shape[0], binary.shape[1] / image.shape[1]
        boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in d["annotations"]]
        hits = marked_boxes(binary, [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in boxes], mode)
        for a, hit in zip(d["annotations"], hits):
            ann_id = next(ann_ids)
            if not a.get("iscrowd", 0):
                marked[ann_id] = bool(hit)
        for k, (_, model) in enumerate(models[1:], 1):
            dets[k] += coco_detections(model(image)["instances"], d["image_id"])
    halves = split_ground_truth(gt, marked)
    areas = {a["id"]: a["area"] for a in gt["annotations"]}
    print(f"{args.dataset}, {len(dicts)} images; the map of {args.runs[0]} "
          f"(threshold {threshold * 255:.2f}/255, {mode} resize) splits the boxes")
    for name, keep in (("marked", True), ("missed", False)):
        ids = [i for i, m in marked.items() if m == keep]
        # inclusive at both ends, as the evaluator's bands: a box of area 64 counts twice
        bands = [sum(lo <= areas[i] <= hi for i in ids) for lo, hi in ((0, 64), (64, 256), (256, 1024))]
        print(f"  {name}: {len(ids)} boxes (very tiny {bands[0]}, tiny {bands[1]}, small {bands[2]})")
    print("| run | boxes | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for run, run_dets in zip(args.runs, dets):
        for name, half in zip(("marked", "missed"), halves):
            result = evaluate_coco_json(half, run_dets).metrics
            print(f"| {run} | {name} | " + " | ".join(f"{result[m]:.1f}" for m in METRICS) + " |")


if __name__ == "__main__":
    main()
