"""Evaluate a saved COCO results file with AI-TOD's protocol (or COCO's).

    python -m srtod_d2.evaluation GT.json DETECTIONS.json [--protocol aitod|coco]
        [--max-dets 100 300 1500] [--backend auto|faster-coco-eval|pycocotools] [--json]

DETECTIONS.json is a COCO results list ({image_id, category_id, bbox [x, y, w, h], score}), as
detectron2's ``coco_instances_results.json`` or mmdetection's ``*.bbox.json``; its category ids
must be the ground truth's. Prints the tables, or with ``--json`` the results dict as one JSON
object on stdout (undefined results, NaN in Python, are ``null``) and the backend on stderr.
Exit status 0 on success, 2 for input that cannot be evaluated (the message names the file
and field).
"""
import argparse
import json
import math
import sys

from .backend import BACKENDS, EvaluationInputError
from .protocol import PROTOCOLS, get_protocol
from .tiny_coco import evaluate_coco_json


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m srtod_d2.evaluation",
        description="COCO box evaluation with AI-TOD's tiny-object protocol (AP, AP50, AP75, "
                    "APvt, APt, APs, APm, ARs and per-class AP).")
    parser.add_argument("gt", help="COCO ground-truth json (areas from its 'area' fields)")
    parser.add_argument("detections", help="COCO results json (a list of detections)")
    parser.add_argument("--protocol", default="aitod", choices=sorted(PROTOCOLS),
                        help="area bands and maxDets (default: aitod)")
    parser.add_argument("--max-dets", type=int, nargs="+", metavar="N",
                        help="detection limits per image and category, increasing; AP is "
                             "computed at the last (default: the protocol's)")
    parser.add_argument("--backend", default="auto", choices=("auto",) + BACKENDS,
                        help="auto: faster-coco-eval when installed, else pycocotools")
    parser.add_argument("--json", action="store_true",
                        help="print the results dict as one JSON object (NaN as null)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    protocol = get_protocol(args.protocol)
    try:
        if args.max_dets:
            protocol = protocol.with_max_dets(args.max_dets)
        result = evaluate_coco_json(args.gt, args.detections, protocol, backend=args.backend)
    except (EvaluationInputError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    header = (f"Evaluated {result.num_detections} detections on {result.num_images} images "
              f"with {result.backend}.")
    if args.json:
        metrics = {k: (None if math.isnan(v) else v) for k, v in result.metrics.items()}
        print(json.dumps(metrics, allow_nan=False))
        print(header, file=sys.stderr)
    else:
        print(header)
        print(result.tables())
    return 0


if __name__ == "__main__":
    sys.exit(main())
