import torch
from detectron2.utils.events import EventStorage

from helpers import tiny_cfg
from srtod_d2.engine import Trainer
from test_modeling_meta_arch import _sample


def test_threshold_has_no_weight_decay_and_stays_put_in_reference_mode():
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "SOLVER.WEIGHT_DECAY", 0.01, "SOLVER.BASE_LR", 0.05)
    model = Trainer.build_model(cfg)
    opt = Trainer.build_optimizer(cfg, model)
    t = model.backbone.enhancement.threshold
    groups = [g for g in opt.param_groups if any(p is t for p in g["params"])]
    assert len(groups) == 1 and groups[0]["params"] == [t] and groups[0]["weight_decay"] == 0.0
    others = [g for g in opt.param_groups if g is not groups[0]]
    assert any(g["weight_decay"] == 0.01 for g in others)
    assert sum(len(g["params"]) for g in opt.param_groups) == len([p for p in model.parameters() if p.requires_grad])
    before = float(t.detach())
    model.train()
    with EventStorage():
        for _ in range(3):
            loss = sum(model([_sample()]).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert float(t.detach()) == before  # sign() gives no gradient and nothing else moves it
