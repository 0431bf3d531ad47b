import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evaluation_support as support  # noqa: E402

from srtod_d2.evaluation import (  # noqa: E402
    AITOD,
    COCO,
    AreaRange,
    EvalProtocol,
    evaluate_coco_json,
    get_protocol,
)
from srtod_d2.evaluation.protocol import IOU_THRESHOLDS, RECALL_THRESHOLDS  # noqa: E402


def test_aitod_protocol_is_the_papers():
    assert [(r.name, r.key, r.low, r.high) for r in AITOD.area_ranges] == [
        ("all", "", 0, 1e10), ("verytiny", "vt", 0, 64), ("tiny", "t", 64, 256),
        ("small", "s", 256, 1024), ("medium", "m", 1024, 1e10)]
    assert AITOD.max_dets == (100, 300, 1500) and AITOD.max_det == 1500
    assert AITOD.area_rng_lbl == ["all", "verytiny", "tiny", "small", "medium"]
    assert AITOD.area_rng[1] == [0.0, 64.0]


def test_coco_protocol_and_thresholds_are_pycocotools_defaults():
    from pycocotools.cocoeval import Params

    p = Params(iouType="bbox")
    assert COCO.area_rng == p.areaRng and COCO.area_rng_lbl == p.areaRngLbl
    assert list(COCO.max_dets) == p.maxDets
    np.testing.assert_array_equal(IOU_THRESHOLDS, p.iouThrs)
    np.testing.assert_array_equal(RECALL_THRESHOLDS, p.recThrs)


def test_protocols_are_frozen_and_named():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AITOD.max_dets = (1,)
    assert get_protocol("aitod") is AITOD and get_protocol("AI-TOD") is AITOD
    assert get_protocol("coco") is COCO and get_protocol(COCO) is COCO
    with pytest.raises(ValueError, match="Unknown evaluation protocol 'visdrone'"):
        get_protocol("visdrone")


def test_with_max_dets():
    assert AITOD.with_max_dets(500).max_dets == (100, 300, 500)
    assert AITOD.with_max_dets(50).max_dets == (50,)
    assert COCO.with_max_dets([10, 20]).max_dets == (10, 20)
    assert AITOD.with_max_dets(500).area_ranges == AITOD.area_ranges
    assert AITOD.max_dets == (100, 300, 1500)  # unchanged


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_dets=(300, 100)), "strictly increasing"),
    (dict(max_dets=(0, 10)), "positive"),
    (dict(max_dets=()), "max_dets"),
    (dict(area_ranges=(AreaRange("small", "s", 0, 1024),)), "first area range"),
    (dict(area_ranges=(AreaRange("all", "", 0, 1e10), AreaRange("a", "s", 0, 1),
                       AreaRange("b", "s", 1, 2))), "keys must be unique"),
    (dict(area_ranges=()), "at least one"),
])
def test_invalid_protocols_are_rejected(kwargs, message):
    args = dict(name="x", area_ranges=AITOD.area_ranges, max_dets=(100,))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        EvalProtocol(**args)


def test_area_range_checks():
    with pytest.raises(ValueError, match="low 5 > high 1"):
        AreaRange("x", "x", 5, 1)
    with pytest.raises(ValueError, match="finite"):
        AreaRange("x", "x", 0, float("inf"))


def _one_box(area):
    side = float(np.sqrt(area))
    gt = {"images": [{"id": 1, "width": 100, "height": 100}],
          "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, side, side],
                           "area": area, "iscrowd": 0}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [5, 5, side, side], "score": 0.9}]
    return gt, dets


@pytest.mark.parametrize("backend", ["faster-coco-eval", "pycocotools"])
def test_band_bounds_are_inclusive(backend):
    # area exactly 8^2 belongs to both "very tiny" [0, 8^2] and "tiny" [8^2, 16^2].
    m = evaluate_coco_json(*_one_box(64.0), backend=backend).metrics
    assert m["APvt"] == pytest.approx(100) and m["APt"] == pytest.approx(100)
    assert np.isnan(m["APs"]) and np.isnan(m["APm"])
    m = evaluate_coco_json(*_one_box(100.0), backend=backend).metrics
    assert np.isnan(m["APvt"]) and m["APt"] == pytest.approx(100)


def test_custom_protocol_bands_reach_the_results():
    proto = EvalProtocol("mine", (AreaRange("all", "", 0, 1e10), AreaRange("lt50", "x", 0, 50),
                                  AreaRange("ge50", "y", 50, 1e10)), (2, 7))
    gt, dets = support.random_coco(3)
    got = evaluate_coco_json(gt, dets, proto).metrics
    assert {"APx", "APy", "AR@2", "AR@7", "ARx", "ARy", "APx-class1"} <= set(got)
    bands = [(r.name, r.key, r.low, r.high) for r in proto.area_ranges]
    support.assert_metrics_equal(got, support.reference_metrics(gt, dets, bands, [2, 7]))
