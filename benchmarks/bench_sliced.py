#!/usr/bin/env python
"""Full-frame vs sliced inference on synthetic 4K frames with 2-16 px objects.

The same trained model runs on each frame twice: once as detectron2's DefaultPredictor (the frame
resized to INPUT.MIN/MAX_SIZE_TEST) and once as srtod_d2's SlicedPredictor. Both are scored
with pycocotools (AP, AP50, and AP by object size: very tiny 2-8 px, tiny 8-16 px, AI-TOD's
ranges) and timed per frame. Everything needed to reproduce a figure (command line, machine,
versions) is printed with it.

The frames are made here (a textured background with small bright or dark blobs whose boxes are
known), so the benchmark needs no data set. The model is class-agnostic scored by default (every
detection counts as "object"), since its classes need not match the synthetic objects.

Example:
    python benchmarks/bench_sliced.py --config-file configs/Synthetic/srtod_faster_rcnn_R18_tiny.yaml \\
        --frames 20 MODEL.WEIGHTS output/model_final.pth MODEL.DEVICE cuda
"""
import argparse
import contextlib
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import detectron2  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.engine import DefaultPredictor  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

from srtod_d2 import add_srtod_config  # noqa: E402
from srtod_d2.engine.sliced import SlicedPredictor, add_sliced_config, tile_grid  # noqa: E402

# Area ranges in px^2, as AI-TOD defines them by object side: very tiny 2-8, tiny 8-16, small 16-32.
AREA_RANGES = {"all": [0, 1e10], "vt": [0, 8 ** 2], "t": [8 ** 2, 16 ** 2], "s": [16 ** 2, 32 ** 2]}


def make_frame(rng, height, width, num_objects, min_side, max_side):
    """(BGR uint8 frame, list of [x, y, w, h] boxes). Objects do not overlap, and keep a 2 px gap,
    so every box is fully visible."""
    # Low-frequency shading plus pixel noise: a background a detector cannot threshold away.
    coarse = rng.uniform(40, 200, size=(max(height // 64, 2), max(width // 64, 2), 3)).astype(np.float32)
    frame = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    frame += rng.normal(0, 8, size=frame.shape).astype(np.float32)
    taken = np.zeros((height, width), bool)
    boxes = []
    for _ in range(num_objects * 20):
        if len(boxes) == num_objects:
            break
        side = rng.uniform(min_side, max_side)
        aspect = rng.uniform(0.5, 2.0)
        w = int(np.clip(round(side * np.sqrt(aspect)), min_side, max_side))
        h = int(np.clip(round(side / np.sqrt(aspect)), min_side, max_side))
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        if taken[max(y - 2, 0): y + h + 2, max(x - 2, 0): x + w + 2].any():
            continue
        taken[y: y + h, x: x + w] = True
        local = frame[y: y + h, x: x + w].mean()
        # Bright on dark ground, dark on bright ground, with a random colour cast.
        sign = 1.0 if local < 128 else -1.0
        color = np.clip(local + sign * rng.uniform(50, 110) + rng.normal(0, 15, size=3), 0, 255)
        if rng.random() < 0.5:
            frame[y: y + h, x: x + w] = color
        else:
            # An ellipse inscribed in the box (its box is still the full w x h).
            yy, xx = np.mgrid[0:h, 0:w]
            mask = ((xx + 0.5 - w / 2) / (w / 2)) ** 2 + ((yy + 0.5 - h / 2) / (h / 2)) ** 2 <= 1.0
            frame[y: y + h, x: x + w][mask] = color
        boxes.append([x, y, w, h])
    return np.clip(frame, 0, 255).astype(np.uint8), boxes


def coco_ground_truth(frames_boxes, height, width):
    images = [{"id": i + 1, "height": height, "width": width, "file_name": f"synthetic_{i:04d}.png"}
              for i in range(len(frames_boxes))]
    annotations = []
    for i, boxes in enumerate(frames_boxes):
        for x, y, w, h in boxes:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "object"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def coco_detections(image_id, instances, category):
    inst = instances.to("cpu")
    keep = inst.pred_classes == category if category is not None else torch.ones(len(inst), dtype=torch.bool)
    out = []
    for (x0, y0, x1, y1), s in zip(inst.pred_boxes.tensor[keep].tolist(), inst.scores[keep].tolist()):
        out.append({"image_id": image_id, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": s})
    return out


def evaluate(gt, detections, max_dets):
    """AP figures (in %) from COCOeval with AI-TOD's size ranges. COCOeval.summarize() only knows
    COCO's four ranges, so the APs are read from its precision array."""
    if not detections:
        return {f"AP{k}" if k != "all" else "AP": 0.0 for k in AREA_RANGES} | {"AP50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.areaRng = list(AREA_RANGES.values())
        ev.params.areaRngLbl = list(AREA_RANGES)
        ev.params.maxDets = [max_dets]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"]  # [IoU thresholds, recall, classes, areas, maxDets]

    def ap(p):
        p = p[p > -1]
        return float(p.mean() * 100) if p.size else float("nan")

    out = {"AP": ap(precision[:, :, :, 0, -1]), "AP50": ap(precision[0, :, :, 0, -1])}
    for a, name in enumerate(AREA_RANGES):
        if name != "all":
            out[f"AP{name}"] = ap(precision[:, :, :, a, -1])
    return out


def machine_info(device):
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def versions():
    commit = "unknown"
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    return {"python": platform.python_version(), "torch": torch.__version__,
            "detectron2": detectron2.__version__, "numpy": np.__version__, "opencv": cv2.__version__,
            "srtod_d2_commit": commit}


def timed(fn, frame, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(frame)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, help="config of the trained model")
    p.add_argument("--frames", type=int, default=20, help="synthetic frames to evaluate")
    p.add_argument("--height", type=int, default=2160)
    p.add_argument("--width", type=int, default=3840)
    p.add_argument("--objects", type=int, default=300, help="objects per frame")
    p.add_argument("--min-side", type=int, default=2)
    p.add_argument("--max-side", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slice-size", type=int, default=512)
    p.add_argument("--overlap", type=int, default=128)
    p.add_argument("--merge", default="nms", choices=["nms", "nmm", "wbf"])
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass")
    p.add_argument("--no-full-image-pass", action="store_true", help="sliced run without the full-frame pass")
    p.add_argument("--max-dets", type=int, default=1500,
                   help="TEST.DETECTIONS_PER_IMAGE for both runs and COCOeval maxDets: a 4K frame holds "
                        "more objects than detectron2's default 100")
    p.add_argument("--category", type=int, default=None,
                   help="only detections of this predicted class count (default: all, class-agnostic)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, e.g. MODEL.WEIGHTS path")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = get_cfg()
    add_srtod_config(cfg)
    add_sliced_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.TEST.DETECTIONS_PER_IMAGE = args.max_dets
    cfg.freeze()
    device = cfg.MODEL.DEVICE

    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print("command:", command)
    print("machine:", json.dumps(machine_info(device)))
    print("versions:", json.dumps(versions()))
    if not cfg.MODEL.WEIGHTS:
        print("WARNING: MODEL.WEIGHTS is empty: random weights, the APs below mean nothing")
    print(f"frames: {args.frames} x {args.width}x{args.height}, {args.objects} objects of "
          f"{args.min_side}-{args.max_side} px each, seed {args.seed}")
    print(f"full frame: resize to short edge {cfg.INPUT.MIN_SIZE_TEST} (max {cfg.INPUT.MAX_SIZE_TEST}); "
          f"sliced: {args.slice_size} px tiles, overlap {args.overlap}, merge {args.merge}, "
          f"batch {args.batch_size}, full-image pass {not args.no_full_image_pass}")

    full = DefaultPredictor(cfg)
    sliced = SlicedPredictor(cfg, args.slice_size, args.overlap, full_image_pass=not args.no_full_image_pass,
                             merge=args.merge, batch_size=args.batch_size, model=full.model)
    runs = {"full-frame": full, "sliced": sliced}

    rng = np.random.default_rng(args.seed)
    frames_boxes, detections = [], {name: [] for name in runs}
    times = {name: [] for name in runs}
    # Warm-up on a throwaway frame: first calls pay for allocator and kernel set-up.
    warm, _ = make_frame(np.random.default_rng(args.seed + 1), args.height, args.width, 10, args.min_side,
                         args.max_side)
    for predictor in runs.values():
        predictor(warm)
    for i in range(args.frames):
        frame, boxes = make_frame(rng, args.height, args.width, args.objects, args.min_side, args.max_side)
        frames_boxes.append(boxes)
        for name, predictor in runs.items():
            out, seconds = timed(predictor, frame, device)
            times[name].append(seconds)
            detections[name] += coco_detections(i + 1, out["instances"], args.category)
        print(f"frame {i + 1}/{args.frames}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in runs), flush=True)

    gt = coco_ground_truth(frames_boxes, args.height, args.width)
    results = {name: evaluate(gt, detections[name], args.max_dets) for name in runs}
    for name in runs:
        results[name]["seconds_per_frame"] = float(np.mean(times[name]))
        results[name]["detections_per_frame"] = len(detections[name]) / max(args.frames, 1)

    columns = ["AP", "AP50", "APvt", "APt", "APs", "seconds_per_frame", "detections_per_frame"]
    print()
    print("| run | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name in runs:
        print(f"| {name} | " + " | ".join(f"{results[name][c]:.2f}" for c in columns) + " |")
    ratio = results["sliced"]["seconds_per_frame"] / max(results["full-frame"]["seconds_per_frame"], 1e-9)
    tiles = len(tile_grid(args.height, args.width, args.slice_size, args.overlap))
    print(f"\nsliced / full-frame time: {ratio:.1f}x ({tiles} tiles per frame"
          f"{' + full frame' if not args.no_full_image_pass else ''})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"command": command, "machine": machine_info(device), "versions": versions(),
                       "args": vars(args), "results": results, "time_ratio": ratio}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
