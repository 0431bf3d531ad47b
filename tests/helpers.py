"""Small builders shared by the tests."""
from pathlib import Path

from detectron2.config import get_cfg

from srtod_d2 import add_srtod_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


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
