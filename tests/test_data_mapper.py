import copy

import cv2
import numpy as np
import pytest
import torch

from detectron2.data import transforms as T
from detectron2.data.dataset_mapper import DatasetMapper
from detectron2.structures import BoxMode

from srtod_d2.data.mapper import TinyDatasetMapper, float_boxes


@pytest.fixture
def record(tmp_path):
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), np.zeros((64, 80, 3), np.uint8))
    annos = [{"bbox": [2, 14, 7, 7], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 0},
             {"bbox": [33, 6, 43, 17], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0, "iscrowd": 0}]
    return {"file_name": str(path), "height": 64, "width": 80, "image_id": 1, "annotations": annos}


def _boxes(mapper_cls, record):
    mapper = mapper_cls(True, augmentations=[T.ResizeShortestEdge(96, 1000)], image_format="BGR")
    out = mapper(record)
    assert tuple(out["image"].shape) == (3, 96, 120)
    return out["instances"].gt_boxes.tensor


def test_integer_boxes_are_resized_without_truncation(record):
    before = copy.deepcopy(record)
    # x1.5 of (2, 14, 2+7, 14+7) and (33, 6, 43, 17), in float32 as detectron2 keeps boxes
    want = torch.tensor([[3.0, 21.0, 13.5, 31.5], [49.5, 9.0, 64.5, 25.5]])
    assert torch.equal(_boxes(TinyDatasetMapper, record), want)
    assert record == before  # the caller's dict (and its integer boxes) untouched
    # what the fix is for: detectron2's own mapper floors the same boxes
    assert torch.equal(_boxes(DatasetMapper, record), want.floor())


def test_float_boxes_copies_only_what_it_changes():
    assert float_boxes({"file_name": "a.png"}) == {"file_name": "a.png"}
    empty = {"annotations": []}
    assert float_boxes(empty) is empty
    record = {"annotations": [{"bbox": [1, 2, 3, 4]}, {"segmentation": []}]}
    out = float_boxes(record)
    assert out["annotations"][0]["bbox"] == [1.0, 2.0, 3.0, 4.0]
    assert all(isinstance(v, float) for v in out["annotations"][0]["bbox"])
    assert out["annotations"][1] == {"segmentation": []}
    assert record["annotations"][0]["bbox"] == [1, 2, 3, 4] and type(record["annotations"][0]["bbox"][0]) is int


def test_an_unpickled_mapper_reads_16_bit_in_a_fresh_interpreter(tmp_path, monkeypatch):
    # A spawn/forkserver DataLoader worker only unpickles the mapper; __init__ never runs there.
    import pickle

    from detectron2.data import dataset_mapper, detection_utils

    ramp = np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (30, 1))
    cv2.imwrite(str(tmp_path / "ir.png"), ramp)
    blob = pickle.dumps(TinyDatasetMapper(False, augmentations=[], image_format="BGR"))
    monkeypatch.setattr(dataset_mapper, "utils", detection_utils)  # as a fresh interpreter has it
    mapper = pickle.loads(blob)
    out = mapper({"file_name": str(tmp_path / "ir.png"), "height": 30, "width": 40, "image_id": 1})
    assert np.array_equal(out["image"][0].numpy(), np.rint(ramp / 257.0).astype(np.uint8))
