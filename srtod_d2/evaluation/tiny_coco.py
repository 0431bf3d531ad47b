"""Tiny-object COCO evaluation: AI-TOD's protocol (or any other :class:`EvalProtocol`) on
COCO-format boxes, as a function (:func:`evaluate_coco_json`) and as a detectron2
``DatasetEvaluator`` (:class:`TinyCOCOEvaluator`).

Result names (detectron2's 0-100 scale), shown for AI-TOD; each area band contributes the
suffix of its :attr:`AreaRange.key`:

* ``AP, AP50, AP75`` -- IoU 0.50:0.95 / 0.50 / 0.75, all sizes, at the last maxDets;
* ``APvt, APt, APs, APm`` -- very tiny, tiny, small, medium, at the last maxDets;
* ``AR@100, AR@300, AR@1500`` -- AR, all sizes, at each maxDets;
* ``ARvt, ARt, ARs, ARm`` -- AR per band at the last maxDets;
* ``AP-<class>`` and ``APvt-<class>``, ``APt-<class>``, ... -- per class, all sizes and per band.

Every number is pycocotools' summary: the mean of ``eval['precision']`` (or ``recall``) over
the entries that are defined (> -1). A number is NaN where nothing is defined: a band (or a
class in a band) with no ground truth, as in detectron2. Detections that find nothing give 0,
not NaN, wherever there is ground truth.
"""
from __future__ import annotations

import contextlib
import gc
import itertools
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from tabulate import tabulate

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from detectron2.evaluation import COCOEvaluator
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import create_small_table

from .backend import (
    EvaluationInputError,
    checked_detection_arrays,
    check_ground_truth,
    resolve_backend,
    run_cocoeval,
)
from .protocol import AITOD, IOU_THRESHOLDS, EvalProtocol, get_protocol

__all__ = ["EvaluationResult", "TinyCOCOEvaluator", "evaluate_coco_json", "summarize", "with_ignored_regions"]

logger = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """What :func:`evaluate_coco_json` returns.

    Attributes:
        metrics: the results dict (names in the module docstring), 0-100, NaN where undefined.
        backend: the backend that ran, with its version.
        protocol: the protocol evaluated.
        class_names: class names, in the order of ``cat_ids``.
        cat_ids: category ids (sorted), axis K of ``precision``/``recall``.
        precision, recall: pycocotools' accumulated arrays, [T, R, K, A, M] and [T, K, A, M].
        num_images, num_detections: what was evaluated.
    """

    metrics: "OrderedDict[str, float]"
    backend: str
    protocol: EvalProtocol
    class_names: List[str]
    cat_ids: List[int]
    precision: np.ndarray
    recall: np.ndarray
    num_images: int
    num_detections: int

    def summary_keys(self) -> List[str]:
        """Names of the overall AP results (``AP, AP50, AP75, APvt, ...``)."""
        return ["AP", "AP50", "AP75"] + ["AP" + r.key for r in self.protocol.area_ranges[1:]]

    def recall_keys(self) -> List[str]:
        """Names of the overall AR results (``AR@100, ..., ARvt, ...``)."""
        return ([f"AR@{n}" for n in self.protocol.max_dets]
                + ["AR" + r.key for r in self.protocol.area_ranges[1:]])

    def tables(self) -> str:
        """The AP, AR and per-class tables, formatted as detectron2 formats its own."""
        m = self.metrics
        lines = [
            f"Evaluation results for bbox ({self.protocol.name} protocol, maxDets "
            f"{list(self.protocol.max_dets)}, {self.backend}):",
            create_small_table({k: m[k] for k in self.summary_keys()}),
            "Average recall:",
            create_small_table({k: m[k] for k in self.recall_keys()}),
        ]
        if self.class_names:
            keys = [r.key for r in self.protocol.area_ranges]
            rows = [[name] + [m[f"AP{key}-{name}"] for key in keys] for name in self.class_names]
            table = tabulate(rows, headers=["category"] + ["AP" + key for key in keys],
                             tablefmt="pipe", floatfmt=".3f", numalign="left")
            lines += ["Per-category bbox AP by size:", table]
        if not np.isfinite(np.array(list(m.values()), dtype=np.float64)).all():
            lines.append("NaN: no ground truth in that size band (or class), so it is undefined.")
        return "\n".join(lines)


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined) * 100) if defined.size else float("nan")


def summarize(precision: np.ndarray, recall: np.ndarray, protocol: EvalProtocol,
              class_names: Sequence[str]) -> "OrderedDict[str, float]":
    """The results dict from pycocotools' accumulated ``precision`` [T, R, K, A, M] and
    ``recall`` [T, K, A, M] arrays (see the module docstring for the names)."""
    t50 = int(np.flatnonzero(np.isclose(IOU_THRESHOLDS, 0.50))[0])
    t75 = int(np.flatnonzero(np.isclose(IOU_THRESHOLDS, 0.75))[0])
    ranges = protocol.area_ranges
    out = OrderedDict()
    out["AP"] = _mean_defined(precision[:, :, :, 0, -1])
    out["AP50"] = _mean_defined(precision[t50, :, :, 0, -1])
    out["AP75"] = _mean_defined(precision[t75, :, :, 0, -1])
    for a, band in enumerate(ranges[1:], start=1):
        out["AP" + band.key] = _mean_defined(precision[:, :, :, a, -1])
    for m, n in enumerate(protocol.max_dets):
        out[f"AR@{n}"] = _mean_defined(recall[:, :, 0, m])
    for a, band in enumerate(ranges[1:], start=1):
        out["AR" + band.key] = _mean_defined(recall[:, :, a, -1])
    for k, name in enumerate(class_names):
        for a, band in enumerate(ranges):
            out[f"AP{band.key}-{name}"] = _mean_defined(precision[:, :, k, a, -1])
    return out


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector: building ~10^6 annotation dicts otherwise triggers
    full collections over and over (a third of the Python-side time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_json(source, what: str):
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with PathManager.open(path, "r") as f:
                return json.load(f), os.path.basename(path)
        except FileNotFoundError:
            raise EvaluationInputError(f"{what} file {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise EvaluationInputError(f"{os.path.basename(path)}: not valid JSON ({e})") from None
    return source, what


def _class_names(gt: dict, class_names) -> List[str]:
    cat_ids = sorted(c["id"] for c in gt["categories"])
    names = {c["id"]: str(c["name"]) for c in gt["categories"]}
    if class_names is not None:
        if isinstance(class_names, Mapping):
            names.update({int(k): str(v) for k, v in class_names.items()})
        else:
            class_names = list(class_names)
            if len(class_names) != len(cat_ids):
                raise ValueError(f"class_names has {len(class_names)} names for "
                                 f"{len(cat_ids)} categories")
            names = dict(zip(cat_ids, map(str, class_names)))
    ordered = [names[c] for c in cat_ids]
    if len(set(ordered)) != len(ordered):  # keep the result names distinct
        ordered = [f"{names[c]}#{c}" for c in cat_ids]
    return ordered


def evaluate_coco_json(
    gt: Union[str, os.PathLike, dict],
    dets: Union[str, os.PathLike, list],
    protocol: Union[str, EvalProtocol] = AITOD,
    *,
    backend: str = "auto",
    img_ids: Optional[Sequence[int]] = None,
    class_names: Union[None, Sequence[str], Mapping[int, str]] = None,
) -> EvaluationResult:
    """Evaluate COCO-format box detections against COCO ground truth.

    Args:
        gt: ground-truth json file, or its loaded dict. Box areas for the size bands are its
            ``area`` fields.
        dets: COCO results json file (a list of {image_id, category_id, bbox, score}, as
            detectron2, mmdetection and others write), or the loaded list. May be empty.
        protocol: :data:`~.protocol.AITOD` (default), :data:`~.protocol.COCO`, their name, or
            any :class:`EvalProtocol`.
        backend: ``"auto"`` (faster-coco-eval when installed, else pycocotools),
            ``"faster-coco-eval"`` or ``"pycocotools"``.
        img_ids: evaluate on these images only (default: every image of the ground truth).
        class_names: names for the per-class results, a list in sorted category-id order or a
            dict {category id: name} (default: the ground truth's category names).

    Raises:
        EvaluationInputError: input that cannot be evaluated correctly, named by file and field
            (annotation ids of 0, categories the ground truth lacks, NaN boxes, ...).
    """
    protocol = get_protocol(protocol)
    with _gc_paused():
        return _evaluate(gt, dets, protocol, backend, img_ids, class_names)


def _evaluate(gt, dets, protocol, backend, img_ids, class_names) -> EvaluationResult:
    gt_data, gt_source = _load_json(gt, "ground truth")
    det_data, det_source = _load_json(dets, "detections")
    gt_clean = check_ground_truth(gt_data, source=gt_source)
    det_clean = checked_detection_arrays(det_data, gt_clean, source=det_source)
    if img_ids is not None:
        known = {img["id"] for img in gt_clean["images"]}
        unknown = sorted(set(int(i) for i in img_ids) - known)
        if unknown:
            raise EvaluationInputError(f"img_ids {unknown[:10]} are not in the ground truth images")
    names = _class_names(gt_clean, class_names)
    num_images = len(gt_clean["images"]) if img_ids is None else len(set(img_ids))
    num_dets = len(det_clean.scores)
    raw = run_cocoeval(gt_clean, det_clean, protocol, backend=backend, img_ids=img_ids)
    metrics = summarize(raw.precision, raw.recall, protocol, names)
    return EvaluationResult(metrics=metrics, backend=raw.backend, protocol=protocol,
                            class_names=names, cat_ids=raw.cat_ids, precision=raw.precision,
                            recall=raw.recall, num_images=num_images, num_detections=num_dets)


def with_ignored_regions(gt: dict, records: Sequence[dict]) -> dict:
    """``gt`` plus one ``iscrowd=1`` box of every category for each record's ``ignore_regions``
    (XYXY_ABS; VisDrone's category-0 areas). detectron2's conversion to COCO json drops them, and
    COCO matching ignores a detection only on a crowd box of its own class, so a region must be a
    crowd box of every class for a detection of any class there not to count as false.
    ``gt`` is returned unchanged where no record has ignored regions."""
    regions = [(r["image_id"], box) for r in records for box in r.get("ignore_regions", ())]
    if not regions:
        return gt
    next_id = max((a["id"] for a in gt["annotations"]), default=0) + 1
    crowd = []
    for image_id, (x0, y0, x1, y1) in regions:
        for c in gt["categories"]:
            crowd.append({"id": next_id, "image_id": image_id, "category_id": c["id"], "iscrowd": 1,
                          "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0)})
            next_id += 1
    return {**gt, "annotations": list(gt["annotations"]) + crowd}


class TinyCOCOEvaluator(COCOEvaluator):
    """detectron2 ``COCOEvaluator`` for boxes under AI-TOD's protocol (or another).

    A drop-in for ``COCOEvaluator(dataset_name, ...)`` on box detection: detectron2 collects
    the predictions (``process``), gathers them across ranks and writes
    ``instances_predictions.pth`` and ``coco_instances_results.json`` to ``output_dir`` as it
    always does; this class replaces the evaluation and the summary. ``evaluate()`` returns
    ``{"bbox": results}`` with the names of this module's docstring and logs them as tables.

    Args:
        dataset_name: a registered dataset, with a COCO ``json_file`` in its metadata or in
            detectron2's standard format (then converted to COCO json in ``output_dir``). Where
            its metadata has ``has_ignore_regions=True`` (VisDrone), each record's
            ``ignore_regions`` are added as crowd boxes (:func:`with_ignored_regions`).
        tasks: None or ``("bbox",)``; only box detection is evaluated.
        distributed: gather predictions from all ranks and evaluate on the main one.
        output_dir: where to write the predictions and ``coco_instances_results.json``.
        max_dets_per_image: None for the protocol's maxDets; an int ``n`` keeps the protocol's
            limits below ``n`` and evaluates AP at ``n``; a list replaces them.
        protocol: :data:`~.protocol.AITOD` (default), :data:`~.protocol.COCO`, a name, or any
            :class:`EvalProtocol`.
        backend: ``"auto"``, ``"faster-coco-eval"`` or ``"pycocotools"``.
        allow_cached_coco: as in ``COCOEvaluator``.
    """

    def __init__(
        self,
        dataset_name: str,
        tasks=None,
        distributed: bool = True,
        output_dir: Optional[str] = None,
        *,
        max_dets_per_image: Union[None, int, Sequence[int]] = None,
        protocol: Union[str, EvalProtocol] = AITOD,
        backend: str = "auto",
        allow_cached_coco: bool = True,
    ):
        if tasks is not None and not isinstance(tasks, CfgNode):
            unsupported = sorted(set(tasks) - {"bbox"})
            if unsupported:
                raise ValueError(f"TinyCOCOEvaluator evaluates boxes only; tasks {unsupported} "
                                 f"are not supported (use detectron2's COCOEvaluator for them)")
        super().__init__(dataset_name, tasks=("bbox",), distributed=distributed,
                         output_dir=output_dir, use_fast_impl=False,
                         allow_cached_coco=allow_cached_coco)
        self._logger = logger
        protocol = get_protocol(protocol)
        if max_dets_per_image is not None:
            protocol = protocol.with_max_dets(max_dets_per_image)
        self._protocol = protocol
        self._backend = resolve_backend(backend)
        self.backend_used: Optional[str] = None
        if self._do_evaluation:
            source = os.path.basename(self._metadata.json_file)
            gt = self._coco_api.dataset
            if self._metadata.get("has_ignore_regions", False):
                # only then: loading the records again costs seconds on the large sets
                gt = with_ignored_regions(gt, DatasetCatalog.get(dataset_name))
            self._gt = check_ground_truth(gt, source=source)
            self._names = self._names_from_metadata(self._gt)

    @property
    def protocol(self) -> EvalProtocol:
        return self._protocol

    def _names_from_metadata(self, gt: dict) -> Dict[int, str]:
        names = {c["id"]: c["name"] for c in gt["categories"]}
        thing_classes = self._metadata.get("thing_classes", None)
        mapping = self._metadata.get("thing_dataset_id_to_contiguous_id", None)
        if thing_classes:
            if mapping:
                for dataset_id, contiguous_id in mapping.items():
                    if dataset_id in names and contiguous_id < len(thing_classes):
                        names[dataset_id] = thing_classes[contiguous_id]
            elif len(thing_classes) == len(names):
                names = dict(zip(sorted(names), thing_classes))
        return names

    def _unmap_categories(self, coco_results: List[dict]) -> List[dict]:
        mapping = self._metadata.get("thing_dataset_id_to_contiguous_id", None)
        if not mapping:
            return coco_results
        reverse = {v: k for k, v in mapping.items()}
        out = []
        for result in coco_results:
            contiguous_id = result["category_id"]
            if contiguous_id not in reverse:
                raise EvaluationInputError(
                    f"A prediction has class {contiguous_id}, but dataset "
                    f"'{self._metadata.name}' has {len(reverse)} classes; predicted classes "
                    f"must be in [0, {len(reverse) - 1}]")
            out.append({**result, "category_id": reverse[contiguous_id]})
        return out

    def _eval_predictions(self, predictions, img_ids=None):
        coco_results = list(itertools.chain(*[p.get("instances", []) for p in predictions]))
        coco_results = self._unmap_categories(coco_results)

        if self._output_dir:
            file_path = os.path.join(self._output_dir, "coco_instances_results.json")
            self._logger.info("Saving results to {}".format(file_path))
            with PathManager.open(file_path, "w") as f:
                f.write(json.dumps(coco_results))
                f.flush()

        if not self._do_evaluation:
            self._logger.info("Annotations are not available for evaluation.")
            return

        result = evaluate_coco_json(self._gt, coco_results, self._protocol,
                                    backend=self._backend, img_ids=img_ids,
                                    class_names=self._names)
        self.backend_used = result.backend
        self._logger.info(
            f"Evaluated {result.num_detections} detections on {result.num_images} images "
            f"with {result.backend}.\n" + result.tables())
        self._results["bbox"] = result.metrics
