"""Sliced inference: run a detector on overlapping tiles of a large frame and merge the results.

Tiny objects in a 4000x4000 DOTA image or a 4K drone frame shrink to nothing when the whole frame
is resized to the test size. Cutting the frame into tiles and resizing each tile instead keeps
them at (or above) their native resolution. The parts:

* :func:`tile_grid` lays out the tiles;
* :func:`merge_detections` turns the detections of all tiles (and of an optional full-frame pass)
  into one set;
* :class:`SlicedPredictor` is :class:`detectron2.engine.DefaultPredictor` with slicing;
* :class:`SlicedInferenceModel` wraps a model so that ``inference_on_dataset`` evaluates with
  slicing, and :func:`build_sliced_test_loader` gives it frames at native resolution;
* :func:`add_sliced_config` adds the ``TEST.SLICED`` config node.

Objects cut by a tile border
----------------------------
A tile that sees only part of an object reports a partial box touching the tile's edge. Such a
detection is called *cut* when it lies within ``border_margin`` pixels of an edge of its tile that
is inside the frame (edges on the frame border cut nothing). Cut detections are never trusted over
whole ones, and never thrown away on their own:

1. a cut detection that lies mostly (intersection over its own area >= ``cover_threshold``)
   inside an uncut detection of the same class, from any tile or the full-frame pass, is dropped:
   some view saw the object whole. Every object no larger than the overlap is seen whole by some
   tile, so with ``overlap`` >= the object size this alone is enough;
2. the remaining cut detections belong to objects no view saw whole. Pieces from different tiles
   that agree along one axis (1-D IoU >= ``iou_threshold``) and overlap or touch (within
   ``border_margin``) along the other, or of which one lies inside the other (intersection over
   the smaller >= ``iou_threshold``), are stitched into their union, repeatedly, so an object
   spread over four tiles at a corner comes back as one box;
3. everything left goes through the chosen merge (``"nms"``, ``"nmm"`` or ``"wbf"``), which
   removes the duplicates of objects seen whole by several tiles.

Limits: a trained detector's box for a cut object may reach past the visible part or stop short
of the tile edge by more than ``border_margin``; such a box is then taken as whole and only the
final merge can remove it. Stitching assumes that two same-class pieces from different tiles
which line up and touch are one object, which can join two distinct objects lying edge to edge
across a tile border.
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

import detectron2.data.transforms as T
from detectron2.config import CfgNode as CN
from detectron2.data import MetadataCatalog, build_detection_test_loader
from detectron2.layers import batched_nms
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances, pairwise_ioa, pairwise_iou
from detectron2.structures.boxes import pairwise_intersection

from ..data import TinyDatasetMapper, read_image
from .evaluation_weights import load_inference_weights
from .predictor import check_frame

__all__ = [
    "MERGE_METHODS",
    "SlicedInferenceModel",
    "SlicedPredictor",
    "add_sliced_config",
    "build_sliced_test_loader",
    "merge_detections",
    "tile_grid",
]

logger = logging.getLogger(__name__)

MERGE_METHODS = ("nms", "nmm", "wbf")


def add_sliced_config(cfg):
    """Add the ``TEST.SLICED`` node to ``cfg`` in place. Calling it twice is harmless."""
    if "SLICED" in cfg.TEST:
        return cfg
    cfg.TEST.SLICED = CN()
    # Evaluate (and run eval-only jobs) on overlapping tiles of the native-resolution frame.
    cfg.TEST.SLICED.ENABLED = False
    # Tile side in pixels of the original frame; each tile then gets INPUT.MIN/MAX_SIZE_TEST.
    cfg.TEST.SLICED.SLICE_SIZE = 512
    # Overlap of neighbouring tiles in pixels; objects up to this size are always seen whole.
    cfg.TEST.SLICED.OVERLAP = 128
    # Also run the whole frame (resized as usual) so objects larger than a tile are found.
    cfg.TEST.SLICED.FULL_IMAGE_PASS = True
    # How duplicates across tiles are merged: "nms", "nmm" (union of matches) or "wbf" (fusion).
    cfg.TEST.SLICED.MERGE = "nms"
    # Match threshold of the merge (IoU for nms/wbf, intersection over smaller box for nmm).
    cfg.TEST.SLICED.MERGE_IOU = 0.5
    # Tiles per forward pass of the model.
    cfg.TEST.SLICED.BATCH_SIZE = 4
    return cfg


def _axis_starts(length: int, size: int, stride: int) -> List[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, stride))
    # The last tile is flush with the frame edge: it overlaps its neighbour a bit more rather
    # than sticking out of the frame or being smaller than the others.
    starts.append(length - size)
    return starts


def _pair(value, name: str) -> Tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
        pair = tuple(value)
    else:
        pair = (value, value)
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer number of pixels, got {value!r}")
    return int(pair[0]), int(pair[1])


def tile_grid(
    height: int, width: int, slice_size: Union[int, Tuple[int, int]], overlap: Union[int, Tuple[int, int]]
) -> List[Tuple[int, int, int, int]]:
    """Tiles covering a ``height`` x ``width`` frame edge to edge, in row-major order.

    Args:
        height, width: frame size in pixels (positive).
        slice_size: tile side, or (tile height, tile width), in pixels.
        overlap: minimum overlap of neighbouring tiles in pixels (or a (y, x) pair), smaller than
            the tile side. The last tile of a row or column is aligned to the frame edge, so it can
            overlap its neighbour by more.

    Returns:
        list of (x0, y0, x1, y1) integer tiles, half-open pixel ranges. All tiles have the size
        ``slice_size``, except along an axis where the frame is smaller: there the one tile spans
        the whole frame.
    """
    for v, name in ((height, "height"), (width, "width")):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"frame {name} must be a positive integer, got {v!r}")
    size_h, size_w = _pair(slice_size, "slice_size")
    over_h, over_w = _pair(overlap, "overlap")
    if size_h <= 0 or size_w <= 0:
        raise ValueError(f"slice_size must be positive, got {slice_size!r}")
    if not (0 <= over_h < size_h and 0 <= over_w < size_w):
        raise ValueError(f"overlap must be >= 0 and smaller than slice_size, got overlap={overlap!r}, "
                         f"slice_size={slice_size!r}")
    ys = _axis_starts(int(height), size_h, size_h - over_h)
    xs = _axis_starts(int(width), size_w, size_w - over_w)
    return [(x, y, min(x + size_w, int(width)), min(y + size_h, int(height))) for y in ys for x in xs]


def cut_flags(boxes: torch.Tensor, tile: Sequence[int], frame_size: Tuple[int, int], margin: float) -> torch.Tensor:
    """Which ``boxes`` (frame coordinates, detected in ``tile``) touch an edge of the tile that lies
    inside the frame, i.e. may be an object cut by the tile. ``frame_size`` is (height, width)."""
    x0, y0, x1, y1 = tile
    height, width = frame_size
    cut = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    if x0 > 0:
        cut |= boxes[:, 0] <= x0 + margin
    if y0 > 0:
        cut |= boxes[:, 1] <= y0 + margin
    if x1 < width:
        cut |= boxes[:, 2] >= x1 - margin
    if y1 < height:
        cut |= boxes[:, 3] >= y1 - margin
    return cut


def _interval_iou(a0, a1, b0, b1):
    inter = (torch.minimum(a1, b1) - torch.maximum(a0, b0)).clamp(min=0)
    union = torch.maximum(a1, b1) - torch.minimum(a0, b0)
    return inter / union.clamp(min=1e-6)


def _stitch(boxes, scores, classes, tiles: List[int], agree: float, margin: float):
    """Step 2 of the module docstring: union pieces of objects that no view saw whole."""
    boxes, scores = boxes.clone(), scores.clone()
    # The views each (stitched) box comes from: a piece is never stitched to another piece of the
    # same view, which would be a second object cut by the same edge.
    views = [{t} for t in tiles]
    alive = torch.ones(len(boxes), dtype=torch.bool, device=boxes.device)
    changed = True
    while changed:
        changed = False
        for i in torch.argsort(scores, descending=True).tolist():
            if not alive[i]:
                continue
            b = boxes[i]
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            touch_x = (boxes[:, 0] <= b[2] + margin) & (b[0] <= boxes[:, 2] + margin)
            touch_y = (boxes[:, 1] <= b[3] + margin) & (b[1] <= boxes[:, 3] + margin)
            agree_x = _interval_iou(b[0], b[2], boxes[:, 0], boxes[:, 2]) >= agree
            agree_y = _interval_iou(b[1], b[3], boxes[:, 1], boxes[:, 3]) >= agree
            # A piece lying inside another (e.g. in the union of its neighbours) joins it too.
            inter = (torch.minimum(b[2], boxes[:, 2]) - torch.maximum(b[0], boxes[:, 0])).clamp(min=0) * \
                (torch.minimum(b[3], boxes[:, 3]) - torch.maximum(b[1], boxes[:, 1])).clamp(min=0)
            smaller = torch.minimum(areas[i], areas).clamp(min=1e-6)
            inside = inter / smaller >= agree
            match = alive & (classes == classes[i]) & ((touch_x & touch_y & (agree_x | agree_y)) | inside)
            match[i] = False
            for j in torch.nonzero(match).flatten().tolist():
                if views[j] & views[i]:
                    match[j] = False
            if match.any():
                group = boxes[match]
                boxes[i, :2] = torch.minimum(b[:2], group[:, :2].min(dim=0).values)
                boxes[i, 2:] = torch.maximum(b[2:], group[:, 2:].max(dim=0).values)
                scores[i] = torch.maximum(scores[i], scores[match].max())
                for j in torch.nonzero(match).flatten().tolist():
                    views[i] |= views[j]
                alive &= ~match
                changed = True
    return boxes[alive], scores[alive], classes[alive]


def _similar_pairs(boxes, classes, metric: str, threshold: float, chunk: int = 1024):
    """Neighbour lists: for each box, the same-class boxes whose similarity to it is >= threshold.
    Computed in row chunks, as the full N x N matrix of a 4K frame would be large."""
    all_boxes = Boxes(boxes)
    neighbours: List[List[int]] = []
    for start in range(0, len(boxes), chunk):
        rows = Boxes(boxes[start : start + chunk])
        if metric == "iou":
            sim = pairwise_iou(rows, all_boxes)
        else:  # intersection over the smaller of the two boxes
            smaller = torch.minimum(rows.area()[:, None], all_boxes.area()[None, :])
            sim = pairwise_intersection(rows, all_boxes) / smaller.clamp(min=1e-6)
        hit = (sim >= threshold) & (classes[start : start + chunk, None] == classes[None, :])
        row_idx, col_idx = torch.nonzero(hit, as_tuple=True)
        per_row = [[] for _ in range(len(rows))]
        for r, c in zip(row_idx.tolist(), col_idx.tolist()):
            per_row[r].append(c)
        neighbours.extend(per_row)
    return neighbours


def _greedy_clusters(boxes, scores, classes, metric: str, threshold: float):
    """(cluster id of each box, seed box of each cluster): the highest-scoring free box (the seed)
    takes every free box that matches it. Ids follow decreasing seed score."""
    neighbours = _similar_pairs(boxes, classes, metric, threshold)
    cluster, seeds = [-1] * len(boxes), []
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        if cluster[i] >= 0:
            continue
        cluster[i] = len(seeds)
        for j in neighbours[i]:
            if cluster[j] < 0:
                cluster[j] = len(seeds)
        seeds.append(i)
    as_tensor = lambda x: torch.tensor(x, dtype=torch.int64, device=boxes.device)  # noqa: E731
    return as_tensor(cluster), as_tensor(seeds)


def merge_detections(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    classes: torch.Tensor,
    *,
    method: str = "nms",
    iou_threshold: float = 0.5,
    cut: Optional[torch.Tensor] = None,
    tile_ids: Optional[torch.Tensor] = None,
    cover_threshold: float = 0.6,
    border_margin: float = 2.0,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merge detections of several views of one frame, class by class.

    Args:
        boxes: (N, 4) XYXY boxes in frame coordinates.
        scores: (N,) scores.
        classes: (N,) integer classes; boxes of different classes never merge.
        method: "nms" (class-wise NMS, keeps the best box), "nmm" (non-maximum merging: the best
            box absorbs those whose intersection over the smaller box is >= ``iou_threshold`` and
            becomes their union) or "wbf" (box fusion: boxes with IoU >= ``iou_threshold`` with
            the best one are averaged, weighted by score). The merged score is the best score.
        iou_threshold: match threshold of ``method`` (and the axis agreement of stitching).
        cut: (N,) bool, detections that may be cut by a tile border (see the module docstring);
            None treats all as whole.
        tile_ids: (N,) int, the view each detection comes from; needed with ``cut``.
        cover_threshold: a cut detection is dropped when this fraction of it lies in an uncut
            detection of the same class.
        border_margin: pixels within which cut pieces count as touching.

    Returns:
        (boxes, scores, classes), sorted by decreasing score.
    """
    if method not in MERGE_METHODS:
        raise ValueError(f"merge method must be one of {MERGE_METHODS}, got {method!r}")
    classes = classes.to(torch.int64)
    if cut is not None and bool(cut.any()):
        if tile_ids is None:
            raise ValueError("merge_detections: `cut` needs `tile_ids`")
        whole = ~cut
        cut_idx = torch.nonzero(cut).flatten()
        if bool(whole.any()):
            # Fraction of each cut box inside each whole box.
            covered = pairwise_ioa(Boxes(boxes[whole]), Boxes(boxes[cut_idx]))
            same_class = classes[whole][:, None] == classes[cut_idx][None, :]
            seen_whole = ((covered >= cover_threshold) & same_class).any(dim=0)
            cut_idx = cut_idx[~seen_whole]
        pieces = _stitch(boxes[cut_idx], scores[cut_idx], classes[cut_idx], tile_ids[cut_idx].tolist(),
                         agree=iou_threshold, margin=border_margin)
        boxes = torch.cat([boxes[whole], pieces[0]])
        scores = torch.cat([scores[whole], pieces[1]])
        classes = torch.cat([classes[whole], pieces[2]])

    if len(boxes) == 0 or method == "nms":
        keep = batched_nms(boxes, scores, classes, iou_threshold) if len(boxes) else \
            torch.zeros(0, dtype=torch.int64, device=boxes.device)
        return boxes[keep], scores[keep], classes[keep]

    metric = "iou" if method == "wbf" else "ios"
    cluster, seed = _greedy_clusters(boxes, scores, classes, metric, iou_threshold)
    n = len(seed)
    if method == "wbf":
        w = scores.clamp(min=1e-6)[:, None]
        # Offsets from the seed, so identical boxes fuse to exactly themselves.
        offsets = torch.zeros(n, 4, dtype=boxes.dtype, device=boxes.device)
        offsets.index_add_(0, cluster, (boxes - boxes[seed][cluster]) * w)
        weight = torch.zeros(n, 1, dtype=boxes.dtype, device=boxes.device).index_add_(0, cluster, w)
        fused = boxes[seed] + offsets / weight
    else:
        lo = boxes[seed][:, :2].clone().scatter_reduce(
            0, cluster[:, None].expand(-1, 2), boxes[:, :2], reduce="amin")
        hi = boxes[seed][:, 2:].clone().scatter_reduce(
            0, cluster[:, None].expand(-1, 2), boxes[:, 2:], reduce="amax")
        fused = torch.cat([lo, hi], dim=1)
    return fused, scores[seed], classes[seed]


def _sliced_defaults() -> CN:
    return add_sliced_config(CN({"TEST": CN()})).TEST.SLICED


class SlicedPredictor:
    """:class:`detectron2.engine.DefaultPredictor` that runs the model on overlapping tiles of
    the frame, plus optionally the whole frame, and merges the detections.

    Each tile (and the full frame) gets the test-time resize of ``cfg.INPUT.MIN/MAX_SIZE_TEST``
    like the frame in DefaultPredictor; the model returns boxes in tile pixels (detectron2's
    postprocess scales them to the ``height``/``width`` it is given), which are shifted to the
    frame and merged as the module docstring describes. Only boxes, scores and classes are
    returned; masks and keypoints of the tiles are dropped.

    Examples:
    ::
        pred = SlicedPredictor(cfg, slice_size=512, overlap=128)
        outputs = pred(cv2.imread("frame.jpg"))  # {"instances": Instances of the frame size}
    """

    def __init__(
        self,
        cfg,
        slice_size: Optional[Union[int, Tuple[int, int]]] = None,
        overlap: Optional[Union[int, Tuple[int, int]]] = None,
        *,
        full_image_pass: Optional[bool] = None,
        merge: Optional[str] = None,
        merge_iou: Optional[float] = None,
        batch_size: Optional[int] = None,
        cover_threshold: float = 0.6,
        border_margin: float = 2.0,
        model: Optional[nn.Module] = None,
    ):
        """
        Args:
            cfg: detectron2 config; ``TEST.SLICED`` (if present) gives the defaults of the
                arguments below that are None.
            slice_size, overlap: tile side and minimum overlap in frame pixels (see
                :func:`tile_grid`).
            full_image_pass: also run the whole frame, for objects larger than a tile.
            merge: "nms", "nmm" or "wbf" (see :func:`merge_detections`).
            merge_iou: match threshold of the merge.
            batch_size: tiles per forward pass.
            cover_threshold, border_margin: handling of detections cut by a tile border (see
                :func:`merge_detections`).
            model: an already built model (e.g. in training or in tests). Without it the model
                is built from ``cfg`` and ``cfg.MODEL.WEIGHTS`` loaded, as DefaultPredictor does.
                It is put in eval mode either way.
        """
        self.cfg = cfg.clone()  # cfg can be modified by model
        opts = self.cfg.TEST.SLICED if "SLICED" in self.cfg.TEST else _sliced_defaults()
        self.slice_size = opts.SLICE_SIZE if slice_size is None else slice_size
        self.overlap = opts.OVERLAP if overlap is None else overlap
        self.full_image_pass = bool(opts.FULL_IMAGE_PASS if full_image_pass is None else full_image_pass)
        self.merge = opts.MERGE if merge is None else merge
        self.merge_iou = float(opts.MERGE_IOU if merge_iou is None else merge_iou)
        self.batch_size = opts.BATCH_SIZE if batch_size is None else batch_size
        self.cover_threshold = float(cover_threshold)
        self.border_margin = float(border_margin)
        # Fail on a bad setting now rather than on the first frame.
        tile_grid(1, 1, self.slice_size, self.overlap)
        if self.merge not in MERGE_METHODS:
            raise ValueError(f"merge must be one of {MERGE_METHODS}, got {self.merge!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not 0.0 < self.merge_iou <= 1.0:
            raise ValueError(f"merge_iou must be in (0, 1], got {self.merge_iou}")

        if model is None:
            model = build_model(self.cfg)
            load_inference_weights(model, self.cfg, "SlicedPredictor")
        self.model = model
        self.model.eval()
        if len(self.cfg.DATASETS.TEST):
            self.metadata = MetadataCatalog.get(self.cfg.DATASETS.TEST[0])
        self.aug = T.ResizeShortestEdge(
            [self.cfg.INPUT.MIN_SIZE_TEST, self.cfg.INPUT.MIN_SIZE_TEST], self.cfg.INPUT.MAX_SIZE_TEST
        )
        self.input_format = self.cfg.INPUT.FORMAT
        if self.input_format not in ("RGB", "BGR"):
            raise ValueError(f"SlicedPredictor supports INPUT.FORMAT RGB or BGR, got {self.input_format!r}")

    def __call__(self, original_image: np.ndarray) -> Dict[str, Instances]:
        """
        Args:
            original_image: (H, W, 3) BGR image as cv2 reads it; (H, W) and (H, W, 1) grayscale
                and (H, W, 4) BGRA are accepted too; uint8, uint16 (full range mapped to
                0-255) or float in 0-255.

        Returns:
            {"instances": Instances} of size (H, W) with ``pred_boxes``, ``scores`` and
            ``pred_classes``, sorted by decreasing score.
        """
        image = check_frame(original_image)
        if self.input_format == "RGB":
            image = np.ascontiguousarray(image[:, :, ::-1])
        return {"instances": self.predict_model_format(image)}

    def _model_input(self, image: np.ndarray, height: int, width: int) -> dict:
        transform = self.aug.get_transform(image)
        if isinstance(transform, T.ResizeTransform) and min(transform.new_h, transform.new_w) < 1:
            # An extreme aspect ratio (1x100000) would round one side to 0 pixels.
            transform = T.ResizeTransform(transform.h, transform.w, max(transform.new_h, 1),
                                          max(transform.new_w, 1), transform.interp)
        resized = transform.apply_image(image)
        tensor = torch.as_tensor(resized.astype("float32").transpose(2, 0, 1))
        return {"image": tensor, "height": height, "width": width}

    @torch.no_grad()
    def predict_model_format(self, image: np.ndarray) -> Instances:
        """Sliced prediction on an (H, W, 3) frame already in ``cfg.INPUT.FORMAT`` channel order
        (uint8 or float32, 0-255). Returns the merged Instances of size (H, W)."""
        height, width = image.shape[:2]
        tiles = tile_grid(height, width, self.slice_size, self.overlap)
        views: List[Tuple[int, int, int, int]] = list(tiles)
        batches = [list(range(i, min(i + self.batch_size, len(tiles))))
                   for i in range(0, len(tiles), self.batch_size)]
        if self.full_image_pass and tiles != [(0, 0, width, height)]:
            # Alone in its batch: next to tiles it would be padded to, and cost, its own size.
            views.append((0, 0, width, height))
            batches.append([len(views) - 1])

        boxes, scores, classes, cut, view_ids = [], [], [], [], []
        for batch in batches:
            inputs = []
            for v in batch:
                x0, y0, x1, y1 = views[v]
                inputs.append(self._model_input(image[y0:y1, x0:x1], y1 - y0, x1 - x0))
            outputs = self.model(inputs)
            for v, out in zip(batch, outputs):
                inst = out["instances"]
                x0, y0, x1, y1 = views[v]
                b = inst.pred_boxes.tensor.float()
                b = b + torch.tensor([x0, y0, x0, y0], dtype=b.dtype, device=b.device)
                boxes.append(b)
                scores.append(inst.scores.float())
                classes.append(inst.pred_classes.to(torch.int64))
                # The full-frame view has no inner edges, so nothing it sees is cut.
                cut.append(cut_flags(b, views[v], (height, width), self.border_margin))
                view_ids.append(torch.full((len(b),), v, dtype=torch.int64, device=b.device))

        merged = merge_detections(
            torch.cat(boxes), torch.cat(scores), torch.cat(classes), method=self.merge,
            iou_threshold=self.merge_iou, cut=torch.cat(cut), tile_ids=torch.cat(view_ids),
            cover_threshold=self.cover_threshold, border_margin=self.border_margin,
        )
        order = torch.argsort(merged[1], descending=True, stable=True)
        result = Instances((height, width))
        result.pred_boxes = Boxes(merged[0][order])
        result.scores = merged[1][order]
        result.pred_classes = merged[2][order]
        return result


def _rescaled(instances: Instances, height: int, width: int) -> Instances:
    fh, fw = instances.image_size
    if (fh, fw) == (height, width):
        return instances
    out = Instances((height, width), **instances.get_fields())
    out.pred_boxes = Boxes(out.pred_boxes.tensor.clone())
    out.pred_boxes.scale(width / fw, height / fh)
    return out


class SlicedInferenceModel(nn.Module):
    """A model whose forward is sliced inference, for ``inference_on_dataset`` and evaluators.

    Slicing a frame the test loader has already shrunk to ``MIN_SIZE_TEST`` would be pointless,
    so each input is sliced at its original resolution (``height`` x ``width``):

    * if ``image`` already has that size (a loader from :func:`build_sliced_test_loader`), it is
      used as it is: the cheapest and the recommended way;
    * else, if the input has ``file_name``, the file is read again at full resolution (the
      loader's decode and resize are then wasted work);
    * else only the resized ``image`` is available: it is sliced as it is and a warning is
      logged once, since that is not what sliced evaluation means.

    Boxes are returned in ``height`` x ``width`` coordinates, as the evaluators expect.
    """

    def __init__(self, model: nn.Module, cfg, **kwargs):
        """
        Args:
            model: a built detectron2 model with its weights loaded.
            cfg: the config; ``TEST.SLICED`` gives the slicing settings.
            kwargs: overrides of :class:`SlicedPredictor` arguments.
        """
        super().__init__()
        training = model.training
        self.predictor = SlicedPredictor(cfg, model=model, **kwargs)
        # The predictor puts the model in eval mode; wrapping a model mid-training must not, since
        # inference_on_dataset switches modes (and back) itself.
        model.train(training)
        self.model = model  # a submodule, so eval()/train() reach it
        self.train(training)
        self._warned = False

    def _frame(self, d: dict) -> np.ndarray:
        image = d["image"]
        height = int(d.get("height", image.shape[-2]))
        width = int(d.get("width", image.shape[-1]))
        if tuple(image.shape[-2:]) == (height, width):
            return image.permute(1, 2, 0).cpu().numpy()
        if d.get("file_name"):
            frame = check_frame(read_image(d["file_name"], format="BGR"))
            if self.predictor.input_format == "RGB":
                frame = frame[:, :, ::-1]
            return np.ascontiguousarray(frame)
        if not self._warned:
            logger.warning("SlicedInferenceModel: inputs carry neither a native-resolution image "
                           "nor a file_name; slicing the resized image instead.")
            self._warned = True
        return image.permute(1, 2, 0).cpu().numpy()

    def forward(self, batched_inputs: List[dict]) -> List[Dict[str, Instances]]:
        if self.training:
            raise RuntimeError("SlicedInferenceModel is for inference only")
        results = []
        for d in batched_inputs:
            frame = np.ascontiguousarray(self._frame(d))
            if frame.dtype != np.uint8:
                frame = frame.astype(np.float32)
            instances = self.predictor.predict_model_format(frame)
            height = int(d.get("height", frame.shape[0]))
            width = int(d.get("width", frame.shape[1]))
            results.append({"instances": _rescaled(instances, height, width)})
        return results


def build_sliced_test_loader(cfg, dataset_name: str, **kwargs):
    """detectron2's test loader for ``dataset_name``, without the test-time resize: it yields
    frames at native resolution, which :class:`SlicedInferenceModel` slices directly.
    ``kwargs`` go to ``build_detection_test_loader`` (e.g. ``num_workers``)."""
    # our mapper, so 16-bit and palette frames come out as the model was trained on them
    mapper = TinyDatasetMapper(cfg, is_train=False, augmentations=[])
    return build_detection_test_loader(cfg, dataset_name, mapper=mapper, **kwargs)
