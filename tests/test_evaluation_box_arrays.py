"""srtod_d2.evaluation.box_arrays: annotation lists as arrays, pycocotools' box IoU."""
import numpy as np
import pytest

from srtod_d2.evaluation.box_arrays import BoxArrays, coco_box_iou

mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is the IoU reference")


def _random_boxes(rng, n):
    sides = [0.0, 0.5, 1.0, 3.0, 7.5, 20.0]  # zero-width boxes included
    boxes = np.column_stack([rng.uniform(0, 50, n), rng.uniform(0, 50, n),
                             rng.choice(sides, n) * rng.uniform(0.5, 2, n),
                             rng.choice(sides, n) * rng.uniform(0.5, 2, n)])
    # exact duplicates and boxes touching edge to edge
    boxes[1::7] = boxes[0]
    boxes[2::11, 0] = boxes[0, 0] + boxes[0, 2]
    return np.round(boxes, 2)


@pytest.mark.parametrize("seed", range(5))
def test_iou_is_bit_identical_to_pycocotools(seed):
    rng = np.random.default_rng(seed)
    dt, gt = _random_boxes(rng, 60), _random_boxes(rng, 25)
    crowd = rng.random(25) < 0.3
    expected = np.asarray(mask_api.iou(dt.tolist(), gt.tolist(), crowd.astype(np.uint8).tolist()))
    got = coco_box_iou(dt, gt, crowd)
    assert got.shape == (60, 25)
    # same bits, not just close: a match decided at exactly an IoU threshold must not flip
    assert np.array_equal(got, expected)
    assert (got == 0).any() and ((got > 0) & (got < 1)).any()


def test_iou_of_identical_and_disjoint_boxes():
    dt = np.array([[10.0, 10.0, 4.0, 4.0], [100.0, 100.0, 2.0, 2.0]])
    gt = np.array([[10.0, 10.0, 4.0, 4.0]])
    got = coco_box_iou(dt, gt, np.array([False]))
    assert got[0, 0] == 1.0 and got[1, 0] == 0.0
    # a crowd box: the union is the detection's own area (a detection inside it scores 1)
    inside = coco_box_iou(np.array([[11.0, 11.0, 2.0, 2.0]]), gt, np.array([True]))
    assert inside[0, 0] == 1.0


def test_from_annotations_reads_rows_in_order():
    dets = [{"image_id": 3, "category_id": 7, "bbox": [1, 2, 3, 4], "score": 0.5},
            {"image_id": 1, "category_id": 2, "bbox": [5.5, 6, 7, 8], "score": 0.25}]
    arrays = BoxArrays.from_annotations(dets, detections=True)
    assert arrays.image_ids.tolist() == [3, 1] and arrays.category_ids.tolist() == [7, 2]
    assert arrays.boxes.tolist() == [[1, 2, 3, 4], [5.5, 6, 7, 8]]
    assert arrays.scores.tolist() == [0.5, 0.25] and arrays.iscrowd is None
    gt = [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "iscrowd": 1},
          {"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1]}]
    gt_arrays = BoxArrays.from_annotations(gt, detections=False)
    assert gt_arrays.iscrowd.tolist() == [True, False] and gt_arrays.scores is None
    empty = BoxArrays.from_annotations([], detections=True)
    assert empty.boxes.shape == (0, 4) and empty.scores.shape == (0,)
