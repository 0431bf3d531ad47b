"""Where can a map made from the image single out tiny objects? For each background of the
synthetic generator (sky, ground, urban, mixed), with and without its unlabelled distractors,
the local-mean difference map (benchmarks/local_mean_map.py's stand-in for a good reconstruction)
binarised at a few thresholds and max-resized to P2 (stride 4): the share of boxes it reaches,
the share of the other P2 cells it marks, and of all the cells it marks, the share a box overlaps
(pooled) against the boxes' share of all cells (what a map of ones scores). No training.

    .venv/bin/python benchmarks/scene_map_selectivity.py [--images 20] [--thresholds 4,8,16]
"""
import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from srtod_d2.data.builtin import SYNTHETIC_EASY, SYNTHETIC_SPLITS  # noqa: E402
from srtod_d2.data.synthetic import SCENES, generate_image  # noqa: E402
from common import LOCAL_MEAN_KERNEL, describe_run, local_mean_difference  # noqa: E402
from difference_map_stats import p2_hits  # noqa: E402


def scene_selectivity(scene, clutter, thresholds, images, size=(1024, 576), seed=SYNTHETIC_SPLITS["val"]["seed"],
                      kernel=LOCAL_MEAN_KERNEL):
    """{threshold (/255): (share of boxes reached, share of other cells marked, share of marked
    cells in a box, share of all cells in a box)} over ``images`` easy-set images of one scene."""
    options = dict(SYNTHETIC_EASY, **({} if clutter else {"clutter_per_image": (0, 0)}))
    hits = {t: [] for t in [*thresholds, "ones"]}
    for i in range(images):
        image, objects = generate_image(np.random.default_rng([seed, i]), size, scenes=(scene,), **options)
        diff = local_mean_difference(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255, kernel)[0, 0].numpy()
        boxes = [(x, y, x + w, y + h) for x, y, w, h in (o["bbox"] for o in objects)]
        for t in thresholds:
            hits[t].append(p2_hits(diff > t / 255, boxes)["max"])
        hits["ones"].append(p2_hits(np.ones_like(diff, bool), boxes)["max"])
    in_box = {t: sum(h[2] for h in v) / max(sum(h[3] for h in v), 1) for t, v in hits.items()}
    return {t: (float(np.nanmean([h[0] for h in hits[t]])), float(np.mean([h[1] for h in hits[t]])), in_box[t],
                in_box["ones"]) for t in thresholds}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20, help="images per scene and setting")
    ap.add_argument("--thresholds", type=lambda v: [float(t) for t in v.split(",")], default=[4.0, 8.0, 16.0],
                    help="comma-separated, in /255 units")
    ap.add_argument("--size", type=lambda v: tuple(int(x) for x in v.split("x")), default=(1024, 576),
                    help="WxH of the generated images")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    print(describe_run())
    print(f"easy-set images ({args.images} per row, {args.size[0]}x{args.size[1]}, val seed), "
          f"{LOCAL_MEAN_KERNEL}x{LOCAL_MEAN_KERNEL} local-mean difference, max resize to P2")
    print("| scene | distractors | threshold /255 | boxes reached | other cells marked | marked cells in a box "
          "| boxes' share of cells |")
    print("|---|---|---|---|---|---|---|")
    for scene in SCENES:
        for clutter in (True, False):
            for t, (reached, other, in_box, base) in scene_selectivity(
                    scene, clutter, args.thresholds, args.images, args.size).items():
                print(f"| {scene} | {'yes' if clutter else 'no'} | {t:g} | {reached:.3f} | {other:.3f} | {in_box:.3f} "
                      f"| {base:.3f} |")


if __name__ == "__main__":
    main()
