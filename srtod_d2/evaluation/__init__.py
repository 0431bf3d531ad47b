"""Evaluation for tiny objects: AI-TOD's COCO protocol (very tiny / tiny / small / medium,
maxDets up to 1500) on a compiled backend, for detectron2 and for saved COCO result files.

* :class:`TinyCOCOEvaluator` -- a detectron2 ``DatasetEvaluator``, used like ``COCOEvaluator``;
* :func:`evaluate_coco_json` -- ground-truth json + results json -> :class:`EvaluationResult`;
* :data:`AITOD`, :data:`COCO`, :class:`EvalProtocol`, :class:`AreaRange` -- the protocols;
* ``python -m srtod_d2.evaluation GT.json DETECTIONS.json [--json]`` -- the same from a shell.
"""
from .backend import (
    BACKENDS,
    EvaluationInputError,
    available_backends,
    check_detections,
    check_ground_truth,
    resolve_backend,
    run_cocoeval,
)
from .protocol import AITOD, COCO, PROTOCOLS, AreaRange, EvalProtocol, get_protocol
from .tiny_coco import EvaluationResult, TinyCOCOEvaluator, evaluate_coco_json, summarize

__all__ = [
    "AITOD",
    "BACKENDS",
    "COCO",
    "PROTOCOLS",
    "AreaRange",
    "EvalProtocol",
    "EvaluationInputError",
    "EvaluationResult",
    "TinyCOCOEvaluator",
    "available_backends",
    "check_detections",
    "check_ground_truth",
    "evaluate_coco_json",
    "get_protocol",
    "resolve_backend",
    "run_cocoeval",
    "summarize",
]
