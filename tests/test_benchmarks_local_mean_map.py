import numpy as np
import torch

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from helpers import load_benchmark, tiny_cfg

local_mean_map = load_benchmark("local_mean_map")
from common import LOCAL_MEAN_KERNEL, local_mean_difference  # noqa: E402 (on the path once a benchmark is loaded)


def _by_loops(image, kernel):
    # each pixel minus the mean of the window around it that lies inside the image, per channel
    c, h, w = image.shape
    r = kernel // 2
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            window = image[:, max(y - r, 0): y + r + 1, max(x - r, 0): x + r + 1]
            out[y, x] = np.abs(window.reshape(c, -1).mean(1) - image[:, y, x]).mean()
    return out


def test_local_mean_difference_matches_a_window_by_window_count():
    rng = np.random.default_rng(0)
    image = rng.random((3, 11, 14))
    for kernel in (3, 9):
        got = local_mean_difference(torch.from_numpy(image)[None], kernel)
        assert got.shape == (1, 1, 11, 14)
        assert np.allclose(got[0, 0].numpy(), _by_loops(image, kernel))


def _inputs(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for h, w in sizes:
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(torch.tensor([[4.0, 5.0, 12.0, 13.0]]))
        inst.gt_classes = torch.zeros(1, dtype=torch.int64)
        # a flat, slightly noisy background with a few bright 3x3 spots: tiny objects on sky
        image = 100 + torch.randint(0, 4, (3, h, w), generator=g).float()
        for y, x in torch.randint(0, min(h, w) - 3, (4, 2), generator=g).tolist():
            image[:, y: y + 3, x: x + 3] = 250.0
        out.append({"image": image, "height": h, "width": w, "instances": inst})
    return out


def test_dgfe_binarises_each_image_local_mean_difference():
    torch.manual_seed(0)
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
                                 "MODEL.META_ARCHITECTURE", "LocalMeanMapRCNN", "MODEL.SRTOD.HEAD", "reference"))
    enhancement = model.backbone.enhancement
    sizes = [(64, 80), (56, 72)]  # the second is padded to the first's size in the batch
    model.eval()
    data = _inputs(sizes)
    _, maps = model.inference_with_maps(data)
    t = float(enhancement.effective_threshold())
    for m, x in zip(maps, data):
        rgb = x["image"].flip(0).numpy() / 255.0  # the config reads BGR
        want = _by_loops(rgb, LOCAL_MEAN_KERNEL) > t
        assert np.array_equal(m["binary"].numpy() > 0.5, want)
        assert 0.005 < want.mean() < 0.2  # the spots and their surround, not the background
        # the reconstruction's own difference map is left as it is
        assert not np.array_equal(m["diff"].numpy() > t, want)

    seen = []
    enhancement.register_forward_hook(lambda mod, args, out: seen.append(out[1].detach()))
    model.train()
    with EventStorage(0):
        losses = model(_inputs(sizes, seed=1))
    assert {"loss_recon", "loss_cls", "loss_rpn_cls"} <= set(losses)
    for i, x in enumerate(_inputs(sizes, seed=1)):
        h, w = sizes[i]
        want = _by_loops(x["image"].flip(0).numpy() / 255.0, LOCAL_MEAN_KERNEL) > t
        assert np.array_equal(seen[0][i, 0, :h, :w].numpy() > 0.5, want)
        assert seen[0][i, 0, h:, :].sum() == 0 and seen[0][i, 0, :, w:].sum() == 0  # padding


def test_without_reweighting_dgfe_multiplies_p2_by_mask_plus_one():
    torch.manual_seed(0)
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.META_ARCHITECTURE",
                                 "LocalMeanNoReweightRCNN", "MODEL.SRTOD.HEAD", "reference"))
    enhancement = model.backbone.enhancement
    assert not any("reweighting" in name for name, _ in model.named_parameters())
    seen = []
    enhancement.register_forward_hook(lambda mod, args, out: seen.append((args[0], out[0])))
    model.eval()
    data = _inputs([(64, 80)])
    _, maps = model.inference_with_maps(data)
    feature, enhanced = seen[0]
    t = float(enhancement.effective_threshold())
    rgb = data[0]["image"].flip(0).numpy() / 255.0
    binary = torch.from_numpy(_by_loops(rgb, LOCAL_MEAN_KERNEL) > t).float()
    # nearest resize to the stride-4 feature reads every 4th pixel
    cells = torch.zeros(feature.shape[-2:])  # the batch is padded; padding's map is 0
    cells[:16, :20] = binary[::4, ::4]
    assert 0 < cells.mean() < 0.5
    assert torch.allclose(enhanced, feature * (cells + 1))
