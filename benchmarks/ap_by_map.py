"""AP on the objects an SR-TOD map marks, and on the objects it misses, for several models.

The first run's model splits a dataset's ground-truth boxes in two: those its binary map leaves a
1 in after DGFE's resize to P2 (with the run's MASK_RESIZE and MASK_DILATION), whose features
DGFE doubles, and the rest. Every run's model is then scored on each half with the AI-TOD
metrics, the other half marked ``iscrowd`` so that a detection on it is neither a hit nor a false
positive, and on all boxes, as train_net scores it. Runs of the same seed with and without the
map then say where the map's AP goes: to the objects it marks, or away from those it misses.

    .venv/bin/python benchmarks/ap_by_map.py [--images N] [--by size] DATASET SPLIT_RUN [RUN[@MAP] ...]

Each run is a bench_gain run folder (its ``config.yaml`` and ``model_final.pth``); the split
run's model is scored too. ``RUN@MAP`` scores an SR-TOD run with another map swapped in for its
own at test time (:data:`TEST_TIME_MAPS`: the ground-truth boxes, crowds included, its own map
plus the boxes, zeros, ones, its own reconstruction's map, a random map), which asks directly
whether a map-trained model takes a marked cell as evidence of an object: marking the objects
its own map misses should then raise their scores. Besides AP, per half: how each model's boxes
fit the objects they find (:func:`box_fit`) and how confidently it finds them
(:func:`found_scores`); per run: its confident detections that touch no box
(:func:`background_detections`) and the share of them on a P2 cell the split map marks, i.e.
whether the map's false marks become false detections.

``--by size`` groups the boxes by the AI-TOD area bands instead (very tiny, tiny, small, medium;
each box in one band), so that the same tables say whether a change of AP on a band is boxes
not found, found with lower scores, or found with looser boxes; the first run then needs no map.
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
from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402
from detectron2.data.datasets.coco import convert_to_coco_dict  # noqa: E402
from detectron2.evaluation.coco_evaluation import instances_to_coco_json  # noqa: E402
from detectron2.structures import Boxes, BoxMode, pairwise_iou  # noqa: E402

from srtod_d2 import Predictor, add_srtod_config  # noqa: E402
from srtod_d2.evaluation import evaluate_coco_json  # noqa: E402
from srtod_d2.evaluation.protocol import AITOD  # noqa: E402
from common import box_map, describe_run, dgfe_reads  # noqa: E402
from difference_map_stats import boxes_on_cells, p2_cells  # noqa: E402
from random_map import RANDOM_MAP_DENSITY, random_map  # noqa: E402  (also registers RandomMapRCNN)

METRICS = ["AP", "AP50", "AP75", "APvt", "APt", "APs"]
# Box fit reads the detections a deployment would keep, not the long tail AP ranks.
FIT_MIN_SCORE = 0.3


# What DGFE binarises in a run given as RUN@MAP, from its own difference map ``diff`` and the
# image's ground-truth box map ``boxes`` (1 on every pixel a box touches). A 1 is above and a 0
# below any threshold the model can hold (THRESHOLD_RANGE lies inside (0, 1)).
TEST_TIME_MAPS = {
    "boxes": lambda diff, boxes: boxes,
    "own+boxes": lambda diff, boxes: torch.maximum(diff, boxes),
    "zeros": lambda diff, boxes: torch.zeros_like(diff),
    "ones": lambda diff, boxes: torch.ones_like(diff),
    # the run's own reconstruction's map: for a run trained on another map (RandomMapRCNN), the
    # map its head would have handed DGFE
    "own": lambda diff, boxes: diff,
    # a map of the density RandomMapRCNN trains on, drawn anew per image: scores such a run on the
    # kind of map it was trained with, where its own test-time map (ones) is another
    f"random{round(RANDOM_MAP_DENSITY * 100)}": lambda diff, boxes: random_map(diff),
}
# Controls that differ from SRTODRCNN only in the map they hand DGFE. Their own hook runs after a
# swap's and would undo it, so under RUN@MAP they load as SRTODRCNN, the swap deciding the map.
MAP_ONLY_CONTROLS = ("RandomMapRCNN",)


def parse_run(spec):
    """``RUN[@MAP]`` -> (RUN, MAP or None), MAP checked against :data:`TEST_TIME_MAPS`."""
    run, sep, map_name = spec.rpartition("@") if "@" in spec else (spec, "", "")
    if sep and map_name not in TEST_TIME_MAPS:
        raise SystemExit(f"{spec}: unknown test-time map {map_name!r}; choose one of {sorted(TEST_TIME_MAPS)}")
    return run, map_name or None


def predict(predictor, image, boxes, map_name=None):
    """``predictor``'s instances on ``image``; with ``map_name``, DGFE binarises that test-time map
    (``boxes``: the image's ground truth, XYXY in its own pixels, resized as the predictor resizes it)."""
    if map_name is None:
        return predictor(image)["instances"]
    resized = predictor.aug.get_transform(image).apply_box(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    resized = torch.as_tensor(resized, dtype=torch.float32)
    make = TEST_TIME_MAPS[map_name]
    with dgfe_reads(predictor.model.backbone, lambda x, diff: make(diff, box_map([resized], diff.shape).to(diff))):
        return predictor(image)["instances"]


def load_run(run, map_name=None):
    """A Predictor for a bench_gain run folder, on the CPU."""
    run = Path(run)
    for name in ("config.yaml", "model_final.pth"):
        if not (run / name).is_file():
            raise SystemExit(f"{run}: no {name} (pass a bench_gain run folder)")
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(str(run / "config.yaml"))
    cfg.merge_from_list(["MODEL.WEIGHTS", str(run / "model_final.pth"), "MODEL.DEVICE", "cpu"])
    if map_name is not None and not cfg.MODEL.SRTOD.ENABLED:
        raise SystemExit(f"{run}@{map_name}: SR-TOD is off in this run, it has no map to swap")
    if map_name is not None and cfg.MODEL.SRTOD.THRESHOLD_BASE != "zero":
        raise SystemExit(f"{run}@{map_name}: MODEL.SRTOD.THRESHOLD_BASE is {cfg.MODEL.SRTOD.THRESHOLD_BASE!r}; "
                         "a swapped map is only meaningful against a fixed threshold ('zero')")
    if map_name is not None and cfg.MODEL.META_ARCHITECTURE in MAP_ONLY_CONTROLS:
        cfg.MODEL.META_ARCHITECTURE = "SRTODRCNN"
    return cfg, Predictor(cfg)


def keep_only(gt, ids):
    """A copy of ``gt`` in which every box outside ``ids`` is ``iscrowd`` (ignored: a detection on
    it is neither a hit nor a false positive); crowds stay crowds."""
    group = copy.deepcopy(gt)
    keep = set(ids)
    for a in group["annotations"]:
        if a["id"] not in keep:
            a["iscrowd"] = 1
    return group


def size_groups(gt):
    """{AI-TOD band name: ids of the non-crowd boxes of ``gt`` in it}, each box in the first band
    whose upper bound its area does not pass (the evaluator's bands share their bounds)."""
    bands = sorted(AITOD.area_ranges[1:], key=lambda r: r.high)
    groups = {r.name: [] for r in bands}
    for a in gt["annotations"]:
        if not a.get("iscrowd", 0):
            groups[next((r.name for r in bands if a["area"] <= r.high), bands[-1].name)].append(a["id"])
    return groups


def to_dataset_ids(results, dataset):
    """COCO results of detectron2's contiguous class ids in the dataset's category ids, as
    ``convert_to_coco_dict`` writes the ground truth."""
    mapping = MetadataCatalog.get(dataset).get("thing_dataset_id_to_contiguous_id", None)
    if not mapping:
        return results
    reverse = {v: k for k, v in mapping.items()}
    return [{**r, "category_id": reverse[r["category_id"]]} for r in results]


def _xyxy(xywh_list):
    return BoxMode.convert(torch.tensor(xywh_list, dtype=torch.float64), BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)


def _candidates(dets, min_score):
    """{(image id, category id): (COCO boxes, scores, the boxes as ``Boxes``)} of the detections
    scoring at least ``min_score``; each image's converted once, not once per box compared with."""
    groups = {}
    for d in dets:
        if d["score"] >= min_score:
            boxes, scores = groups.setdefault((d["image_id"], d["category_id"]), ([], []))
            boxes.append(d["bbox"])
            scores.append(d["score"])
    return {key: (boxes, np.array(scores), Boxes(_xyxy(boxes))) for key, (boxes, scores) in groups.items()}


def _pairs(anns, ann_ids, candidates):
    """(id, candidate COCO boxes, their scores, their IoUs with the box) for each box of ``ann_ids``
    that has candidates of its class on its image."""
    for i in ann_ids:
        key = (anns[i]["image_id"], anns[i]["category_id"])
        if key in candidates:
            boxes, scores, as_boxes = candidates[key]
            yield i, boxes, scores, pairwise_iou(Boxes(_xyxy([anns[i]["bbox"]])), as_boxes)[0].numpy()


def found_scores(gt, dets, ann_ids):
    """Per box of ``ann_ids``, the highest score among the detections of its class on its image
    that overlap it at IoU >= 0.5 (any score the model kept), 0 where none does: how confidently
    the model finds each object, apart from where it ranks against false positives."""
    anns = {a["id"]: a for a in gt["annotations"]}
    best = dict.fromkeys(ann_ids, 0.0)
    for i, _, scores, iou in _pairs(anns, ann_ids, _candidates(dets, 0.0)):
        hit = scores[iou >= 0.5]
        best[i] = float(hit.max()) if len(hit) else 0.0
    return np.array([best[i] for i in ann_ids])


def background_detections(gt_boxes, det_boxes, det_scores, min_score=FIT_MIN_SCORE, max_iou=0.1):
    """Which detections (XYXY arrays) score at least ``min_score`` and overlap no ground-truth
    box (crowds included) at IoU ``max_iou`` or more: detections on sky, clutter or distractors,
    not poorly placed boxes on an object."""
    keep = np.asarray(det_scores) >= min_score
    if len(gt_boxes) and len(det_boxes):
        iou = pairwise_iou(Boxes(torch.as_tensor(det_boxes, dtype=torch.float32).reshape(-1, 4)),
                           Boxes(torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)))
        keep &= (iou.max(dim=1).values < max_iou).numpy()
    return keep


def box_fit(gt, dets, ann_ids, min_score=FIT_MIN_SCORE):
    """How the boxes that find an object fit it. Each ground-truth box of ``ann_ids`` (ids in
    ``gt``, COCO XYWH) is paired with its best-IoU detection of the same class on its image
    among ``dets`` (COCO results) scoring at least ``min_score``; a pair of IoU >= 0.5 finds it.
    Returns the share of boxes found and, over the found ones, the medians of the IoU, of the
    detection's width and height over the box's, and of the centre offset over sqrt(w * h)."""
    anns = {a["id"]: a for a in gt["annotations"]}
    rows = []
    for i, cands, _, iou in _pairs(anns, ann_ids, _candidates(dets, min_score)):
        k = int(iou.argmax())
        if iou[k] >= 0.5:
            (x, y, w, h), (dx, dy, dw, dh) = anns[i]["bbox"], cands[k]
            offset = np.hypot(dx + dw / 2 - x - w / 2, dy + dh / 2 - y - h / 2) / np.sqrt(w * h)
            rows.append((float(iou[k]), dw / w, dh / h, offset))
    found = np.array(rows).reshape(-1, 4)
    med = np.median(found, axis=0) if len(found) else np.full(4, np.nan)
    # a half without boxes has no share found, as its AP and confidence have none
    return {"found": len(found) / len(ann_ids) if len(ann_ids) else np.nan, "iou": med[0], "width": med[1], "height": med[2],
            "offset": med[3]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("runs", nargs="+", help="bench_gain run folders, each optionally @MAP (a test-time map: "
                    f"{', '.join(TEST_TIME_MAPS)}); the first one's own map splits the boxes")
    ap.add_argument("--images", type=int, default=0, help="the first N images (default: all)")
    ap.add_argument("--by", choices=("map", "size"), default="map",
                    help="group the boxes by the first run's map (default) or by the AI-TOD area bands")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(0)  # a random test-time map is the same on every call
    print(describe_run())
    dicts = DatasetCatalog.get(args.dataset)
    dicts = dicts[: args.images] if args.images else dicts
    specs = [parse_run(r) for r in args.runs]
    if specs[0][1] is not None:
        raise SystemExit(f"{args.runs[0]}: the split run's own map splits the boxes; give it without @MAP")
    models = [load_run(run, map_name) for run, map_name in specs]
    gt = convert_to_coco_dict(args.dataset)  # ids in reading order, as the records hold them
    ann_ids = {}
    for a in gt["annotations"]:
        ann_ids.setdefault(a["image_id"], []).append(a["id"])
    split_cfg, split_model = models[0]
    has_map = split_cfg.MODEL.SRTOD.ENABLED
    if args.by == "map" and not has_map:
        raise SystemExit(f"{args.runs[0]}: SR-TOD is off in this run, it has no map to split the boxes by")
    mode, dilation = split_cfg.MODEL.SRTOD.MASK_RESIZE, split_cfg.MODEL.SRTOD.MASK_DILATION
    marked, dets = {}, [[] for _ in models]
    # per run: detections >= FIT_MIN_SCORE, those on no box, those of them on a cell the map marks
    background = np.zeros((len(models), 3), int)
    marked_cells = total_cells = 0
    for d in dicts:
        image = cv2.imread(d["file_name"])
        if image is None:
            raise SystemExit(f"{d['file_name']}: cannot read the image")
        boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in d["annotations"]]
        if has_map:
            with split_model.model.capture_maps() as maps:
                outputs = [split_model(image)["instances"]]
            binary, threshold = maps[0]["binary"].numpy() > 0, maps[0]["threshold"]
            sy, sx = binary.shape[0] / image.shape[0], binary.shape[1] / image.shape[1]
            # the cells DGFE doubles, once per image for the boxes and every run's detections
            cells = p2_cells(binary, dilation=dilation)[mode]
            marked_cells, total_cells = marked_cells + int(cells.sum()), total_cells + cells.size
        else:
            outputs = [split_model(image)["instances"]]
        outputs += [predict(model, image, boxes, map_name) for (_, model), (_, map_name) in zip(models[1:], specs[1:])]

        def on_map(xyxy):
            if not has_map:  # nothing marked: every box in the missed half, no detection on a mark
                return np.zeros(len(xyxy), bool)
            return boxes_on_cells(cells, [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in xyxy])

        for a, ann_id, hit in zip(d["annotations"], ann_ids.get(d["image_id"], []), on_map(boxes)):
            if not a.get("iscrowd", 0):
                marked[ann_id] = bool(hit)
        for k, inst in enumerate(outputs):
            dets[k] += instances_to_coco_json(inst, d["image_id"])
            xyxy, scores = inst.pred_boxes.tensor.numpy(), inst.scores.numpy()
            bg = background_detections(np.array(boxes).reshape(-1, 4), xyxy, scores)
            background[k] += [int((scores >= FIT_MIN_SCORE).sum()), int(bg.sum()), int(on_map(xyxy[bg]).sum())]
    dets = [to_dataset_ids(run_dets, args.dataset) for run_dets in dets]
    img_ids = [d["image_id"] for d in dicts]
    areas = {a["id"]: a["area"] for a in gt["annotations"]}
    if args.by == "size":
        # the evaluated images' boxes only, as the map's halves hold
        half_ids = {name: [i for i in ids if i in marked] for name, ids in size_groups(gt).items()}
        print(f"{args.dataset}, {len(dicts)} images; the boxes grouped by AI-TOD's area bands")
    else:
        half_ids = {name: [i for i, m in marked.items() if m == keep]
                    for name, keep in (("marked", True), ("missed", False))}
        print(f"{args.dataset}, {len(dicts)} images; the map of {args.runs[0]} "
              f"(threshold {threshold * 255:.2f}/255, {mode} resize) splits the boxes")
    halves = [keep_only(gt, ids) for ids in half_ids.values()]
    for name, ids in half_ids.items():
        # inclusive at both ends, as the evaluator's bands: a box of area 64 counts twice
        bands = [sum(r.low <= areas[i] <= r.high for i in ids) for r in AITOD.area_ranges[1:4]]
        print(f"  {name}: {len(ids)} boxes (very tiny {bands[0]}, tiny {bands[1]}, small {bands[2]})")
    print("| run | boxes | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for run, run_dets in zip(args.runs, dets):
        # "all": the whole set, as train_net evaluates it (a swapped map's AP against the baseline's)
        for name, half in zip((*half_ids, "all"), (*halves, gt)):
            result = evaluate_coco_json(half, run_dets, img_ids=img_ids).metrics
            print(f"| {run} | {name} | " + " | ".join(f"{result[m]:.1f}" for m in METRICS) + " |")
    print(f"box fit (each box's best-IoU detection of score >= {FIT_MIN_SCORE}; found: IoU >= 0.5; "
          "medians over the found)")
    print("| run | boxes | found | IoU | width ratio | height ratio | centre offset / sqrt(wh) |")
    print("|---|---|---|---|---|---|---|")
    for run, run_dets in zip(args.runs, dets):
        for name, ids in half_ids.items():
            fit = box_fit(gt, run_dets, ids)
            print(f"| {run} | {name} | {fit['found']:.3f} | {fit['iou']:.3f} | {fit['width']:.3f} | "
                  f"{fit['height']:.3f} | {fit['offset']:.3f} |")
    print("confidence (each box's highest score among the detections at IoU >= 0.5 with it, 0 where none)")
    print("| run | boxes | median | mean | share >= 0.5 |")
    print("|---|---|---|---|---|")
    for run, run_dets in zip(args.runs, dets):
        for name, ids in half_ids.items():
            sc = found_scores(gt, run_dets, ids)
            print(f"| {run} | {name} | {np.median(sc):.3f} | {sc.mean():.3f} | {(sc >= 0.5).mean():.3f} |")
    print(f"detections on the background (score >= {FIT_MIN_SCORE}, IoU < 0.1 with every box); the split map "
          f"marks {marked_cells / max(total_cells, 1):.4f} of all P2 cells" + ("" if has_map else " (no map)"))
    print("| run | detections per image | on the background per image | of those, on a marked P2 cell |")
    print("|---|---|---|---|")
    for run, (n, bg, bg_marked) in zip(args.runs, background):
        print(f"| {run} | {n / len(dicts):.2f} | {bg / len(dicts):.2f} | {bg_marked / max(bg, 1):.3f} |")


if __name__ == "__main__":
    main()
