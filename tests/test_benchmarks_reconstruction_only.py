import torch
from detectron2.modeling import FPN, build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from helpers import load_benchmark, tiny_cfg

load_benchmark("reconstruction_only")  # registers ReconstructionOnlyRCNN


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for h, w in [(64, 80), (56, 72)]:
        inst = Instances((h, w), gt_boxes=Boxes(torch.tensor([[4.0, 5.0, 12.0, 13.0]])),
                         gt_classes=torch.zeros(1, dtype=torch.int64))
        out.append({"image": torch.rand(3, h, w, generator=g) * 255, "height": h, "width": w, "instances": inst})
    return out


def _model(arch):
    torch.manual_seed(0)
    return build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.META_ARCHITECTURE", arch,
                                "MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.THRESHOLD_INIT", "0.002"))


def test_p2_reaches_the_heads_as_the_fpn_made_it():
    model = _model("ReconstructionOnlyRCNN").eval()
    x = torch.rand(2, 3, 64, 64)
    plain = FPN.forward(model.backbone, x)  # detectron2's FPN alone, same weights
    got = model.backbone(x)
    assert set(got) == set(plain)
    for name in got:
        assert torch.equal(got[name], plain[name]), name
    # the map is still drawn, and at this threshold marks most pixels: DGFE would have changed P2
    assert model.backbone.srtod_outputs["binary"].mean() > 0.5
    reference = _model("SRTODRCNN").eval()
    reference.load_state_dict(model.state_dict())  # same keys as SR-TOD's model
    assert not torch.allclose(reference.backbone(x)["p2"], plain["p2"])
    assert torch.equal(reference.backbone(x)["p3"], plain["p3"])


def test_the_reconstruction_loss_still_trains_the_backbone():
    model = _model("ReconstructionOnlyRCNN").train()
    with EventStorage(0):
        losses = model(_inputs())
    assert {"loss_recon", "loss_cls", "loss_rpn_cls"} <= set(losses)
    losses["loss_recon"].backward()
    recon = [p.grad for p in model.backbone.recon_head.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in recon)
    # through P2 into the FPN's lateral and output convs and the ResNet
    assert model.backbone.fpn_output2.weight.grad.abs().sum() > 0
    assert model.backbone.bottom_up.stem.conv1.weight.grad.abs().sum() > 0
    # the attention is not on any path to a loss
    assert all(p.grad is None for p in model.backbone.enhancement.reweighting.parameters())
