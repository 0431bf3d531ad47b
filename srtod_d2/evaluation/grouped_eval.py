"""faster-coco-eval's box evaluation, fed from arrays instead of per-box Python lookups.

``COCOeval_faster`` does its matching and accumulation in C++, but prepares that work in
Python: it indexes the detections in a ``COCO`` object, fetches them back per image and
category, sorts each group's scores in a Python list and computes each group's IoU matrix
separately. With 10^6 detections (1500 per image, AI-TOD's maxDets) that Python part costs as
much as the C++ part. :class:`GroupedBoxEval` does the same preparation with one sort of
the whole detection set, so the C++ code receives the same inputs, in the same order, sooner.
"""
from __future__ import annotations

from collections import deque
from typing import Dict, Tuple

import numpy as np
from faster_coco_eval.core import COCOeval_faster

from .box_arrays import BoxArrays, coco_box_iou

__all__ = ["GroupedBoxEval"]


def _group_bounds(image_ids: np.ndarray, category_ids: np.ndarray, order: np.ndarray):
    """{(image id, category id): slice of ``order``} for rows sorted by image, then category."""
    if len(order) == 0:
        return {}
    img, cat = image_ids[order], category_ids[order]
    starts = np.flatnonzero(np.r_[True, (img[1:] != img[:-1]) | (cat[1:] != cat[:-1])])
    ends = np.r_[starts[1:], len(order)]
    keys = zip(img[starts].tolist(), cat[starts].tolist())
    return {key: slice(s, e) for key, s, e in zip(keys, starts.tolist(), ends.tolist())}


class GroupedBoxEval(COCOeval_faster):
    """``COCOeval_faster`` for boxes whose preparation works on :class:`BoxArrays`.

    Only ``_prepare`` and ``computeIoU`` change; matching and accumulation are the library's.

    Args:
        coco_gt: faster-coco-eval ``COCO`` of the ground truth.
        coco_dt: ``COCO`` holding the images and categories (its annotations are not read).
        det_arrays: the detections, numbered 1..N in row order as ``loadRes`` numbers them.
        kwargs: for ``COCOeval_faster`` (``iouType`` must be ``"bbox"``).
    """

    def __init__(self, coco_gt, coco_dt, *, det_arrays: BoxArrays, **kwargs):
        super().__init__(coco_gt, coco_dt, **kwargs)
        if self.params.iouType != "bbox" or self.lvis_style:
            raise ValueError("GroupedBoxEval evaluates plain COCO boxes (iouType 'bbox', "
                             "lvis_style off)")
        self._det_arrays = det_arrays
        self._group_ious: Dict[Tuple[int, int], np.ndarray] = {}

    def _prepare(self):
        p = self.params
        self.gt_dataset.clean()
        self.dt_dataset.clean()
        gt_anns = self.cocoGt.dataset["annotations"]
        gt_arrays = BoxArrays.from_annotations(gt_anns, detections=False)
        dts = self._det_arrays
        img_ids = np.asarray(p.imgIds, dtype=np.int64)
        cat_ids = np.asarray(p.catIds, dtype=np.int64)

        # The library fetches each image's annotations in dataset order, so a group's boxes
        # keep their list order; appending in list order reproduces that.
        gt_rows = np.flatnonzero(np.isin(gt_arrays.image_ids, img_ids)
                                 & np.isin(gt_arrays.category_ids, cat_ids))
        for i, img, cat in zip(gt_rows.tolist(), gt_arrays.image_ids[gt_rows].tolist(),
                               gt_arrays.category_ids[gt_rows].tolist()):
            ann = gt_anns[i]
            ann["ignore"] = int(ann.get("iscrowd", 0))  # as the library sets it
            self.gt_dataset.append_ref(img, cat, ann)
        dt_rows = np.flatnonzero(np.isin(dts.image_ids, img_ids)
                                 & np.isin(dts.category_ids, cat_ids))
        # The C++ matching reads only these fields of a detection (the IoUs come from
        # computeIoU), so the boxes need not become 10^6 Python lists.
        dets = [{"id": n, "score": s, "area": a, "iscrowd": 0}
                for n, s, a in zip((dt_rows + 1).tolist(), dts.scores[dt_rows].tolist(),
                                   dts.areas(dt_rows).tolist())]
        self._dt_dicts = dets  # held for the C++ side, which keeps references to them
        # map() keeps the 10^6 calls out of the interpreter loop.
        deque(map(self.dt_dataset.append_ref, dts.image_ids[dt_rows].tolist(),
                  dts.category_ids[dt_rows].tolist(), dets), maxlen=0)

        # One stable sort per set: by image, category, then (detections) descending score,
        # ties in list order -- the order the library's per-group mergesort gives.
        gt_order = gt_rows[np.lexsort((gt_arrays.category_ids[gt_rows],
                                       gt_arrays.image_ids[gt_rows]))]
        dt_order = dt_rows[np.lexsort((-dts.scores[dt_rows], dts.category_ids[dt_rows],
                                       dts.image_ids[dt_rows]))]
        gt_groups = _group_bounds(gt_arrays.image_ids, gt_arrays.category_ids, gt_order)
        dt_groups = _group_bounds(dts.image_ids, dts.category_ids, dt_order)
        limit = p.maxDets[-1]
        self._group_ious = {}
        for key in gt_groups.keys() & dt_groups.keys():
            g = gt_order[gt_groups[key]]
            d = dt_order[dt_groups[key]][:limit]
            self._group_ious[key] = coco_box_iou(dts.boxes[d], gt_arrays.boxes[g],
                                                 gt_arrays.iscrowd[g])
        self._nonempty_iou_pairs = set(self._group_ious)

    def computeIoU(self, imgId, catId):
        return self._group_ious.get((imgId, catId), [])
