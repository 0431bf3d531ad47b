#!/usr/bin/env python
"""Inference cost of a config, and with --compare its ratio to another config, on the same inputs.

    python tools/benchmark.py --config-file configs/VisDrone/srtod_faster_rcnn_R_50_FPN.yaml \\
        --compare configs/VisDrone/faster_rcnn_R_50_FPN.yaml --size 1333x800 --reps 10

Latency is DefaultPredictor's (test-time resize, normalisation, model, postprocessing): warm-up
calls, then the median of --reps calls, the configs alternating within each repetition. Also
images/s, parameters and GMACs (multiply-adds, detectron2/fvcore flop counting) of the model.
Weights are random unless MODEL.WEIGHTS is given in --opts: cost does not depend on them.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectron2.config import get_cfg  # noqa: E402
from detectron2.engine import DefaultPredictor  # noqa: E402

import srtod_d2  # noqa: E402,F401
from srtod_d2 import add_srtod_config  # noqa: E402
from srtod_d2.utils.profiling import count_gmacs, count_params, interleaved_timings, median  # noqa: E402


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True)
    p.add_argument("--compare", help="a second config; ratios are config-file / compare")
    p.add_argument("--size", default="1333x800", help="WIDTHxHEIGHT of the random input image")
    p.add_argument("--input", help="an image file to use instead of a random image")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="overrides for both configs")
    return p


def build_predictor(config_file, device, opts):
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(["MODEL.DEVICE", device, "MODEL.WEIGHTS", "", *opts])
    torch.manual_seed(0)
    return DefaultPredictor(cfg)


def model_input(predictor, image):
    """The dict DefaultPredictor hands the model, for flop counting."""
    if predictor.input_format == "RGB":
        image = image[:, :, ::-1]
    resized = predictor.aug.get_transform(image).apply_image(image)
    tensor = torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1))).to(predictor.cfg.MODEL.DEVICE)
    return [{"image": tensor, "height": image.shape[0], "width": image.shape[1]}]


def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.input:
        import cv2
        image = cv2.imread(args.input)
        if image is None:
            raise SystemExit(f"--input {args.input}: not a readable image")
    else:
        w, h = (int(v) for v in args.size.lower().split("x"))
        image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    configs = {"config": args.config_file}
    if args.compare:
        configs["compare"] = args.compare
    predictors = {k: build_predictor(c, args.device, args.opts) for k, c in configs.items()}
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    with torch.no_grad():
        times = interleaved_timings({k: (lambda p=p: p(image)) for k, p in predictors.items()}, args.reps,
                                    args.warmup, sync=sync)
    stats = {}
    for k, p in predictors.items():
        lat = median(times[k])
        stats[k] = {"latency_s": lat, "images_per_s": 1 / lat, "params_M": count_params(p.model) / 1e6,
                    "GMACs": count_gmacs(p.model, model_input(p, image))}
    print(f"input {image.shape[1]}x{image.shape[0]}, device {args.device}, {torch.get_num_threads()} threads, "
          f"median of {args.reps} after {args.warmup} warm-up")
    print(f"{'':8s} {'latency ms':>11s} {'images/s':>9s} {'params M':>9s} {'GMACs':>8s}  config")
    for k, s in stats.items():
        print(f"{k:8s} {s['latency_s'] * 1e3:11.1f} {s['images_per_s']:9.2f} {s['params_M']:9.2f} "
              f"{s['GMACs']:8.1f}  {configs[k]}")
    if args.compare:
        a, b = stats["config"], stats["compare"]
        stats["ratio"] = {k: a[k] / b[k] for k in ("latency_s", "params_M", "GMACs")}
        r = stats["ratio"]
        print(f"ratio    latency x{r['latency_s']:.3f}   params x{r['params_M']:.3f}   GMACs x{r['GMACs']:.3f}")
    return stats


if __name__ == "__main__":
    main()
