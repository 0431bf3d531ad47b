import copy
import json
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from detectron2.data import MetadataCatalog
from detectron2.structures import BoxMode
from srtod_d2.data.datasets.coco_json import (
    AITOD_CLASSES,
    load_aitod,
    load_coco_detection_json,
    load_droneswarms,
    validate_coco_json,
)
from srtod_d2.data.validation import DatasetFormatError


def _coco(classes=("drone",), cat_ids=None):
    cat_ids = cat_ids or list(range(1, len(classes) + 1))
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 7, "file_name": "b.png", "width": 32, "height": 32},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": cat_ids[-1], "bbox": [10, 10, 5, 4], "area": 20, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": cat_ids[0], "bbox": [60, 40, 8, 6], "area": 48, "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": cat_ids[0], "bbox": [1.5, 2.5, 3, 3], "area": 9, "iscrowd": 1},
        ],
        "categories": [{"id": i, "name": n} for i, n in zip(cat_ids, classes)],
    }


@pytest.fixture
def folder(tmp_path):
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "b.png")
    return tmp_path


def _write(folder, data, name="ann.json"):
    p = folder / name
    p.write_text(json.dumps(data))
    return p


def test_droneswarms_like_json_loads_with_clipping(folder, caplog):
    p = _write(folder, _coco())
    with caplog.at_level(logging.WARNING):
        recs = load_droneswarms(p, folder)
    assert [(r["image_id"], r["width"], r["height"]) for r in recs] == [(1, 64, 48), (7, 32, 32)]
    a = recs[0]["annotations"]
    assert a[0]["bbox"] == [10, 10, 5, 4] and a[0]["bbox_mode"] == BoxMode.XYWH_ABS and a[0]["id"] == 1
    assert a[1]["bbox"] == [60, 40, 4, 6]  # clipped at x=64
    assert recs[1]["annotations"][0]["iscrowd"] == 1
    assert "1 of 3 boxes extended outside their image and were clipped" in caplog.text


def test_aitod_non_contiguous_ids_map_in_id_order_and_metadata_is_set(folder):
    data = _coco(AITOD_CLASSES, cat_ids=[1, 2, 3, 4, 5, 6, 7, 9])
    p = _write(folder, data)
    recs = load_aitod(p, folder)
    assert [a["category_id"] for a in recs[0]["annotations"]] == [7, 0]
    recs = load_aitod(p, folder, dataset_name="_test_aitod_meta")
    meta = MetadataCatalog.get("_test_aitod_meta")
    assert meta.thing_classes == AITOD_CLASSES and meta.thing_dataset_id_to_contiguous_id[9] == 7
    assert [a["category_id"] for a in recs[0]["annotations"]] == [7, 0]


def test_class_names_must_match(folder):
    p = _write(folder, _coco(("plane",)))
    with pytest.raises(DatasetFormatError, match=r"categories \(in id order\) are \['plane'\], expected \['drone'\]"):
        load_droneswarms(p, folder)


def _mut(path, value):
    def f(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        if value is _DEL:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
        return d

    return f


_DEL = object()


@pytest.mark.parametrize(
    "mutate, msg",
    [
        (_mut(["images"], _DEL), "missing top-level key 'images'"),
        (_mut(["annotations"], {}), "'annotations' must be a list"),
        (_mut(["annotations", 0, "id"], 0), r"annotation id 0 is not allowed \(pycocotools"),
        (_mut(["annotations", 1, "id"], 1), r"duplicate annotation ids: \[1\]"),
        (_mut(["images", 1, "id"], 0), "image id 0 is not allowed"),
        (_mut(["images", 1, "id"], 1), r"duplicate image ids: \[1\]"),
        (_mut(["annotations", 0, "category_id"], 5), r"\[annotations\[0\]\]: unknown category_id 5"),
        (_mut(["annotations", 0, "image_id"], 3), r"\[annotations\[0\]\]: image_id 3 is not in 'images'"),
        (_mut(["annotations", 2, "bbox"], [1, 1, 0, 2]), r"\[annotations\[2\].bbox\]: bbox width and height must be positive"),
        (_mut(["annotations", 2, "bbox"], [1, 1, float("nan"), 2]), "must be finite"),
        (_mut(["annotations", 2, "bbox"], [1, 1, "2", 2]), "must be a number"),
        (_mut(["annotations", 2, "ignore"], 1), "'ignore' is not supported"),
        (_mut(["annotations", 1, "area"], _DEL), r"\[annotations\[1\].area\]: annotation needs a finite, non-negative 'area'.*None"),
        (_mut(["annotations", 1, "area"], float("inf")), r"\[annotations\[1\].area\]: .*got inf"),
        (_mut(["annotations", 2, "segmentation"], "abc"), "segmentation must be polygons"),
        (_mut(["images", 0, "width"], -64), r"\[images\[0\]\]: width must be a positive integer"),
        (_mut(["images", 0, "height"], _DEL), "image has no 'height'"),
        (_mut(["images", 1, "file_name"], "a.jpg"), "file_name 'a.jpg' appears twice"),
        (_mut(["categories"], []), "'categories' is empty"),
    ],
)
def test_bad_json_content_is_a_clear_error(folder, mutate, msg):
    p = _write(folder, mutate(_coco()))
    with pytest.raises(DatasetFormatError, match=msg) as e:
        load_coco_detection_json(p, folder)
    assert str(e.value).startswith(str(p))


def test_file_level_errors(folder):
    with pytest.raises(DatasetFormatError, match="COCO json file not found"):
        load_coco_detection_json(folder / "none.json", folder)
    (folder / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(_coco()).encode())
    with pytest.raises(DatasetFormatError, match="byte-order mark"):
        load_coco_detection_json(folder / "bom.json", folder)
    (folder / "bad.json").write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(DatasetFormatError, match=r"bad.json:2: invalid json"):
        load_coco_detection_json(folder / "bad.json", folder)
    (folder / "latin.json").write_bytes(json.dumps(_coco()).replace("drone", "dr\u00f6ne").encode("latin-1"))
    with pytest.raises(DatasetFormatError, match="not valid UTF-8"):
        load_coco_detection_json(folder / "latin.json", folder)


def test_image_problems(folder):
    p = _write(folder, _coco())
    (folder / "b.png").unlink()
    with pytest.raises(DatasetFormatError, match=r"\[image id 7\]: Image file not found: .*b.png"):
        load_coco_detection_json(p, folder)
    assert len(load_coco_detection_json(p, folder, check_images=False)) == 2
    (folder / "b.png").write_bytes(b"not an image")
    with pytest.raises(DatasetFormatError, match="Not a readable image"):
        load_coco_detection_json(p, folder)
    Image.fromarray(np.zeros((30, 32), np.uint8)).save(folder / "b.png")
    with pytest.raises(DatasetFormatError, match="annotation gives image size 32x32 .* is 32x30"):
        load_coco_detection_json(p, folder)


# ----------------------------------------------------------------------------- fuzz
_json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 100), st.floats(allow_nan=True), st.text(max_size=5)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=8,
)
_paths = st.sampled_from([
    ("images",), ("annotations",), ("categories",), ("images", 0), ("images", 0, "id"), ("images", 0, "width"),
    ("images", 1, "file_name"), ("annotations", 0), ("annotations", 0, "bbox"), ("annotations", 0, "bbox", 2),
    ("annotations", 1, "image_id"), ("annotations", 1, "category_id"), ("annotations", 2, "id"),
    ("annotations", 2, "segmentation"), ("annotations", 0, "iscrowd"), ("categories", 0, "name"), ("categories", 0, "id"),
])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(_paths, _json_value), max_size=3), drop=st.booleans())
def test_fuzz_mutated_json_gives_records_or_our_error(folder, edits, drop):
    data = copy.deepcopy(_coco())
    for path, value in edits:
        obj = data
        try:
            for k in path[:-1]:
                obj = obj[k]
            if drop and isinstance(obj, dict):
                obj.pop(path[-1], None)
            else:
                obj[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    p = _write(folder, data, "fuzz.json")
    try:
        recs = load_coco_detection_json(p, folder)
    except DatasetFormatError as e:
        assert str(e).startswith(str(p))
        return
    for r in recs:
        for a in r["annotations"]:
            assert a["bbox"][2] > 0 and a["bbox"][3] > 0


def test_validate_accepts_what_we_write():
    validate_coco_json(_coco(), "x.json", ["drone"])
