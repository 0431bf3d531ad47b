"""Run a COCO box evaluation with a given protocol on a compiled or on the official backend.

Two backends compute the same matching and accumulation:

* ``"faster-coco-eval"`` (>= 1.7, which takes custom area ranges): C++ matching and
  accumulation, used by default when it is installed;
* ``"pycocotools"``: the official pure-Python ``COCOeval``, the fallback.

Both return pycocotools' ``eval['precision']`` ([T, R, K, A, M]) and ``eval['recall']``
([T, K, A, M]) arrays; the summary (:func:`.tiny_coco.summarize`) is computed from them by
one piece of code whichever backend ran.

:func:`check_ground_truth` and :func:`check_detections` turn what pycocotools would silently
mis-evaluate or crash on into errors that name the file and the field, and return the clean
copies (detections as arrays) that :func:`run_cocoeval` expects.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import List, Optional, Sequence, Union

import numpy as np

from .box_arrays import BoxArrays
from .protocol import IOU_THRESHOLDS, RECALL_THRESHOLDS, EvalProtocol

__all__ = [
    "BACKENDS",
    "EvaluationInputError",
    "RawEvaluation",
    "available_backends",
    "check_detections",
    "checked_detection_arrays",
    "check_ground_truth",
    "resolve_backend",
    "run_cocoeval",
]

logger = logging.getLogger(__name__)

BACKENDS = ("faster-coco-eval", "pycocotools")
_FASTER_MIN_VERSION = (1, 7)


@dataclass
class RawEvaluation:
    """Accumulated matching results, in pycocotools' layout.

    Attributes:
        precision: [T, R, K, A, M] array (IoU thresholds, recall thresholds, categories,
            area bands, max_dets); -1 where a category has no ground truth in a band.
        recall: [T, K, A, M] array; -1 likewise.
        cat_ids: category ids of axis K, sorted.
        backend: which backend ran, with its version (e.g. ``"faster-coco-eval 1.8.0"``).
    """

    precision: np.ndarray
    recall: np.ndarray
    cat_ids: List[int]
    backend: str


class EvaluationInputError(ValueError):
    """Ground truth or detections that would be evaluated wrongly, or not at all."""


def _describe_ids(ids) -> str:
    ids = sorted(ids)
    if len(ids) > 2 and ids == list(range(ids[0], ids[-1] + 1)):
        return f"[{ids[0]}..{ids[-1]}]"
    if len(ids) > 12:
        return "[" + ", ".join(map(str, ids[:6])) + ", ..., " + ", ".join(map(str, ids[-3:])) + "]"
    return str(ids)


def _int_id(value):
    """``value`` as an int id, or None when it is not an integer."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return None


def _finite_number(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)) and bool(np.isfinite(value)))


_JSON_NUMBER_TYPES = (int, float)


def _box(value):
    """``value`` as a list of 4 finite floats, or None."""
    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != 4:
        return None
    if all(type(v) in _JSON_NUMBER_TYPES for v in value):  # what json gives: no per-item checks
        box = [float(v) for v in value]
        return box if all(map(math.isfinite, box)) else None
    if not all(_finite_number(v) for v in value):
        return None
    return [float(v) for v in value]


def _fast_int(value):
    """:func:`_int_id`, with the plain-int case (what json gives) first."""
    return value if type(value) is int else _int_id(value)


def _ann_error(source, ann_id, index, problem) -> EvaluationInputError:
    # Built only on failure: formatting a location for every one of 10^5 boxes costs seconds.
    return EvaluationInputError(f"{source}: annotation {ann_id} (annotations[{index}]) {problem}")


def check_ground_truth(gt, source: str = "ground truth") -> dict:
    """Check a COCO ground-truth dict and return a clean copy for :func:`run_cocoeval`.

    Raises :class:`EvaluationInputError`, naming ``source`` and the field, for: missing
    ``images``/``annotations``/``categories`` lists; missing, non-integer or duplicate image,
    category and annotation ids; annotation ids of 0 (pycocotools reads id 0 as "unmatched", so
    such a box would never count as found); annotations of unknown images or categories; boxes
    that are not 4 finite numbers; a missing or non-finite ``area`` (the size bands use it).
    ``iscrowd`` defaults to 0.
    """
    if not isinstance(gt, dict):
        raise EvaluationInputError(
            f"{source}: expected a COCO ground-truth object with 'images', 'annotations' and "
            f"'categories', got {type(gt).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(gt.get(key), list):
            hint = (" (a test-set file without annotations cannot be evaluated)"
                    if key == "annotations" else "")
            raise EvaluationInputError(f"{source}: has no '{key}' list{hint}")

    images, image_ids = [], set()
    for i, img in enumerate(gt["images"]):
        img_id = _int_id(img.get("id")) if isinstance(img, dict) else None
        if img_id is None:
            raise EvaluationInputError(f"{source}: images[{i}] has no integer 'id' "
                                       f"(got {img.get('id') if isinstance(img, dict) else img!r})")
        if img_id in image_ids:
            raise EvaluationInputError(f"{source}: images[{i}] repeats image id {img_id}")
        image_ids.add(img_id)
        images.append({**img, "id": img_id})

    categories, cat_ids = [], set()
    for i, cat in enumerate(gt["categories"]):
        cat_id = _int_id(cat.get("id")) if isinstance(cat, dict) else None
        if cat_id is None:
            raise EvaluationInputError(f"{source}: categories[{i}] has no integer 'id'")
        if cat_id in cat_ids:
            raise EvaluationInputError(f"{source}: categories[{i}] repeats category id {cat_id}")
        cat_ids.add(cat_id)
        categories.append({**cat, "id": cat_id, "name": str(cat.get("name", cat_id))})

    annotations, ann_ids = [], set()
    for i, ann in enumerate(gt["annotations"]):
        if not isinstance(ann, dict):
            raise EvaluationInputError(f"{source}: annotations[{i}] is not an object")
        ann_id = _fast_int(ann.get("id"))
        if ann_id is None:
            raise EvaluationInputError(f"{source}: annotations[{i}] has no integer 'id' "
                                       f"(got {ann.get('id')!r})")
        if ann_id == 0:
            raise _ann_error(source, ann_id, i,
                             "has id 0; COCO evaluation uses id 0 to mean 'unmatched', so this "
                             "box could never be matched. Number ground-truth annotations from 1.")
        if ann_id in ann_ids:
            raise _ann_error(source, ann_id, i, f"repeats annotation id {ann_id}")
        ann_ids.add(ann_id)
        img_id = _fast_int(ann.get("image_id"))
        if img_id not in image_ids:
            raise _ann_error(source, ann_id, i, f"has image_id {ann.get('image_id')!r}, which is "
                                                f"not in the ground truth images")
        cat_id = _fast_int(ann.get("category_id"))
        if cat_id not in cat_ids:
            raise _ann_error(source, ann_id, i,
                             f"has category_id {ann.get('category_id')!r}, which is not in the "
                             f"ground truth categories {_describe_ids(cat_ids)}")
        box = _box(ann.get("bbox"))
        if box is None:
            raise _ann_error(source, ann_id, i, f"has bbox {ann.get('bbox')!r}; expected 4 finite "
                                                f"numbers [x, y, width, height]")
        if "area" not in ann:
            raise _ann_error(source, ann_id, i, "has no 'area' field; the size bands are defined "
                                                "on the ground truth's json area")
        area = ann["area"]
        if not (type(area) in _JSON_NUMBER_TYPES and math.isfinite(area)
                or _finite_number(area)):
            raise _ann_error(source, ann_id, i, f"has area {area!r}; expected a finite number")
        crowd = ann.get("iscrowd", 0)
        annotations.append({**ann, "id": ann_id, "image_id": img_id, "category_id": cat_id,
                            "bbox": box, "area": float(area),
                            "iscrowd": int(bool(crowd))})
    return {"images": images, "annotations": annotations, "categories": categories}


def _raise_for_detection(i, det, image_ids, cat_ids, source):
    where = f"{source}: detection [{i}]"
    if not isinstance(det, dict):
        raise EvaluationInputError(f"{where} is not an object (got {type(det).__name__})")
    for key in ("image_id", "category_id", "bbox", "score"):
        if key not in det:
            raise EvaluationInputError(f"{where} has no '{key}' field")
    if "id" in det and _int_id(det["id"]) == 0:
        raise EvaluationInputError(
            f"{where} has id 0; COCO evaluation uses id 0 to mean 'unmatched'. Leave 'id' out "
            f"(detections are numbered from 1) or number them from 1.")
    if _int_id(det["image_id"]) not in image_ids:
        raise EvaluationInputError(f"{where} has image_id {det['image_id']!r}, which is not in "
                                   f"the ground truth images")
    if _int_id(det["category_id"]) not in cat_ids:
        raise EvaluationInputError(
            f"{where} has category_id {det['category_id']!r}, which is not in the ground truth "
            f"categories {_describe_ids(cat_ids)}")
    if _box(det["bbox"]) is None:
        raise EvaluationInputError(f"{where} has bbox {det['bbox']!r}; expected 4 finite numbers "
                                   f"[x, y, width, height] (NaN and infinity are not boxes)")
    if not _finite_number(det["score"]):
        raise EvaluationInputError(f"{where} has score {det['score']!r}; expected a finite number")


def check_detections(dets, gt: dict, source: str = "detections") -> list:
    """Check COCO-format detections against checked ground truth ``gt``; return clean copies.

    Each detection needs ``image_id`` and ``category_id`` of the ground truth, ``bbox`` as 4
    finite numbers [x, y, w, h] and a finite ``score``; an ``id`` field, which is ignored
    (detections are numbered 1..N in list order, as pycocotools' ``loadRes`` does), must not be 0.
    Otherwise :class:`EvaluationInputError` names ``source``, the detection's index and field.
    The copies carry ``id``, ``area`` (w * h) and ``iscrowd`` 0, as ``loadRes`` sets them.
    """
    return checked_detection_arrays(dets, gt, source).loadres_dicts()


def checked_detection_arrays(dets, gt: dict, source: str = "detections") -> BoxArrays:
    """:func:`check_detections`, returning the clean detections as :class:`BoxArrays`, the form
    :func:`run_cocoeval` works on without building a dict per detection."""
    if isinstance(dets, dict):
        raise EvaluationInputError(
            f"{source}: expected a list of detections (COCO results format), got an object "
            f"with keys {sorted(dets)[:6]}")
    if not isinstance(dets, (list, tuple)):
        raise EvaluationInputError(f"{source}: expected a list of detections, got "
                                   f"{type(dets).__name__}")
    image_ids = {img["id"] for img in gt["images"]}
    cat_ids = {cat["id"] for cat in gt["categories"]}
    # Vectorised checks for the common, valid case; on any problem, a per-detection pass finds
    # the first culprit and names it.
    try:
        if 0 in map(dict.get, dets, repeat("id")):
            raise ValueError
        arrays = BoxArrays.from_annotations(dets, detections=True)
        ok = (bool(np.isfinite(arrays.boxes).all()) and bool(np.isfinite(arrays.scores).all())
              and bool(np.isin(arrays.image_ids, list(image_ids)).all())
              and bool(np.isin(arrays.category_ids, list(cat_ids)).all())
              and _only_ints(map(itemgetter("image_id"), dets))
              and _only_ints(map(itemgetter("category_id"), dets)))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        ok = False
    if not ok:
        for i, det in enumerate(dets):
            _raise_for_detection(i, det, image_ids, cat_ids, source)
        # Values the vectorised pass rejected but that are valid one by one (e.g. image ids
        # written as 3.0): convert them one at a time.
        clean = [{"image_id": _int_id(d["image_id"]), "category_id": _int_id(d["category_id"]),
                  "bbox": _box(d["bbox"]), "score": float(d["score"])} for d in dets]
        arrays = BoxArrays.from_annotations(clean, detections=True)
    return arrays


def _only_ints(values) -> bool:
    """Whether every value is an int (np.fromiter would have read 3.0 or True as an id too)."""
    return all(issubclass(k, (int, np.integer)) and not issubclass(k, (bool, np.bool_))
               for k in set(map(type, values)))


def _version_tuple(version: str):
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _faster_coco_eval_version() -> Optional[str]:
    """Version of an importable faster-coco-eval recent enough for custom area ranges, else None."""
    try:
        import faster_coco_eval
        from faster_coco_eval.core import COCO, COCOeval_faster  # noqa: F401
    except ImportError:
        return None
    version = getattr(faster_coco_eval, "__version__", "0")
    if _version_tuple(version) < _FASTER_MIN_VERSION:
        return None
    return version


def available_backends() -> List[str]:
    """Backends that can run here, the preferred one first."""
    found = []
    if _faster_coco_eval_version() is not None:
        found.append("faster-coco-eval")
    try:
        import pycocotools.cocoeval  # noqa: F401

        found.append("pycocotools")
    except ImportError:
        pass
    return found


def resolve_backend(backend: str = "auto") -> str:
    """Turn ``"auto"`` into the backend that will run; check that a named one can run."""
    found = available_backends()
    if backend == "auto":
        if not found:
            raise ImportError("Neither faster-coco-eval (>= 1.7) nor pycocotools is installed; "
                              "install one of them to evaluate.")
        if found[0] != "faster-coco-eval":
            logger.warning("faster-coco-eval >= 1.7 is not installed: evaluating with the much "
                           "slower pycocotools.")
        return found[0]
    if backend not in BACKENDS:
        raise ValueError(f"Unknown evaluation backend {backend!r}; choose 'auto' or one of "
                         f"{list(BACKENDS)}")
    if backend not in found:
        raise ImportError(f"Evaluation backend {backend!r} is not installed (or too old; "
                          f"faster-coco-eval must be >= 1.7). Installed: {found or 'none'}")
    return backend


def _set_params(params, protocol: EvalProtocol, img_ids: Optional[Sequence[int]]):
    params.iouThrs = IOU_THRESHOLDS.copy()
    params.recThrs = RECALL_THRESHOLDS.copy()
    params.areaRng = protocol.area_rng
    params.areaRngLbl = protocol.area_rng_lbl
    params.maxDets = list(protocol.max_dets)
    if img_ids is not None:
        params.imgIds = sorted(int(i) for i in img_ids)


def _gt_copy(gt: dict) -> dict:
    # Both COCO APIs write into annotation dicts (e.g. "ignore"); never touch the caller's.
    return {
        "images": [dict(img) for img in gt["images"]],
        "annotations": [dict(ann) for ann in gt["annotations"]],
        "categories": [dict(cat) for cat in gt["categories"]],
    }


def _run_pycocotools(gt, dets: BoxArrays, protocol, img_ids) -> RawEvaluation:
    import pycocotools
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = _gt_copy(gt)
        coco_gt.createIndex()
        if len(dets.scores):
            coco_dt = coco_gt.loadRes(dets.loadres_dicts())
        else:
            # loadRes cannot take an empty list; an empty result set is just this.
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": [],
                               "categories": list(coco_gt.dataset["categories"])}
            coco_dt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_dt, iouType="bbox")
        _set_params(coco_eval.params, protocol, img_ids)
        coco_eval.evaluate()
        coco_eval.accumulate()
    version = getattr(pycocotools, "__version__", None)
    if version is None:
        from importlib.metadata import version as _dist_version

        version = _dist_version("pycocotools")
    return RawEvaluation(
        precision=np.asarray(coco_eval.eval["precision"], dtype=np.float64),
        recall=np.asarray(coco_eval.eval["recall"], dtype=np.float64),
        cat_ids=[int(c) for c in coco_eval.params.catIds],
        backend=f"pycocotools {version}",
    )


def _run_faster_coco_eval(gt, dets: BoxArrays, protocol, img_ids) -> RawEvaluation:
    import faster_coco_eval
    from faster_coco_eval.core import COCO

    from .grouped_eval import GroupedBoxEval

    quiet = logger.debug
    coco_gt = COCO(_gt_copy(gt), print_function=quiet)
    # GroupedBoxEval takes the detections as arrays, not from a COCO index; coco_dt only
    # carries the images and categories.
    coco_dt = COCO(print_function=quiet)
    coco_dt.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": [],
                       "categories": list(coco_gt.dataset["categories"])}
    coco_dt.createIndex()

    # lvis_style, extra_calc and separate_eval off: plain COCO matching, accumulated in C++.
    coco_eval = GroupedBoxEval(coco_gt, coco_dt, det_arrays=dets, iouType="bbox",
                               print_function=quiet, extra_calc=False, lvis_style=False,
                               separate_eval=False)
    _set_params(coco_eval.params, protocol, img_ids)
    coco_eval.evaluate()
    coco_eval.accumulate()
    return RawEvaluation(
        precision=np.asarray(coco_eval.eval["precision"], dtype=np.float64),
        recall=np.asarray(coco_eval.eval["recall"], dtype=np.float64),
        cat_ids=[int(c) for c in coco_eval.params.catIds],
        backend=f"faster-coco-eval {faster_coco_eval.__version__}",
    )


def run_cocoeval(gt: dict, dets: Union[list, BoxArrays], protocol: EvalProtocol,
                 backend: str = "auto", img_ids: Optional[Sequence[int]] = None) -> RawEvaluation:
    """Match ``dets`` to ``gt`` under ``protocol`` and accumulate.

    Args:
        gt: COCO ground-truth dict as returned by :func:`check_ground_truth`.
        dets: detections for that ``gt`` as :func:`checked_detection_arrays` returns them, or
            the dicts :func:`check_detections` returns.
        protocol: area bands and detection limits.
        backend: ``"auto"`` (faster-coco-eval when installed, else pycocotools) or a name
            from :data:`BACKENDS`.
        img_ids: evaluate on these images only (default: all images of ``gt``).
    """
    name = resolve_backend(backend)
    if not isinstance(dets, BoxArrays):
        dets = BoxArrays.from_annotations(dets, detections=True)
    run = _run_faster_coco_eval if name == "faster-coco-eval" else _run_pycocotools
    result = run(gt, dets, protocol, img_ids)
    logger.info("COCO box evaluation (%s protocol) ran on %s.", protocol.name, result.backend)
    return result
