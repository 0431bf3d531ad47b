import logging

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.data import DatasetMapper
from detectron2.data import detection_utils
from detectron2.structures import BoxMode
from srtod_d2.data.image_io import ImageReadError, read_image, read_image_size
from srtod_d2.data.mapper import TinyDatasetMapper
from srtod_d2.data.validation import (
    BoxClipper,
    DatasetFormatError,
    check_box_xywh,
    check_ids,
    check_image,
    check_number,
    validate_dataset_dicts,
)


@pytest.fixture
def gray8():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 20), dtype=np.uint8)


# ----------------------------------------------------------------------------- checks
def test_error_message_names_file_line_and_field():
    assert str(DatasetFormatError("bad", "a.txt", 3)) == "a.txt:3: bad"
    assert str(DatasetFormatError("bad", "a.json", field="images[2]")) == "a.json [images[2]]: bad"


@pytest.mark.parametrize("value, msg", [(float("nan"), "finite"), (float("inf"), "finite"), ("3", "number"), (True, "number"), (None, "number")])
def test_check_number_rejects(value, msg):
    with pytest.raises(DatasetFormatError, match=msg):
        check_number(value, "x", "f.json", field="bbox")


@pytest.mark.parametrize("box, msg", [([1, 2, 0, 3], "positive"), ([1, 2, 3, -1], "positive"), ([1, 2, 3], "4 numbers"), ("1,2,3,4", "4 numbers"), ([1, float("nan"), 2, 2], "finite")])
def test_check_box_rejects(box, msg):
    with pytest.raises(DatasetFormatError, match=msg):
        check_box_xywh(box, "f.json", field="annotations[0].bbox")


def test_check_ids_zero_duplicate_and_type():
    check_ids([1, 2, 3], "image")
    with pytest.raises(DatasetFormatError, match="id 0 is not allowed"):
        check_ids([1, 0], "annotation", "f.json")
    with pytest.raises(DatasetFormatError, match=r"duplicate annotation ids: \[2\]"):
        check_ids([1, 2, 2], "annotation", "f.json")
    with pytest.raises(DatasetFormatError, match="must be an integer"):
        check_ids([1, "2"], "image", "f.json")


def test_box_clipper_counts_and_warns_once(caplog):
    c = BoxClipper("src")
    assert c.clip([1, 1, 5, 5], 10, 10) == [1, 1, 5, 5]
    assert c.clip([-2, 3, 4, 12], 10, 10) == [0, 3, 4, 10]
    assert c.clip([11, 11, 15, 15], 10, 10) is None
    assert (c.total, c.clipped, c.dropped) == (3, 1, 1)
    with caplog.at_level(logging.WARNING):
        c.report()
    assert len(caplog.records) == 1
    assert "1 of 3 boxes extended outside their image and were clipped; 1 lay entirely outside" in caplog.text


def test_validate_dataset_dicts():
    rec = {"file_name": "a", "image_id": 1, "height": 10, "width": 10, "annotations": [{"bbox": [1, 1, 2, 2], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0}]}
    validate_dataset_dicts([rec], 1)
    with pytest.raises(DatasetFormatError, match="category_id 1 outside"):
        validate_dataset_dicts([dict(rec, annotations=[dict(rec["annotations"][0], category_id=1)])], 1)
    with pytest.raises(DatasetFormatError, match="duplicate image_id"):
        validate_dataset_dicts([rec, dict(rec)], 1)


def test_check_image_missing_corrupt_and_size_mismatch(tmp_path, gray8):
    with pytest.raises(DatasetFormatError, match="Image file not found"):
        check_image(tmp_path / "none.png", source="ann.json")
    (tmp_path / "bad.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(DatasetFormatError, match="Not a readable image"):
        check_image(tmp_path / "bad.jpg", source="ann.json")
    Image.fromarray(gray8).save(tmp_path / "ok.png")
    assert check_image(tmp_path / "ok.png") == (20, 12)
    with pytest.raises(DatasetFormatError, match="annotation gives image size 21x12"):
        check_image(tmp_path / "ok.png", (21, 12), source="ann.json")


# ----------------------------------------------------------------------------- image modes
def test_all_modes_read_as_3_channel_uint8(tmp_path, gray8):
    rgb = np.stack([gray8, 255 - gray8, gray8 // 2], axis=2)
    Image.fromarray(gray8, "L").save(tmp_path / "l.png")
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full_like(gray8, 7)]), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.dstack([gray8, np.full_like(gray8, 7)]), "LA").save(tmp_path / "la.png")
    Image.fromarray(rgb, "RGB").quantize(16).save(tmp_path / "p.png")
    Image.fromarray(gray8.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    Image.fromarray(gray8 > 128).save(tmp_path / "one.png")
    out = {}
    for name in ("l", "rgb", "rgba", "la", "p", "g16", "one"):
        assert Image.open(tmp_path / f"{name}.png").mode in ("L", "RGB", "RGBA", "LA", "P", "I;16", "I", "1")
        a = read_image(tmp_path / f"{name}.png", format="RGB")
        assert a.dtype == np.uint8 and a.shape == (12, 20, 3), name
        out[name] = a
    gray3 = np.repeat(gray8[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(out["l"], gray3)
    np.testing.assert_array_equal(out["la"], gray3)
    np.testing.assert_array_equal(out["rgba"], rgb)  # alpha dropped, colour kept
    np.testing.assert_array_equal(out["g16"], gray3)  # 16-bit copy reads like the 8-bit one
    pal = Image.open(tmp_path / "p.png").convert("RGB")
    np.testing.assert_array_equal(out["p"], np.asarray(pal))
    assert set(np.unique(out["one"])) <= {0, 255}
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png", "BGR"), rgb[:, :, ::-1])
    assert read_image(tmp_path / "l.png", "L").shape == (12, 20, 1)


def test_uint16_minmax_stretches_low_bit_depth(tmp_path):
    a = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (4, 1))  # a 12-bit sensor in 16 bits
    Image.fromarray(a).save(tmp_path / "ir.png")
    full = read_image(tmp_path / "ir.png", "RGB")
    mm = read_image(tmp_path / "ir.png", "RGB", uint16_scaling="minmax")
    assert full.max() == round(4080 / 257)
    assert mm.min() == 0 and mm.max() == 255


def test_truncated_image_is_a_clear_error(tmp_path, gray8):
    Image.fromarray(np.tile(gray8, (20, 20))).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert read_image_size(tmp_path / "cut.png") == (400, 240)  # the header alone is fine
    with pytest.raises(ImageReadError, match="Corrupt or truncated image .*cut.png"):
        read_image(tmp_path / "cut.png")


def test_exif_rotation_swaps_header_size(tmp_path, gray8):
    img = Image.fromarray(gray8)
    exif = img.getexif()
    exif[274] = 6  # rotate 90 degrees
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert read_image_size(tmp_path / "rot.jpg") == (12, 20)
    assert read_image(tmp_path / "rot.jpg").shape == (20, 12, 3)
    # agrees with detectron2's reader on size
    assert detection_utils.read_image(str(tmp_path / "rot.jpg"), "BGR").shape == (20, 12, 3)


# ----------------------------------------------------------------------------- mapper
def test_tiny_mapper_reads_16_bit_like_8_bit_and_leaves_plain_mapper_alone(tmp_path, gray8):
    Image.fromarray(gray8).save(tmp_path / "g8.png")
    Image.fromarray(gray8.astype(np.uint16) * 257).save(tmp_path / "g16.png")

    def rec(name):
        return {"file_name": str(tmp_path / name), "image_id": 1, "height": 12, "width": 20, "annotations": []}

    kw = dict(is_train=False, augmentations=[], image_format="BGR")
    tiny, plain = TinyDatasetMapper(**kw), DatasetMapper(**kw)
    t8, t16 = tiny(rec("g8.png"))["image"], tiny(rec("g16.png"))["image"]
    assert torch.equal(t8, t16)
    # detectron2's own reader clips 16-bit values instead of rescaling: the reason for the mapper
    p16 = plain(rec("g16.png"))["image"]
    assert not torch.equal(p16, t8)
    assert (p16 == 255).float().mean() > 0.9
    assert torch.equal(plain(rec("g8.png"))["image"], t8)


def test_tiny_mapper_refuses_unsupported_format():
    with pytest.raises(ValueError, match="BGR, RGB or L"):
        TinyDatasetMapper(is_train=False, augmentations=[], image_format="YUV-BT.601")
