import json
import os

import numpy as np
import pytest
from PIL import Image

from srtod_d2.data.datasets.dota import DOTA_V1_CLASSES, compute_tiles, load_dota, parse_dota_txt
from srtod_d2.data.image_io import read_image
from srtod_d2.data.validation import DatasetFormatError


@pytest.fixture
def split(tmp_path):
    img, lab = tmp_path / "images", tmp_path / "labelTxt"
    img.mkdir()
    lab.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (700, 1000, 3), dtype=np.uint8)).save(img / "P0001.png")
    Image.fromarray(rng.integers(0, 256, (300, 500), dtype=np.uint8)).save(img / "P0002.png")
    (lab / "P0001.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.5\n"
        "100 100 120 100 120 110 100 110 small-vehicle 0\n"  # fully in tile (0, 0)
        "590 50 640 50 640 60 590 60 large-vehicle 0\n"  # straddles x=600 (tile 2 starts) and 800
        "300 300 310 305 305 315 295 310 ship 1\n"  # rotated polygon, difficult
        "790 500 850 500 850 520 790 520 plane 0\n"  # mostly beyond x=800
    )
    (lab / "P0002.txt").write_text("10 10 20 10 20 20 10 20 plane 0\n")
    return img, lab, tmp_path / "cache"


def test_tiles_cover_the_image_with_overlap_and_border_alignment():
    assert compute_tiles(1000, 700, 800, 200) == [(0, 0, 800, 700), (200, 0, 800, 700)]
    assert compute_tiles(2000, 800, 800, 200) == [(0, 0, 800, 800), (600, 0, 800, 800), (1200, 0, 800, 800)]
    assert compute_tiles(500, 300) == [(0, 0, 500, 300)]
    with pytest.raises(ValueError, match="overlap < tile_size"):
        compute_tiles(100, 100, 50, 50)


def test_parse_polygons_to_horizontal_boxes(split):
    objs = parse_dota_txt(split[1] / "P0001.txt")
    assert objs[0] == {"bbox": [100, 100, 120, 110], "category_id": DOTA_V1_CLASSES.index("small-vehicle"), "difficult": 0}
    assert objs[2]["bbox"] == [295, 300, 310, 315] and objs[2]["difficult"] == 1


def test_tiled_records_offsets_boxes_and_crowd_rules(split):
    recs = load_dota(*split, tile_size=800, overlap=200)
    assert [(os.path.basename(r["source_file_name"]), r["tile_offset"], r["width"], r["height"]) for r in recs] == [
        ("P0001.png", [0, 0], 800, 700), ("P0001.png", [200, 0], 800, 700), ("P0002.png", [0, 0], 500, 300),
    ]
    assert [r["image_id"] for r in recs] == [1, 2, 3]
    t0 = {tuple(a["bbox"]): a for a in recs[0]["annotations"]}
    assert t0[(100, 100, 120, 110)]["iscrowd"] == 0
    assert t0[(590, 50, 640, 60)]["iscrowd"] == 0
    assert t0[(295, 300, 310, 315)]["iscrowd"] == 1  # difficult
    assert t0[(790, 500, 800, 520)]["iscrowd"] == 1  # only 10 of 60 px inside the tile
    t1 = {tuple(a["bbox"]): a for a in recs[1]["annotations"]}
    assert t1[(590, 500, 650, 520)]["iscrowd"] == 0  # the plane, whole in tile 2 (offset 200)
    assert t1[(390, 50, 440, 60)]["iscrowd"] == 0
    # tile pixels are the source crop
    src = read_image(split[0] / "P0001.png")
    np.testing.assert_array_equal(read_image(recs[1]["file_name"]), src[0:700, 200:1000])


def test_cache_is_reused_and_rebuilt_when_inputs_change(split):
    img, lab, cache = split
    first = load_dota(img, lab, cache)
    index = cache / "tiles.json"
    mtime = index.stat().st_mtime_ns
    again = load_dota(img, lab, cache)
    assert index.stat().st_mtime_ns == mtime
    assert [r["annotations"] for r in again] == [r["annotations"] for r in first]
    assert [r["file_name"] for r in again] == [r["file_name"] for r in first]
    with open(lab / "P0002.txt", "a") as f:
        f.write("30 30 40 30 40 40 30 40 ship 0\n")
    rebuilt = load_dota(img, lab, cache)
    assert len(rebuilt[-1]["annotations"]) == 2
    assert json.loads(index.read_text())["params"]["tile_size"] == 800
    small = load_dota(img, lab, cache, tile_size=400, overlap=100)
    assert len(small) > len(rebuilt)


@pytest.mark.parametrize(
    "line, msg",
    [
        ("1 2 3 4 5 6 plane 0", "got 8 fields"),
        ("1 2 3 4 5 6 7 8 9 plane 0", "got 11 fields"),
        ("1 2 3 4 5 6 7 x plane 0", "coordinates must be numbers"),
        ("1 2 3 4 5 6 7 nan plane 0", "coordinates must be finite"),
        ("1 2 3 4 5 6 7 8 car 0", "unknown DOTA v1.0 class 'car'"),
        ("1 2 3 4 5 6 7 8 plane 2", "difficult must be 0 or 1"),
        ("5 5 5 9 5 9 5 5 plane 0", "zero width or height"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, msg):
    f = tmp_path / "P9.txt"
    f.write_text("gsd:1\n10 10 20 10 20 20 10 20 plane 0\n" + line + "\n")
    with pytest.raises(DatasetFormatError, match=msg) as e:
        parse_dota_txt(f)
    assert str(e.value).startswith(f"{f}:3:")


def test_missing_pairs_and_corrupt_image(split):
    img, lab, cache = split
    (lab / "P0003.txt").write_text("")
    with pytest.raises(DatasetFormatError, match="P0003.txt: no image for label file"):
        load_dota(img, lab, cache)
    (lab / "P0003.txt").unlink()
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(img / "P0004.png")
    with pytest.raises(DatasetFormatError, match=r"1 images have no label file.*P0004"):
        load_dota(img, lab, cache)
    (img / "P0004.png").unlink()
    (img / "P0002.png").write_bytes(b"junk")
    with pytest.raises(DatasetFormatError, match="P0002.txt: Not a readable image"):
        load_dota(img, lab, cache)
