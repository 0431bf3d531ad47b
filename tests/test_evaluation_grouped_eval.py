"""srtod_d2.evaluation.grouped_eval: the array-fed preparation gives faster-coco-eval's own
results, array for array, including the per-group IoU matrices."""
import copy

import numpy as np
import pytest

pytest.importorskip("faster_coco_eval", reason="GroupedBoxEval subclasses faster-coco-eval")

from faster_coco_eval.core import COCO, COCOeval_faster  # noqa: E402

from _evaluation_support import random_coco  # noqa: E402
from srtod_d2.evaluation import AITOD  # noqa: E402
from srtod_d2.evaluation.backend import check_ground_truth, checked_detection_arrays  # noqa: E402
from srtod_d2.evaluation.grouped_eval import GroupedBoxEval  # noqa: E402


def _params(ev, max_dets, img_ids):
    ev.params.areaRng = [list(r) for r in AITOD.area_rng]
    ev.params.areaRngLbl = list(AITOD.area_rng_lbl)
    ev.params.maxDets = list(max_dets)
    if img_ids is not None:
        ev.params.imgIds = list(img_ids)


def _library_eval(gt, dets, max_dets, img_ids):
    """faster-coco-eval's own path: loadRes and COCOeval_faster, nothing of ours."""
    coco_gt = COCO(copy.deepcopy(gt), print_function=lambda *a: None)
    coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
    ev = COCOeval_faster(coco_gt, coco_dt, iouType="bbox", print_function=lambda *a: None)
    _params(ev, max_dets, img_ids)
    ev.evaluate()
    ev.accumulate()
    return ev


def _grouped_eval(gt, dets, max_dets, img_ids):
    gt_clean = check_ground_truth(gt)
    arrays = checked_detection_arrays(dets, gt_clean)
    coco_gt = COCO(copy.deepcopy(gt_clean), print_function=lambda *a: None)
    coco_dt = COCO(print_function=lambda *a: None)
    coco_dt.dataset = {"images": gt_clean["images"], "annotations": [],
                       "categories": gt_clean["categories"]}
    coco_dt.createIndex()
    ev = GroupedBoxEval(coco_gt, coco_dt, det_arrays=arrays, iouType="bbox",
                        print_function=lambda *a: None)
    _params(ev, max_dets, img_ids)
    ev.evaluate()
    ev.accumulate()
    return ev


# maxDets (2, 5, 10) cuts groups short, so the score order and the truncation both matter.
@pytest.mark.parametrize("seed,max_dets,subset", [(0, (100, 300, 1500), False),
                                                  (1, (2, 5, 10), False),
                                                  (2, (2, 5, 10), True),
                                                  (3, (1, 3, 100), True)])
def test_same_ious_and_arrays_as_the_library(seed, max_dets, subset):
    gt, dets = random_coco(seed, n_images=10, max_dets=30)
    img_ids = [img["id"] for img in gt["images"]][::2] if subset else None
    ref = _library_eval(gt, dets, max_dets, img_ids)
    ours = _grouped_eval(gt, dets, max_dets, img_ids)
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(ours.eval[key], ref.eval[key]), key
    ref_ious = {k: np.asarray(v) for k, v in ref.ious.items() if len(v)}
    our_ious = {k: np.asarray(v) for k, v in ours.ious.items() if len(v)}
    assert ref_ious.keys() == our_ious.keys() and ref_ious
    for key in ref_ious:
        assert np.array_equal(our_ious[key], ref_ious[key]), key


def test_rejects_other_iou_types():
    gt, dets = random_coco(0, n_images=2)
    gt_clean = check_ground_truth(gt)
    arrays = checked_detection_arrays(dets, gt_clean)
    coco_gt = COCO(gt_clean, print_function=lambda *a: None)
    with pytest.raises(ValueError, match="iouType 'bbox'"):
        GroupedBoxEval(coco_gt, coco_gt, det_arrays=arrays, iouType="segm",
                       print_function=lambda *a: None)
