"""Small builders shared by the tests."""
import importlib.util
import sys
from pathlib import Path

from detectron2.config import get_cfg

from srtod_d2 import add_srtod_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def load_benchmark(stem):
    """``benchmarks/<stem>.py`` as a module, loaded once per test session whichever test asks
    first: a second load would register its meta-architectures twice, which detectron2 refuses.
    Benchmarks import each other by their plain names (``from random_map import ...``), so the
    module is kept under that name too, and one a benchmark imported first is reused."""
    name = f"srtod_benchmark_{stem}"
    path = ROOT / "benchmarks" / f"{stem}.py"
    if name not in sys.modules:
        plain = sys.modules.get(stem)
        if plain is not None and Path(getattr(plain, "__file__", "")).resolve() == path:
            sys.modules[name] = plain
        else:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            sys.modules.setdefault(stem, module)
            spec.loader.exec_module(module)
    return sys.modules[name]


def tiny_cfg(config="Synthetic/srtod_faster_rcnn_R18_tiny.yaml", *opts):
    """The shipped tiny CPU config, shrunk further so a forward pass takes milliseconds."""
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(str(CONFIGS / config))
    cfg.merge_from_list([
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "",
        "MODEL.FPN.OUT_CHANNELS", 32, "MODEL.ROI_BOX_HEAD.FC_DIM", 64,
        "MODEL.SRTOD.HEAD_CHANNELS", [16, 8],
        "INPUT.MIN_SIZE_TEST", 64, "INPUT.MAX_SIZE_TEST", 128,
        *opts,
    ])
    return cfg


def write_tiny_coco(folder, num_images=6, size=(64, 80), seed=0):
    """A small detection set on disk: bright squares (4-14 px) on dark noise, COCO json with ids
    from 1, three classes. Returns (json_path, image_root)."""
    import json

    import cv2
    import numpy as np

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    images, anns = [], []
    for i in range(num_images):
        img = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
        for _ in range(3):
            s = int(rng.integers(4, 15))
            x, y = int(rng.integers(0, w - s)), int(rng.integers(0, h - s))
            cat = int(rng.integers(1, 4))
            img[y:y + s, x:x + s] = (80 * cat, 255, 255 - 60 * cat)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cat,
                         "bbox": [x, y, s, s], "area": s * s, "iscrowd": 0})
        cv2.imwrite(str(folder / "images" / f"{i:03d}.png"), img)
        images.append({"id": i + 1, "file_name": f"{i:03d}.png", "height": h, "width": w})
    cats = [{"id": k, "name": n} for k, n in enumerate(["drone", "bird", "vehicle"], 1)]
    path = folder / "train.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return str(path), str(folder / "images")


def register_tiny_coco(name, folder, **kwargs):
    """Register :func:`write_tiny_coco`'s set under ``name`` (once) for our evaluator."""
    from detectron2.data import DatasetCatalog

    from srtod_d2.data import register_coco_json_dataset

    if name not in DatasetCatalog.list():
        json_file, root = write_tiny_coco(folder, **kwargs)
        register_coco_json_dataset(name, json_file, root)
    return name
