import json
import re

import pytest

import train_net
from detectron2.engine import default_argument_parser, launch

from helpers import CONFIGS, register_tiny_coco

CONFIG = str(CONFIGS / "Synthetic/srtod_faster_rcnn_R18_tiny.yaml")


def small_opts(dataset, out, iters):
    return ["OUTPUT_DIR", str(out), "DATASETS.TRAIN", f"('{dataset}',)", "DATASETS.TEST", f"('{dataset}',)",
            "SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", "()", "SOLVER.IMS_PER_BATCH", "2",
            "SOLVER.CHECKPOINT_PERIOD", "4", "SOLVER.WARMUP_ITERS", "2", "SOLVER.BASE_LR", "0.01",
            "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96", "INPUT.CROP.ENABLED", "False",
            "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96", "DATALOADER.NUM_WORKERS", "0",
            "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.SRTOD.HEAD_CHANNELS", "[16, 8]", "MODEL.ROI_BOX_HEAD.FC_DIM", "64"]


def args_for(*argv):
    return default_argument_parser().parse_args(["--config-file", CONFIG, *argv])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    name = register_tiny_coco("tiny_train_net_set", root / "data")
    out = root / "out"
    results = train_net.main(args_for(*small_opts(name, out, 6)))
    return name, out, results


def test_training_writes_checkpoint_metrics_and_evaluates(trained):
    name, out, results = trained
    assert (out / "model_final.pth").is_file()
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    rows = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    train_rows = [r for r in rows if "loss_recon" in r]
    assert train_rows and "srtod/threshold_255" in train_rows[-1]
    assert train_rows[-1]["srtod/threshold_255"] == pytest.approx(8.0, abs=1e-3)
    assert list(out.glob("events.out.tfevents.*"))
    assert {"AP", "AP50", "APvt", "APt", "APs"} <= set(results[name]["bbox"]) if name in results \
        else {"AP", "AP50", "APvt"} <= set(results["bbox"])


def test_eval_only_prints_the_aitod_table(trained):
    name, out, _ = trained
    eval_out = out.parent / "eval"
    res = train_net.main(args_for("--eval-only", *small_opts(name, eval_out, 6),
                                  "MODEL.WEIGHTS", str(out / "model_final.pth")))
    bbox = res[name]["bbox"] if name in res else res["bbox"]
    assert {"AP", "AP50", "AP75", "APvt", "APt", "APs", "APm"} <= set(bbox)
    log = (eval_out / "log.txt").read_text()
    assert re.search(r"APvt", log) and "Total inference time" in log
    assert (eval_out / "inference" / name / "coco_instances_results.json").is_file()


def test_eval_only_without_weights_is_an_error_not_random_weights(trained, tmp_path):
    name, out, _ = trained
    with pytest.raises(ValueError, match="--eval-only: MODEL.WEIGHTS is empty"):
        train_net.main(args_for("--eval-only", *small_opts(name, tmp_path, 6)))
    # --resume finds the trained run's last checkpoint in its OUTPUT_DIR: that is a model to evaluate
    res = train_net.main(args_for("--eval-only", "--resume", *small_opts(name, out, 6)))
    assert "AP" in (res[name]["bbox"] if name in res else res["bbox"])


def test_eval_only_refuses_weights_that_leave_the_heads_untrained(trained, tmp_path):
    # the shipped R-50 configs' default weights are an ImageNet backbone: no detection heads
    import torch

    name, out, _ = trained
    full = torch.load(out / "model_final.pth", weights_only=True)["model"]
    backbone_only = tmp_path / "backbone.pth"
    kept = {k: v for k, v in full.items() if k.startswith("backbone.bottom_up.")}
    torch.save({"model": kept}, backbone_only)
    with pytest.raises(ValueError, match=f"backbone.pth has no weights for {len(full) - len(kept)} of the model's"):
        train_net.main(args_for("--eval-only", *small_opts(name, tmp_path / "e", 6), "MODEL.WEIGHTS", str(backbone_only)))


def test_resume_continues_from_saved_iteration(trained):
    name, out, _ = trained
    train_net.main(args_for("--resume", *small_opts(name, out, 8)))
    log = (out / "log.txt").read_text()
    assert "Starting training from iteration 6" in log


def _register_and_main(args, data_dir):
    # Each spawned process starts fresh: it registers the test set before training.
    register_tiny_coco("tiny_train_net_set", data_dir)
    return train_net.main(args)


def test_two_process_cpu_training(tmp_path):
    out = tmp_path / "ddp"
    args = args_for("--num-gpus", "2", *small_opts("tiny_train_net_set", out, 3), "MODEL.DEVICE", "cpu")
    launch(_register_and_main, 2, dist_url="auto", args=(args, tmp_path / "data"))
    assert (out / "model_final.pth").is_file()
    log = (out / "log.txt").read_text()
    assert "World size: 2" in log
