"""Cost of SR-TOD over its baseline detector: multiply-adds, inference latency, training step
time and peak inference memory, for the reference and the efficient reconstruction head.

Every ratio is measured side by side in one run: configurations alternate within each repetition,
so drift on a shared machine hits all of them alike.

    .venv/bin/python benchmarks/bench_cost.py [--sizes 800x800 1920x1080] [--reps 5]
"""
import argparse
import json
import warnings
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import describe_run  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402
from detectron2.structures import Boxes, Instances  # noqa: E402
from detectron2.utils.analysis import FlopCountAnalysis  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from srtod_d2 import add_srtod_config  # noqa: E402

VARIANTS = {
    "baseline": ["MODEL.SRTOD.ENABLED", False],
    "srtod-reference": ["MODEL.SRTOD.HEAD", "reference"],
    "srtod-efficient": ["MODEL.SRTOD.HEAD", "efficient"],
}


def build(config, variant, device="cpu"):
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(str(ROOT / config))
    cfg.merge_from_list(["MODEL.DEVICE", device, "MODEL.WEIGHTS", ""] + VARIANTS[variant])
    torch.manual_seed(0)
    return build_model(cfg)


def image(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, h, w), generator=g).to(torch.uint8)


def head_gmacs(model, h, w):
    if not hasattr(model.backbone, "recon_head"):
        return 0.0
    c = model.backbone.output_shape()["p2"].channels
    feat = torch.zeros(1, c, h // 4, w // 4)
    return FlopCountAnalysis(model.backbone.recon_head, feat).unsupported_ops_warnings(False).total() / 1e9


def model_gmacs(model, h, w):
    model.eval()
    flops = FlopCountAnalysis(model, [{"image": image(h, w)}])
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return flops.total() / 1e9


def time_inference(models, h, w, reps):
    inputs = [{"image": image(h, w)}]
    times = {k: [] for k in models}
    with torch.no_grad():
        for m in models.values():
            m.eval()
            m(inputs)  # warm-up
        for _ in range(reps):
            for k, m in models.items():
                t0 = time.perf_counter()
                m(inputs)
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def time_training(models, h, w, reps):
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor([[10.0, 10.0, 18.0, 17.0], [100.0, 60.0, 104.0, 66.0], [300.0, 200.0, 330.0, 224.0]]))
    inst.gt_classes = torch.tensor([0, 1, 0])
    inputs = [{"image": image(h, w), "instances": inst}]
    times = {k: [] for k in models}
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-5) for k, m in models.items()}
    with EventStorage():
        for it in range(reps + 1):
            for k, m in models.items():
                m.train()
                t0 = time.perf_counter()
                loss = sum(m(inputs).values())
                opts[k].zero_grad()
                loss.backward()
                opts[k].step()
                if it > 0:  # the first step is warm-up
                    times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def peak_memory_child(config, variant, h, w):
    """Peak resident memory (MiB) of a fresh process after building the model, and after one
    inference: their difference is what inference itself needs."""
    code = (
        "import sys, resource, torch, warnings; warnings.filterwarnings('ignore'); sys.path[:0] = [%r, %r];"
        "from bench_cost import build, image; m = build(%r, %r).eval();"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "torch.no_grad().__enter__(); m([{'image': image(%d, %d)}]);"
        "print(base / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    ) % (str(ROOT), str(ROOT / "benchmarks"), config, variant, h, w)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, peak = map(float, out.stdout.split()[-2:])
    return before, peak


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/VisDrone/srtod_faster_rcnn_R_50_FPN.yaml")
    ap.add_argument("--sizes", nargs="+", default=["800x800", "1920x1080"])
    ap.add_argument("--train-size", default="800x800")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    print(describe_run())
    print(f"config: {args.config} (random weights; cost does not depend on them)\n")
    models = {k: build(args.config, k) for k in VARIANTS}
    params = {k: sum(p.numel() for p in m.parameters()) / 1e6 for k, m in models.items()}
    results = {"params_M": params, "sizes": {}}
    for size in args.sizes:
        w, h = map(int, size.split("x"))
        lat = time_inference(models, h, w, args.reps)
        entry = {"latency_s": lat, "head_GMAC": {k: head_gmacs(m, h, w) for k, m in models.items()},
                 "model_GMAC": {k: model_gmacs(m, h, w) for k, m in models.items()},
                 "peak_MiB": {k: peak_memory_child(args.config, k, h, w) for k in models}}
        results["sizes"][size] = entry
        print(f"== inference at {size} (median of {args.reps}, {args.threads} threads)")
        print(f"{'variant':18s} {'params M':>9s} {'model GMAC':>11s} {'head GMAC':>10s} {'latency s':>10s} {'x baseline':>10s} {'inference +MiB':>15s}")
        for k in models:
            print(f"{k:18s} {params[k]:9.2f} {entry['model_GMAC'][k]:11.1f} {entry['head_GMAC'][k]:10.1f} "
                  f"{lat[k]:10.3f} {lat[k] / lat['baseline']:10.3f} {entry['peak_MiB'][k][1] - entry['peak_MiB'][k][0]:15.0f}")
        print()
    if not args.skip_train:
        w, h = map(int, args.train_size.split("x"))
        tr = time_training(models, h, w, args.reps)
        results["train_step_s"] = tr
        print(f"== training step at {args.train_size}, batch 1 (median of {args.reps})")
        for k in models:
            print(f"{k:18s} {tr[k]:8.3f} s  x{tr[k] / tr['baseline']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
