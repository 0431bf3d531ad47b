"""Register the tiny-object datasets by name in detectron2's catalogs.

Everything lives under ``$DETECTRON2_DATASETS`` (default ``datasets/``); see
``datasets/README.md`` for the expected trees. Registration only records paths: nothing is read
until ``DatasetCatalog.get(name)``, and the synthetic set is generated then, once.

Registration is guarded, so importing twice (or in a data-loader worker) is harmless.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog

from .datasets.coco_json import AITOD_CLASSES, DRONESWARMS_CLASSES, load_coco_detection_json
from .datasets.dota import DOTA_V1_CLASSES, load_dota
from .datasets.sirst_v2 import SIRST_V2_CLASSES, load_sirst_v2
from .datasets.visdrone import VISDRONE_CLASSES, load_visdrone
from .synthetic import SYNTHETIC_CLASSES, ensure_synthetic_dataset

__all__ = [
    "EVALUATOR_TYPE",
    "SYNTHETIC_SPLITS",
    "register_visdrone",
    "register_coco_json_dataset",
    "register_dota_v1",
    "register_sirst_v2",
    "register_synthetic_tiny",
    "register_all",
]

EVALUATOR_TYPE = "tiny_coco"

# Size and seed of the built-in synthetic splits (change by registering another name with
# register_synthetic_tiny). Different seeds keep train and val images disjoint.
SYNTHETIC_SPLITS = {
    "train": {"num_images": 400, "seed": 20240},
    "val": {"num_images": 100, "seed": 20241},
}
# `synthetic_tiny_easy_*`: the same generator with one class, stronger contrast and less clutter.
# A detector trained from scratch for minutes on 2 CPU cores learns it (the quickstart); the full
# set takes far longer (see docs/benchmarks.md).
SYNTHETIC_EASY = {"classes": ("drone",), "contrast": [45.0, 90.0], "clutter_per_image": [5, 30],
                  "noise_sigma": [1.0, 3.0]}
# `synthetic_tiny_sky_*`: the easy set against the sky only (DroneSwarms' setting). The textured
# ground and city of the other scenes give most pixels as much local contrast as a target; here
# little but the targets and a few distractors has it, so a difference map can single them out.
SYNTHETIC_SKY = {**SYNTHETIC_EASY, "scenes": ["sky"]}


def _register(name: str, loader, source: dict, **metadata) -> bool:
    """Register ``name``; False if it is already registered from the same ``source`` (the
    loader's arguments), so importing twice is harmless. From another source it is an error:
    detectron2 would keep the first and the user would train on data they did not point to."""
    if name in DatasetCatalog.list():
        old = MetadataCatalog.get(name).get("registered_from", None)
        if old == source:
            return False
        raise ValueError(f"dataset {name!r} is already registered (from {old or 'elsewhere'}); registering it from "
                         f"{source} would be ignored: use another name, or DatasetCatalog.remove({name!r}) and "
                         f"MetadataCatalog.remove({name!r}) first")
    DatasetCatalog.register(name, loader)
    MetadataCatalog.get(name).set(evaluator_type=EVALUATOR_TYPE, registered_from=source, **metadata)
    return True


def _id_map(n: int) -> dict:
    # Original ids 1..n, so converted ground truth and results use the datasets' own ids.
    return {i + 1: i for i in range(n)}


def register_visdrone(name: str, split_dir: str) -> bool:
    """Register a VisDrone2019-DET split folder (holding ``images/`` and ``annotations/``)."""
    return _register(
        name,
        lambda: load_visdrone(os.path.join(split_dir, "images"), os.path.join(split_dir, "annotations")),
        {"split_dir": split_dir},
        thing_classes=list(VISDRONE_CLASSES),
        thing_dataset_id_to_contiguous_id=_id_map(len(VISDRONE_CLASSES)),
        image_root=os.path.join(split_dir, "images"),
        has_ignore_regions=True,  # the evaluator adds them as crowd boxes of every class
    )


def register_coco_json_dataset(name: str, json_file: str, image_root: str, class_names: Optional[Sequence[str]] = None) -> bool:
    """Register a COCO-json detection set, checked by :func:`load_coco_detection_json`.

    Args:
        class_names: expected category names in id order (checked at load); also the
            ``thing_classes`` given before the json is read.
    """
    meta = {"json_file": json_file, "image_root": image_root}
    if class_names is not None:
        meta["thing_classes"] = list(class_names)
    source = {"json_file": json_file, "image_root": image_root,
              "class_names": None if class_names is None else list(class_names)}
    return _register(name, lambda: load_coco_detection_json(json_file, image_root, name, class_names), source, **meta)


def register_dota_v1(name: str, split_dir: str, cache_dir: str, tile_size: int = 800, overlap: int = 200) -> bool:
    """Register a DOTA v1.0 split (``images/`` + ``labelTxt/``) tiled into ``cache_dir``."""
    return _register(
        name,
        lambda: load_dota(os.path.join(split_dir, "images"), os.path.join(split_dir, "labelTxt"), cache_dir, tile_size, overlap),
        {"split_dir": split_dir, "cache_dir": cache_dir, "tile_size": tile_size, "overlap": overlap},
        thing_classes=list(DOTA_V1_CLASSES),
        thing_dataset_id_to_contiguous_id=_id_map(len(DOTA_V1_CLASSES)),
        tile_size=tile_size,
        tile_overlap=overlap,
    )


def register_sirst_v2(name: str, root: str, split: str) -> bool:
    """Register one SIRST-V2 split ("train", "val" or "test") of the release at ``root``."""
    return _register(
        name,
        lambda: load_sirst_v2(root, split),
        {"root": root, "split": split},
        thing_classes=list(SIRST_V2_CLASSES),
        thing_dataset_id_to_contiguous_id=_id_map(1),
        image_root=os.path.join(root, "images"),
    )


def register_synthetic_tiny(name: str, out_dir: str, num_images: int, seed: int, classes: Sequence[str] = SYNTHETIC_CLASSES, **kwargs) -> bool:
    """Register a synthetic set generated into ``out_dir`` on first use (then reused).

    Args:
        kwargs: passed to :func:`srtod_d2.data.synthetic.ensure_synthetic_dataset`.
    """
    json_file = os.path.join(out_dir, "annotations.json")

    def load():
        ensure_synthetic_dataset(out_dir, num_images, seed, classes=classes, **kwargs)
        return load_coco_detection_json(json_file, out_dir, name, list(classes))

    source = {"out_dir": out_dir, "num_images": num_images, "seed": seed, "classes": list(classes), **kwargs}
    return _register(name, load, source, thing_classes=list(classes), json_file=json_file, image_root=out_dir)


def register_all(root: str) -> None:
    """Register every built-in name under ``root``."""
    for split, folder in (("train", "train"), ("val", "val"), ("test_dev", "test-dev")):
        register_visdrone(f"visdrone2019_det_{split}", os.path.join(root, f"VisDrone2019-DET-{folder}"))

    aitod = os.path.join(root, "aitod")
    for split in ("trainval", "test"):
        v1 = os.path.join(aitod, "annotations", f"aitod_{split}_v1.json")
        v2 = os.path.join(aitod, "annotations", f"aitodv2_{split}.json")
        images = os.path.join(aitod, "images", split)
        register_coco_json_dataset(f"aitod_v1_{split}", v1, images, AITOD_CLASSES)
        register_coco_json_dataset(f"aitod_v2_{split}", v2, images, AITOD_CLASSES)
        # The plain name follows whichever release is installed (v1 if both are).
        register_coco_json_dataset(f"aitod_{split}", v2 if os.path.isfile(v2) and not os.path.isfile(v1) else v1, images, AITOD_CLASSES)

    for split in ("train", "test"):
        d = os.path.join(root, "droneswarms", split)
        register_coco_json_dataset(f"droneswarms_{split}", os.path.join(d, f"{split}.json"), os.path.join(d, "JPEGImages"), DRONESWARMS_CLASSES)

    for split in ("train", "val"):
        register_dota_v1(f"dota_v1_{split}", os.path.join(root, "DOTA", split), os.path.join(root, "DOTA", "tiles_800_200", split))

    for split in ("train", "val", "test"):
        register_sirst_v2(f"sirst_v2_{split}", os.path.join(root, "sirst_v2"), split)

    for split, cfg in SYNTHETIC_SPLITS.items():
        register_synthetic_tiny(f"synthetic_tiny_{split}", os.path.join(root, "synthetic_tiny", split), **cfg)
        register_synthetic_tiny(f"synthetic_tiny_easy_{split}", os.path.join(root, "synthetic_tiny_easy", split),
                                **cfg, **SYNTHETIC_EASY)
        register_synthetic_tiny(f"synthetic_tiny_sky_{split}", os.path.join(root, "synthetic_tiny_sky", split),
                                **cfg, **SYNTHETIC_SKY)


_root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
register_all(_root)
