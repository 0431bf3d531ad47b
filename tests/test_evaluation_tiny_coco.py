import json
import logging
import math
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evaluation_support as support  # noqa: E402

from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402
from detectron2.data.datasets import register_coco_instances  # noqa: E402
from detectron2.evaluation import DatasetEvaluator  # noqa: E402
from detectron2.structures import Boxes, BoxMode, Instances  # noqa: E402

from srtod_d2.evaluation import (  # noqa: E402
    AITOD,
    COCO,
    EvaluationInputError,
    TinyCOCOEvaluator,
    evaluate_coco_json,
)


def _bands(protocol):
    return [(r.name, r.key, r.low, r.high) for r in protocol.area_ranges]


AITOD_KEYS = ["AP", "AP50", "AP75", "APvt", "APt", "APs", "APm", "AR@100", "AR@300", "AR@1500",
              "ARvt", "ARt", "ARs", "ARm"]


@pytest.mark.parametrize("backend", ["faster-coco-eval", "pycocotools"])
@pytest.mark.parametrize("seed", range(5))
def test_evaluate_coco_json_equals_reference(seed, backend):
    gt, dets = support.random_coco(seed, n_images=10 + seed)
    for protocol in (AITOD, COCO, AITOD.with_max_dets([2, 4])):
        result = evaluate_coco_json(gt, dets, protocol, backend=backend)
        expected = support.reference_metrics(gt, dets, _bands(protocol), protocol.max_dets)
        support.assert_metrics_equal(result.metrics, expected)
    assert list(evaluate_coco_json(gt, dets).metrics)[:14] == AITOD_KEYS


def test_result_names_and_nan_for_empty_bands(tmp_path):
    gt, dets = support.random_coco(0)
    result = evaluate_coco_json(gt, dets)
    names = [f"class{i}" for i in range(1, 6)]
    assert result.class_names == names
    assert set(result.metrics) == set(AITOD_KEYS) | {
        f"AP{k}-{n}" for n in names for k in ("", "vt", "t", "s", "m")}
    assert math.isnan(result.metrics["AP-class1"])  # class1 has no ground truth
    assert result.metrics["AP-class5"] == 0  # class5 has ground truth, no detections
    assert 0 < result.metrics["AP"] < 100
    text = result.tables()
    for word in ["APvt", "AR@1500", "class3", "faster-coco-eval", "aitod", "| nan"]:
        assert word in text
    # files work as well as objects
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "d.json").write_text(json.dumps(dets))
    again = evaluate_coco_json(tmp_path / "gt.json", str(tmp_path / "d.json"))
    support.assert_metrics_equal(again.metrics, result.metrics, tol=0)
    with pytest.raises(EvaluationInputError, match="missing.json does not exist"):
        evaluate_coco_json(tmp_path / "gt.json", tmp_path / "missing.json")


@pytest.mark.skipif(not support.VISDRONE_VAL.is_dir(),
                    reason=f"VisDrone val annotations not found at {support.VISDRONE_VAL}")
def test_visdrone_val_subset_against_perturbed_copy():
    gt = support.visdrone_coco_gt(limit=12)
    assert len(gt["images"]) == 12 and len(gt["annotations"]) > 500
    dets = support.perturbed_detections(gt, per_image=1500, seed=1)
    assert len(dets) == 12 * 1500
    result = evaluate_coco_json(gt, dets)
    assert result.backend.startswith("faster-coco-eval")
    expected = support.reference_metrics(gt, dets, _bands(AITOD), AITOD.max_dets)
    support.assert_metrics_equal(result.metrics, expected)
    # a useful test: boxes of every band, and the limits matter
    assert all(0 < result.metrics[k] < 100 for k in ("AP", "APvt", "APt", "APs", "APm"))
    assert result.metrics["AR@100"] < result.metrics["AR@1500"]


# ---------------------------------------------------------------- TinyCOCOEvaluator

@pytest.fixture
def registered(tmp_path):
    gt, dets = support.random_coco(7, n_images=9)
    for img in gt["images"]:
        img["file_name"] = f"{img['id']}.jpg"
    json_file = tmp_path / "gt.json"
    json_file.write_text(json.dumps(gt))
    name = f"srtod_eval_test_{uuid.uuid4().hex[:8]}"
    register_coco_instances(name, {}, str(json_file), str(tmp_path))
    DatasetCatalog.get(name)  # loading sets thing_classes and the id mapping, as training does
    yield name, gt, dets
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _model_outputs(gt, dets, mapping):
    """detectron2 model inputs/outputs holding ``dets`` (category ids mapped to contiguous)."""
    inputs, outputs = [], []
    for img in gt["images"]:
        mine = [d for d in dets if d["image_id"] == img["id"]]
        inst = Instances((img["height"], img["width"]))
        boxes = torch.tensor([d["bbox"] for d in mine], dtype=torch.float32).reshape(-1, 4)
        inst.pred_boxes = Boxes(BoxMode.convert(boxes, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS))
        inst.scores = torch.tensor([d["score"] for d in mine], dtype=torch.float32)
        inst.pred_classes = torch.tensor([mapping[d["category_id"]] for d in mine],
                                         dtype=torch.int64)
        inputs.append({"image_id": img["id"], "height": img["height"], "width": img["width"]})
        outputs.append({"instances": inst})
    return inputs, outputs


def test_evaluator_end_to_end(registered, tmp_path, caplog):
    name, gt, dets = registered
    out_dir = tmp_path / "out"
    evaluator = TinyCOCOEvaluator(name, output_dir=str(out_dir))
    assert isinstance(evaluator, DatasetEvaluator)
    mapping = MetadataCatalog.get(name).thing_dataset_id_to_contiguous_id
    assert mapping == {10: 0, 20: 1, 30: 2, 40: 3, 50: 4}  # non-contiguous dataset ids
    inputs, outputs = _model_outputs(gt, dets, mapping)
    evaluator.reset()
    evaluator.process(inputs[:4], outputs[:4])
    evaluator.process(inputs[4:], outputs[4:])
    with caplog.at_level(logging.INFO, logger="srtod_d2.evaluation.tiny_coco"):
        results = evaluator.evaluate()

    written = json.loads((out_dir / "coco_instances_results.json").read_text())
    assert (out_dir / "instances_predictions.pth").is_file()
    assert len(written) == len(dets)
    key = lambda d: (d["image_id"], d["category_id"], round(d["score"], 5), round(d["bbox"][0], 2))
    for w, d in zip(sorted(written, key=key), sorted(dets, key=key)):
        assert (w["image_id"], w["category_id"]) == (d["image_id"], d["category_id"])
        np.testing.assert_allclose(w["bbox"], d["bbox"], atol=1e-3)

    expected = support.reference_metrics(gt, written, _bands(AITOD), AITOD.max_dets)
    assert set(results) == {"bbox"}
    support.assert_metrics_equal(results["bbox"], expected)
    assert evaluator.backend_used.startswith("faster-coco-eval")
    assert "Evaluation results for bbox (aitod protocol" in caplog.text
    assert "APvt" in caplog.text and f"{results['bbox']['AP']:.3f}" in caplog.text
    assert "| class2 " in caplog.text and "faster-coco-eval" in caplog.text


def test_evaluator_options_and_empty_outputs(registered, tmp_path):
    name, gt, dets = registered
    mapping = MetadataCatalog.get(name).thing_dataset_id_to_contiguous_id
    evaluator = TinyCOCOEvaluator(name, distributed=False, max_dets_per_image=3,
                                  protocol="coco", backend="pycocotools")
    assert evaluator.protocol.max_dets == (1, 3)
    inputs, outputs = _model_outputs(gt, dets, mapping)
    evaluator.reset()
    evaluator.process(inputs, outputs)
    written = []
    for inp, out in zip(inputs, outputs):
        from detectron2.evaluation.coco_evaluation import instances_to_coco_json

        for d in instances_to_coco_json(out["instances"], inp["image_id"]):
            d["category_id"] = {v: k for k, v in mapping.items()}[d["category_id"]]
            written.append(d)
    results = evaluator.evaluate()["bbox"]
    proto = COCO.with_max_dets(3)
    support.assert_metrics_equal(results, support.reference_metrics(gt, written, _bands(proto),
                                                                    proto.max_dets))
    assert evaluator.backend_used.startswith("pycocotools")
    assert {"APs", "APm", "APl", "AR@1", "AR@3"} <= set(results)

    # images processed, nothing detected: zeros, not a crash
    empty = [{"instances": Instances(o["instances"].image_size, pred_boxes=Boxes(torch.zeros(0, 4)),
                                     scores=torch.zeros(0), pred_classes=torch.zeros(0).long())}
             for o in outputs]
    evaluator = TinyCOCOEvaluator(name, distributed=False)
    evaluator.reset()
    evaluator.process(inputs, empty)
    results = evaluator.evaluate()["bbox"]
    assert results["AP"] == 0 and results["AR@1500"] == 0


def test_evaluator_errors(registered):
    name, gt, dets = registered
    with pytest.raises(ValueError, match="boxes only; tasks \\['segm'\\]"):
        TinyCOCOEvaluator(name, tasks=("bbox", "segm"))
    evaluator = TinyCOCOEvaluator(name, distributed=False)
    inputs, outputs = _model_outputs(gt, dets[:3], {c["id"]: 0 for c in gt["categories"]})
    outputs[0]["instances"].pred_classes[:] = 7
    evaluator.reset()
    evaluator.process(inputs, outputs)
    with pytest.raises(EvaluationInputError, match="class 7, but dataset .* has 5 classes"):
        evaluator.evaluate()


def test_evaluator_on_dataset_without_json(tmp_path):
    name = f"srtod_eval_dicts_{uuid.uuid4().hex[:8]}"
    records = []
    for i in range(3):
        records.append({"file_name": f"{i}.jpg", "image_id": i + 1, "height": 64, "width": 64,
                        "annotations": [{"bbox": [4.0 * i, 5.0, 6.0 + i, 7.0],
                                         "bbox_mode": BoxMode.XYWH_ABS, "category_id": i % 2,
                                         "iscrowd": 0}]})
    DatasetCatalog.register(name, lambda: records)
    MetadataCatalog.get(name).set(thing_classes=["a", "b"])
    try:
        evaluator = TinyCOCOEvaluator(name, output_dir=str(tmp_path), distributed=False)
        evaluator.reset()
        for r in records:
            a = r["annotations"][0]
            x, y, w, h = a["bbox"]
            inst = Instances((64, 64), pred_boxes=Boxes(torch.tensor([[x, y, x + w, y + h]])),
                             scores=torch.tensor([0.9]),
                             pred_classes=torch.tensor([a["category_id"]]))
            evaluator.process([{"image_id": r["image_id"]}], [{"instances": inst}])
        results = evaluator.evaluate()["bbox"]
        assert (tmp_path / f"{name}_coco_format.json").is_file()
        assert results["AP"] == pytest.approx(100) and results["AP-a"] == pytest.approx(100)
        assert results["APvt"] == pytest.approx(100) and math.isnan(results["APm"])
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_ignored_regions_hide_detections_of_every_class(tmp_path):
    # VisDrone-style records: one car, one ignored region. A car and a bus detected inside the
    # region must not count as false positives (detectron2's COCO conversion drops the region).
    name = f"srtod_eval_ignore_{uuid.uuid4().hex[:8]}"
    records = [{"file_name": "0.jpg", "image_id": 7, "height": 100, "width": 100,
                "annotations": [{"bbox": [60.0, 60.0, 70.0, 68.0], "bbox_mode": BoxMode.XYXY_ABS,
                                 "category_id": 0, "iscrowd": 0}],
                "ignore_regions": [[0.0, 0.0, 40.0, 40.0]]}]
    DatasetCatalog.register(name, lambda: records)
    MetadataCatalog.get(name).set(thing_classes=["car", "bus"], has_ignore_regions=True)  # as register_visdrone sets
    try:
        evaluator = TinyCOCOEvaluator(name, distributed=False, output_dir=str(tmp_path))
        evaluator.reset()
        boxes = torch.tensor([[60.0, 60.0, 70.0, 68.0], [10.0, 10.0, 18.0, 16.0], [20.0, 20.0, 26.0, 30.0]])
        inst = Instances((100, 100), pred_boxes=Boxes(boxes), scores=torch.tensor([0.5, 0.9, 0.8]),
                         pred_classes=torch.tensor([0, 0, 1]))
        evaluator.process([{"image_id": 7}], [{"instances": inst}])
        results = evaluator.evaluate()["bbox"]
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    # the car detected in the region scores above the true one: counted, the car's precision would be 1/2
    assert results["AP-car"] == pytest.approx(100)
    crowd = [a for a in evaluator._gt["annotations"] if a["iscrowd"]]
    assert sorted(a["category_id"] for a in crowd) == sorted(c["id"] for c in evaluator._gt["categories"])
    assert all(a["bbox"] == [0.0, 0.0, 40.0, 40.0] and a["image_id"] == 7 for a in crowd)
