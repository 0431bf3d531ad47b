"""Test and benchmark helpers for srtod_d2.evaluation (not collected by pytest).

* VisDrone txt annotations -> COCO ground truth, and perturbed detections built from it;
* random COCO ground truth and detections;
* the reference: pycocotools' own COCOeval run with the protocol's parameters and summarised
  here with plain numpy, independently of srtod_d2.evaluation.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VISDRONE_VAL = SHARED / "data" / "visdrone2019_det_val" / "annotations"
VISDRONE_CLASSES = ["pedestrian", "people", "bicycle", "car", "van", "truck", "tricycle",
                    "awning-tricycle", "bus", "motor"]


def visdrone_coco_gt(ann_dir=VISDRONE_VAL, limit=None):
    """COCO ground truth from VisDrone-DET txt files: classes 1..10 (0 = ignored regions and
    11 = others are dropped), ids from 1, area = w * h, image size = extent of its boxes."""
    files = sorted(Path(ann_dir).glob("*.txt"))
    if limit is not None:
        files = files[:limit]
    images, anns = [], []
    for image_id, path in enumerate(files, start=1):
        rows = [line.strip().rstrip(",").split(",") for line in path.read_text().splitlines()
                if line.strip()]
        width = height = 1
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            width, height = max(width, int(x + w)), max(height, int(y + h))
            cat = int(row[5])
            if 1 <= cat <= 10:
                anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat,
                             "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
        images.append({"id": image_id, "file_name": path.stem + ".jpg", "width": width,
                       "height": height})
    cats = [{"id": i + 1, "name": name} for i, name in enumerate(VISDRONE_CLASSES)]
    return {"images": images, "annotations": anns, "categories": cats}


def perturbed_detections(gt, per_image=1500, seed=0):
    """Detections made from ``gt``: each box jittered (90% kept, 10% with a wrong class),
    random scores (rounded to 3 decimals, so ties happen), and false positives of random
    class, size 1..100 px, until each image has ``per_image`` detections."""
    rng = np.random.default_rng(seed)
    by_image = {}
    for ann in gt["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    n_cats = len(gt["categories"])
    dets = []
    for img in gt["images"]:
        out = []
        for ann in by_image.get(img["id"], []):
            if rng.random() > 0.9:
                continue
            x, y, w, h = ann["bbox"]
            s = max(w, h, 1.0)
            cat = ann["category_id"] if rng.random() < 0.9 else int(rng.integers(1, n_cats + 1))
            out.append([x + rng.normal(0, 0.1 * s), y + rng.normal(0, 0.1 * s),
                        max(0.0, w * np.exp(rng.normal(0, 0.15))),
                        max(0.0, h * np.exp(rng.normal(0, 0.15))), cat])
        out = out[:per_image]
        n_fp = per_image - len(out)
        sizes = np.exp(rng.uniform(0, np.log(100), size=(n_fp, 2)))
        xs = rng.uniform(0, img["width"], n_fp)
        ys = rng.uniform(0, img["height"], n_fp)
        cats = rng.integers(1, n_cats + 1, n_fp)
        out += [[xs[i], ys[i], sizes[i, 0], sizes[i, 1], int(cats[i])] for i in range(n_fp)]
        scores = np.round(rng.random(len(out)), 3)
        for (x, y, w, h, cat), score in zip(out, scores):
            dets.append({"image_id": img["id"], "category_id": int(cat),
                         "bbox": [round(float(x), 2), round(float(y), 2), round(float(w), 2),
                                  round(float(h), 2)], "score": float(score)})
    return dets


def random_coco(seed, n_images=12, n_cats=5, max_gt=12, max_dets=40):
    """Random ground truth and detections: boxes of all sizes from 0 to ~150 px (zero width or
    height included), duplicates and overlaps, crowd boxes, images without boxes, tied scores;
    the first class has no ground truth, the last no detections."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": 256, "height": 256} for i in range(n_images)]
    cats = [{"id": 10 * (c + 1), "name": f"class{c + 1}"} for c in range(n_cats)]
    cat_ids = [c["id"] for c in cats]
    gt_cats = cat_ids[1:] if n_cats > 2 else cat_ids  # the first class has no ground truth
    det_cats = cat_ids[:-1] if n_cats > 2 else cat_ids  # the last class is never detected
    anns, dets = [], []
    for img in images:
        if rng.random() < 0.15:
            continue  # an empty image
        for _ in range(int(rng.integers(0, max_gt + 1))):
            side = float(rng.choice([0.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0, 150.0]))
            w, h = side * rng.uniform(0.5, 1.5), side * rng.uniform(0.5, 1.5)
            if rng.random() < 0.05:
                w = 0.0
            x, y = float(rng.uniform(0, 200)), float(rng.uniform(0, 200))
            cat = int(rng.choice(gt_cats))
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": cat,
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": int(rng.random() < 0.05)})
            for _ in range(int(rng.integers(0, 3))):  # near-duplicates of the ground truth
                dets.append({"image_id": img["id"],
                             "category_id": cat if rng.random() < 0.8 else int(rng.choice(det_cats)),
                             "bbox": [x + rng.normal(0, 2), y + rng.normal(0, 2),
                                      max(0.0, w + rng.normal(0, 2)), max(0.0, h + rng.normal(0, 2))],
                             "score": float(np.round(rng.random(), 1))})
        for _ in range(int(rng.integers(0, max_dets + 1))):
            dets.append({"image_id": img["id"], "category_id": int(rng.choice(det_cats)),
                         "bbox": [float(rng.uniform(0, 220)), float(rng.uniform(0, 220)),
                                  float(rng.uniform(0, 60)), float(rng.uniform(0, 60))],
                         "score": float(np.round(rng.random(), 1))})
    dets = [d for d in dets if d["category_id"] in det_cats]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def pycocotools_eval(gt, dets, area_rng, area_lbl, max_dets):
    """pycocotools' COCOeval, straight: loadRes, params set to the protocol, evaluate,
    accumulate. Returns the COCOeval."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    import copy

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if dets:
            coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        else:  # loadRes cannot load an empty list
            coco_dt = COCO()
            coco_dt.dataset = {"images": coco_gt.dataset["images"], "annotations": [],
                               "categories": coco_gt.dataset["categories"]}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.areaRng = [list(r) for r in area_rng]
        ev.params.areaRngLbl = list(area_lbl)
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
    return ev


def _mean_valid(values):
    values = np.asarray(values)
    values = values[values > -1]
    return float(np.mean(values)) * 100 if values.size else float("nan")


def reference_metrics(gt, dets, bands, max_dets, class_names=None):
    """The expected results dict, from pycocotools' arrays, summarised the way pycocotools'
    ``_summarize`` does (mean over entries > -1), times 100, NaN where undefined.

    ``bands``: list of (label, key, low, high); the first is the overall band."""
    ev = pycocotools_eval(gt, dets, [(lo, hi) for _, _, lo, hi in bands],
                          [lbl for lbl, _, _, _ in bands], max_dets)
    P, R = ev.eval["precision"], ev.eval["recall"]  # [T,R,K,A,M], [T,K,A,M]
    t50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    t75 = int(np.argmin(np.abs(ev.params.iouThrs - 0.75)))
    out = {"AP": _mean_valid(P[:, :, :, 0, -1]),
           "AP50": _mean_valid(P[t50, :, :, 0, -1]),
           "AP75": _mean_valid(P[t75, :, :, 0, -1])}
    for a, (_, key, _, _) in enumerate(bands[1:], start=1):
        out["AP" + key] = _mean_valid(P[:, :, :, a, -1])
    for m, n in enumerate(max_dets):
        out[f"AR@{n}"] = _mean_valid(R[:, :, 0, m])
    for a, (_, key, _, _) in enumerate(bands[1:], start=1):
        out["AR" + key] = _mean_valid(R[:, :, a, -1])
    cat_ids = sorted(c["id"] for c in gt["categories"])
    if class_names is None:
        names = {c["id"]: c["name"] for c in gt["categories"]}
        class_names = [names[c] for c in cat_ids]
    for k, name in enumerate(class_names):
        for a, (_, key, _, _) in enumerate(bands):
            out[f"AP{key}-{name}"] = _mean_valid(P[:, :, k, a, -1])
    return out


def assert_metrics_equal(got, expected, tol=1e-9):
    assert set(got) == set(expected), (sorted(set(got) ^ set(expected)))
    bad = {}
    for key, want in expected.items():
        have = got[key]
        if np.isnan(want):
            if not np.isnan(have):
                bad[key] = (have, want)
        elif not abs(have - want) <= tol:
            bad[key] = (have, want)
    assert not bad, f"metrics differ (got, expected): {bad}"
