#!/usr/bin/env python
"""Convert a VisDrone2019-DET split to a COCO json (for tools that want COCO input).

    python datasets/prepare_visdrone_to_coco.py datasets/VisDrone2019-DET-val \
        --out datasets/VisDrone2019-DET-val/annotations_coco.json

Uses the same loader as training (classes 1..10, ids from 1, boxes clipped to the image); each
ignored region (category 0) is written as an ``iscrowd=1`` box of every class (COCO ignores a
detection only on a crowd box of its own class), or of the one class ``--ignore-as``, unless
``--drop-ignored`` is given, so COCO-style evaluation does not count detections there.
"""
import argparse
import json
import os
import sys
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from srtod_d2.data.datasets.visdrone import VISDRONE_CLASSES, load_visdrone  # noqa: E402


def convert(split_dir: str, drop_ignored: bool = False, ignore_as: Optional[int] = None) -> dict:
    recs = load_visdrone(os.path.join(split_dir, "images"), os.path.join(split_dir, "annotations"))
    images, annotations = [], []

    def add(image_id, box_xywh, category_id, crowd):
        annotations.append({
            "id": len(annotations) + 1, "image_id": image_id, "category_id": category_id,
            "bbox": [float(v) for v in box_xywh], "area": float(box_xywh[2] * box_xywh[3]), "iscrowd": crowd,
        })

    for r in recs:
        images.append({"id": r["image_id"], "file_name": os.path.basename(r["file_name"]), "width": r["width"], "height": r["height"]})
        for a in r["annotations"]:
            add(r["image_id"], a["bbox"], a["category_id"] + 1, 0)
        if not drop_ignored:
            for x0, y0, x1, y1 in r["ignore_regions"]:
                for category_id in [ignore_as] if ignore_as else range(1, len(VISDRONE_CLASSES) + 1):
                    add(r["image_id"], [x0, y0, x1 - x0, y1 - y0], category_id, 1)
    return {
        "info": {"description": f"VisDrone2019-DET converted from {split_dir}"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(VISDRONE_CLASSES)],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("split_dir", help="VisDrone2019-DET-<split> folder with images/ and annotations/")
    p.add_argument("--out", required=True, help="output json")
    p.add_argument("--drop-ignored", action="store_true", help="leave ignored regions out")
    p.add_argument("--ignore-as", type=int, default=None,
                   help="one category id for ignored-region crowd boxes (default: a crowd box of every class)")
    args = p.parse_args()
    data = convert(args.split_dir, args.drop_ignored, args.ignore_as)
    with open(args.out, "w") as f:
        json.dump(data, f)
    print(f"wrote {args.out}: {len(data['images'])} images, {len(data['annotations'])} boxes")


if __name__ == "__main__":
    main()
