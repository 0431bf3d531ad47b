import inspect
import re
from pathlib import Path

import pytest
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from helpers import CONFIGS
from srtod_d2 import add_srtod_config
from srtod_d2.config import add_srtod_config as add_fn

ALL_CONFIGS = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml"))
LEAVES = [c for c in ALL_CONFIGS if not Path(c).name.startswith("Base-")]


def load(name):
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(str(CONFIGS / name))
    return cfg


def test_every_key_has_a_comment_and_global_defaults_stay_untouched():
    src = inspect.getsource(add_fn).splitlines()
    for i, line in enumerate(src):
        if re.match(r"\s*_C\.MODEL\.SRTOD\.\w+ = ", line):
            assert src[i - 1].strip().startswith("#"), f"no comment above: {line.strip()}"
    cfg = add_srtod_config(get_cfg())
    assert "SRTOD" in cfg.MODEL and "SRTOD" not in get_cfg().MODEL


def test_shipped_configs_cover_each_dataset_and_detector_with_and_without_srtod():
    for ds in ("VisDrone", "AI-TOD", "DroneSwarms"):
        for det in ("faster_rcnn", "cascade_rcnn", "retinanet"):
            on, off = load(f"{ds}/srtod_{det}_R_50_FPN.yaml"), load(f"{ds}/{det}_R_50_FPN.yaml")
            assert on.MODEL.SRTOD.ENABLED and not off.MODEL.SRTOD.ENABLED
            off.MODEL.SRTOD.ENABLED = True
            assert on.dump() == off.dump(), f"{ds} {det}: baseline differs in more than SR-TOD"


@pytest.mark.parametrize("name, classes, thr, anchor0", [
    ("VisDrone/srtod_faster_rcnn_R_50_FPN.yaml", 10, 4, 24),
    ("AI-TOD/srtod_faster_rcnn_R_50_FPN.yaml", 8, 3, 16),
    ("DroneSwarms/srtod_faster_rcnn_R_50_FPN.yaml", 1, 40, 8),
])
def test_paper_settings(name, classes, thr, anchor0):
    cfg = load(name)
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == classes
    assert cfg.MODEL.SRTOD.THRESHOLD_INIT * 255 == pytest.approx(thr, abs=1e-5)
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES[0] == [anchor0]
    assert cfg.SOLVER.IMS_PER_BATCH == 2 and cfg.INPUT.FORMAT == "RGB"
    retina = load(name.replace("faster_rcnn", "retinanet"))
    assert retina.MODEL.RETINANET.NUM_CLASSES == classes
    assert retina.MODEL.ANCHOR_GENERATOR.SIZES[0][0] == pytest.approx(anchor0)


@pytest.mark.parametrize("name", ALL_CONFIGS)
def test_config_loads_and_builds(name):
    cfg = load(name)
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    srtod_params = [n for n, _ in model.named_parameters() if n.startswith("backbone.recon_head.")]
    assert bool(srtod_params) == cfg.MODEL.SRTOD.ENABLED
    assert type(model).__name__ == cfg.MODEL.META_ARCHITECTURE


def test_leaf_configs_inherit_from_our_bases():
    for name in LEAVES:
        text = (CONFIGS / name).read_text()
        assert re.search(r'^_BASE_: "', text, re.M), f"{name} has no _BASE_"
