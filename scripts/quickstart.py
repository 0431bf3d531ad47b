"""The quickstart main job (`make quickstart`): build an SR-TOD model and run one prediction.

The full job (synthetic data, training, AI-TOD evaluation, demo panels) lands with train_net.py.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectron2.config import get_cfg  # noqa: E402
from detectron2.engine import DefaultPredictor  # noqa: E402

from srtod_d2 import add_srtod_config  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs/Synthetic/srtod_faster_rcnn_R18_tiny.yaml"


def main():
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(str(CONFIG))
    predictor = DefaultPredictor(cfg)
    image = np.random.default_rng(0).integers(0, 256, (320, 480, 3), dtype=np.uint8)
    out = predictor(image)["instances"]
    print(f"[quickstart] {type(predictor.model).__name__} from {CONFIG.name}: "
          f"{len(out)} detections on a {image.shape[1]}x{image.shape[0]} image (untrained weights)")


if __name__ == "__main__":
    main()
