"""Property-based tests: on random ground truth and detections (degenerate boxes, many classes,
empty sets) the evaluator gives pycocotools' numbers, and bad input raises only our errors."""
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evaluation_support as support  # noqa: E402

from srtod_d2.evaluation import AITOD, COCO, EvaluationInputError, evaluate_coco_json  # noqa: E402

SIDES = st.one_of(st.sampled_from([0.0, 1.0, 7.9, 8.0, 16.0, 32.0, 96.0]),
                  st.floats(0, 120, allow_nan=False, allow_infinity=False))
COORD = st.floats(0, 100, allow_nan=False, allow_infinity=False)
BOX = st.tuples(COORD, COORD, SIDES, SIDES)


@st.composite
def coco_sets(draw):
    n_images = draw(st.integers(1, 4))
    cat_ids = draw(st.lists(st.integers(1, 500), min_size=1, max_size=12, unique=True))
    gt_rows = draw(st.lists(st.tuples(st.integers(0, n_images - 1), st.sampled_from(cat_ids), BOX,
                                      st.booleans(), st.sampled_from(["box", "json"]),
                                      st.floats(0, 2000)), max_size=25))
    dt_rows = draw(st.lists(st.tuples(st.integers(0, n_images - 1), st.sampled_from(cat_ids), BOX,
                                      st.sampled_from([0.1, 0.5, 0.5, 0.9, 1.0]),
                                      st.booleans()), max_size=40))
    images = [{"id": i + 1, "width": 256, "height": 256} for i in range(n_images)]
    anns = []
    for img, cat, box, crowd, area_from, json_area in gt_rows:
        anns.append({"id": len(anns) + 1, "image_id": img + 1, "category_id": cat,
                     "bbox": list(box), "area": box[2] * box[3] if area_from == "box" else json_area,
                     "iscrowd": int(crowd and draw(st.integers(0, 4)) == 0)})
    dets = []
    for img, cat, box, score, copy_gt in dt_rows:
        if copy_gt and anns:  # overlapping a ground-truth box, possibly the same
            g = anns[draw(st.integers(0, len(anns) - 1))]
            img, cat = g["image_id"] - 1, g["category_id"]
            box = [v + d for v, d in zip(g["bbox"], draw(st.sampled_from(
                [(0, 0, 0, 0), (1, 0, 0, 1), (-2, 1, 3, 0)])))]
            box[2], box[3] = max(box[2], 0.0), max(box[3], 0.0)
        dets.append({"image_id": img + 1, "category_id": cat, "bbox": list(box), "score": score})
    cats = [{"id": c, "name": f"c{c}"} for c in cat_ids]
    return {"images": images, "annotations": anns, "categories": cats}, dets


PROTOCOLS = st.sampled_from([AITOD, COCO, AITOD.with_max_dets([1, 2])])
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(data=coco_sets(), protocol=PROTOCOLS,
       backend=st.sampled_from(["faster-coco-eval", "pycocotools"]))
def test_same_numbers_as_pycocotools(data, protocol, backend):
    gt, dets = data
    got = evaluate_coco_json(gt, dets, protocol, backend=backend).metrics
    bands = [(r.name, r.key, r.low, r.high) for r in protocol.area_ranges]
    support.assert_metrics_equal(got, support.reference_metrics(gt, dets, bands,
                                                                protocol.max_dets))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=coco_sets(), fault=st.sampled_from(["nan_box", "inf_score", "unknown_cat",
                                                "unknown_image", "gt_id_0", "gt_nan_area"]),
       where=st.integers(0, 10**6))
def test_bad_input_raises_our_error_only(data, fault, where):
    gt, dets = data
    if fault.startswith("gt_"):
        if not gt["annotations"]:
            return
        ann = gt["annotations"][where % len(gt["annotations"])]
        if fault == "gt_id_0":
            ann["id"] = 0
        else:
            ann["area"] = float("nan")
    else:
        if not dets:
            return
        det = dets[where % len(dets)]
        if fault == "nan_box":
            det["bbox"][where % 4] = float("nan")
        elif fault == "inf_score":
            det["score"] = float("inf")
        elif fault == "unknown_cat":
            det["category_id"] = 501
        else:
            det["image_id"] = 99
    with pytest.raises(EvaluationInputError):
        evaluate_coco_json(gt, dets)
