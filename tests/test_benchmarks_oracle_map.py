import json

import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from helpers import load_benchmark, register_tiny_coco, tiny_cfg

oracle = load_benchmark("oracle_map")


def _covered(boxes, r, c):
    # pixel (r, c) is the square [c, c+1) x [r, r+1); a box covers it if their interiors overlap
    return any(x0 < c + 1 and x1 > c and y0 < r + 1 and y1 > r for x0, y0, x1, y1 in boxes)


def test_box_map_marks_every_pixel_a_box_touches():
    boxes = [[[2.0, 3.0, 4.0, 5.0], [10.3, 0.0, 12.6, 1.2]], [[-1.5, 14.2, 3.0, 20.0]], []]
    got = oracle.box_map([torch.tensor(b).reshape(-1, 4) for b in boxes], (3, 1, 16, 14))
    for i, bs in enumerate(boxes):
        want = torch.tensor([[float(_covered(bs, r, c)) for c in range(14)] for r in range(16)])
        assert torch.equal(got[i, 0], want), i
    assert got[2].sum() == 0


def _inputs(sizes_and_boxes):
    out = []
    for (h, w), boxes in sizes_and_boxes:
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.gt_classes = torch.zeros(len(boxes), dtype=torch.int64)
        out.append({"image": torch.randint(0, 255, (3, h, w)).float(), "height": h, "width": w, "instances": inst})
    return out


def _oracle_model():
    torch.manual_seed(0)
    return build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
                                "MODEL.META_ARCHITECTURE", "OracleMapRCNN", "MODEL.SRTOD.HEAD", "reference"))


def test_dgfe_reads_the_box_map_in_eval_and_training():
    model = _oracle_model()
    data = [((64, 80), [[5.0, 6.0, 9.5, 9.0], [40.0, 30.0, 47.0, 52.0]]), ((56, 72), [[0.0, 0.0, 3.0, 2.0]])]
    model.eval()
    _, maps = model.inference_with_maps(_inputs(data))
    for m, ((h, w), boxes) in zip(maps, data):
        assert torch.equal(m["binary"], oracle.box_map([torch.tensor(boxes)], (1, 1, h, w))[0, 0])
        # the difference map itself is the reconstruction's, untouched
        assert not torch.equal(m["diff"] > 0.5, m["binary"] > 0.5)

    seen = []
    model.backbone.enhancement.register_forward_hook(lambda mod, args, out: seen.append(out[1].detach()))
    model.train()
    with EventStorage(0):
        losses = model(_inputs(data))
    assert {"loss_recon", "loss_cls", "loss_rpn_cls"} <= set(losses)
    binary = seen[0]
    for i, ((h, w), boxes) in enumerate(data):
        want = oracle.box_map([torch.tensor(boxes)], (1, 1, h, w))[0, 0]
        assert torch.equal(binary[i, 0, :h, :w], want)
        assert binary[i, 0, h:, :].sum() == 0 and binary[i, 0, :, w:].sum() == 0  # padding


def test_inputs_without_boxes_are_refused():
    model = _oracle_model().eval()
    data = _inputs([((64, 80), [[5.0, 6.0, 9.5, 9.0]])]) + [{"image": torch.zeros(3, 64, 80)}]
    with pytest.raises(ValueError, match=r"batched_inputs\[1\] have no 'instances'"):
        model(data)


def test_test_loader_keeps_the_boxes_resized_with_the_image(tmp_path):
    name = register_tiny_coco("oracle_map_tiny", tmp_path, num_images=2, size=(64, 80))
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "INPUT.MIN_SIZE_TEST", 96,
                   "INPUT.MAX_SIZE_TEST", 1000, "DATALOADER.NUM_WORKERS", 0)
    first = next(iter(oracle.OracleTrainer.build_test_loader(cfg, name)))[0]
    assert tuple(first["image"].shape) == (3, 96, 120)
    coco = json.loads((tmp_path / "train.json").read_text())
    image_id = first["image_id"]
    want = sorted([1.5 * x, 1.5 * y, 1.5 * (x + w), 1.5 * (y + h)]
                  for x, y, w, h in (a["bbox"] for a in coco["annotations"] if a["image_id"] == image_id))
    got = sorted(first["instances"].gt_boxes.tensor.tolist())
    assert torch.equal(torch.tensor(got), torch.tensor(want))


@pytest.mark.parametrize("arch,combine", [("LocalMeanInBoxesRCNN", torch.logical_and),
                                          ("LocalMeanPlusBoxesRCNN", torch.logical_or)])
def test_mixed_maps_are_the_local_mean_map_and_or_the_boxes(arch, combine):
    from common import local_mean_difference

    torch.manual_seed(0)
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
                                 "MODEL.META_ARCHITECTURE", arch, "MODEL.SRTOD.HEAD", "reference")).eval()
    data = [((64, 80), [[5.0, 6.0, 9.5, 9.0], [40.0, 30.0, 47.0, 52.0]]), ((56, 72), [[0.0, 0.0, 3.0, 2.0]])]
    inputs = _inputs(data)
    for x in inputs:  # a flat sky with a bright spot in the first box and one off every box
        x["image"] = torch.full_like(x["image"], 100.0)
        x["image"][:, 6:8, 6:8] = 250.0
        x["image"][:, 20:22, 20:22] = 250.0
    _, maps = model.inference_with_maps(inputs)
    t = float(model.backbone.enhancement.effective_threshold())
    for m, x, ((h, w), boxes) in zip(maps, inputs, data):
        local = local_mean_difference(x["image"][None] / 255.0)[0, 0] > t
        inside = oracle.box_map([torch.tensor(boxes)], (1, 1, h, w))[0, 0] > 0
        assert torch.equal(m["binary"] > 0.5, combine(local, inside))
        # neither is the box map: one drops box pixels away from the spot, the other adds the
        # off-box spot
        assert not torch.equal(m["binary"] > 0.5, inside)
        assert (m["binary"][20, 20] > 0.5) == (arch == "LocalMeanPlusBoxesRCNN")


def test_mixed_maps_refuse_inputs_without_boxes():
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
                                 "MODEL.META_ARCHITECTURE", "LocalMeanInBoxesRCNN", "MODEL.SRTOD.HEAD", "reference"))
    with pytest.raises(ValueError, match=r"LocalMeanInBoxesRCNN draws its map .* batched_inputs\[0\] have no"):
        model.eval()([{"image": torch.zeros(3, 64, 80)}])
