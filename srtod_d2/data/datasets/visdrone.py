"""VisDrone2019-DET in its original layout.

``VisDrone2019-DET-<split>/images/<name>.jpg`` and ``.../annotations/<name>.txt``, one object a
line: ``bbox_left,bbox_top,bbox_width,bbox_height,score,object_category,truncation,occlusion``.
Categories 1..10 are the classes (as in the AI-TOD authors' conversion); 0 marks an ignored
region and 11 is "others": neither is ground truth, but ignored regions are kept in the record
(``ignore_regions``, XYXY_ABS) for evaluators and samplers that honour them.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, List

from detectron2.structures import BoxMode

from ..validation import BoxClipper, DatasetFormatError, check_file, check_image, read_text, validate_dataset_dicts

__all__ = [
    "VISDRONE_CLASSES",
    "IGNORED_REGION_CATEGORY",
    "OTHERS_CATEGORY",
    "parse_visdrone_txt",
    "load_visdrone",
]

logger = logging.getLogger(__name__)

VISDRONE_CLASSES = [
    "pedestrian", "people", "bicycle", "car", "van",
    "truck", "tricycle", "awning-tricycle", "bus", "motor",
]
IGNORED_REGION_CATEGORY = 0
OTHERS_CATEGORY = 11
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def _int_field(text: str, name: str, path, lineno: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise DatasetFormatError(f"{name} must be an integer, got {text!r}", path, lineno) from None


def _float_field(text: str, name: str, path, lineno: int) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DatasetFormatError(f"{name} must be a number, got {text!r}", path, lineno) from None
    if v != v or v in (float("inf"), float("-inf")):
        raise DatasetFormatError(f"{name} must be finite, got {text!r}", path, lineno)
    return v


def parse_visdrone_txt(path) -> Dict[str, list]:
    """Parse one VisDrone annotation file, without looking at the image.

    Args:
        path: the ``.txt`` file.

    Returns:
        dict with ``annotations`` (detectron2 annotation dicts, XYWH_ABS, category_id 0..9,
        plus ``truncation`` and ``occlusion``), ``ignore_regions`` (XYXY boxes of category 0)
        and ``others`` (XYXY boxes of category 11, left out of the ground truth). Boxes are
        not clipped here since the image size is not known.

    Raises:
        DatasetFormatError: naming file and line for any malformed line.
    """
    path = check_file(path, "VisDrone annotation file")
    annotations, ignore_regions, others = [], [], []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        # Some released files end lines with a comma; an empty last field is harmless.
        if len(fields) == 9 and fields[-1] == "":
            fields = fields[:8]
        if len(fields) != 8:
            raise DatasetFormatError(
                f"expected 8 comma-separated fields (x,y,w,h,score,category,truncation,occlusion), "
                f"got {len(fields)}: {line[:80]!r}",
                path, lineno,
            )
        x, y, w, h = (_float_field(fields[i], n, path, lineno) for i, n in enumerate(("bbox_left", "bbox_top", "bbox_width", "bbox_height")))
        score = _int_field(fields[4], "score", path, lineno)
        category = _int_field(fields[5], "object_category", path, lineno)
        truncation = _int_field(fields[6], "truncation", path, lineno)
        occlusion = _int_field(fields[7], "occlusion", path, lineno)
        if w <= 0 or h <= 0:
            raise DatasetFormatError(f"box width and height must be positive, got w={w:g}, h={h:g}", path, lineno)
        if not 0 <= category <= 11:
            raise DatasetFormatError(f"unknown object_category {category} (VisDrone uses 0..11)", path, lineno)
        if score not in (0, 1) and category != IGNORED_REGION_CATEGORY:
            # Ground truth scores are 0/1 flags; anything else suggests a detection-result file.
            raise DatasetFormatError(f"score must be 0 or 1 in ground truth, got {score}", path, lineno)
        box_xyxy = [x, y, x + w, y + h]
        if category == IGNORED_REGION_CATEGORY:
            ignore_regions.append(box_xyxy)
        elif category == OTHERS_CATEGORY:
            others.append(box_xyxy)
        else:
            annotations.append({
                "bbox": [x, y, w, h],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": category - 1,
                "iscrowd": 0,
                "truncation": truncation,
                "occlusion": occlusion,
            })
    return {"annotations": annotations, "ignore_regions": ignore_regions, "others": others}


def _list_images(image_dir) -> Dict[str, str]:
    images = {}
    for name in sorted(os.listdir(image_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS:
            if stem in images:
                raise DatasetFormatError(f"two images share the name {stem!r}", image_dir)
            images[stem] = os.path.join(image_dir, name)
    return images


def load_visdrone(image_dir, ann_dir) -> List[dict]:
    """Load one VisDrone-DET split.

    Args:
        image_dir: ``VisDrone2019-DET-<split>/images``.
        ann_dir: ``VisDrone2019-DET-<split>/annotations``.

    Returns:
        list[dict] in detectron2's format; ``image_id`` runs 1..N in sorted file-name order,
        each record also has ``ignore_regions`` (XYXY_ABS, clipped to the image).
    """
    for d, what in ((image_dir, "image"), (ann_dir, "annotation")):
        if not os.path.isdir(d):
            raise DatasetFormatError(f"VisDrone {what} folder not found: {d}")
    images = _list_images(image_dir)
    ann_files = {os.path.splitext(n)[0] for n in os.listdir(ann_dir) if n.endswith(".txt")}
    orphans = sorted(ann_files - set(images))
    if orphans:
        raise DatasetFormatError(
            f"{len(orphans)} annotation files have no image in {image_dir}, e.g. {orphans[:3]}", ann_dir
        )
    clipper = BoxClipper(ann_dir)
    n_others = 0
    records = []
    for image_id, (stem, img_path) in enumerate(images.items(), start=1):
        txt = os.path.join(ann_dir, stem + ".txt")
        if stem not in ann_files:
            raise DatasetFormatError(f"no annotation file for image {img_path}", txt)
        width, height = check_image(img_path, source=txt)
        parsed = parse_visdrone_txt(txt)
        annos = []
        for k, a in enumerate(parsed["annotations"]):
            x, y, w, h = a["bbox"]
            box = clipper.clip([x, y, x + w, y + h], width, height, where=f"{txt} object {k + 1}")
            if box is not None:
                annos.append(dict(a, bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]]))
        ignore = [b for b in (clipper.clip(r, width, height, where=f"{txt} ignored region") for r in parsed["ignore_regions"]) if b is not None]
        n_others += len(parsed["others"])
        records.append({
            "file_name": img_path,
            "image_id": image_id,
            "height": height,
            "width": width,
            "annotations": annos,
            "ignore_regions": ignore,
        })
    clipper.report()
    if n_others:
        logger.info("%s: left %d boxes of category 11 ('others') out of the ground truth", ann_dir, n_others)
    validate_dataset_dicts(records, len(VISDRONE_CLASSES), str(ann_dir))
    return records
