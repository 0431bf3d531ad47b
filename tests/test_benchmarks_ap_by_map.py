import json

import cv2
import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, BoxMode, Instances

from helpers import load_benchmark, register_tiny_coco, tiny_cfg
from srtod_d2.evaluation import evaluate_coco_json

ap_by_map = load_benchmark("ap_by_map")
stats = load_benchmark("difference_map_stats")


def test_marked_boxes_are_the_boxes_p2_hits_counts():
    rng = np.random.default_rng(1)
    binary = rng.random((40, 52)) > 0.97
    boxes = [(1.0, 2.0, 3.0, 4.0), (10.5, 20.0, 17.0, 23.5), (44.0, 30.0, 51.9, 39.9), (25.0, 5.0, 27.0, 6.0)]
    for mode in ("nearest", "max"):
        marks = stats.marked_boxes(binary, boxes, mode)
        assert marks.dtype == bool and marks.shape == (4,)
        assert marks.mean() == stats.p2_hits(binary, boxes)[mode][0]
    # a 2x2 target off its cell's top-left pixel: max keeps it, nearest drops it
    spot = np.zeros((16, 16), bool)
    spot[5:7, 9:11] = True
    assert stats.marked_boxes(spot, [(9, 5, 11, 7)], "nearest").tolist() == [False]
    assert stats.marked_boxes(spot, [(9, 5, 11, 7)], "max").tolist() == [True]


def test_marked_boxes_count_the_cells_the_map_dilation_spreads_to():
    spot = np.zeros((32, 32), bool)
    spot[8, 8] = True  # cell (2, 2) at stride 4
    one_cell_away, two_cells_away = (12.0, 12.0, 14.0, 14.0), (16.0, 8.0, 18.0, 10.0)  # cells (3, 3), (2, 4)
    assert stats.marked_boxes(spot, [one_cell_away, two_cells_away], "nearest").tolist() == [False, False]
    assert stats.marked_boxes(spot, [one_cell_away, two_cells_away], "nearest", dilation=3).tolist() == [True, False]
    assert stats.marked_boxes(spot, [one_cell_away, two_cells_away], "nearest", dilation=5).tolist() == [True, True]
    # p2_hits counts the spread cells too: 9 marked cells at dilation 3, one of them in the first box
    hits = stats.p2_hits(spot, [one_cell_away], dilation=3)["nearest"]
    assert hits[0] == 1.0 and hits[2:] == (1, 9)


def _gt():
    return {"images": [{"id": 1, "width": 100, "height": 100}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 6, 6], "area": 36, "iscrowd": 0},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [60, 60, 6, 6], "area": 36, "iscrowd": 0},
                            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [80, 10, 9, 9], "area": 81, "iscrowd": 1}],
            "categories": [{"id": 1, "name": "a"}]}


def test_keep_only_ignores_the_other_boxes_and_keeps_crowds():
    gt = _gt()
    marked_half, missed_half = ap_by_map.keep_only(gt, [1]), ap_by_map.keep_only(gt, [2, 3])
    assert [a["iscrowd"] for a in marked_half["annotations"]] == [0, 1, 1]
    assert [a["iscrowd"] for a in missed_half["annotations"]] == [1, 0, 1]
    assert [a["iscrowd"] for a in gt["annotations"]] == [0, 0, 1]  # the caller's dict is untouched


def test_a_detection_on_the_other_half_is_neither_hit_nor_false_positive():
    # one exact hit on each box and a false positive scored above both: on the whole set the
    # precision at full recall is 2/3 (AP50 66.7); on each half the other hit is ignored, so it is 1/2
    dets = [{"image_id": 1, "category_id": 1, "bbox": [30, 40, 6, 6], "score": 0.95},
            {"image_id": 1, "category_id": 1, "bbox": [10, 10, 6, 6], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [60, 60, 6, 6], "score": 0.8}]
    whole = evaluate_coco_json(_gt(), dets).metrics["AP50"]
    halves = [evaluate_coco_json(ap_by_map.keep_only(_gt(), [i]), dets).metrics["AP50"] for i in (1, 2)]
    assert whole == pytest.approx(100 * 2 / 3, abs=0.05)
    assert halves == [pytest.approx(50.0), pytest.approx(50.0)]


def test_size_groups_put_each_box_in_one_aitod_band():
    sides = [1, 8, 8.1, 16, 17, 32, 33, 200]  # squares: the bands' bounds 8^2, 16^2, 32^2 on both sides
    gt = {"annotations": [{"id": k, "area": side * side, "iscrowd": 0} for k, side in enumerate(sides)]
          + [{"id": 99, "area": 4.0, "iscrowd": 1}]}
    assert ap_by_map.size_groups(gt) == {"verytiny": [0, 1], "tiny": [2, 3], "small": [4, 5], "medium": [6, 7]}


def test_box_fit_pairs_each_box_with_its_best_detection_of_enough_score():
    gt = {"images": [{"id": 1}, {"id": 2}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 10, 10]},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 4, 4]},
                          {"id": 3, "image_id": 2, "category_id": 1, "bbox": [80, 80, 6, 6]},
                          {"id": 4, "image_id": 2, "category_id": 1, "bbox": [20, 20, 6, 6]}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [12, 10, 10, 10], "score": 0.9},  # box 1: IoU 80/120
            {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 10], "score": 0.9},  # box 1: IoU 0.5, not its best
            {"image_id": 1, "category_id": 2, "bbox": [10, 10, 10, 10], "score": 0.9},  # another class
            {"image_id": 1, "category_id": 1, "bbox": [50, 50, 4, 4], "score": 0.2},    # box 2 exactly, score too low
            {"image_id": 1, "category_id": 1, "bbox": [50, 50, 8, 4], "score": 0.5},    # box 2: IoU 16/32, twice as wide
            {"image_id": 2, "category_id": 1, "bbox": [80, 80, 6, 6], "score": 0.1}]    # box 3: score too low
    fit = ap_by_map.box_fit(gt, dets, [1, 2, 3])
    assert fit["found"] == pytest.approx(2 / 3)
    assert fit["iou"] == pytest.approx((80 / 120 + 0.5) / 2)
    assert fit["width"] == pytest.approx((1 + 2) / 2) and fit["height"] == pytest.approx(1.0)
    # centre offsets: 2 px over sqrt(10 * 10), 2 px over sqrt(4 * 4)
    assert fit["offset"] == pytest.approx((0.2 + 0.5) / 2)
    assert ap_by_map.box_fit(gt, dets, [3, 4])["found"] == 0.0
    assert np.isnan(ap_by_map.box_fit(gt, dets, [])["found"])  # a half without boxes: no share, not 0


def _run_folder(folder, cfg):
    folder.mkdir()
    torch.manual_seed(0)
    DetectionCheckpointer(build_model(cfg), save_dir=str(folder)).save("model_final")
    (folder / "config.yaml").write_text(cfg.dump())
    return str(folder)


def _main_output(monkeypatch, capsys, args):
    """What ``ap_by_map.py ARGS`` prints; main() sets one thread, the test's count is restored."""
    monkeypatch.setattr("sys.argv", ["ap_by_map.py", *args])
    threads = torch.get_num_threads()
    try:
        ap_by_map.main()
    finally:
        torch.set_num_threads(threads)
    return capsys.readouterr().out


def test_main_scores_every_run_on_both_halves(tmp_path, monkeypatch, capsys):
    name = register_tiny_coco("srtod_tiny_ap_by_map", tmp_path / "data", num_images=3)
    srtod = _run_folder(tmp_path / "srtod", tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
                                                     "MODEL.ROI_HEADS.NUM_CLASSES", 3))
    base = _run_folder(tmp_path / "base", tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
                                                   "MODEL.ROI_HEADS.NUM_CLASSES", 3, "MODEL.SRTOD.ENABLED", False))
    out = _main_output(monkeypatch, capsys, [name, srtod, base, f"{srtod}@own+boxes"])
    counts = {line.split(":")[0].strip(): int(line.split(":")[1].split()[0])
              for line in out.splitlines() if line.strip().startswith(("marked:", "missed:"))}
    boxes = len(json.loads((tmp_path / "data" / "train.json").read_text())["annotations"])
    assert counts["marked"] + counts["missed"] == boxes
    rows = [line for line in out.splitlines() if line.startswith(f"| {srtod} |") or line.startswith(f"| {base} |")]
    # the AP table by half and on all boxes, the box-fit and confidence tables by half, then the
    # background table by run
    assert [r.split("|")[2].strip() for r in rows[:6]] == ["marked", "missed", "all"] * 2
    assert [r.split("|")[2].strip() for r in rows[6:14]] == ["marked", "missed"] * 4
    for r in rows[6:14]:  # the share of boxes found, the median confidence: undefined on a half without boxes
        value, half = float(r.split("|")[3]), r.split("|")[2].strip()
        assert np.isnan(value) if counts[half] == 0 else 0 <= value <= 1
    assert len(rows) == 16
    for r in rows[14:]:
        per_image, background, on_marked = (float(c) for c in r.split("|")[2:5])
        assert 0 <= background <= per_image and 0 <= on_marked <= 1
    swapped = [line for line in out.splitlines() if line.startswith(f"| {srtod}@own+boxes |")]
    assert [r.split("|")[2].strip() for r in swapped] == ["marked", "missed", "all"] + ["marked", "missed"] * 2 + [
        swapped[-1].split("|")[2].strip()]
    # the baseline has no map: it cannot split the boxes
    monkeypatch.setattr("sys.argv", ["ap_by_map.py", name, base])
    with pytest.raises(SystemExit, match="SR-TOD is off in this run, it has no map to split"):
        ap_by_map.main()
    for argv, message in ((["ap_by_map.py", name, f"{srtod}@boxes"], "give it without @MAP"),
                          (["ap_by_map.py", name, srtod, f"{base}@zeros"], "SR-TOD is off in this run, it has no map to swap"),
                          (["ap_by_map.py", name, srtod, f"{srtod}@box"], "unknown test-time map 'box'")):
        monkeypatch.setattr("sys.argv", argv)
        with pytest.raises(SystemExit, match=message):
            ap_by_map.main()


def test_main_by_size_groups_the_boxes_of_a_run_without_map(tmp_path, monkeypatch, capsys):
    name = register_tiny_coco("srtod_tiny_ap_by_size", tmp_path / "data", num_images=3)
    base = _run_folder(tmp_path / "base", tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
                                                   "MODEL.ROI_HEADS.NUM_CLASSES", 3, "MODEL.SRTOD.ENABLED", False))
    out = _main_output(monkeypatch, capsys, ["--by", "size", name, base])
    areas = [a["area"] for a in json.loads((tmp_path / "data" / "train.json").read_text())["annotations"]]
    expected = {"verytiny": sum(a <= 64 for a in areas), "tiny": sum(64 < a <= 256 for a in areas),
                "small": sum(256 < a <= 1024 for a in areas), "medium": sum(a > 1024 for a in areas)}
    counts = {line.split(":")[0].strip(): int(line.split(":")[1].split()[0])
              for line in out.splitlines() if line.strip().split(":")[0] in expected}
    assert counts == expected
    rows = [line.split("|")[2].strip() for line in out.splitlines() if line.startswith(f"| {base} |")]
    # the AP table by band and on all boxes, then the box-fit and confidence tables by band
    assert rows[:5] == [*expected, "all"] and rows[5:13] == [*expected] * 2
    assert "(no map)" in out


def test_main_scores_all_boxes_as_an_independent_count_does(tmp_path, monkeypatch, capsys):
    """A run that answers with the ground truth of the first image and nothing on the others:
    exact boxes at every IoU, so each class's AP on all boxes is the share of COCO's 101 recall
    points up to the share of its boxes in that image (precision 1 there, 0 beyond)."""
    name = register_tiny_coco("srtod_tiny_ap_by_map_first_image", tmp_path / "data", num_images=3)
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.ROI_HEADS.NUM_CLASSES", 3)
    first_only = _run_folder(tmp_path / "first", cfg)
    # a split map that marks nothing: the marked half is empty, so "all" cannot pass for it
    cfg.merge_from_list(["MODEL.SRTOD.THRESHOLD_INIT", 254 / 255])
    srtod = _run_folder(tmp_path / "srtod", cfg)
    dicts = DatasetCatalog.get(name)
    first = dicts[0]["file_name"]
    first_boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in dicts[0]["annotations"]]
    first_classes = [a["category_id"] for a in dicts[0]["annotations"]]  # contiguous ids, as a model's
    real_predict = ap_by_map.predict

    def predict(predictor, image, boxes, map_name=None):
        if map_name != "zeros":  # only the run given as FIRST@zeros answers with the truth
            return real_predict(predictor, image, boxes, map_name)
        on_first = np.array_equal(image, cv2.imread(first))
        xyxy, classes = (first_boxes, first_classes) if on_first else ([], [])
        return Instances(image.shape[:2], pred_boxes=Boxes(torch.tensor(xyxy, dtype=torch.float32).reshape(-1, 4)),
                         scores=torch.full((len(xyxy),), 0.9), pred_classes=torch.tensor(classes, dtype=torch.int64))

    monkeypatch.setattr(ap_by_map, "predict", predict)
    out = _main_output(monkeypatch, capsys, [name, srtod, f"{first_only}@zeros"])
    assert "  marked: 0 boxes" in out
    rows = {}  # the AP table's row of each name: the first one
    for line in out.splitlines():
        if line.startswith(f"| {first_only}@zeros |"):
            rows.setdefault(line.split("|")[2].strip(), line.split("|"))
    assert np.isnan(float(rows["marked"][3]))
    row = rows["all"]
    totals = np.bincount([a["category_id"] for d in dicts for a in d["annotations"]], minlength=3)
    found = np.bincount(first_classes, minlength=3)
    recall_points = np.linspace(0, 1, 101)
    # a class with no detection has no precision at any recall point, 0 included
    per_class = [100 * (recall_points <= f / t).sum() / 101 if f else 0.0 for f, t in zip(found, totals) if t > 0]
    assert 0 < np.mean(per_class) < 100
    assert float(row[3]) == pytest.approx(np.mean(per_class), abs=0.051)  # AP
    assert float(row[4]) == float(row[3])  # AP50: exact boxes, every IoU threshold alike


def test_run_specs_name_a_folder_and_an_optional_test_time_map():
    assert ap_by_map.parse_run("runs/a/seed5") == ("runs/a/seed5", None)
    assert ap_by_map.parse_run("runs/a/seed5@own+boxes") == ("runs/a/seed5", "own+boxes")
    with pytest.raises(SystemExit, match=r"runs/a@ones2: unknown test-time map 'ones2'; choose one of \['boxes'"):
        ap_by_map.parse_run("runs/a@ones2")


def test_test_time_maps_are_what_dgfe_binarises_after_the_predictors_resize(tmp_path):
    # test-time resize 64 -> 96 on the short side: boxes scale by 1.5
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "INPUT.MIN_SIZE_TEST", 96, "INPUT.MAX_SIZE_TEST", 200)
    _, predictor = ap_by_map.load_run(_run_folder(tmp_path / "run", cfg))
    image = (np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8)
    boxes = [[5.0, 6.0, 9.5, 9.0], [40.0, 30.0, 47.0, 52.0]]
    on_boxes = torch.zeros(96, 120)
    on_boxes[9:14, 7:15] = 1  # x 7.5-14.25, y 9-13.5: every pixel touched
    on_boxes[45:78, 60:71] = 1  # x 60-70.5, y 45-78
    with predictor.model.capture_maps() as maps:
        own = ap_by_map.predict(predictor, image, boxes)
        for name in ("boxes", "own+boxes", "zeros", "ones", "own", "random60", "random60"):
            ap_by_map.predict(predictor, image, boxes, name)
    own_binary = maps[0]["binary"]
    assert maps[0]["diff"].shape == (96, 120) and 0 < own_binary.sum() < own_binary.numel()
    want = {"boxes": on_boxes, "own+boxes": torch.maximum(own_binary, on_boxes),
            "zeros": torch.zeros(96, 120), "ones": torch.ones(96, 120), "own": own_binary}
    for m, (name, binary) in zip(maps[1:], want.items()):
        assert torch.equal(m["binary"], binary), name
    for m in maps[1:]:
        assert torch.equal(m["diff"], maps[0]["diff"])  # the reconstruction itself is untouched
    first, second = maps[-2]["binary"], maps[-1]["binary"]
    for binary in (first, second):
        assert set(binary.unique().tolist()) == {0.0, 1.0}
        assert abs(binary.mean().item() - ap_by_map.RANDOM_MAP_DENSITY) < 0.03  # 96 x 120 draws
    assert 0.3 < (first != second).float().mean().item() < 0.7  # drawn anew on each call, the same image
    again = ap_by_map.predict(predictor, image, boxes)  # the swaps leave no hook behind
    assert len(own) > 0 and torch.allclose(again.pred_boxes.tensor, own.pred_boxes.tensor)


def test_a_random_map_run_scores_with_ones_and_loads_as_srtod_under_a_swapped_map(tmp_path):
    # an untrained head misses noise by about a quarter of the range: a threshold there marks part of it
    cfg = tiny_cfg("SIRST-V2/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.META_ARCHITECTURE", "RandomMapRCNN",
                   "MODEL.SRTOD.HEAD", "efficient", "MODEL.SRTOD.EFFICIENT_CHANNELS", 64,
                   "MODEL.SRTOD.THRESHOLD_INIT", 0.25)
    run = _run_folder(tmp_path / "run", cfg)
    image = (np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8)
    _, control = ap_by_map.load_run(run)
    _, swapped = ap_by_map.load_run(run, "own")
    assert type(control.model).__name__ == "RandomMapRCNN" and type(swapped.model).__name__ == "SRTODRCNN"
    with control.model.capture_maps() as maps:
        ap_by_map.predict(control, image, [])
    with swapped.model.capture_maps() as swapped_maps:
        ap_by_map.predict(swapped, image, [], "own")
        ap_by_map.predict(swapped, image, [])
    assert torch.equal(maps[0]["binary"], torch.ones_like(maps[0]["binary"]))  # what bench_gain scored
    # the same weights: the swap hands DGFE the head's own map, which the control would have
    # replaced with ones
    assert torch.equal(maps[0]["diff"], swapped_maps[0]["diff"])
    unswapped = swapped_maps[1]["binary"]  # SRTODRCNN's own path, no swap
    assert torch.equal(swapped_maps[0]["binary"], unswapped) and 0 < unswapped.sum() < unswapped.numel()


def test_found_scores_take_the_best_score_at_iou_half_of_any_score():
    gt = {"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 10, 10]},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 4, 4]},
                          {"id": 3, "image_id": 2, "category_id": 1, "bbox": [80, 80, 6, 6]},
                          {"id": 4, "image_id": 2, "category_id": 1, "bbox": [20, 20, 6, 6]}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [12, 10, 10, 10], "score": 0.6},   # box 1, IoU 80/120
            {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 10], "score": 0.8},   # box 1, IoU exactly 0.5
            {"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 10], "score": 0.99},  # box 1, IoU 0.25: not it
            {"image_id": 1, "category_id": 2, "bbox": [50, 50, 4, 4], "score": 0.9},     # box 2, another class
            {"image_id": 1, "category_id": 1, "bbox": [50, 50, 4, 4], "score": 0.07},    # box 2, low but kept
            {"image_id": 2, "category_id": 1, "bbox": [83, 83, 6, 6], "score": 0.9}]     # box 3, IoU 9/63
    assert ap_by_map.found_scores(gt, dets, [1, 2, 3, 4]).tolist() == [0.8, 0.07, 0.0, 0.0]
    assert ap_by_map.found_scores(gt, dets, [4, 1]).tolist() == [0.0, 0.8]  # in the order asked


def test_background_detections_are_confident_ones_touching_no_box():
    gt_boxes = np.array([[10, 10, 20, 20], [50, 50, 54, 54]], float)
    dets = np.array([[10, 10, 20, 20],    # on box 1
                     [16, 10, 26, 20],    # IoU 40/160 = 0.25 with box 1: a poor box on an object, not background
                     [19, 10, 29, 20],    # IoU 10/190 < 0.1: background
                     [70, 70, 80, 80],    # nowhere near a box
                     [70, 10, 80, 20]], float)
    scores = np.array([0.9, 0.9, 0.9, 0.9, 0.2])
    assert ap_by_map.background_detections(gt_boxes, dets, scores).tolist() == [False, False, True, True, False]
    assert ap_by_map.background_detections(gt_boxes, dets, scores, min_score=0.1).tolist()[-1]
    # an image without boxes: every confident detection is on the background
    assert ap_by_map.background_detections(np.zeros((0, 4)), dets, scores).tolist() == [True] * 4 + [False]
