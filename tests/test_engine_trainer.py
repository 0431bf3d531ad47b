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


def test_threshold_learns_at_its_own_scaled_rate_through_the_schedule():
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "SOLVER.BASE_LR", 0.05,
                   "MODEL.SRTOD.THRESHOLD_GRAD", "ste", "MODEL.SRTOD.THRESHOLD_LR_SCALE", 0.01,
                   "SOLVER.WARMUP_ITERS", 4, "SOLVER.STEPS", (6,), "SOLVER.MAX_ITER", 10)
    model = Trainer.build_model(cfg)
    opt = Trainer.build_optimizer(cfg, model)
    sched = Trainer.build_lr_scheduler(cfg, opt)
    t = model.backbone.enhancement.threshold
    (group,) = [g for g in opt.param_groups if any(p is t for p in g["params"])]
    assert group["params"] == [t] and group["weight_decay"] == 0.0
    others = [g for g in opt.param_groups if g is not group]
    for _ in range(8):  # through warm-up and the step: the ratio holds at every iteration
        ratios = {round(group["lr"] / g["lr"], 9) for g in others}
        assert ratios == {0.01}, ratios
        opt.step()
        sched.step()
    model.train()
    before = float(t.detach())
    with EventStorage():
        loss = sum(model([_sample()]).values())
        opt.zero_grad()
        loss.backward()
    assert t.grad is not None and float(t.grad) != 0.0  # the surrogate gives t a gradient
    opt.step()
    assert abs(float(t.detach()) - before) <= group["lr"] * abs(float(t.grad)) * 1.01 + 1e-12
