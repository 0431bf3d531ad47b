import numpy as np
import pytest
import torch

from detectron2.engine import DefaultPredictor
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from helpers import tiny_cfg
from srtod_d2.modeling import SRTODRCNN, SRTODRetinaNet, masked_mse

RETINA = ("MODEL.META_ARCHITECTURE", "SRTODRetinaNet", "MODEL.RETINANET.IN_FEATURES",
          ["p2", "p3", "p4", "p5", "p6"], "MODEL.RETINANET.NUM_CLASSES", 3)
CASCADE = ("MODEL.ROI_HEADS.NAME", "CascadeROIHeads", "MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", True)


def _sample(h=60, w=52, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (3, h, w), generator=g).to(torch.uint8)
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor([[10.0, 12.0, 18.0, 19.0], [30.0, 30.0, 34.0, 33.0]]))
    inst.gt_classes = torch.tensor([0, 1])
    return {"image": image, "instances": inst, "height": h, "width": w}


def test_masked_mse_ignores_padding():
    torch.manual_seed(0)
    recon, image = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    sizes = [(16, 16), (10, 12)]
    base = masked_mse(recon, image, sizes)
    recon2 = recon.clone()
    recon2[1, :, 10:, :] = 5.0
    recon2[1, :, :, 12:] = -5.0
    assert torch.equal(masked_mse(recon2, image, sizes), base)
    expected = torch.cat([((recon[0] - image[0]) ** 2).flatten(),
                          ((recon[1, :, :10, :12] - image[1, :, :10, :12]) ** 2).flatten()]).mean()
    torch.testing.assert_close(base, expected)


@pytest.mark.parametrize("opts", [(), CASCADE, RETINA], ids=["faster", "cascade", "retinanet"])
def test_training_adds_loss_recon_over_real_area_and_logs_threshold(opts):
    torch.manual_seed(0)
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", *opts))
    model.train()
    batch = [_sample(60, 52)]
    with EventStorage() as storage:
        losses = model(batch)
        t = storage.history("srtod/threshold_255").latest()
    assert "loss_recon" in losses and torch.isfinite(losses["loss_recon"])
    assert t == pytest.approx(8.0, abs=1e-4)
    # Independent computation: MSE over the 60x52 image (padded to 64x64 by detectron2).
    out = model.backbone
    with torch.no_grad(), EventStorage():
        images = model.preprocess_image(batch)
        out(images.tensor)
        recon = out.srtod_outputs["recon"][0, :, :60, :52]
        expected = ((recon - batch[0]["image"].flip(0).float() / 255) ** 2).mean() \
            if model.backbone.input_format == "BGR" else ((recon - batch[0]["image"].float() / 255) ** 2).mean()
    assert images.tensor.shape[-2:] == (64, 64)
    torch.testing.assert_close(losses["loss_recon"], expected, rtol=1e-4, atol=1e-6)


def test_sgd_steps_lower_loss_recon():
    torch.manual_seed(0)
    model = build_model(tiny_cfg())
    model.train()
    sample = _sample(64, 64)
    # A smooth image: a reconstruction can learn it in a few steps, unlike pure noise.
    ramp = torch.linspace(20, 235, 64)
    sample["image"] = torch.stack([ramp[None, :].expand(64, 64), ramp[:, None].expand(64, 64),
                                   torch.full((64, 64), 90.0)]).to(torch.uint8)
    batch = [sample]
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    history = []
    with EventStorage():
        for _ in range(8):
            losses = model(batch)
            history.append(losses["loss_recon"].item())
            opt.zero_grad()
            losses["loss_recon"].backward()
            opt.step()
    assert history[-1] < 0.9 * history[0], history
    assert all(b < a for a, b in zip(history, history[1:])), history


def test_baseline_config_has_no_loss_recon():
    model = build_model(tiny_cfg("Synthetic/faster_rcnn_R18_tiny.yaml"))
    model.train()
    with EventStorage():
        losses = model([_sample()])
    assert "loss_recon" not in losses and "loss_cls" in losses


@pytest.mark.parametrize("opts, arch", [((), SRTODRCNN), (CASCADE, SRTODRCNN), (RETINA, SRTODRetinaNet)],
                         ids=["faster", "cascade", "retinanet"])
def test_default_predictor_on_random_bgr_image(opts, arch):
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", *opts)
    predictor = DefaultPredictor(cfg)
    assert isinstance(predictor.model, arch)
    image = np.random.default_rng(0).integers(0, 256, (90, 150, 3), dtype=np.uint8)
    out = predictor(image)["instances"]
    assert out.image_size == (90, 150)
    assert out.pred_boxes.tensor.shape[1] == 4
    assert predictor.model.backbone.srtod_outputs is None  # maps are not kept after inference


def test_inference_with_maps_returns_maps_at_input_resolution():
    model = build_model(tiny_cfg()).eval()
    image = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)
    results, maps = model.inference_with_maps([{"image": image, "height": 100, "width": 140}])
    assert results[0]["instances"].image_size == (100, 140)
    m = maps[0]
    assert m["recon"].shape == (3, 50, 70) and m["diff"].shape == (50, 70)
    assert set(torch.unique(m["binary"]).tolist()) <= {0.0, 0.5, 1.0}
    expected = ((m["recon"] - m["image"]).abs().mean(0) > m["threshold"]).float()
    assert torch.equal((m["binary"] == 1).float(), expected)
    model.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        model.inference_with_maps([{"image": image}])


def test_capture_maps_around_default_predictor():
    predictor = DefaultPredictor(tiny_cfg())
    image = np.random.default_rng(1).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    with predictor.model.capture_maps() as maps:
        out = predictor(image)["instances"]
    assert out.image_size == (100, 200)
    # INPUT.MIN_SIZE_TEST=64, MAX_SIZE_TEST=128: the network saw a 64x128 image.
    assert len(maps) == 1 and maps[0]["recon"].shape == (3, 64, 128)
    assert predictor.model._captured is None
    with pytest.raises(RuntimeError, match="MODEL.SRTOD.ENABLED"):
        with DefaultPredictor(tiny_cfg("Synthetic/faster_rcnn_R18_tiny.yaml")).model.capture_maps():
            pass


@pytest.mark.parametrize("weight, match", [(float("nan"), "loss_recon .*MODEL.SRTOD.RECON_LOSS_WEIGHT"),
                                           (float("inf"), "loss_recon .*MODEL.SRTOD.RECON_LOSS_WEIGHT")])
def test_non_finite_loss_stops_with_iteration_loss_name_and_config_key(weight, match):
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.SRTOD.RECON_LOSS_WEIGHT", weight))
    model.train()
    with EventStorage(start_iter=41):
        with pytest.raises(FloatingPointError, match="iteration 41: " + match):
            model([_sample()])


def test_non_finite_threshold_stops_training():
    model = build_model(tiny_cfg())
    model.train()
    with torch.no_grad():
        model.backbone.enhancement.threshold.fill_(float("nan"))
    with EventStorage(), pytest.raises(FloatingPointError, match="threshold became nan.*THRESHOLD_STE_TAU"):
        model([_sample()])


def test_plain_default_predictor_on_rgba_gets_a_clear_error():
    predictor = DefaultPredictor(tiny_cfg())
    with pytest.raises(ValueError, match=r"must be a \(3, H, W\) tensor, got \(4, .*srtod_d2.Predictor"):
        predictor(np.zeros((40, 50, 4), np.uint8))


def test_efficient_head_detections_are_the_same_with_and_without_full_maps():
    torch.manual_seed(0)
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_quickstart.yaml",
                                 "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0)).eval()
    inputs = [{"image": torch.randint(0, 256, (3, 60, 90), dtype=torch.uint8)}]
    with torch.no_grad():
        sampled = model(inputs)[0]["instances"]
    assert model.backbone.srtod_outputs is None and not model.backbone.keep_full_maps
    full, maps = model.inference_with_maps(inputs)
    full = full[0]["instances"]
    assert not model.backbone.keep_full_maps and maps[0]["recon"].shape == (3, 60, 90)
    assert len(sampled) > 0
    torch.testing.assert_close(sampled.pred_boxes.tensor, full.pred_boxes.tensor)
    torch.testing.assert_close(sampled.scores, full.scores)
    with pytest.raises(ValueError):
        with model.capture_maps():
            raise ValueError("a caller's error")
    assert not model.backbone.keep_full_maps and model._captured is None


def test_map_warmup_ramps_the_map_in_training_and_applies_all_of_it_at_inference():
    torch.manual_seed(0)
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.SRTOD.MAP_WARMUP_ITERS", 40))
    model.train()
    weights = {}
    with EventStorage(start_iter=10) as storage:
        for it in (10, 30, 40, 55):
            storage.iter = it
            model([_sample(60, 52)])
            weights[it] = storage.history("srtod/map_weight").latest()
            assert model.backbone.enhancement.map_weight == weights[it]
    assert weights == pytest.approx({10: 0.25, 30: 0.75, 40: 1.0, 55: 1.0})
    model.eval()
    with torch.no_grad():
        model([_sample(60, 52)])
    assert model.backbone.enhancement.map_weight == 1.0


def test_negative_map_warmup_names_the_config_key():
    with pytest.raises(ValueError, match="MAP_WARMUP_ITERS must be >= 0"):
        build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.SRTOD.MAP_WARMUP_ITERS", -5))
