"""The quickstart main job (`make quickstart`): on a CPU machine, in about 12 minutes,
generate the (easy, one-class) synthetic tiny-object set, train a small SR-TOD detector on it,
evaluate it with the AI-TOD metrics, write difference-map panels, and say where everything is.

    .venv/bin/python scripts/quickstart.py [--iters N] [--output quickstart_output] [--min-ap50 40]
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import train_net  # noqa: E402
from detectron2.data import DatasetCatalog  # noqa: E402
from detectron2.engine import default_argument_parser  # noqa: E402

CONFIG = ROOT / "configs/Synthetic/srtod_faster_rcnn_R18_quickstart.yaml"
TRAIN, VAL = "synthetic_tiny_easy_train", "synthetic_tiny_easy_val"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=None, help="training iterations (default: the config's)")
    ap.add_argument("--output", default=str(ROOT / "quickstart_output"))
    ap.add_argument("--min-ap50", type=float, default=40.0,
                    help="fail if the trained model's AP50 falls below this (README states what it reaches)")
    args = ap.parse_args()
    out = Path(args.output)
    t0 = time.time()

    print("[quickstart] 1/4 synthetic tiny-object set (generated once, then reused)", flush=True)
    for name in (TRAIN, VAL):
        print(f"[quickstart]     {name}: {len(DatasetCatalog.get(name))} images", flush=True)

    print(f"[quickstart] 2/4 training {CONFIG.relative_to(ROOT)} (progress and ETA every 20 iterations)", flush=True)
    opts = ["OUTPUT_DIR", str(out)]
    if args.iters:
        opts += ["SOLVER.MAX_ITER", str(args.iters),
                 "SOLVER.STEPS", f"({int(args.iters * 0.75)}, {int(args.iters * 0.92)})"]
    train_args = default_argument_parser().parse_args(["--config-file", str(CONFIG), *opts])
    results = train_net.main(train_args)

    print(f"[quickstart] 3/4 AI-TOD evaluation of the final model on {VAL}", flush=True)
    bbox = results[VAL]["bbox"] if VAL in results else results["bbox"]
    print("[quickstart]     " + "  ".join(f"{k} {bbox[k]:.1f}" for k in ("AP", "AP50", "AP75", "APvt", "APt", "APs")))
    (out / "quickstart_metrics.json").write_text(json.dumps(bbox, indent=2))

    print("[quickstart] 4/4 detections and difference-map panels for 4 validation images", flush=True)
    sys.path.insert(0, str(ROOT / "demo"))
    import demo  # noqa: E402

    images = [d["file_name"] for d in DatasetCatalog.get(VAL)[:4]]
    written = demo.main(["--config-file", str(CONFIG), "--input", *images, "--output", str(out / "demo"),
                         "--opts", "MODEL.WEIGHTS", str(out / "model_final.pth")])

    minutes = (time.time() - t0) / 60
    print(f"\n[quickstart] done in {minutes:.1f} min. Everything is under {out}/:")
    print("  model_final.pth          the trained SR-TOD model")
    print(f"  metrics.json, events.*   training curves (loss_recon, srtod/threshold_255; tensorboard --logdir {out})")
    print("  inference/               detections (coco_instances_results.json) and the evaluation")
    print("  quickstart_metrics.json  the AI-TOD metrics above")
    print(f"  demo/                    {len(written)} PNGs: *_det.png detections, *_maps.png difference maps")
    if bbox["AP50"] < args.min_ap50:
        raise SystemExit(f"[quickstart] FAILED: AP50 {bbox['AP50']:.1f} is far below the expected level "
                         f"(>= {args.min_ap50}); the install or the training is broken")


if __name__ == "__main__":
    main()
