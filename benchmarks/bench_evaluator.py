"""Time srtod_d2.evaluation on faster-coco-eval against pycocotools, side by side in one run.

Ground truth: the VisDrone2019-DET val annotations in ../shared (548 images, 38,759 boxes of
classes 1..10). Detections: perturbed copies of them plus false positives, N per image
(default 1500, AI-TOD's largest maxDets). Both runs go through the same
``evaluate_coco_json`` (input checks, evaluation, summary) under AI-TOD's protocol; only the
backend differs. Prints the setup, both timings, the ratio, and whether the numbers agree.

    PYTHONPATH=. python benchmarks/bench_evaluator.py [--images 548] [--per-image 1500]
"""
import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import _evaluation_support as support  # noqa: E402

from srtod_d2.evaluation import AITOD, evaluate_coco_json  # noqa: E402


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions():
    from importlib.metadata import version

    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in ("pycocotools", "faster-coco-eval", "numpy"):
        try:
            out[dist] = version(dist)
        except Exception:
            out[dist] = "not installed"
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=None, help="first N images (default all)")
    parser.add_argument("--per-image", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if not support.VISDRONE_VAL.is_dir():
        sys.exit(f"VisDrone val annotations not found at {support.VISDRONE_VAL}")
    print("command:", " ".join([os.path.basename(sys.executable)] + sys.argv))
    print(f"machine: {_cpu_model()}, {os.cpu_count()} logical CPUs "
          f"(affinity {len(os.sched_getaffinity(0))}), load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("versions:", ", ".join(f"{k} {v}" for k, v in _versions().items()))

    gt = support.visdrone_coco_gt(limit=args.images)
    dets = support.perturbed_detections(gt, per_image=args.per_image, seed=args.seed)
    print(f"data: {len(gt['images'])} images, {len(gt['annotations'])} ground-truth boxes, "
          f"{len(dets)} detections ({args.per_image} per image), protocol {AITOD.name} "
          f"maxDets {list(AITOD.max_dets)}")

    results, times = {}, {}
    for backend in ("faster-coco-eval", "pycocotools"):
        t0 = time.perf_counter()
        results[backend] = evaluate_coco_json(gt, dets, AITOD, backend=backend)
        times[backend] = time.perf_counter() - t0
        print(f"{results[backend].backend:>24}: {times[backend]:8.2f} s", flush=True)

    fast, slow = results["faster-coco-eval"], results["pycocotools"]
    array_diff = max(float(np.abs(fast.precision - slow.precision).max()),
                     float(np.abs(fast.recall - slow.recall).max()))
    metric_diff = max((0.0 if np.isnan(a) and np.isnan(b) else abs(a - b))
                      for a, b in zip(fast.metrics.values(), slow.metrics.values()))
    same_nan = all(np.isnan(a) == np.isnan(b)
                   for a, b in zip(fast.metrics.values(), slow.metrics.values()))
    identical = same_nan and array_diff <= 1e-9 and metric_diff <= 1e-9
    print(f"speed-up: {times['pycocotools'] / times['faster-coco-eval']:.1f}x")
    print(f"max |difference|: precision/recall arrays {array_diff:.3g}, results {metric_diff:.3g} "
          f"-> {'identical (<= 1e-9)' if identical else 'DIFFERENT'}")
    print("results: " + ", ".join(f"{k} {fast.metrics[k]:.3f}" for k in fast.summary_keys()
                                  + fast.recall_keys()))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
