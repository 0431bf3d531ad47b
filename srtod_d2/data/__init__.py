"""Tiny-object datasets for detectron2: loaders, registration, synthetic set, statistics.

Importing this package registers the dataset names (see :mod:`srtod_d2.data.builtin`).
"""
from . import builtin  # noqa: F401  (registers the datasets)
from .builtin import register_coco_json_dataset, register_synthetic_tiny
from .datasets import (
    AITOD_CLASSES,
    DOTA_V1_CLASSES,
    DRONESWARMS_CLASSES,
    SIRST_V2_CLASSES,
    VISDRONE_CLASSES,
    load_aitod,
    load_coco_detection_json,
    load_dota,
    load_droneswarms,
    load_sirst_v2,
    load_visdrone,
)
from .image_io import ImageReadError, read_image, read_image_size
from .mapper import TinyDatasetMapper
from .synthetic import SYNTHETIC_CLASSES, ensure_synthetic_dataset, generate_synthetic_dataset
from .validation import DatasetFormatError

__all__ = [
    "AITOD_CLASSES",
    "DOTA_V1_CLASSES",
    "DRONESWARMS_CLASSES",
    "SIRST_V2_CLASSES",
    "SYNTHETIC_CLASSES",
    "VISDRONE_CLASSES",
    "DatasetFormatError",
    "ImageReadError",
    "TinyDatasetMapper",
    "ensure_synthetic_dataset",
    "generate_synthetic_dataset",
    "load_aitod",
    "load_coco_detection_json",
    "load_dota",
    "load_droneswarms",
    "load_sirst_v2",
    "load_visdrone",
    "read_image",
    "read_image_size",
    "register_coco_json_dataset",
    "register_synthetic_tiny",
]
