"""Dataset statistics: images, boxes per class, AI-TOD size bands, size histogram.

Usage::

    python -m srtod_d2.data.stats synthetic_tiny_val --out size_hist.png [--json stats.json]

Size is the square root of the box area; the bands are AI-TOD's: very tiny (<= 8 px), tiny
(8-16], small (16-32], medium (> 32). Crowd / ignored boxes are counted apart, not in the bands.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
from detectron2.structures import BoxMode

__all__ = ["SIZE_BANDS", "box_sizes", "compute_stats", "format_stats", "save_size_histogram", "main"]

SIZE_BANDS = (("very_tiny", 0.0, 8.0), ("tiny", 8.0, 16.0), ("small", 16.0, 32.0), ("medium", 32.0, math.inf))


def box_sizes(dicts: Sequence[dict]) -> np.ndarray:
    """sqrt(area) of every non-crowd box."""
    out = []
    for rec in dicts:
        for a in rec.get("annotations", []):
            if a.get("iscrowd", 0):
                continue
            x0, y0, x1, y1 = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
            out.append(math.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0)))
    return np.asarray(out, dtype=np.float64)


def compute_stats(dicts: Sequence[dict], class_names: Optional[Sequence[str]] = None) -> Dict:
    """Counts for a list of detectron2 dataset dicts.

    Returns:
        dict with ``images``, ``boxes``, ``crowd_boxes``, ``per_class`` (name -> count),
        ``bands`` (name -> count) and ``band_share`` (name -> fraction of boxes), and
        ``size_mean`` / ``size_median`` in px.
    """
    per_class: Dict[str, int] = {}
    if class_names is not None:
        per_class = {c: 0 for c in class_names}
    crowd = 0
    for rec in dicts:
        for a in rec.get("annotations", []):
            if a.get("iscrowd", 0):
                crowd += 1
                continue
            cid = a["category_id"]
            name = class_names[cid] if class_names is not None else str(cid)
            per_class[name] = per_class.get(name, 0) + 1
    sizes = box_sizes(dicts)
    bands = {}
    for name, lo, hi in SIZE_BANDS:
        bands[name] = int(((sizes > lo) & (sizes <= hi)).sum()) if lo > 0 else int((sizes <= hi).sum())
    n = int(sizes.size)
    return {
        "images": len(dicts),
        "boxes": n,
        "crowd_boxes": crowd,
        "per_class": per_class,
        "bands": bands,
        "band_share": {k: (v / n if n else 0.0) for k, v in bands.items()},
        "size_mean": float(sizes.mean()) if n else float("nan"),
        "size_median": float(np.median(sizes)) if n else float("nan"),
    }


def format_stats(name: str, stats: Dict) -> str:
    """A plain-text report."""
    lines = [f"{name}: {stats['images']} images, {stats['boxes']} boxes"
             + (f" (+{stats['crowd_boxes']} crowd/ignored)" if stats["crowd_boxes"] else "")]
    width = max([len(c) for c in stats["per_class"]] + [10])
    lines.append("  boxes per class:")
    for c, k in stats["per_class"].items():
        lines.append(f"    {c:<{width}} {k:>8}")
    lines.append(f"  size (sqrt area): mean {stats['size_mean']:.1f} px, median {stats['size_median']:.1f} px")
    lines.append("  AI-TOD size bands:")
    labels = {"very_tiny": "very tiny (<=8)", "tiny": "tiny (8-16]", "small": "small (16-32]", "medium": "medium (>32)"}
    for k, v in stats["bands"].items():
        lines.append(f"    {labels[k]:<16} {v:>8}  {100 * stats['band_share'][k]:5.1f}%")
    return "\n".join(lines)


def save_size_histogram(sizes: np.ndarray, out_file: str, title: str = "") -> None:
    """Save a histogram of object size (1 px bins up to 64, the rest in the last bin) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.hist(np.clip(sizes, 0, 64), bins=np.arange(0, 65, 1), color="#4878b0")
    for edge in (8, 16, 32):
        ax.axvline(edge, color="k", linestyle="--", linewidth=0.8)
    ax.set_xlabel("object size sqrt(w*h) [px] (> 64 in the last bin)")
    ax.set_ylabel("boxes")
    ax.set_title(title or "object size")
    fig.tight_layout()
    fig.savefig(out_file, format="png")
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", help="registered dataset name, e.g. synthetic_tiny_val")
    parser.add_argument("--out", default=None, help="PNG file for the size histogram")
    parser.add_argument("--json", default=None, help="also write the numbers as json")
    args = parser.parse_args(argv)

    from detectron2.data import DatasetCatalog, MetadataCatalog

    from . import builtin  # noqa: F401  (registers the names)

    if args.dataset not in DatasetCatalog.list():
        ours = sorted(n for n in DatasetCatalog.list() if MetadataCatalog.get(n).get("evaluator_type") == "tiny_coco")
        print(f"unknown dataset {args.dataset!r}; registered tiny-object sets: {', '.join(ours)}", file=sys.stderr)
        return 2
    dicts = DatasetCatalog.get(args.dataset)
    classes = MetadataCatalog.get(args.dataset).get("thing_classes")
    stats = compute_stats(dicts, classes)
    print(format_stats(args.dataset, stats))
    if args.out:
        save_size_histogram(box_sizes(dicts), args.out, title=args.dataset)
        print(f"histogram saved to {args.out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(stats, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
