#!/usr/bin/env python
"""Run an SR-TOD model on images or videos; write the detections and the difference-map panels.

    python demo/demo.py --config-file configs/Synthetic/srtod_faster_rcnn_R18_tiny.yaml \\
        --input img1.png 'frames/*.jpg' --output out/ --opts MODEL.WEIGHTS model_final.pth

Per image NAME: out/NAME_det.png (detections, detectron2's Visualizer) and out/NAME_maps.png
(input, reconstruction, difference map, binary map). A video gives out/NAME_det.mp4.
"""
import argparse
import glob
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectron2.config import get_cfg  # noqa: E402
from detectron2.data import MetadataCatalog  # noqa: E402
from detectron2.utils.visualizer import Visualizer  # noqa: E402

import srtod_d2  # noqa: E402,F401
from srtod_d2 import Predictor, SlicedPredictor, add_srtod_config  # noqa: E402
from srtod_d2.data import read_image  # noqa: E402
from srtod_d2.utils.visualize import difference_map_panel  # noqa: E402

VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv"}
DEFAULT_CONFIDENCE = 0.3
SCORE_THRESHOLD_KEYS = ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "MODEL.RETINANET.SCORE_THRESH_TEST")


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True)
    p.add_argument("--input", nargs="+", required=True, help="image/video paths or glob patterns")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--confidence-threshold", type=float, default=None,
                   help=f"score threshold of the drawn detections (default {DEFAULT_CONFIDENCE}, unless --opts "
                        "sets MODEL.*.SCORE_THRESH_TEST)")
    p.add_argument("--no-maps", action="store_true", help="skip the difference-map panels")
    p.add_argument("--sliced", action="store_true",
                   help="sliced inference for large frames (TEST.SLICED.* settings; no map panels)")
    p.add_argument("--slice-size", type=int, help="tile side in pixels (default TEST.SLICED.SLICE_SIZE)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default TEST.SLICED.OVERLAP)")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config overrides KEY VALUE ...")
    return p


def setup_cfg(args):
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    in_opts = [k for k in args.opts[::2] if k in SCORE_THRESHOLD_KEYS]
    if in_opts and args.confidence_threshold is not None:
        raise ValueError(f"--confidence-threshold and --opts {in_opts[0]} both set the score threshold: give one")
    if not in_opts:
        # a demo draws what a user can read: fewer, surer boxes than evaluation's low threshold
        threshold = DEFAULT_CONFIDENCE if args.confidence_threshold is None else args.confidence_threshold
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = threshold
        cfg.MODEL.RETINANET.SCORE_THRESH_TEST = threshold
    cfg.freeze()
    return cfg


def expand_inputs(patterns):
    files = []
    for pat in patterns:
        matches = sorted(glob.glob(pat)) if any(c in pat for c in "*?[") else [pat]
        if not matches:
            raise FileNotFoundError(f"--input {pat!r} matches no file")
        for m in matches:
            if not Path(m).is_file():
                raise FileNotFoundError(f"--input: {m} does not exist")
        files.extend(matches)
    outputs = {}
    for f in files:
        name = Path(f).stem + ("_det.mp4" if Path(f).suffix.lower() in VIDEO_EXTS else "_det.png")
        other = outputs.setdefault(name, f)
        if other != f:
            raise ValueError(f"--input: {other} and {f} would both be written as {name}; "
                             "rename one or give them separate --output folders")
    return files


class Demo:
    def __init__(self, cfg, draw_maps=True, sliced=False, slice_size=None, overlap=None):
        if sliced:
            # Maps belong to one network input; a sliced frame has many, so no panel.
            self.predictor = SlicedPredictor(cfg, slice_size=slice_size, overlap=overlap)
            draw_maps = False
        else:
            self.predictor = Predictor(cfg)
        names = cfg.DATASETS.TEST
        self.metadata = MetadataCatalog.get(names[0] if names else "__unused")
        self.draw_maps = draw_maps and getattr(self.predictor.model, "srtod_enabled", False)

    def run(self, image_bgr):
        """Returns (predictions, detections image RGB, maps panel RGB or None)."""
        if self.draw_maps:
            with self.predictor.model.capture_maps() as maps:
                predictions = self.predictor(image_bgr)
            panel = difference_map_panel(maps[0], size=image_bgr.shape[:2])
        else:
            predictions, panel = self.predictor(image_bgr), None
        vis = Visualizer(image_bgr[:, :, ::-1], self.metadata)
        drawn = vis.draw_instance_predictions(predictions["instances"].to("cpu")).get_image()
        return predictions, drawn, panel


def process_video(demo, path, out_dir):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"{path}: not a readable video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25
    writer, n = None, 0
    out_path = out_dir / f"{Path(path).stem}_det.mp4"
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        _, drawn, _ = demo.run(frame)
        if writer is None:
            h, w = drawn.shape[:2]
            writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(drawn[:, :, ::-1])
        n += 1
    cap.release()
    if writer is not None:
        writer.release()
    print(f"{path}: {n} frames -> {out_path}")


def main(argv=None):
    args = get_parser().parse_args(argv)
    cfg = setup_cfg(args)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(cfg, draw_maps=not args.no_maps, sliced=args.sliced, slice_size=args.slice_size,
                overlap=args.overlap)
    written = []
    for path in expand_inputs(args.input):
        if Path(path).suffix.lower() in VIDEO_EXTS:
            process_video(demo, path, out_dir)
            continue
        image = read_image(path, format="BGR")
        predictions, drawn, panel = demo.run(image)
        stem = Path(path).stem
        cv2.imwrite(str(out_dir / f"{stem}_det.png"), drawn[:, :, ::-1])
        written.append(out_dir / f"{stem}_det.png")
        if panel is not None:
            cv2.imwrite(str(out_dir / f"{stem}_maps.png"), panel[:, :, ::-1])
            written.append(out_dir / f"{stem}_maps.png")
        print(f"{path}: {len(predictions['instances'])} detections -> {out_dir}/{stem}_*.png")
    return written


if __name__ == "__main__":
    main()
