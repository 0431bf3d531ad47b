"""DOTA v1.0 as horizontal boxes on overlapping tiles.

Layout: ``DOTA/<split>/images/P0000.png`` and ``DOTA/<split>/labelTxt/P0000.txt``; a label line
is ``x1 y1 x2 y2 x3 y3 x4 y4 class difficult`` (an optional ``imagesource:`` / ``gsd:`` header
comes first). DOTA images reach 20000 px, so they are cut into tiles (800 px with 200 px overlap
by default, the usual DOTA-devkit setting) once: tile images and the tile records are cached
on disk, keyed by the tiling parameters and the source files' sizes and times. Each record keeps
``tile_offset`` ``[x0, y0]`` and the source image so predictions can be merged back.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import List, Tuple

import cv2
import numpy as np
from detectron2.structures import BoxMode

from ..image_io import read_image
from ..validation import DatasetFormatError, check_file, check_image, read_text, validate_dataset_dicts

__all__ = ["DOTA_V1_CLASSES", "parse_dota_txt", "compute_tiles", "tile_annotations", "load_dota"]

logger = logging.getLogger(__name__)

DOTA_V1_CLASSES = [
    "plane", "ship", "storage-tank", "baseball-diamond", "tennis-court", "basketball-court",
    "ground-track-field", "harbor", "bridge", "large-vehicle", "small-vehicle", "helicopter",
    "roundabout", "soccer-ball-field", "swimming-pool",
]
_CLASS_INDEX = {c: i for i, c in enumerate(DOTA_V1_CLASSES)}
_HEADER_PREFIXES = ("imagesource", "gsd")
_CACHE_VERSION = 1


def parse_dota_txt(path) -> List[dict]:
    """Parse a DOTA v1.0 label file into ``{"bbox": XYXY, "category_id", "difficult"}`` dicts.

    The horizontal box is the polygon's bounding box.
    """
    path = check_file(path, "DOTA label file")
    lines = read_text(path).splitlines()
    objects = []
    for lineno, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if ":" in line and line.split(":", 1)[0].strip().lower() in _HEADER_PREFIXES:
            continue
        fields = line.split()
        if len(fields) not in (9, 10):
            raise DatasetFormatError(f"expected 8 coordinates, a class and a difficult flag, got {len(fields)} fields: {line[:80]!r}", path, lineno)
        try:
            coords = np.array([float(v) for v in fields[:8]], dtype=np.float64)
        except ValueError:
            raise DatasetFormatError(f"coordinates must be numbers: {fields[:8]}", path, lineno) from None
        if not np.isfinite(coords).all():
            raise DatasetFormatError(f"coordinates must be finite: {fields[:8]}", path, lineno)
        cls = fields[8]
        if cls not in _CLASS_INDEX:
            raise DatasetFormatError(f"unknown DOTA v1.0 class {cls!r}", path, lineno)
        difficult = 0
        if len(fields) == 10:
            if fields[9] not in ("0", "1"):
                raise DatasetFormatError(f"difficult must be 0 or 1, got {fields[9]!r}", path, lineno)
            difficult = int(fields[9])
        xs, ys = coords[0::2], coords[1::2]
        box = [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
        if box[2] <= box[0] or box[3] <= box[1]:
            raise DatasetFormatError(f"polygon has zero width or height: {fields[:8]}", path, lineno)
        objects.append({"bbox": box, "category_id": _CLASS_INDEX[cls], "difficult": difficult})
    return objects


def _starts(length: int, tile: int, stride: int) -> List[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)  # the last tile is aligned to the border, not padded
    return starts


def compute_tiles(width: int, height: int, tile_size: int = 800, overlap: int = 200) -> List[Tuple[int, int, int, int]]:
    """Return tiles ``(x0, y0, w, h)`` covering the image; images smaller than a tile give one tile."""
    if tile_size <= 0 or not 0 <= overlap < tile_size:
        raise ValueError(f"need tile_size > 0 and 0 <= overlap < tile_size, got {tile_size}, {overlap}")
    stride = tile_size - overlap
    return [
        (x, y, min(tile_size, width), min(tile_size, height))
        for y in _starts(height, tile_size, stride)
        for x in _starts(width, tile_size, stride)
    ]


def tile_annotations(objects: List[dict], tile: Tuple[int, int, int, int], min_visible: float = 0.7, include_difficult: bool = False) -> List[dict]:
    """Annotations of one tile, in tile coordinates.

    An object is a normal instance when at least ``min_visible`` of its box area lies in the
    tile; a smaller part (or a difficult object unless ``include_difficult``) becomes a crowd
    region (``iscrowd=1``): neither trained on nor counted as a miss, rather than dropped.
    """
    x0, y0, w, h = tile
    out = []
    for o in objects:
        bx0, by0, bx1, by1 = o["bbox"]
        ix0, iy0 = max(bx0, x0), max(by0, y0)
        ix1, iy1 = min(bx1, x0 + w), min(by1, y0 + h)
        if ix1 <= ix0 or iy1 <= iy0:
            continue
        visible = (ix1 - ix0) * (iy1 - iy0) / ((bx1 - bx0) * (by1 - by0))
        crowd = visible < min_visible or (o["difficult"] and not include_difficult)
        out.append({
            "bbox": [ix0 - x0, iy0 - y0, ix1 - x0, iy1 - y0],
            "bbox_mode": BoxMode.XYXY_ABS,
            "category_id": o["category_id"],
            "iscrowd": int(crowd),
            "difficult": o["difficult"],
        })
    return out


def _fingerprint(paths: List[str], params: dict) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.basename(p)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def load_dota(
    image_dir,
    label_dir,
    cache_dir,
    tile_size: int = 800,
    overlap: int = 200,
    min_visible: float = 0.7,
    include_difficult: bool = False,
) -> List[dict]:
    """Load a DOTA v1.0 split as tiles, building the tile cache on first use.

    Args:
        image_dir: ``DOTA/<split>/images``.
        label_dir: ``DOTA/<split>/labelTxt``.
        cache_dir: where tile images and ``tiles.json`` go (rebuilt when the parameters or the
            source files change).
        tile_size, overlap: tiling in pixels.
        min_visible, include_difficult: see :func:`tile_annotations`.

    Returns:
        list[dict], one per tile, with ``tile_offset``, ``source_file_name``, ``source_width``
        and ``source_height`` besides the standard keys.
    """
    for d, what in ((image_dir, "image"), (label_dir, "labelTxt")):
        if not os.path.isdir(d):
            raise DatasetFormatError(f"DOTA {what} folder not found: {d}")
    labels = sorted(n for n in os.listdir(label_dir) if n.endswith(".txt"))
    images = {os.path.splitext(n)[0]: n for n in os.listdir(image_dir) if os.path.splitext(n)[1].lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")}
    for lab in labels:
        if lab[:-4] not in images:
            raise DatasetFormatError(f"no image for label file (looked in {image_dir})", os.path.join(label_dir, lab))
    unlabelled = sorted(set(images) - {lab[:-4] for lab in labels})
    if unlabelled:
        raise DatasetFormatError(f"{len(unlabelled)} images have no label file, e.g. {unlabelled[:3]}", label_dir)

    params = {"version": _CACHE_VERSION, "tile_size": tile_size, "overlap": overlap, "min_visible": min_visible, "include_difficult": include_difficult}
    sources = [os.path.join(label_dir, lab) for lab in labels] + [os.path.join(image_dir, images[lab[:-4]]) for lab in labels]
    key = _fingerprint(sources, params)
    index = os.path.join(cache_dir, "tiles.json")
    if os.path.isfile(index):
        try:
            with open(index) as f:
                cached = json.load(f)
        except (OSError, json.JSONDecodeError):
            cached = {}
        if cached.get("key") == key:
            records = cached["records"]
            for r in records:
                r["file_name"] = os.path.join(cache_dir, r["file_name"])
                for a in r["annotations"]:
                    a["bbox_mode"] = BoxMode(a["bbox_mode"])
            return records
        logger.info("DOTA tile cache %s is stale; rebuilding", index)

    tile_dir = os.path.join(cache_dir, "images")
    os.makedirs(tile_dir, exist_ok=True)
    records = []
    for lab in labels:
        stem = lab[:-4]
        src = os.path.join(image_dir, images[stem])
        width, height = check_image(src, source=os.path.join(label_dir, lab))
        objects = parse_dota_txt(os.path.join(label_dir, lab))
        image = None
        for tile in compute_tiles(width, height, tile_size, overlap):
            x0, y0, tw, th = tile
            name = f"{stem}__{x0}_{y0}.png"
            if image is None:
                image = read_image(src, format="BGR")
            if not cv2.imwrite(os.path.join(tile_dir, name), image[y0 : y0 + th, x0 : x0 + tw]):
                raise OSError(f"could not write tile {os.path.join(tile_dir, name)}")
            records.append({
                "file_name": os.path.join("images", name),
                "image_id": len(records) + 1,
                "height": th,
                "width": tw,
                "annotations": tile_annotations(objects, tile, min_visible, include_difficult),
                "tile_offset": [x0, y0],
                "source_file_name": src,
                "source_width": width,
                "source_height": height,
            })
    validate_dataset_dicts(records, len(DOTA_V1_CLASSES), str(label_dir))
    serial = [dict(r, annotations=[dict(a, bbox_mode=int(a["bbox_mode"])) for a in r["annotations"]]) for r in records]
    tmp = index + f".tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"key": key, "params": params, "records": serial}, f)
    os.replace(tmp, index)  # atomic, so a concurrent reader never sees half a file
    for r in records:
        r["file_name"] = os.path.join(cache_dir, r["file_name"])
    return records
