import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evaluation_support as support  # noqa: E402

import srtod_d2.evaluation.backend as backend_module  # noqa: E402
from srtod_d2.evaluation import (  # noqa: E402
    AITOD,
    COCO,
    EvaluationInputError,
    available_backends,
    check_detections,
    check_ground_truth,
    evaluate_coco_json,
    resolve_backend,
    run_cocoeval,
)

BACKENDS = ["faster-coco-eval", "pycocotools"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("protocol", [AITOD, COCO, AITOD.with_max_dets([1, 3, 5])],
                         ids=["aitod", "coco", "maxdets-1-3-5"])
def test_arrays_equal_pycocotools(backend, seed, protocol):
    gt, dets = support.random_coco(seed)
    ref = support.pycocotools_eval(gt, dets, protocol.area_rng, protocol.area_rng_lbl,
                                   protocol.max_dets)
    g = check_ground_truth(gt)
    raw = run_cocoeval(g, check_detections(dets, g), protocol, backend=backend)
    assert raw.backend.split()[0] == backend
    assert raw.precision.shape == ref.eval["precision"].shape
    np.testing.assert_allclose(raw.precision, ref.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(raw.recall, ref.eval["recall"], rtol=0, atol=1e-12)
    assert raw.cat_ids == sorted(c["id"] for c in gt["categories"])
    # the random data does exercise several bands, matches and misses
    assert (raw.precision > 0).any() and (raw.precision == -1).any()


def test_backend_choice_and_fallback(monkeypatch, caplog):
    assert available_backends() == BACKENDS
    assert resolve_backend("auto") == "faster-coco-eval"
    with pytest.raises(ValueError, match="Unknown evaluation backend 'cuda'"):
        resolve_backend("cuda")
    gt, dets = support.random_coco(1)
    fast = evaluate_coco_json(gt, dets)
    assert fast.backend.startswith("faster-coco-eval ")

    monkeypatch.setattr(backend_module, "_faster_coco_eval_version", lambda: None)
    assert available_backends() == ["pycocotools"]
    with pytest.raises(ImportError, match="'faster-coco-eval' is not installed"):
        resolve_backend("faster-coco-eval")
    with caplog.at_level(logging.WARNING):
        slow = evaluate_coco_json(gt, dets)
    assert "slower pycocotools" in caplog.text
    assert slow.backend.startswith("pycocotools ")
    support.assert_metrics_equal(slow.metrics, fast.metrics)


def test_inputs_are_not_modified():
    gt, dets = support.random_coco(2)
    import copy

    gt0, dets0 = copy.deepcopy(gt), copy.deepcopy(dets)
    for b in BACKENDS:
        evaluate_coco_json(gt, dets, backend=b)
    assert gt == gt0 and dets == dets0


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_detections_give_zeros(backend):
    gt, _ = support.random_coco(0)
    m = evaluate_coco_json(gt, [], backend=backend).metrics
    assert m["AP"] == 0 and m["AP50"] == 0 and m["AR@1500"] == 0 and m["ARm"] == 0
    assert m["AP-class2"] == 0 and math.isnan(m["AP-class1"])
    # undefined bands stay NaN: remove every very tiny ground truth
    gt["annotations"] = [a for a in gt["annotations"] if a["area"] > 64]
    m = evaluate_coco_json(gt, [], backend=backend).metrics
    assert math.isnan(m["APvt"]) and m["APt"] == 0


def _gt():
    return {"images": [{"id": 1, "width": 50, "height": 50}, {"id": 2, "width": 50, "height": 50}],
            "categories": [{"id": i, "name": f"c{i}"} for i in range(1, 11)],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4],
                             "area": 12.0, "iscrowd": 0}]}


def _dets(n=20):
    return [{"image_id": 1 + i % 2, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}
            for i in range(n)]


def test_ground_truth_errors():
    gt = _gt()
    gt["annotations"][0]["id"] = 0
    with pytest.raises(EvaluationInputError, match=r"gt\.json: annotation 0 \(annotations\[0\]\) "
                                                    r"has id 0; .*'unmatched'"):
        check_ground_truth(gt, "gt.json")
    gt = _gt()
    gt["annotations"][0]["bbox"][2] = float("nan")
    with pytest.raises(EvaluationInputError, match=r"annotation 1 \(annotations\[0\]\) has bbox "
                                                    r"\[1, 2, nan, 4\]; expected 4 finite"):
        check_ground_truth(gt, "gt.json")
    gt = _gt()
    del gt["annotations"][0]["area"]
    with pytest.raises(EvaluationInputError, match="has no 'area' field"):
        check_ground_truth(gt)
    gt = _gt()
    gt["annotations"][0]["category_id"] = 99
    with pytest.raises(EvaluationInputError, match=r"category_id 99, which is not in the ground "
                                                    r"truth categories \[1\.\.10\]"):
        check_ground_truth(gt)
    gt = _gt()
    gt["annotations"].append(dict(gt["annotations"][0]))
    with pytest.raises(EvaluationInputError, match="repeats annotation id 1"):
        check_ground_truth(gt)
    with pytest.raises(EvaluationInputError, match="has no 'annotations' list"):
        check_ground_truth({"images": [], "categories": []}, "test.json")


def test_detection_errors():
    g = check_ground_truth(_gt())
    dets = _dets()
    dets[17]["category_id"] = 99
    with pytest.raises(EvaluationInputError) as e:
        check_detections(dets, g, "detections.json")
    assert str(e.value) == ("detections.json: detection [17] has category_id 99, which is not in "
                            "the ground truth categories [1..10]")
    dets = _dets()
    dets[5]["bbox"] = [1.0, float("nan"), 3.0, 4.0]
    with pytest.raises(EvaluationInputError, match=r"detection \[5\] has bbox \[1\.0, nan, 3\.0, "
                                                    r"4\.0\]; expected 4 finite"):
        check_detections(dets, g, "detections.json")
    dets = _dets()
    dets[3]["score"] = float("nan")
    with pytest.raises(EvaluationInputError, match=r"detection \[3\] has score nan"):
        check_detections(dets, g)
    dets = _dets()
    dets[4]["image_id"] = 7
    with pytest.raises(EvaluationInputError, match=r"detection \[4\] has image_id 7, which is not"):
        check_detections(dets, g)
    dets = _dets()
    dets[2]["id"] = 0
    with pytest.raises(EvaluationInputError, match=r"detection \[2\] has id 0"):
        check_detections(dets, g)
    dets = _dets()
    del dets[9]["score"]
    with pytest.raises(EvaluationInputError, match=r"detection \[9\] has no 'score' field"):
        check_detections(dets, g)
    dets = _dets()
    dets[1]["bbox"] = [1, 2, 3]
    with pytest.raises(EvaluationInputError, match=r"detection \[1\] has bbox \[1, 2, 3\]"):
        check_detections(dets, g)
    # ids that an int64 array would have taken silently: a bool, a string, a fraction
    for bad in (True, "3", 2.5):
        dets = _dets()
        dets[6]["category_id"] = bad
        with pytest.raises(EvaluationInputError, match=rf"detection \[6\] has category_id {bad!r}"):
            check_detections(dets, g)
    with pytest.raises(EvaluationInputError, match="expected a list of detections"):
        check_detections({"annotations": []}, g, "x.json")


def test_clean_detections_are_what_loadres_makes():
    g = check_ground_truth(_gt())
    dets = _dets(3)
    dets[1]["image_id"] = 2.0  # integral floats are ids too
    dets[2]["id"] = 55  # ignored: numbered 1..N like loadRes
    out = check_detections(dets, g)
    assert [d["id"] for d in out] == [1, 2, 3]
    assert out[1]["image_id"] == 2 and isinstance(out[1]["image_id"], int)
    assert all(d["area"] == 12.0 and d["iscrowd"] == 0 for d in out)
