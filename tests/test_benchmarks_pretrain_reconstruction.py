import json

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer

from helpers import CONFIGS, load_benchmark, register_tiny_coco, tiny_cfg
from srtod_d2.engine import Trainer

pretrain = load_benchmark("pretrain_reconstruction")
CONFIG = "Synthetic/srtod_faster_rcnn_R18_tiny.yaml"
SMALL = ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.SRTOD.HEAD_CHANNELS", "[16, 8]", "MODEL.SRTOD.HEAD", "reference",
         "SOLVER.IMS_PER_BATCH", "2", "INPUT.CROP.ENABLED", "False", "INPUT.MIN_SIZE_TRAIN", "(64,)",
         "INPUT.MAX_SIZE_TRAIN", "128"]


def _run_main(monkeypatch, out, *extra):
    monkeypatch.setattr("sys.argv", ["pretrain_reconstruction.py", "--config-file", str(CONFIGS / CONFIG),
                                     "--out", str(out), *extra])
    threads = torch.get_num_threads()
    try:
        pretrain.main()
    finally:
        torch.set_num_threads(threads)


def test_main_writes_weights_that_the_baseline_loads(tmp_path, monkeypatch):
    name = register_tiny_coco("srtod_tiny_pretrain", tmp_path / "data")
    out = tmp_path / "out"
    _run_main(monkeypatch, out, "--iters", "4", "--log-every", "2", "--save-every", "2", "--warmup", "1",
              "--lr", "0.01", "DATASETS.TRAIN", f"('{name}',)", *SMALL)
    log = json.loads((out / "log.json").read_text())
    assert [row["iter"] for row in log["log"]] == [2, 4]
    assert (out / "model_0000002.pth").is_file()

    saved = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)["model"]
    # The weights trained: every one of the head's and the stem's differs from its initial value,
    # which a model built under the same seed reproduces.
    torch.manual_seed(0)
    start = Trainer.build_model(tiny_cfg(CONFIG, *SMALL)).state_dict()
    for key in ("backbone.bottom_up.stem.conv1.weight", "backbone.recon_head.out_conv.weight"):
        assert key in saved, sorted(k for k in saved if "recon_head" in k)
        assert not torch.equal(saved[key], start[key]), key
    # DGFE is not on the reconstruction's path: no gradient reaches its threshold.
    assert torch.equal(saved["backbone.enhancement.threshold"], start["backbone.enhancement.threshold"])

    # The baseline starts from the same backbone; the head's keys, which it lacks, are skipped.
    baseline = Trainer.build_model(tiny_cfg(CONFIG, *SMALL, "MODEL.SRTOD.ENABLED", False))
    DetectionCheckpointer(baseline).load(str(out / "model_final.pth"))
    loaded = baseline.state_dict()
    assert not any("recon_head" in k for k in loaded)
    for key in ("backbone.bottom_up.stem.conv1.weight", "backbone.fpn_lateral2.weight", "backbone.fpn_output2.weight"):
        assert torch.equal(loaded[key], saved[key]), key


def test_reconstruction_step_counts_only_image_pixels():
    cfg = tiny_cfg(CONFIG, "MODEL.SRTOD.HEAD", "reference")
    model = Trainer.build_model(cfg)
    # two images of different sizes: the smaller one's batch padding is no image
    batch = [{"image": torch.randint(0, 255, (3, 40, 56), dtype=torch.uint8)},
             {"image": torch.randint(0, 255, (3, 64, 48), dtype=torch.uint8)}]
    loss, err = pretrain.reconstruction_step(model, batch)
    assert err.numel() == 40 * 56 + 64 * 48
    # the loss is the mean squared error over those pixels and channels, counted here
    recon_err = []
    with torch.no_grad():
        images = model.preprocess_image(batch)
        model.backbone(images.tensor)
        maps = model.backbone.srtod_outputs
    for i, (h, w) in enumerate([(40, 56), (64, 48)]):
        recon_err.append(((maps["recon"][i, :, :h, :w] - maps["image"][i, :, :h, :w]) ** 2).flatten())
    assert torch.isclose(loss, torch.cat(recon_err).mean(), rtol=1e-5)
    assert loss.requires_grad


def test_refuses_a_config_without_the_head(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="MODEL.SRTOD.ENABLED is False"):
        _run_main(monkeypatch, tmp_path, "MODEL.SRTOD.ENABLED", "False")


def test_weights_start_the_run_from_a_checkpoint(tmp_path, monkeypatch):
    name = register_tiny_coco("srtod_tiny_pretrain", tmp_path / "data")
    first, second = tmp_path / "first", tmp_path / "second"
    opts = ["--iters", "1", "--warmup", "1", "DATASETS.TRAIN", f"('{name}',)", *SMALL]
    _run_main(monkeypatch, first, "--lr", "0.01", *opts)
    # at a learning rate of 0 the second run keeps what it loaded
    _run_main(monkeypatch, second, "--lr", "0", "--weights", str(first / "model_final.pth"), *opts)
    a = torch.load(first / "model_final.pth", map_location="cpu", weights_only=False)["model"]
    b = torch.load(second / "model_final.pth", map_location="cpu", weights_only=False)["model"]
    for key in ("backbone.bottom_up.stem.conv1.weight", "backbone.recon_head.out_conv.weight"):
        assert torch.equal(a[key], b[key]), key
    assert json.loads((second / "log.json").read_text())["weights"] == str(first / "model_final.pth")
    with pytest.raises(SystemExit, match="--weights: .*none.pth does not exist"):
        _run_main(monkeypatch, tmp_path / "third", "--weights", str(tmp_path / "none.pth"), *opts)


def test_the_same_seed_trains_the_same_weights(tmp_path, monkeypatch):
    # the sampler's order and the flips come from numpy's generator, which must be seeded too
    name = register_tiny_coco("srtod_tiny_pretrain", tmp_path / "data")
    opts = ["--iters", "3", "--warmup", "1", "--lr", "0.01", "DATASETS.TRAIN", f"('{name}',)", *SMALL]
    _run_main(monkeypatch, tmp_path / "a", *opts)
    _run_main(monkeypatch, tmp_path / "b", *opts)
    a = torch.load(tmp_path / "a/model_final.pth", map_location="cpu", weights_only=False)["model"]
    b = torch.load(tmp_path / "b/model_final.pth", map_location="cpu", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
