"""Pre-train the backbone, FPN and reconstruction head on the reconstruction loss alone (no
labels), and save the weights for bench_gain's ``--init``.

Why: the paper fine-tunes from ImageNet weights for 12 epochs; here every model starts from
scratch and trains minutes, and the reference head then leaves a 15/255 median error on a plain
sky, so its map at 8/255 marks 90% of it (docs/benchmarks.md, session 12). No ImageNet weights
can be downloaded. Reconstruction needs no labels, so it can run long before the detector does:
do the paper's map and its gain appear once the head reconstructs well? Both the baseline and
SR-TOD then start from these weights (the baseline ignores the head's).

    .venv/bin/python benchmarks/pretrain_reconstruction.py --config-file configs/Synthetic/srtod_faster_rcnn_R18_sky.yaml \\
        --iters 400 --out benchmarks/results/recon_pretrain/sky MODEL.SRTOD.HEAD reference
    # then at a tenth of the rate, from where it stopped (the loss wanders at 1e-3)
    .venv/bin/python benchmarks/pretrain_reconstruction.py --config-file configs/Synthetic/srtod_faster_rcnn_R18_sky.yaml \\
        --iters 200 --lr 1e-4 --warmup 10 --weights benchmarks/results/recon_pretrain/sky/model_final.pth \\
        --out benchmarks/results/recon_pretrain/sky_lr1e-4 MODEL.SRTOD.HEAD reference

Writes ``model_final.pth`` (detectron2's checkpoint layout) and ``log.json`` (per logged
iteration: loss, median absolute error x255 over the batch's image pixels, and the share of
pixels whose error is above MODEL.SRTOD.THRESHOLD_INIT) in ``--out``. Adam, constant learning
rate after a linear warm-up; the training loader, crops and flips of the config.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import describe_run  # noqa: E402
from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.utils.env import seed_all_rng  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from srtod_d2 import add_srtod_config  # noqa: E402
from srtod_d2.engine import Trainer  # noqa: E402
from srtod_d2.modeling.meta_arch import masked_mse  # noqa: E402


def reconstruction_step(model, batch):
    """One forward of the backbone alone; returns (loss, per-pixel mean-over-channels absolute
    error of the images' own pixels as a flat tensor)."""
    images = model.preprocess_image(batch)
    model.backbone(images.tensor)
    maps = model.backbone.srtod_outputs
    model.backbone.srtod_outputs = None
    sizes = list(images.image_sizes)
    loss = masked_mse(maps["recon"], maps["image"], sizes)
    err = [maps["diff"][i, 0, :h, :w].detach().flatten() for i, (h, w) in enumerate(sizes)]
    return loss, torch.cat(err)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-file", required=True)
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default=None, metavar="PTH",
                    help="start from this checkpoint (e.g. an earlier run's, to go on at a lower --lr)")
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--save-every", type=int, default=100, help="also keep model_<iter>.pth this often")
    ap.add_argument("--out", required=True)
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="config KEY VALUE pairs")
    args = ap.parse_args()
    print(describe_run(), flush=True)

    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.merge_from_list(["SEED", str(args.seed), "DATALOADER.NUM_WORKERS", "0"])
    if not cfg.MODEL.SRTOD.ENABLED:
        raise SystemExit("MODEL.SRTOD.ENABLED is False: there is no reconstruction head to pre-train")
    cfg.freeze()
    # the sampler draws its order from numpy's generator: seed all three, as train_net's setup does
    seed_all_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model = Trainer.build_model(cfg)
    if args.weights:
        if not Path(args.weights).is_file():
            raise SystemExit(f"--weights: {args.weights} does not exist")
        DetectionCheckpointer(model).load(args.weights)
    model.train()
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=args.lr)
    threshold = cfg.MODEL.SRTOD.THRESHOLD_INIT
    log, t0 = [], time.time()
    checkpointer = DetectionCheckpointer(model, save_dir=str(out))
    loader = iter(Trainer.build_train_loader(cfg))
    with EventStorage(0):
        for it in range(1, args.iters + 1):
            for group in optim.param_groups:
                group["lr"] = args.lr * min(1.0, it / max(args.warmup, 1))
            loss, err = reconstruction_step(model, next(loader))
            optim.zero_grad()
            loss.backward()
            optim.step()
            if it % args.log_every == 0 or it == args.iters:
                row = {"iter": it, "loss": loss.item(), "median_err_255": float(err.median()) * 255,
                       "share_above_threshold": float((err > threshold).float().mean()),
                       "seconds": time.time() - t0}
                log.append(row)
                print(json.dumps(row), flush=True)
            if it % args.save_every == 0 and it < args.iters:
                checkpointer.save(f"model_{it:07d}")
    checkpointer.save("model_final")
    (out / "log.json").write_text(json.dumps({"config": args.config_file, "opts": args.opts, "iters": args.iters,
                                              "lr": args.lr, "seed": args.seed, "weights": args.weights, "log": log}, indent=1))
    print(f"wrote {out / 'model_final.pth'}", flush=True)


if __name__ == "__main__":
    main()
