import json

import pytest

from detectron2.structures import BoxMode
from srtod_d2.data.builtin import register_synthetic_tiny
from srtod_d2.data.stats import compute_stats, format_stats, main


def _rec(boxes, crowd=()):
    anns = [{"bbox": [0, 0, w, h], "bbox_mode": BoxMode.XYWH_ABS, "category_id": c, "iscrowd": 0} for (w, h, c) in boxes]
    anns += [{"bbox": [0, 0, 4, 4, ], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 1} for _ in crowd]
    return {"annotations": anns}


def test_band_edges_and_per_class_counts():
    # sqrt areas: 2, 8 (edge: very tiny), 8.06, 16 (edge: tiny), 20, 32 (edge: small), 33
    boxes = [(2, 2, 0), (8, 8, 0), (8, 8.13, 1), (16, 16, 1), (20, 20, 1), (32, 32, 1), (33, 33, 0)]
    s = compute_stats([_rec(boxes[:3], crowd=[1]), _rec(boxes[3:])], ["a", "b"])
    assert s["images"] == 2 and s["boxes"] == 7 and s["crowd_boxes"] == 1
    assert s["per_class"] == {"a": 3, "b": 4}
    assert s["bands"] == {"very_tiny": 2, "tiny": 2, "small": 2, "medium": 1}
    assert s["band_share"]["medium"] == pytest.approx(1 / 7)
    text = format_stats("x", s)
    assert "very tiny (<=8)" in text and "28.6%" in text


def test_cli_prints_counts_and_saves_png(tmp_path, capsys):
    register_synthetic_tiny("_test_stats_syn", str(tmp_path / "syn"), num_images=2, seed=9, image_size=(160, 96))
    out, js = tmp_path / "hist.png", tmp_path / "s.json"
    assert main(["_test_stats_syn", "--out", str(out), "--json", str(js)]) == 0
    printed = capsys.readouterr().out
    truth = json.load(open(tmp_path / "syn" / "annotations.json"))
    stats = json.load(open(js))
    assert stats["images"] == 2 and stats["boxes"] == len(truth["annotations"])
    assert f"_test_stats_syn: 2 images, {len(truth['annotations'])} boxes" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_unknown_name(capsys):
    assert main(["no_such_set"]) == 2
    assert "unknown dataset 'no_such_set'" in capsys.readouterr().err
