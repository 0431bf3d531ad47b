"""One loader per dataset family: paths in, detectron2 dataset dicts out (no registration)."""
from .coco_json import AITOD_CLASSES, DRONESWARMS_CLASSES, load_aitod, load_coco_detection_json, load_droneswarms
from .dota import DOTA_V1_CLASSES, load_dota
from .sirst_v2 import SIRST_V2_CLASSES, load_sirst_v2
from .visdrone import VISDRONE_CLASSES, load_visdrone, parse_visdrone_txt

__all__ = [
    "AITOD_CLASSES",
    "DRONESWARMS_CLASSES",
    "DOTA_V1_CLASSES",
    "SIRST_V2_CLASSES",
    "VISDRONE_CLASSES",
    "load_aitod",
    "load_coco_detection_json",
    "load_droneswarms",
    "load_dota",
    "load_sirst_v2",
    "load_visdrone",
    "parse_visdrone_txt",
]
