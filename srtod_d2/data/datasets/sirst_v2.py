"""SIRST-V2 (infrared small targets) in its release layout.

::

    sirst_v2/images/targets/<name>.png        images that hold targets
    sirst_v2/images/backgrounds/<name>.png    target-free images (the full release only)
    sirst_v2/annotations/bboxes/<name>.xml    VOC boxes: xmin/ymin 1-based, xmax/ymax exclusive
    sirst_v2/annotations/masks/<name>_pixels0.png
    sirst_v2/splits/<split>_full.txt | <split>_targets.txt

Quirks of the release handled here: a split line may join two names without a newline (it is
split when both halves are known images, with a warning), and ``*_full.txt`` names background
images that a subset may not ship (skipped with a warning naming them, or an error if
``missing="error"``).
"""
from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from typing import List, Optional, Set, Tuple

from detectron2.structures import BoxMode

from ..validation import BoxClipper, DatasetFormatError, check_file, check_image, read_text, validate_dataset_dicts

__all__ = ["SIRST_V2_CLASSES", "read_sirst_split", "parse_sirst_xml", "load_sirst_v2"]

logger = logging.getLogger(__name__)

SIRST_V2_CLASSES = ["target"]
_XML_CLASS_NAMES = {"target"}  # compared case-insensitively: the release writes "Target"


def _stems(folder, ext=".png") -> Set[str]:
    if not os.path.isdir(folder):
        return set()
    return {n[: -len(ext)] for n in os.listdir(folder) if n.endswith(ext)}


def read_sirst_split(split_file, known_names: Optional[Set[str]] = None) -> List[str]:
    """Read a SIRST-V2 split file (one image name a line).

    Args:
        split_file: the ``.txt`` file.
        known_names: names of images that exist; a line that is not one of them but is the
            concatenation of two of them is split in two (the release has such a line).

    Returns:
        names in file order, without duplicates (a repeated name is an error).
    """
    split_file = check_file(split_file, "SIRST-V2 split file")
    lines = read_text(split_file).splitlines()
    names, where = [], {}
    for lineno, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            continue
        if any(c in name for c in "/\\ \t") or name in (".", ".."):
            raise DatasetFormatError(f"not an image name: {name!r}", split_file, lineno)
        parts = [name]
        if known_names is not None and name not in known_names:
            splits = [(name[:i], name[i:]) for i in range(1, len(name)) if name[:i] in known_names and name[i:] in known_names]
            if len(splits) == 1:
                logger.warning("%s:%d: %r joins two names; reading it as %s", split_file, lineno, name, list(splits[0]))
                parts = list(splits[0])
        for p in parts:
            if p in where:
                raise DatasetFormatError(f"{p!r} is listed twice (first at line {where[p]})", split_file, lineno)
            where[p] = lineno
            names.append(p)
    return names


def parse_sirst_xml(path) -> Tuple[Optional[Tuple[int, int]], List[List[float]]]:
    """Parse one VOC xml of SIRST-V2.

    Returns:
        ``((width, height) or None, boxes)`` with boxes as 0-based XYXY_ABS pixel-edge
        coordinates: ``[xmin - 1, ymin - 1, xmax - 1, ymax - 1]`` since xmin/ymin are 1-based
        pixel indices and xmax/ymax are exclusive 1-based ones.
    """
    path = check_file(path, "SIRST-V2 annotation")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DatasetFormatError(f"malformed xml: {e}", path, e.position[0]) from e
    size = None
    size_el = root.find("size")
    if size_el is not None:
        try:
            w, h = int(size_el.findtext("width", "")), int(size_el.findtext("height", ""))
        except ValueError:
            raise DatasetFormatError("size/width and size/height must be integers", path, field="size") from None
        if w <= 0 or h <= 0:
            raise DatasetFormatError(f"non-positive image size {w}x{h}", path, field="size")
        size = (w, h)
    boxes = []
    for k, obj in enumerate(root.findall("object")):
        field = f"object[{k}]"
        name = (obj.findtext("name") or "").strip()
        if name.lower() not in _XML_CLASS_NAMES:
            raise DatasetFormatError(f"unknown class name {name!r} (expected 'Target')", path, field=field)
        bnd = obj.find("bndbox")
        if bnd is None:
            raise DatasetFormatError("object has no bndbox", path, field=field)
        vals = []
        for key in ("xmin", "ymin", "xmax", "ymax"):
            text = bnd.findtext(key)
            try:
                v = float(text)
            except (TypeError, ValueError):
                raise DatasetFormatError(f"bndbox/{key} must be a number, got {text!r}", path, field=field) from None
            if v != v or abs(v) == float("inf"):
                raise DatasetFormatError(f"bndbox/{key} must be finite, got {text!r}", path, field=field)
            vals.append(v)
        xmin, ymin, xmax, ymax = vals
        if xmax <= xmin or ymax <= ymin:
            raise DatasetFormatError(f"non-positive box width or height: {vals}", path, field=field)
        boxes.append([xmin - 1, ymin - 1, xmax - 1, ymax - 1])
    return size, boxes


def load_sirst_v2(root, split: str, split_file: Optional[str] = None, missing: str = "warn") -> List[dict]:
    """Load one split of SIRST-V2.

    Args:
        root: the ``sirst_v2`` folder.
        split: "train", "val" or "test"; picks ``splits/<split>_full.txt`` when all the images
            it names are present, else ``splits/<split>_targets.txt`` if it exists (the subset
            layout), else ``<split>_full.txt``.
        split_file: an explicit split file (overrides ``split``'s choice).
        missing: what to do with split names that have neither an image nor an annotation:
            "warn" (skip them and log their names) or "error". An annotation without its image,
            or a target image without its annotation, is always an error.

    Returns:
        list[dict]; background images get empty annotations.
    """
    if missing not in ("warn", "error"):
        raise ValueError(f"missing must be 'warn' or 'error', got {missing!r}")
    img_t, img_b = os.path.join(root, "images", "targets"), os.path.join(root, "images", "backgrounds")
    ann_dir = os.path.join(root, "annotations", "bboxes")
    if not os.path.isdir(img_t):
        raise DatasetFormatError(f"SIRST-V2 image folder not found: {img_t}")
    targets, backgrounds, xmls = _stems(img_t), _stems(img_b), _stems(ann_dir, ".xml")
    known = targets | backgrounds
    if split_file is None:
        full = os.path.join(root, "splits", f"{split}_full.txt")
        sub = os.path.join(root, "splits", f"{split}_targets.txt")
        split_file = full
        if os.path.isfile(sub) and (not os.path.isfile(full) or not set(read_sirst_split(full, known)) <= known):
            split_file = sub
    names = read_sirst_split(split_file, known)

    absent = [n for n in names if n not in known and n not in xmls]
    if absent:
        msg = f"{len(absent)} names in the split have no image or annotation: {absent[:10]}"
        if missing == "error":
            raise DatasetFormatError(msg, split_file)
        logger.warning("%s: skipping %s", split_file, msg)

    clipper = BoxClipper(split_file)
    records = []
    for image_id, name in enumerate((n for n in names if n not in absent), start=1):
        xml = os.path.join(ann_dir, name + ".xml")
        if name in targets:
            img_path = os.path.join(img_t, name + ".png")
        elif name in backgrounds:
            img_path = os.path.join(img_b, name + ".png")
        else:
            raise DatasetFormatError(f"annotation {xml} exists but the image {name}.png is in neither images/targets nor images/backgrounds", split_file)
        width, height = check_image(img_path, source=split_file, field=name)
        annos = []
        if name in xmls:
            size, boxes = parse_sirst_xml(xml)
            if size is not None and size != (width, height):
                raise DatasetFormatError(f"xml gives size {size[0]}x{size[1]} but {img_path} is {width}x{height}", xml, field="size")
            for k, b in enumerate(boxes):
                b = clipper.clip(b, width, height, where=f"{xml} object {k}")
                if b is not None:
                    annos.append({"bbox": b, "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0, "iscrowd": 0})
        elif name in targets:
            raise DatasetFormatError(f"target image {img_path} has no annotation {xml}", split_file, field=name)
        records.append({"file_name": img_path, "image_id": image_id, "height": height, "width": width, "annotations": annos})
    clipper.report()
    validate_dataset_dicts(records, 1, split_file)
    return records
