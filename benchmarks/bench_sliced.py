#!/usr/bin/env python
"""Full-frame vs sliced inference on synthetic 4K frames with 2-16 px objects.

The same trained model runs on each frame twice: once as detectron2's DefaultPredictor (the frame
resized to INPUT.MIN/MAX_SIZE_TEST) and once as srtod_d2's SlicedPredictor. Both are scored
with the project's AI-TOD evaluator (AP, AP50, and AP by object size: very tiny 2-8 px, tiny
8-16 px) and timed per frame. Everything needed to reproduce a figure (command line, machine,
versions) is printed with it.

The frames come from the project's synthetic generator at 3840x2160 (the distribution the
quickstart model learns), scored per class; objects above --max-side px are ignored, so the
figures are those of 2-16 px objects.

Example:
    python benchmarks/bench_sliced.py --config-file configs/Synthetic/srtod_faster_rcnn_R18_tiny.yaml \\
        --frames 20 MODEL.WEIGHTS output/model_final.pth MODEL.DEVICE cuda
"""
import argparse
import contextlib
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

from srtod_d2 import add_srtod_config  # noqa: E402
from srtod_d2.data.builtin import SYNTHETIC_EASY  # noqa: E402
from srtod_d2.data.synthetic import SYNTHETIC_CLASSES, generate_image  # noqa: E402
from srtod_d2.engine.sliced import SlicedPredictor, add_sliced_config, tile_grid  # noqa: E402
from srtod_d2.evaluation import AITOD, evaluate_coco_json  # noqa: E402


def make_frame(rng, height, width, num_objects, max_side, classes=SYNTHETIC_CLASSES, **generator_kwargs):
    """(BGR uint8 frame, list of (x, y, w, h, category id)) from the project's synthetic generator,
    the distribution the quickstart model is trained on; objects larger than ``max_side`` px
    (sqrt of area) are kept in the frame but marked crowd, so they neither count nor penalise."""
    image, objects = generate_image(rng, image_size=(width, height), classes=classes,
                                    objects_per_image=(num_objects, num_objects), **generator_kwargs)
    boxes = [(*o["bbox"], list(classes).index(o["category"]) + 1) for o in objects]
    return np.ascontiguousarray(image[:, :, ::-1]), boxes, max_side


def coco_ground_truth(frames_boxes, height, width, max_side, agnostic, classes=SYNTHETIC_CLASSES):
    images = [{"id": i + 1, "height": height, "width": width, "file_name": f"synthetic_{i:04d}.png"}
              for i in range(len(frames_boxes))]
    annotations = []
    for i, boxes in enumerate(frames_boxes):
        for x, y, w, h, cat in boxes:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1 if agnostic else cat,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": int(w * h > max_side ** 2)})
    names = ["object"] if agnostic else list(classes)
    return {"images": images, "annotations": annotations,
            "categories": [{"id": k + 1, "name": n} for k, n in enumerate(names)]}


def coco_detections(image_id, instances, agnostic):
    inst = instances.to("cpu")
    out = []
    for (x0, y0, x1, y1), s, c in zip(inst.pred_boxes.tensor.tolist(), inst.scores.tolist(), inst.pred_classes.tolist()):
        out.append({"image_id": image_id, "category_id": 1 if agnostic else c + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0], "score": s})
    return out


def evaluate(gt, detections, max_dets):
    """AI-TOD metrics (in %) from the project's evaluator, AP at ``max_dets``."""
    return dict(evaluate_coco_json(gt, detections, AITOD.with_max_dets(max_dets)).metrics)


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
    p.add_argument("--max-side", type=int, default=16,
                   help="objects above this size (sqrt of area, px) are ignored (crowd) in scoring")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slice-size", type=int, default=512)
    p.add_argument("--overlap", type=int, default=128)
    p.add_argument("--merge", default="nms", choices=["nms", "nmm", "wbf"])
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass")
    p.add_argument("--no-full-image-pass", action="store_true", help="sliced run without the full-frame pass")
    p.add_argument("--max-dets", type=int, default=1500,
                   help="TEST.DETECTIONS_PER_IMAGE for both runs and COCOeval maxDets: a 4K frame holds "
                        "more objects than detectron2's default 100")
    p.add_argument("--easy", action="store_true",
                   help="frames like synthetic_tiny_easy (one class, stronger contrast): for the quickstart model")
    p.add_argument("--class-agnostic", action="store_true",
                   help="score every detection as one class (for a model not trained on the synthetic classes)")
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
    print(f"frames: {args.frames} x {args.width}x{args.height} from srtod_d2.data.synthetic, {args.objects} objects "
          f"each, scored up to {args.max_side} px (larger ones ignored), seed {args.seed}")
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
    gen = dict(SYNTHETIC_EASY) if args.easy else {}
    classes = tuple(gen.pop("classes", SYNTHETIC_CLASSES))
    warm, _, _ = make_frame(np.random.default_rng(args.seed + 1), args.height, args.width, 10, args.max_side, classes, **gen)
    for predictor in runs.values():
        predictor(warm)
    for i in range(args.frames):
        frame, boxes, _ = make_frame(rng, args.height, args.width, args.objects, args.max_side, classes, **gen)
        frames_boxes.append(boxes)
        for name, predictor in runs.items():
            out, seconds = timed(predictor, frame, device)
            times[name].append(seconds)
            detections[name] += coco_detections(i + 1, out["instances"], args.class_agnostic)
        print(f"frame {i + 1}/{args.frames}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in runs), flush=True)

    gt = coco_ground_truth(frames_boxes, args.height, args.width, args.max_side, args.class_agnostic, classes)
    results = {name: evaluate(gt, detections[name], args.max_dets) for name in runs}
    for name in runs:
        results[name]["seconds_per_frame"] = float(np.mean(times[name]))
        results[name]["detections_per_frame"] = len(detections[name]) / max(args.frames, 1)

    columns = ["AP", "AP50", "APvt", "APt", "seconds_per_frame", "detections_per_frame"]
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
