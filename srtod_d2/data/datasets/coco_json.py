"""COCO-json detection sets (AI-TOD v1/v2, DroneSwarms, our synthetic set, converted data).

The conversion itself is detectron2's ``load_coco_json`` (so the metadata gets the usual
``thing_dataset_id_to_contiguous_id`` that COCO-style evaluators rely on); this module reads the
json first and checks it, so bad input fails with a message naming the file and the offending
entry instead of an assertion or KeyError from inside pycocotools.
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import List, Optional, Sequence

from detectron2.data.datasets.coco import load_coco_json
from detectron2.structures import BoxMode

from ..validation import (
    BoxClipper,
    DatasetFormatError,
    check_box_xywh,
    check_file,
    check_ids,
    check_image,
    check_positive_int,
    validate_dataset_dicts,
)

__all__ = [
    "AITOD_CLASSES",
    "DRONESWARMS_CLASSES",
    "read_coco_json",
    "validate_coco_json",
    "load_coco_detection_json",
    "load_aitod",
    "load_droneswarms",
]

logger = logging.getLogger(__name__)

AITOD_CLASSES = [
    "airplane", "bridge", "storage-tank", "ship", "swimming-pool", "vehicle", "person", "wind-mill",
]
DRONESWARMS_CLASSES = ["drone"]


def read_coco_json(json_file) -> dict:
    """Read a json file with clear errors for a missing file, bad encoding or bad syntax."""
    json_file = check_file(json_file, "COCO json file")
    with open(json_file, "rb") as f:
        raw = f.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        # pycocotools opens the file with json.load and fails on a BOM; say so here.
        raise DatasetFormatError("file starts with a UTF-8 byte-order mark; re-save it without one", json_file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetFormatError(f"not valid UTF-8 (byte {e.start})", json_file) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"invalid json: {e.msg} (column {e.colno})", json_file, e.lineno) from e
    return data


def _list_of_dicts(data: dict, key: str, json_file) -> list:
    if key not in data:
        raise DatasetFormatError(f"missing top-level key '{key}'", json_file)
    value = data[key]
    if not isinstance(value, list):
        raise DatasetFormatError(f"'{key}' must be a list, got {type(value).__name__}", json_file, field=key)
    for i, v in enumerate(value):
        if not isinstance(v, dict):
            raise DatasetFormatError(f"entries must be objects, got {type(v).__name__}", json_file, field=f"{key}[{i}]")
    return value


def validate_coco_json(data, json_file="<json>", class_names: Optional[Sequence[str]] = None) -> None:
    """Check a parsed COCO detection json.

    Args:
        data: the parsed json.
        json_file: its path, for messages.
        class_names: if given, the categories, in id order, must carry exactly these names.

    Raises:
        DatasetFormatError: naming the file and the entry (e.g. ``annotations[12].bbox``).
    """
    if not isinstance(data, dict):
        raise DatasetFormatError(f"top level must be an object, got {type(data).__name__}", json_file)
    images = _list_of_dicts(data, "images", json_file)
    annotations = _list_of_dicts(data, "annotations", json_file)
    categories = _list_of_dicts(data, "categories", json_file)

    for kind, entries in (("images", images), ("annotations", annotations), ("categories", categories)):
        for i, e in enumerate(entries):
            if "id" not in e:
                raise DatasetFormatError("entry has no 'id'", json_file, field=f"{kind}[{i}]")
        check_ids([e["id"] for e in entries], kind[:-1], json_file, field=kind)

    if not categories:
        raise DatasetFormatError("'categories' is empty", json_file, field="categories")
    for i, c in enumerate(categories):
        if not isinstance(c.get("name"), str) or not c["name"]:
            raise DatasetFormatError("category needs a non-empty string 'name'", json_file, field=f"categories[{i}]")
    names = [c["name"] for c in sorted(categories, key=lambda c: c["id"])]
    if len(set(names)) != len(names):
        raise DatasetFormatError(f"category names are not unique: {names}", json_file, field="categories")
    if class_names is not None and list(class_names) != names:
        raise DatasetFormatError(f"categories (in id order) are {names}, expected {list(class_names)}", json_file, field="categories")
    cat_ids = {c["id"] for c in categories}

    sizes, file_names = {}, set()
    for i, im in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(im.get("file_name"), str) or not im["file_name"]:
            raise DatasetFormatError("image needs a non-empty string 'file_name'", json_file, field=where)
        if im["file_name"] in file_names:
            raise DatasetFormatError(f"file_name {im['file_name']!r} appears twice", json_file, field=where)
        file_names.add(im["file_name"])
        for k in ("width", "height"):
            if k not in im:
                raise DatasetFormatError(f"image has no '{k}'", json_file, field=where)
        sizes[im["id"]] = (
            check_positive_int(im["width"], "width", json_file, field=where),
            check_positive_int(im["height"], "height", json_file, field=where),
        )
    for i, a in enumerate(annotations):
        where = f"annotations[{i}]"
        for k in ("image_id", "category_id", "bbox"):
            if k not in a:
                raise DatasetFormatError(f"annotation has no '{k}'", json_file, field=where)
        for k in ("image_id", "category_id"):
            if isinstance(a[k], bool) or not isinstance(a[k], int):
                raise DatasetFormatError(f"{k} must be an integer, got {a[k]!r}", json_file, field=where)
        if a["image_id"] not in sizes:
            raise DatasetFormatError(f"image_id {a['image_id']!r} is not in 'images'", json_file, field=where)
        if a["category_id"] not in cat_ids:
            raise DatasetFormatError(f"unknown category_id {a['category_id']!r}", json_file, field=where)
        check_box_xywh(a["bbox"], json_file, field=f"{where}.bbox")
        # the evaluator's size bands (APvt .. APm) read it: refuse here, not after training
        area = a.get("area")
        if isinstance(area, bool) or not isinstance(area, (int, float)) or not math.isfinite(area) or area < 0:
            raise DatasetFormatError(f"annotation needs a finite, non-negative 'area' (the size bands APvt..APm "
                                     f"are measured on it), got {area!r}", json_file, field=f"{where}.area")
        if a.get("ignore", 0):
            # load_coco_json refuses "ignore"; crowd regions are the supported way to say it.
            raise DatasetFormatError("'ignore' is not supported; mark such boxes with iscrowd=1", json_file, field=where)
        segm = a.get("segmentation")
        if segm and not (
            (isinstance(segm, dict) and "counts" in segm and "size" in segm)
            or (isinstance(segm, list) and all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 for p in segm))
        ):
            # load_coco_json would quietly drop an instance whose polygons are all invalid.
            raise DatasetFormatError("segmentation must be polygons (lists of >= 3 x,y pairs) or RLE", json_file, field=f"{where}.segmentation")
        if a.get("iscrowd", 0) not in (0, 1):
            raise DatasetFormatError(f"iscrowd must be 0 or 1, got {a['iscrowd']!r}", json_file, field=where)


def load_coco_detection_json(
    json_file,
    image_root,
    dataset_name: Optional[str] = None,
    class_names: Optional[Sequence[str]] = None,
    check_images: bool = True,
) -> List[dict]:
    """Load a COCO detection json into detectron2 dicts, after checking it.

    Args:
        json_file: the COCO json.
        image_root: folder that ``file_name`` entries are relative to.
        dataset_name: passed to ``load_coco_json``, which then fills ``thing_classes`` and
            ``thing_dataset_id_to_contiguous_id`` in the metadata of that name.
        class_names: expected category names in id order (checked when given).
        check_images: read every image header: the file must exist, be an image, and have the
            size the json claims.

    Returns:
        list[dict]; category ids are contiguous 0-based (in category-id order) whether or not
        ``dataset_name`` is given; boxes outside the image are clipped (and reported).
    """
    data = read_coco_json(json_file)
    validate_coco_json(data, json_file, class_names)
    cat_ids = sorted(c["id"] for c in data["categories"])
    del data  # the json can be large; load_coco_json reads it again through pycocotools
    dicts = load_coco_json(os.fspath(json_file), os.fspath(image_root), dataset_name=dataset_name, extra_annotation_keys=["id"])
    if dataset_name is None:
        # Without a dataset name load_coco_json keeps the json's ids; map them the same way.
        id_map = {c: i for i, c in enumerate(cat_ids)}
        for rec in dicts:
            for a in rec["annotations"]:
                a["category_id"] = id_map[a["category_id"]]
    clipper = BoxClipper(json_file)
    for rec in dicts:
        if check_images:
            check_image(rec["file_name"], (rec["width"], rec["height"]), source=json_file, field=f"image id {rec['image_id']}")
        kept = []
        for a in rec["annotations"]:
            x, y, w, h = a["bbox"]
            box = clipper.clip([x, y, x + w, y + h], rec["width"], rec["height"], where=f"annotation id {a.get('id')}")
            if box is not None:
                a["bbox"] = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
                a["bbox_mode"] = BoxMode.XYWH_ABS
                kept.append(a)
        rec["annotations"] = kept
    clipper.report()
    validate_dataset_dicts(dicts, len(cat_ids), os.fspath(json_file))
    return dicts


def load_aitod(json_file, image_root, dataset_name: Optional[str] = None, check_images: bool = True) -> List[dict]:
    """AI-TOD (v1 or v2): COCO json with the 8 AI-TOD classes. Args as :func:`load_coco_detection_json`."""
    return load_coco_detection_json(json_file, image_root, dataset_name, AITOD_CLASSES, check_images)


def load_droneswarms(json_file, image_root, dataset_name: Optional[str] = None, check_images: bool = True) -> List[dict]:
    """DroneSwarms: COCO json with the single class ``drone``. Args as :func:`load_coco_detection_json`."""
    return load_coco_detection_json(json_file, image_root, dataset_name, DRONESWARMS_CLASSES, check_images)
