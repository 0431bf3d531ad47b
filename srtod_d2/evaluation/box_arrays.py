"""COCO annotation lists as arrays, and pycocotools' box IoU on them."""
from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Optional

import numpy as np

__all__ = ["BoxArrays", "coco_box_iou"]


@dataclass
class BoxArrays:
    """Boxes of a COCO annotation list as arrays, row i describing annotation i.

    Attributes:
        image_ids: [N] int64.
        category_ids: [N] int64.
        boxes: [N, 4] float64, COCO [x, y, w, h].
        scores: [N] float64 (detections), or None (ground truth).
        iscrowd: [N] bool (ground truth), or None (detections).
    """

    image_ids: np.ndarray
    category_ids: np.ndarray
    boxes: np.ndarray
    scores: Optional[np.ndarray] = None
    iscrowd: Optional[np.ndarray] = None

    @classmethod
    def from_annotations(cls, anns, *, detections: bool) -> "BoxArrays":
        n = len(anns)
        boxes = np.asarray(list(map(itemgetter("bbox"), anns)), dtype=np.float64).reshape(n, 4)
        return cls(
            image_ids=np.fromiter(map(itemgetter("image_id"), anns), np.int64, n),
            category_ids=np.fromiter(map(itemgetter("category_id"), anns), np.int64, n),
            boxes=boxes,
            scores=(np.fromiter(map(itemgetter("score"), anns), np.float64, n)
                    if detections else None),
            iscrowd=None if detections else np.fromiter(
                (bool(a.get("iscrowd", 0)) for a in anns), bool, n),
        )

    def areas(self, rows=slice(None)) -> np.ndarray:
        """w * h of the boxes (of ``rows``), the area ``loadRes`` gives a detection."""
        return self.boxes[rows, 2] * self.boxes[rows, 3]

    def loadres_dicts(self) -> list:
        """Detection dicts as pycocotools' ``loadRes`` makes them: ``id`` 1..N in row order,
        ``area`` = w * h, ``iscrowd`` 0."""
        boxes = self.boxes
        areas = self.areas().tolist()
        return [
            {"id": n, "image_id": img, "category_id": cat, "bbox": box, "score": score,
             "area": area, "iscrowd": 0}
            for n, img, cat, box, score, area in zip(
                range(1, len(areas) + 1), self.image_ids.tolist(), self.category_ids.tolist(),
                boxes.tolist(), self.scores.tolist(), areas)
        ]


def coco_box_iou(dt: np.ndarray, gt: np.ndarray, iscrowd: np.ndarray) -> np.ndarray:
    """IoU of COCO boxes [x, y, w, h], [D, G], as pycocotools computes it.

    The operations and their order follow pycocotools' ``bbIou`` so that the float64 results
    are the same bits: a match decided at exactly an IoU threshold must not flip. For a crowd
    ground-truth box the union is the detection's area.
    """
    dx, dy, dw, dh = (dt[:, k:k + 1] for k in range(4))
    gx, gy, gw, gh = (gt[None, :, k] for k in range(4))
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = w * h
    d_area = dw * dh
    union = np.where(iscrowd[None, :], d_area, (d_area + gw * gh) - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)
