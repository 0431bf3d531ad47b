#!/usr/bin/env python
"""Train or evaluate SR-TOD detectors; detectron2's tools/train_net.py conventions.

    python train_net.py --config-file configs/VisDrone/srtod_faster_rcnn_R_50_FPN.yaml
    python train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth
    python train_net.py --config-file ... --resume
    python train_net.py --config-file ... --num-gpus 8
    python train_net.py --config-file ... --num-gpus 2 MODEL.DEVICE cpu   # 2 CPU processes (gloo)
"""
import logging

import detectron2.utils.comm as comm
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results

import srtod_d2  # noqa: F401  (registers our backbone, meta-architectures, datasets, evaluator)
from srtod_d2 import add_srtod_config
from srtod_d2.engine import Trainer, load_for_evaluation


def setup(args):
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        load_for_evaluation(model, cfg, resume=args.resume)
        res = Trainer.test(cfg, model)
        if comm.is_main_process():
            verify_results(cfg, res)
        return res
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    trainer.train()
    # The evaluation hook has evaluated the final model; hand its results to the caller.
    return getattr(trainer, "_last_eval_results", None)


def invoke_main():
    args = default_argument_parser().parse_args()
    logging.getLogger(__name__).info("Command line arguments: %s", args)
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    invoke_main()
