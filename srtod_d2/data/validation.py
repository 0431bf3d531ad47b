"""Checks shared by every loader, so that bad input fails early with the file and line/field.

Policy (the same for every dataset family):
- missing files, unreadable images, malformed lines, non-positive or non-finite sizes, unknown
  categories, duplicate or zero ids: :class:`DatasetFormatError` naming the file and line/field;
- a box that extends outside its image is clipped; one that lies entirely outside is dropped;
  both are counted and reported in one warning per file set (never silently).
"""
from __future__ import annotations

import logging
import math
import os
from collections import Counter
from numbers import Real
from typing import Iterable, List, Optional, Sequence, Tuple

from detectron2.structures import BoxMode

from .image_io import ImageReadError, read_image_size

__all__ = [
    "DatasetFormatError",
    "BoxClipper",
    "check_number",
    "check_positive_int",
    "check_box_xywh",
    "check_ids",
    "check_file",
    "check_image",
    "validate_dataset_dicts",
]

logger = logging.getLogger(__name__)


class DatasetFormatError(ValueError):
    """Bad dataset input. The message starts with ``file:line`` or ``file [field]``."""

    def __init__(self, message: str, file=None, line: Optional[int] = None, field: Optional[str] = None):
        self.file = None if file is None else os.fspath(file)
        self.line = line
        self.field = field
        where = ""
        if self.file is not None:
            where = self.file
            if line is not None:
                where += f":{line}"
            if field is not None:
                where += f" [{field}]"
        elif field is not None:
            where = f"[{field}]"
        super().__init__(f"{where}: {message}" if where else message)


def check_number(value, what: str, file=None, line=None, field=None) -> float:
    """Return ``value`` as a finite float, or raise naming ``what``."""
    # bool is a Real in Python; a json ``true`` as a coordinate is a bug, not the number 1.
    if isinstance(value, bool) or not isinstance(value, Real):
        raise DatasetFormatError(f"{what} must be a number, got {value!r}", file, line, field)
    value = float(value)
    if not math.isfinite(value):
        raise DatasetFormatError(f"{what} must be finite, got {value}", file, line, field)
    return value


def check_positive_int(value, what: str, file=None, line=None, field=None) -> int:
    """Return ``value`` as a positive int (an integral float such as 640.0 is accepted)."""
    v = check_number(value, what, file, line, field)
    if v != int(v) or v <= 0:
        raise DatasetFormatError(f"{what} must be a positive integer, got {value!r}", file, line, field)
    return int(v)


def check_box_xywh(box, file=None, line=None, field=None) -> List[float]:
    """Check an ``[x, y, w, h]`` box: 4 finite numbers, positive width and height."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise DatasetFormatError(f"bbox must be a list of 4 numbers [x, y, w, h], got {box!r}", file, line, field)
    x, y, w, h = (check_number(v, "bbox value", file, line, field) for v in box)
    if w <= 0 or h <= 0:
        raise DatasetFormatError(f"bbox width and height must be positive, got w={w:g}, h={h:g}", file, line, field)
    return [x, y, w, h]


def check_ids(ids: Iterable, kind: str, file=None, field=None) -> None:
    """Ids must be integers, non-zero and unique.

    Zero is refused because pycocotools' COCOeval records matches by id with 0 meaning
    "unmatched", so a ground truth (or image) with id 0 can never be matched.
    """
    ids = list(ids)
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise DatasetFormatError(f"{kind} id must be an integer, got {i!r}", file, None, field)
        if i == 0:
            raise DatasetFormatError(
                f"{kind} id 0 is not allowed (pycocotools evaluation never matches id 0); "
                "ids must start at 1",
                file, None, field,
            )
    dup = [i for i, n in Counter(ids).items() if n > 1]
    if dup:
        raise DatasetFormatError(
            f"duplicate {kind} ids: {sorted(dup)[:10]}{' ...' if len(dup) > 10 else ''} "
            f"({len(dup)} ids used more than once)",
            file, None, field,
        )


def check_file(path, what: str = "file") -> str:
    """Raise a clear error when ``path`` is not an existing file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetFormatError(f"{what} not found: {path}")
    return path


def read_text(path) -> str:
    """A text file's content (UTF-8, a byte-order mark allowed); a clear error naming the file
    and the byte offset when it is not text."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetFormatError(f"not valid UTF-8/ASCII text (byte {e.start})", path) from e


def check_image(path, expected_size: Optional[Tuple[int, int]] = None, source=None, field=None) -> Tuple[int, int]:
    """Check that an image exists and is readable from its header; return ``(width, height)``.

    Args:
        path: image file.
        expected_size: ``(width, height)`` the annotation claims; a mismatch is an error.
        source: the annotation file that names this image, for the message.
        field: where in ``source`` it is named.
    """
    try:
        size = read_image_size(path)
    except ImageReadError as e:
        raise DatasetFormatError(str(e), source, None, field) from e
    if expected_size is not None and tuple(expected_size) != size:
        raise DatasetFormatError(
            f"annotation gives image size {expected_size[0]}x{expected_size[1]} (WxH) but "
            f"{path} is {size[0]}x{size[1]}",
            source, None, field,
        )
    return size


class BoxClipper:
    """Clips XYXY boxes to their image and counts what it changed, for one warning at the end.

    Args:
        source: what is being loaded (a path or dataset name), for the warning.
    """

    def __init__(self, source):
        self.source = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
        self.total = 0
        self.clipped = 0
        self.dropped = 0
        self.examples: List[str] = []

    def clip(self, box_xyxy: Sequence[float], width: int, height: int, where: str = "") -> Optional[List[float]]:
        """Return the box clipped to ``[0, width] x [0, height]``, or None if nothing is left."""
        self.total += 1
        x0, y0, x1, y1 = box_xyxy
        cx0, cy0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
        cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
        if (cx0, cy0, cx1, cy1) == (x0, y0, x1, y1):
            return [x0, y0, x1, y1]
        if len(self.examples) < 3:
            self.examples.append(f"{where} {list(box_xyxy)} in {width}x{height}".strip())
        if cx1 <= cx0 or cy1 <= cy0:
            self.dropped += 1
            return None
        self.clipped += 1
        return [cx0, cy0, cx1, cy1]

    def report(self) -> None:
        """Log one warning if any box was clipped or dropped."""
        if self.clipped or self.dropped:
            logger.warning(
                "%s: %d of %d boxes extended outside their image and were clipped; %d lay "
                "entirely outside and were dropped (e.g. %s)",
                self.source, self.clipped, self.total, self.dropped, "; ".join(self.examples),
            )


def validate_dataset_dicts(dicts: Sequence[dict], num_classes: int, source: str = "dataset") -> None:
    """Check loader output against detectron2's standard format (a cheap last line of defence).

    Args:
        dicts: records with file_name, image_id, height, width, annotations.
        num_classes: category ids must lie in ``[0, num_classes)``.
        source: name for messages.
    """
    seen = set()
    for k, rec in enumerate(dicts):
        for key in ("file_name", "image_id", "height", "width", "annotations"):
            if key not in rec:
                raise DatasetFormatError(f"record {k} has no '{key}'", source)
        if rec["image_id"] in seen:
            raise DatasetFormatError(f"duplicate image_id {rec['image_id']!r}", source)
        seen.add(rec["image_id"])
        w, h = rec["width"], rec["height"]
        if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
            raise DatasetFormatError(f"record {rec['file_name']} has bad size {w}x{h}", source)
        for a in rec["annotations"]:
            cid = a["category_id"]
            if not (0 <= cid < num_classes):
                raise DatasetFormatError(f"{rec['file_name']}: category_id {cid} outside [0, {num_classes})", source)
            box = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
            if not all(math.isfinite(v) for v in box) or box[2] <= box[0] or box[3] <= box[1]:
                raise DatasetFormatError(f"{rec['file_name']}: empty or non-finite box {a['bbox']}", source)
            if box[0] < 0 or box[1] < 0 or box[2] > w + 1e-6 or box[3] > h + 1e-6:
                raise DatasetFormatError(f"{rec['file_name']}: box {a['bbox']} outside the {w}x{h} image", source)
