import pytest
import torch
from torch.nn import functional as F

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


def _threshold_between_values(diff):
    # A threshold halfway between two neighbouring values of the map: half the pixels on each
    # side, none within rounding error of it.
    v = torch.unique(diff)
    k = len(v) // 2
    return float((v[k - 1] + v[k]) / 2)


def test_eval_with_efficient_head_reconstructs_only_the_sampled_pixels_and_enhances_alike():
    torch.manual_seed(0)
    bb = build_backbone(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml"), ShapeSpec(channels=3)).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        bb.keep_full_maps = True
        full = bb(x)
        maps = bb.srtod_outputs
        sampled_diff = maps["diff"][..., ::4, ::4]
        bb.enhancement.threshold.fill_(_threshold_between_values(sampled_diff))
        full = bb(x)
        mask = F.interpolate(bb.srtod_outputs["binary"], size=full["p2"].shape[-2:], mode="nearest")
        assert 0.3 < mask.mean() < 0.7  # the map selects: a test where it is all ones proves little

        bb.keep_full_maps = False

        def no_full_resolution_pass(*args):
            raise AssertionError("the full-resolution head ran in eval mode")

        bb.recon_head.forward = no_full_resolution_pass
        fast = bb(x)
        # DGFE written out on the plain P2 with the full path's mask
        plain = super(SRTODFPN, bb).forward(x)["p2"]
        expected = plain * bb.enhancement.reweighting(plain) * (mask + 1)
    assert bb.srtod_outputs is None
    torch.testing.assert_close(fast["p2"], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(fast["p2"], full["p2"], rtol=0, atol=1e-6)
    for level in ("p3", "p4", "p5", "p6"):
        assert torch.equal(fast[level], full[level])


def test_median_base_gives_the_same_p2_on_the_sampled_fast_path():
    torch.manual_seed(0)
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml", "MODEL.SRTOD.THRESHOLD_BASE", "median",
                   "MODEL.SRTOD.THRESHOLD_INIT", 0.5 / 255)
    bb = build_backbone(cfg, ShapeSpec(channels=3)).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        bb.keep_full_maps = True
        full = bb(x)
        mask = F.interpolate(bb.srtod_outputs["binary"], size=full["p2"].shape[-2:], mode="nearest")
        assert 0.3 < mask.mean() < 0.7  # about the half above each image's median
        bb.keep_full_maps = False
        fast = bb(x)
    assert bb.srtod_outputs is None  # the fast path ran
    torch.testing.assert_close(fast["p2"], full["p2"], rtol=0, atol=1e-6)


def test_mask_dilation_reaches_dgfe_alike_on_the_full_and_the_sampled_path():
    torch.manual_seed(0)
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml", "MODEL.SRTOD.HEAD", "efficient",
                   "MODEL.SRTOD.MASK_DILATION", 3)
    bb = build_backbone(cfg, ShapeSpec(channels=3)).eval()
    assert bb.enhancement.mask_dilation == 3
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        bb.keep_full_maps = True
        bb(x)
        bb.enhancement.threshold.fill_(_threshold_between_values(bb.srtod_outputs["diff"][..., ::4, ::4]) + 0.2)
        full = bb(x)
        mask = F.interpolate(bb.srtod_outputs["binary"], size=full["p2"].shape[-2:], mode="nearest")
        spread = F.max_pool2d(mask, 3, stride=1, padding=1)
        assert 0 < mask.mean() < spread.mean() < 1  # a test where dilation changes nothing proves little
        plain = super(SRTODFPN, bb).forward(x)["p2"]
        bb.keep_full_maps = False
        fast = bb(x)
    assert bb.srtod_outputs is None  # the fast path ran
    expected = plain * bb.enhancement.reweighting(plain) * (spread + 1)
    torch.testing.assert_close(full["p2"], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(fast["p2"], full["p2"], rtol=0, atol=1e-6)


def test_map_dropout_reaches_dgfe_from_the_config():
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml", "MODEL.SRTOD.MAP_DROPOUT", 0.25)
    assert build_backbone(cfg, ShapeSpec(channels=3)).enhancement.map_dropout == 0.25
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml", "MODEL.SRTOD.MAP_DROPOUT", 1.0)
    with pytest.raises(ValueError, match="MODEL.SRTOD.MAP_DROPOUT"):
        build_backbone(cfg, ShapeSpec(channels=3))


def test_median_base_reads_each_image_of_a_padded_batch_inside_its_own_size():
    # Image A beside a wider and a taller image sits in padding. Its map must be its own
    # difference over t + the median of its own sampled pixels (not of the padded batch), on the
    # full path; the sampled fast path must give the same P2.
    torch.manual_seed(0)
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml", "MODEL.SRTOD.THRESHOLD_BASE", "median",
                   "INPUT.MIN_SIZE_TEST", 0)
    model = build_model(cfg).eval()
    g = torch.Generator().manual_seed(0)
    batch = [{"image": torch.randint(0, 256, (3, h, w), generator=g).float()} for h, w in [(64, 64), (32, 128), (128, 32)]]
    t = float(model.backbone.enhancement.effective_threshold())
    with torch.no_grad():
        _, maps = model.inference_with_maps(batch)
        for m in maps:
            grid = m["diff"][::4, ::4].flatten().sort().values
            want = (m["diff"] > grid[(len(grid) - 1) // 2] + t).float()
            assert torch.equal(m["binary"], want)
            assert 0.2 < float(want.mean()) < 0.8
        x = model.preprocess_image(batch)
        model.backbone.keep_full_maps = True
        model.backbone.image_sizes = list(x.image_sizes)
        full = model.backbone(x.tensor)["p2"]
        model.backbone.keep_full_maps = False
        model.backbone.image_sizes = list(x.image_sizes)
        fast = model.backbone(x.tensor)["p2"]
    assert model.backbone.srtod_outputs is None and model.backbone.image_sizes is None  # fast path; sizes used once
    torch.testing.assert_close(fast, full, rtol=0, atol=1e-6)


@pytest.mark.parametrize("opts", [("MODEL.SRTOD.MASK_RESIZE", "max"), ("MODEL.SRTOD.HEAD", "reference")],
                         ids=["max-resize", "reference-head"])
def test_full_maps_in_eval_where_the_sampled_pixels_do_not_suffice(opts):
    bb = build_backbone(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml", *opts),
                        ShapeSpec(channels=3)).eval()
    with torch.no_grad():
        bb(torch.randn(1, 3, 64, 64))
    assert bb.srtod_outputs["recon"].shape == (1, 3, 64, 64)


def test_efficient_kernel_key_reaches_the_head():
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml", "MODEL.SRTOD.EFFICIENT_KERNEL", 1,
                   "MODEL.SRTOD.EFFICIENT_CHANNELS", 32)
    head = build_backbone(cfg, ShapeSpec(channels=3)).recon_head
    assert head.conv.kernel_size == (1, 1) and head.conv.out_channels == 32
