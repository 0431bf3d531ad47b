import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from detectron2.structures import BoxMode
from srtod_d2.data.datasets.visdrone import VISDRONE_CLASSES, load_visdrone, parse_visdrone_txt
from srtod_d2.data.validation import DatasetFormatError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "visdrone2019_det_val" / "annotations"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real VisDrone val annotations not found at {SHARED}")


@needs_shared
def test_real_val_counts_agree_with_an_independent_count_of_raw_lines():
    files = sorted(SHARED.glob("*.txt"))
    assert len(files) == 548
    parsed_cls, raw_cls = Counter(), Counter()
    for f in files:
        p = parse_visdrone_txt(f)
        # independent count: the 6th comma-separated field of every non-empty line
        cats = [int(line.split(",")[5]) for line in f.read_text().splitlines() if line.strip()]
        raw = Counter(cats)
        assert len(p["ignore_regions"]) == raw[0], f
        assert len(p["others"]) == raw[11], f
        assert Counter(a["category_id"] + 1 for a in p["annotations"]) == Counter({c: n for c, n in raw.items() if 1 <= c <= 10}), f
        parsed_cls.update(VISDRONE_CLASSES[a["category_id"]] for a in p["annotations"])
        raw_cls.update(cats)
    assert sum(parsed_cls.values()) == 38759  # as documented for this release
    assert parsed_cls["car"] == raw_cls[4] and parsed_cls["pedestrian"] == raw_cls[1]
    assert raw_cls[0] == 1378


@needs_shared
def test_real_boxes_are_the_raw_numbers():
    f = sorted(SHARED.glob("*.txt"))[0]
    first = next(line for line in f.read_text().splitlines() if line.strip() and line.split(",")[5] not in ("0", "11"))
    x, y, w, h = (float(v) for v in first.split(",")[:4])
    a = parse_visdrone_txt(f)["annotations"][0]
    assert a["bbox"] == [x, y, w, h] and a["bbox_mode"] == BoxMode.XYWH_ABS


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def split(tmp_path):
    img, ann = tmp_path / "images", tmp_path / "annotations"
    img.mkdir()
    ann.mkdir()
    Image.fromarray(np.zeros((50, 80, 3), np.uint8)).save(img / "0001.jpg")
    Image.fromarray(np.zeros((60, 70), np.uint8)).save(img / "0002.png")
    (ann / "0001.txt").write_text("10,5,8,6,1,4,0,1\n0,0,20,10,0,0,0,0\n30,30,5,5,0,11,0,0\n75,45,10,10,1,1,0,0,\n")
    (ann / "0002.txt").write_text("\n1,2,3,4,1,10,1,2\n")
    return img, ann


def test_load_reads_sizes_from_headers_keeps_ignored_regions_and_clips(split, caplog):
    with caplog.at_level(logging.WARNING):
        recs = load_visdrone(*split)
    assert [(r["image_id"], r["width"], r["height"]) for r in recs] == [(1, 80, 50), (2, 70, 60)]
    r = recs[0]
    assert [a["category_id"] for a in r["annotations"]] == [3, 0]  # car, pedestrian; 0 and 11 left out
    assert r["annotations"][1]["bbox"] == [75, 45, 5, 5]  # clipped to 80x50
    assert r["ignore_regions"] == [[0, 0, 20, 10]]
    assert recs[1]["annotations"][0]["truncation"] == 1 and recs[1]["annotations"][0]["occlusion"] == 2
    assert "1 of 4 boxes extended outside their image and were clipped; 0 lay entirely outside" in caplog.text


@pytest.mark.parametrize(
    "line, msg",
    [
        ("1,2,3,4,1,4,0", "expected 8 comma-separated fields"),
        ("1,2,3,4,1,4,0,0,0", "expected 8 comma-separated fields"),
        ("1,2,x,4,1,4,0,0", "bbox_width must be a number, got 'x'"),
        ("1,2,nan,4,1,4,0,0", "bbox_width must be finite"),
        ("1,2,0,4,1,4,0,0", "width and height must be positive"),
        ("1,2,3,-4,1,4,0,0", "width and height must be positive"),
        ("1,2,3,4,1,12,0,0", "unknown object_category 12"),
        ("1,2,3,4,1,4.5,0,0", "object_category must be an integer"),
        ("1,2,3,4,0.7,4,0,0", "score must be an integer"),
        ("1,2,3,4,5,4,0,0", "score must be 0 or 1"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, msg):
    f = tmp_path / "x.txt"
    f.write_text("1,2,3,4,1,4,0,0\n" + line + "\n")
    with pytest.raises(DatasetFormatError, match=msg) as e:
        parse_visdrone_txt(f)
    assert str(e.value).startswith(f"{f}:2:")


def test_bad_encoding_missing_and_orphan_files(split, tmp_path):
    img, ann = split
    (ann / "0002.txt").write_bytes(b"1,2,3,4,1,4,0,0\n\xff\xfe\n")
    with pytest.raises(DatasetFormatError, match="0002.txt: not valid UTF-8"):
        load_visdrone(img, ann)
    (ann / "0002.txt").unlink()
    with pytest.raises(DatasetFormatError, match="0002.txt: no annotation file for image"):
        load_visdrone(img, ann)
    (img / "0002.png").unlink()
    (ann / "0003.txt").write_text("1,2,3,4,1,4,0,0\n")
    with pytest.raises(DatasetFormatError, match=r"1 annotation files have no image .*'0003'"):
        load_visdrone(img, ann)
    with pytest.raises(DatasetFormatError, match="folder not found"):
        load_visdrone(tmp_path / "nope", ann)


def test_corrupt_image_is_a_clear_error(split):
    img, ann = split
    (img / "0001.jpg").write_bytes(b"GIF89a-not-really")
    with pytest.raises(DatasetFormatError, match="0001.txt: .*0001.jpg"):
        load_visdrone(img, ann)


# ----------------------------------------------------------------------------- fuzz
_field = st.one_of(
    st.integers(-5, 2000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "1e3", "-0", "0x1f", "١٢", "3,", "\t7"]),
    st.text(max_size=4),
)
_line = st.one_of(
    st.lists(_field, min_size=0, max_size=10).map(",".join),
    st.text(max_size=30),
    st.tuples(st.integers(0, 500), st.integers(0, 500), st.integers(0, 50), st.integers(0, 50), st.integers(0, 1), st.integers(0, 11), st.integers(0, 2), st.integers(0, 2)).map(lambda t: ",".join(map(str, t))),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, max_size=6), encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_fuzz_parser_gives_records_or_our_error(tmp_path, lines, encoding, newline):
    f = tmp_path / "fuzz.txt"
    try:
        f.write_bytes(newline.join(lines).encode(encoding))
    except UnicodeEncodeError:
        return
    try:
        out = parse_visdrone_txt(f)
    except DatasetFormatError as e:
        assert str(e).startswith(str(f))
        return
    for a in out["annotations"]:
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and all(np.isfinite(a["bbox"])) and 0 <= a["category_id"] <= 9


def test_prepare_script_writes_coco_with_ignored_regions_as_crowd(split, tmp_path):
    import importlib.util
    import json

    from srtod_d2.data.datasets.coco_json import load_coco_detection_json

    spec = importlib.util.spec_from_file_location("prep_vd", Path(__file__).resolve().parents[1] / "datasets" / "prepare_visdrone_to_coco.py")
    prep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prep)
    img, ann = split
    data = prep.convert(str(img.parent))
    assert [a["id"] for a in data["annotations"]] == list(range(1, 14))
    # the ignored region is a crowd box of every class: COCO ignores a detection only on its own class's
    crowd = [(c, 1) for c in range(1, 11)]
    assert [(a["category_id"], a["iscrowd"]) for a in data["annotations"]] == [(4, 0), (1, 0), *crowd, (10, 0)]
    out = tmp_path / "vd.json"
    out.write_text(json.dumps(data))
    back = load_coco_detection_json(out, img, class_names=VISDRONE_CLASSES)
    assert [a["bbox"] for a in back[0]["annotations"]] == [[10, 5, 8, 6], [75, 45, 5, 5], *[[0, 0, 20, 10]] * 10]
    assert len(prep.convert(str(img.parent), drop_ignored=True)["annotations"]) == 3
    one = prep.convert(str(img.parent), ignore_as=1)["annotations"]
    assert [(a["category_id"], a["iscrowd"]) for a in one] == [(4, 0), (1, 0), (1, 1), (10, 0)]
