"""How selective is a trained model's binary difference map? The share of pixels with
binary = 1 inside ground-truth boxes vs elsewhere, and the median difference in each, over the
first N images of a dataset (at the network's input resolution); how well any threshold could
separate the two (ROC area of the difference); with --thresholds, also the share of pixels whose
difference exceeds each of those thresholds (/255), to see which threshold would make the map
selective; and what reaches P2 (stride 4) after DGFE's resize: the share of ground-truth boxes
with a 1 in their P2 footprint, and of the other P2 cells, for nearest and max.

    .venv/bin/python benchmarks/difference_map_stats.py [--images 6] [--thresholds 4,8,16] CONFIG WEIGHTS DATASET [KEY VALUE ...]
"""
import argparse
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from detectron2.config import get_cfg  # noqa: E402
from detectron2.data import DatasetCatalog  # noqa: E402
from detectron2.structures import BoxMode  # noqa: E402

from srtod_d2 import Predictor, add_srtod_config  # noqa: E402
from srtod_d2.modeling.enhancement import dilate_map  # noqa: E402
from common import box_map, local_mean_difference  # noqa: E402


def p2_cells(binary, stride=4, dilation=1):
    """The stride-``stride`` cells DGFE's two resizes leave of a binary map (H, W) at input
    resolution ("nearest": the top-left pixel of each cell; "max": any pixel of it), padded with
    zeros to whole cells as the network pads its input, then spread by ``MASK_DILATION``
    ``dilation``. Returns {mode: (h, w) bool}."""
    h, w = -(-binary.shape[0] // stride), -(-binary.shape[1] // stride)
    padded = np.zeros((h * stride, w * stride), bool)
    padded[: binary.shape[0], : binary.shape[1]] = binary
    cells = {"nearest": padded[::stride, ::stride], "max": padded.reshape(h, stride, w, stride).any(axis=(1, 3))}
    # the model's own dilation, so what is counted is what DGFE doubles
    return {mode: dilate_map(torch.from_numpy(c[None, None].astype(np.float32)), dilation)[0, 0].numpy() > 0
            for mode, c in cells.items()}


def box_spans(boxes, stride=4):
    """The cells (row0, row1, col0, col1, end exclusive) each XYXY box in input pixels overlaps."""
    spans = []
    for x0, y0, x1, y1 in boxes:
        r0, c0 = int(y0 // stride), int(x0 // stride)
        spans.append((r0, max(r0 + 1, int(np.ceil(y1 / stride))), c0, max(c0 + 1, int(np.ceil(x1 / stride)))))
    return spans


def marked_boxes(binary, boxes, mode, stride=4, dilation=1):
    """Per box, whether DGFE's ``mode`` resize of ``binary`` (then its ``MASK_DILATION``) leaves a
    1 in any cell it overlaps: the objects whose P2 features the map doubles."""
    return boxes_on_cells(p2_cells(binary, stride, dilation)[mode], boxes, stride)


def boxes_on_cells(cells, boxes, stride=4):
    """Per XYXY box (input pixels), whether any of the stride-``stride`` ``cells`` it overlaps is 1."""
    return _any_in_spans(cells, box_spans(boxes, stride))


def _any_in_spans(cells, spans):
    return np.array([cells[r0:r1, c0:c1].any() for r0, r1, c0, c1 in spans], bool)


def p2_hits(binary, boxes, stride=4, dilation=1):
    """What a binary map (H, W) at input resolution leaves at a stride-``stride`` feature after
    DGFE's resize and ``dilation`` (:func:`p2_cells`). ``boxes`` are XYXY in input pixels. Returns {mode: (share
    of boxes with a 1 in the cells they overlap, share of the cells no box overlaps that are 1,
    number of 1 cells that a box overlaps, number of 1 cells)}: the last two give the share of
    what DGFE emphasises that is an object at all."""
    cells = p2_cells(binary, stride, dilation)
    spans = box_spans(boxes, stride)
    footprint = np.zeros(cells["nearest"].shape, bool)
    for r0, r1, c0, c1 in spans:
        footprint[r0:r1, c0:c1] = True
    out = {}
    for mode, m in cells.items():
        hit = _any_in_spans(m, spans)
        out[mode] = (float(hit.mean()) if len(hit) else float("nan"), float(m[~footprint].mean()),
                     int(m[footprint].sum()), int(m.sum()))
    return out


def format_p2(hits):
    """One line for a list of per-image p2_hits: box and other-cell shares averaged over images,
    the share of 1 cells in boxes pooled over them."""
    return "; ".join(
        f"{mode} {np.nanmean([h[mode][0] for h in hits]):.3f} / {np.mean([h[mode][1] for h in hits]):.3f} "
        f"({sum(h[mode][2] for h in hits) / max(sum(h[mode][3] for h in hits), 1):.3f})"
        for mode in ("nearest", "max"))


def separation_auc(obj, rest):
    """How well the difference alone tells object-box pixels from the rest, whatever the
    threshold: the chance that a random object pixel's difference exceeds a random other pixel's
    (ties count half), i.e. the area under the ROC curve of thresholding it. 1 is a map some
    threshold makes perfect (the oracle's), 0.5 one no threshold makes selective."""
    obj, rest = np.ravel(obj), np.ravel(rest)
    if not len(obj) or not len(rest):
        return float("nan")
    _, inverse, counts = np.unique(np.concatenate([obj, rest]), return_inverse=True, return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2  # tied values share their ranks' mean (1-based)
    rank_sum = mid_rank[inverse[: len(obj)]].sum()
    return float((rank_sum - len(obj) * (len(obj) + 1) / 2) / (len(obj) * len(rest)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("weights")
    ap.add_argument("dataset")
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--thresholds", type=lambda v: [float(t) for t in v.split(",")], default=[],
                    help="comma-separated, in /255 units, e.g. 4,8,16")
    ap.add_argument("--local-mean", type=lambda v: [int(k) for k in v.split(",")], default=[],
                    help="comma-separated window sizes, e.g. 9,17: the same figures for the difference from each "
                         "pixel's local mean (benchmarks/local_mean_map.py), a yardstick that needs no training; "
                         "binarised at the model's threshold counted from zero")
    ap.add_argument("opts", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(args.config)
    cfg.merge_from_list(["MODEL.WEIGHTS", args.weights, *args.opts])
    predictor = Predictor(cfg)
    dilation = cfg.MODEL.SRTOD.MASK_DILATION
    on_obj, on_bg, d_obj, d_bg, all_obj, all_bg = [], [], [], [], [], []
    above = {t: ([], []) for t in args.thresholds}
    at_p2 = {t: [] for t in ["model", *args.thresholds, "ones"]}
    local = {k: ([], [], []) for k in args.local_mean}  # object pixels, the rest, P2 hits at the model's t
    for d in DatasetCatalog.get(args.dataset)[: args.images]:
        image = cv2.imread(d["file_name"])
        with predictor.model.capture_maps() as maps:
            predictor(image)
        binary, diff = maps[0]["binary"].numpy(), maps[0]["diff"].numpy()
        sy, sx = binary.shape[0] / image.shape[0], binary.shape[1] / image.shape[1]
        boxes = []
        for a in d["annotations"]:
            x0, y0, x1, y1 = BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
            boxes.append((x0 * sx, y0 * sy, x1 * sx, y1 * sy))
        inside = box_map([torch.tensor(boxes).reshape(-1, 4)], (1, 1, *binary.shape))[0, 0].numpy() > 0
        on_obj.append((binary[inside] == 1).mean())
        on_bg.append((binary[~inside] == 1).mean())
        diff_obj, diff_bg = diff[inside] * 255, diff[~inside] * 255
        d_obj.append(np.median(diff_obj))
        d_bg.append(np.median(diff_bg))
        all_obj.append(diff_obj)
        all_bg.append(diff_bg)
        for k, (obj, bg, hits) in local.items():
            lm = local_mean_difference(maps[0]["image"][None], k)[0, 0].numpy()
            obj.append(lm[inside] * 255)
            bg.append(lm[~inside] * 255)
            hits.append(p2_hits(lm > maps[0]["threshold"], boxes, dilation=dilation))
        for t, hits in at_p2.items():
            if t == "model":
                marked = binary == 1
            elif t == "ones":
                marked = np.ones_like(binary, bool)
            else:
                marked = diff * 255 > t
            hits.append(p2_hits(marked, boxes, dilation=dilation))
        for t, (obj, bg) in above.items():
            obj.append((diff_obj > t).mean())
            bg.append((diff_bg > t).mean())
    t = maps[0]["threshold"] * 255
    over = " over each image's median difference" if cfg.MODEL.SRTOD.THRESHOLD_BASE == "median" else ""
    print(f"{args.dataset}, {args.images} images, threshold {t:.2f}/255{over}: binary = 1 on {np.mean(on_obj):.3f} of object-box "
          f"pixels, {np.mean(on_bg):.3f} of the rest; median difference {np.mean(d_obj):.1f}/255 on objects, "
          f"{np.mean(d_bg):.1f}/255 elsewhere")
    print(f"  separation (ROC area of the difference, object-box pixels vs the rest, pooled over the images; "
          f"0.5 = none, 1 = perfect): {separation_auc(np.concatenate(all_obj), np.concatenate(all_bg)):.3f}")
    for k, (obj, bg, hits) in local.items():
        medians = [np.mean([np.median(v) for v in values]) for values in (obj, bg)]
        obj, bg = np.concatenate(obj), np.concatenate(bg)
        print(f"  {k}x{k} local-mean difference: separation {separation_auc(obj, bg):.3f}; median {medians[0]:.1f}/255 "
              f"on objects, {medians[1]:.1f}/255 elsewhere; > {t:.2f}/255 on {np.mean(obj > t):.3f} of object-box "
              f"pixels, {np.mean(bg > t):.3f} of the rest; at P2: {format_p2(hits)}")
    for t, (obj, bg) in above.items():
        print(f"  difference > {t:g}/255 on {np.mean(obj):.3f} of object-box pixels, {np.mean(bg):.3f} of the rest")
    spread = f" and MASK_DILATION {dilation}" if dilation > 1 else ""
    print(f"at P2 (stride 4) after the resize{spread}: share of boxes with a 1 in their cells / share of other cells that are 1 "
          "(share of the 1 cells that a box overlaps, pooled)")
    for t, hits in at_p2.items():
        if t == "model":
            name = f"threshold {maps[0]['threshold'] * 255:.2f}/255{over} (the model's)"
        elif t == "ones":
            name = "a map of ones (its share in boxes: the boxes' share of all cells)"
        else:
            name = f"threshold {t:g}/255"
        print(f"  {name}: {format_p2(hits)}")


if __name__ == "__main__":
    main()
