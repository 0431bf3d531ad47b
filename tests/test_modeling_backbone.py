import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone, build_model
from detectron2.modeling.backbone.fpn import build_resnet_fpn_backbone

from helpers import tiny_cfg
from srtod_d2.modeling import SRTODFPN

SRTOD_PREFIXES = ("recon_head.", "enhancement.")


def test_state_dict_keys_are_stock_fpn_keys_plus_srtod_ones():
    cfg = tiny_cfg()
    shape = ShapeSpec(channels=3)
    ours = build_backbone(cfg, shape)
    stock = build_resnet_fpn_backbone(cfg, shape)
    assert isinstance(ours, SRTODFPN)
    ours_keys, stock_keys = set(ours.state_dict()), set(stock.state_dict())
    extra = ours_keys - stock_keys
    assert stock_keys <= ours_keys
    assert extra and all(k.startswith(SRTOD_PREFIXES) for k in extra)
    assert "enhancement.threshold" in extra


def test_disabled_srtod_is_the_stock_fpn():
    cfg = tiny_cfg("Synthetic/faster_rcnn_R18_tiny.yaml")
    shape = ShapeSpec(channels=3)
    ours = build_backbone(cfg, shape)
    stock = build_resnet_fpn_backbone(cfg, shape)
    assert type(ours) is type(stock)
    assert set(ours.state_dict()) == set(stock.state_dict())


def test_stock_checkpoint_loads_with_only_srtod_parameters_missing(tmp_path):
    stock_cfg = tiny_cfg("Synthetic/faster_rcnn_R18_tiny.yaml", "MODEL.META_ARCHITECTURE", "GeneralizedRCNN",
                         "MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone")
    stock = build_model(stock_cfg)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in stock.parameters():
            p.normal_()
    DetectionCheckpointer(stock, save_dir=str(tmp_path)).save("stock")

    model = build_model(tiny_cfg())
    DetectionCheckpointer(model).load(str(tmp_path / "stock.pth"))
    sd = model.state_dict()
    for k, v in stock.state_dict().items():
        assert torch.equal(sd[k], v), k
    missing = {k for k in sd if k not in stock.state_dict()}
    assert missing and all(k.startswith(tuple("backbone." + p for p in SRTOD_PREFIXES)) for k in missing)
    saved = torch.load(tmp_path / "stock.pth", weights_only=True)["model"]
    report = build_model(tiny_cfg()).load_state_dict(saved, strict=False)
    assert set(report.missing_keys) == missing and not report.unexpected_keys


def test_backbone_recovers_rgb_image_from_normalized_bgr_input():
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "INPUT.FORMAT", "BGR",
                   "MODEL.PIXEL_MEAN", [103.5, 116.2, 123.6], "MODEL.PIXEL_STD", [57.0, 57.1, 58.4])
    bb = build_backbone(cfg, ShapeSpec(channels=3))
    rgb = torch.randint(0, 256, (1, 3, 32, 32)).float()
    bgr = rgb.flip(1)
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1)
    bb.eval()
    with torch.no_grad():
        feats = bb((bgr - mean) / std)
    torch.testing.assert_close(bb.srtod_outputs["image"], rgb / 255, rtol=0, atol=1e-5)
    assert bb.srtod_outputs["recon"].shape == (1, 3, 32, 32)
    assert feats["p2"].shape[-2:] == (8, 8)


def test_enhanced_p2_differs_from_plain_fpn_p2_by_dgfe_only():
    cfg = tiny_cfg()
    bb = build_backbone(cfg, ShapeSpec(channels=3)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        plain = super(SRTODFPN, bb).forward(x)
        enhanced = bb(x)
        expected, _ = bb.enhancement(plain["p2"], bb.srtod_outputs["diff"])
    torch.testing.assert_close(enhanced["p2"], expected)
    torch.testing.assert_close(enhanced["p3"], plain["p3"])
