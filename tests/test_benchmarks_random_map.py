import torch

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from helpers import load_benchmark, tiny_cfg

random_map = load_benchmark("random_map")


def _inputs(n, h=64, w=80):
    out = []
    for i in range(n):
        inst = Instances((h, w), gt_boxes=Boxes(torch.tensor([[4.0, 5.0, 12.0, 13.0]])),
                         gt_classes=torch.zeros(1, dtype=torch.int64))
        out.append({"image": torch.full((3, h, w), 100.0 + i), "height": h, "width": w, "instances": inst})
    return out


def _model():
    torch.manual_seed(0)
    return build_model(tiny_cfg("SIRST-V2/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.META_ARCHITECTURE", "RandomMapRCNN",
                                "MODEL.SRTOD.HEAD", "efficient", "MODEL.SRTOD.EFFICIENT_CHANNELS", "64"))


def test_training_marks_a_fresh_random_share_of_pixels_each_step():
    model = _model()
    seen = []
    model.backbone.enhancement.register_forward_hook(lambda mod, args, out: seen.append((args[0], out[0], out[1])))
    model.train()
    with EventStorage(0):
        for _ in range(2):
            losses = model(_inputs(4))
    assert {"loss_recon", "loss_cls", "loss_rpn_cls"} <= set(losses)
    (_, _, first), (feature, enhanced, second) = seen
    # flat images: the head's own difference map would mark all pixels or none, never about 60%
    for binary in (first, second):
        assert set(binary.unique().tolist()) == {0.0, 1.0}
        assert abs(binary.mean().item() - random_map.RANDOM_MAP_DENSITY) < 0.02  # 4 x 64 x 80 draws
    assert 0.3 < (first != second).float().mean() < 0.7  # drawn anew: independent draws differ on 48%
    # DGFE doubles P2 where the nearest resize reads a mark (every 4th pixel) and leaves the rest
    cells = second[:, :, ::4, ::4]
    weights = model.backbone.enhancement.reweighting(feature)
    assert torch.allclose(enhanced, feature * weights * (cells + 1))


def test_inference_marks_every_pixel():
    model = _model().eval()
    _, maps = model.inference_with_maps(_inputs(2))
    for m in maps:
        assert bool((m["binary"] == 1).all())
