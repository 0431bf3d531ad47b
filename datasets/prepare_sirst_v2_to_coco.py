#!/usr/bin/env python
"""Convert a SIRST-V2 split to a COCO json (for tools that want COCO input).

    python datasets/prepare_sirst_v2_to_coco.py datasets/sirst_v2 --split train \
        --out datasets/sirst_v2/annotations/train_coco.json

Uses the same loader as training: VOC boxes (1-based xmin/ymin, exclusive xmax/ymax) become
0-based COCO ``[x, y, w, h]``; ``file_name`` is relative to ``sirst_v2/images``; ids start at 1.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from srtod_d2.data.datasets.sirst_v2 import SIRST_V2_CLASSES, load_sirst_v2  # noqa: E402


def convert(root: str, split: str, split_file=None, missing: str = "warn") -> dict:
    recs = load_sirst_v2(root, split, split_file=split_file, missing=missing)
    images, annotations = [], []
    image_root = os.path.join(root, "images")
    for r in recs:
        images.append({"id": r["image_id"], "file_name": os.path.relpath(r["file_name"], image_root), "width": r["width"], "height": r["height"]})
        for a in r["annotations"]:
            x0, y0, x1, y1 = a["bbox"]
            annotations.append({
                "id": len(annotations) + 1, "image_id": r["image_id"], "category_id": 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0,
            })
    return {
        "info": {"description": f"SIRST-V2 {split} converted from {root}"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": SIRST_V2_CLASSES[0]}],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("root", help="the sirst_v2 folder")
    p.add_argument("--split", default="train", help="train, val or test")
    p.add_argument("--split-file", default=None, help="explicit split file instead of splits/<split>_*.txt")
    p.add_argument("--strict", action="store_true", help="fail on split names with no image instead of skipping them")
    p.add_argument("--out", required=True, help="output json")
    args = p.parse_args()
    data = convert(args.root, args.split, args.split_file, "error" if args.strict else "warn")
    with open(args.out, "w") as f:
        json.dump(data, f)
    print(f"wrote {args.out}: {len(data['images'])} images, {len(data['annotations'])} boxes")


if __name__ == "__main__":
    main()
