"""Sliced inference: tile layout, merging, and SlicedPredictor with a stand-in that truly sees only
its tile (it finds painted rectangles by scanning pixels) and with a real tiny detectron2 model."""
import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import detectron2.data.transforms as T
from detectron2 import model_zoo
from detectron2.config import get_cfg
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances

from srtod_d2 import add_srtod_config
from srtod_d2.engine import SlicedInferenceModel, SlicedPredictor, add_sliced_config, merge_detections, tile_grid

torch.set_num_threads(1)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- stand-in detector
class RectangleDetector(nn.Module):
    """Detectron2 meta-architecture call convention; "detects" every 8-connected blob of pixels
    brighter than 64 in the green channel (the same in RGB and BGR). Score: brightest value / 255;
    class: blue (== red) value // 40. Boxes go through detectron2's own postprocess, so they come
    back in the (height, width) the caller asked for."""

    def __init__(self):
        super().__init__()
        self.input_shapes = []
        self.batch_sizes = []

    def forward(self, batched_inputs):
        self.batch_sizes.append(len(batched_inputs))
        outputs = []
        for d in batched_inputs:
            image = d["image"]
            self.input_shapes.append(tuple(image.shape))
            green = image[1].numpy()
            n, labels, stats, _ = cv2.connectedComponentsWithStats((green > 64).astype(np.uint8), connectivity=8)
            boxes, scores, classes = [], [], []
            for k in range(1, n):
                x, y, w, h = stats[k, :4]
                inside = labels == k
                boxes.append([x, y, x + w, y + h])
                scores.append(green[inside].max() / 255.0)
                classes.append(int(np.median(image[0].numpy()[inside])) // 40)
            inst = Instances(tuple(image.shape[-2:]))
            inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
            inst.scores = torch.tensor(scores, dtype=torch.float32)
            inst.pred_classes = torch.tensor(classes, dtype=torch.int64)
            outputs.append({"instances": detector_postprocess(inst, d["height"], d["width"])})
        return outputs


def stand_in_cfg(min_size=0, max_size=100000, fmt="BGR"):
    cfg = get_cfg()
    add_sliced_config(cfg)
    # MIN_SIZE_TEST 0 is detectron2's "no resize", which keeps the stand-in's boxes pixel exact.
    cfg.merge_from_list(["INPUT.MIN_SIZE_TEST", min_size, "INPUT.MAX_SIZE_TEST", max_size,
                         "INPUT.FORMAT", fmt])
    return cfg


def paint(height, width, objects, seed=0):
    """BGR frame with a dim textured background and each object (x0, y0, x1, y1, value, cls) a
    solid rectangle: green = value (> 64), blue = red = 40 * cls + 20."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 50, size=(height, width, 3), dtype=np.uint8)
    for x0, y0, x1, y1, value, cls in objects:
        frame[y0:y1, x0:x1] = (40 * cls + 20, value, 40 * cls + 20)
    return frame


def random_objects(rng, height, width, count, max_side, gap=4):
    """Rectangles at least ``gap`` pixels apart (more than the border margin, so pieces of two
    objects never count as touching), with distinct values."""
    objects, taken = [], np.zeros((height, width), bool)
    values = rng.permutation(np.arange(70, 256))
    for _ in range(count * 20):
        if len(objects) == count:
            break
        w, h = rng.integers(1, max_side + 1, size=2)
        w, h = min(w, width), min(h, height)
        x0, y0 = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
        if taken[max(y0 - gap, 0): y0 + h + gap, max(x0 - gap, 0): x0 + w + gap].any():
            continue
        taken[y0: y0 + h, x0: x0 + w] = True
        objects.append((int(x0), int(y0), int(x0 + w), int(y0 + h), int(values[len(objects)]),
                        int(rng.integers(0, 5))))
    return objects


def as_records(instances):
    boxes = instances.pred_boxes.tensor.tolist()
    return sorted((tuple(b), round(s * 255), c) for b, s, c in
                  zip(boxes, instances.scores.tolist(), instances.pred_classes.tolist()))


def expected_records(objects):
    return sorted(((float(x0), float(y0), float(x1), float(y1)), v, c) for x0, y0, x1, y1, v, c in objects)


def crossing_objects():
    """Objects on, across and at the corner of the tile borders of a 200x300 frame cut into 64 px
    tiles overlapping by 16 (x starts 0, 48, 96, ..., 236; y starts 0, 48, 96, 136)."""
    return [
        (60, 10, 70, 20, 200, 1),     # across the x=64 edge of the first tile
        (44, 60, 52, 68, 180, 2),     # across the x=48 start of the second tile
        (90, 90, 100, 100, 160, 0),   # around the corner of four tiles
        (150, 40, 160, 70, 150, 3),   # across a y edge, taller than the overlap
        (200, 100, 290, 110, 140, 4),  # wider than a tile: no tile sees it whole
        (0, 0, 3, 3, 130, 0),         # frame corner
        (297, 197, 300, 200, 120, 1),  # opposite frame corner
        (120, 120, 121, 121, 110, 2),  # single pixel
        (10, 150, 30, 200, 100, 0),   # on the bottom frame edge
    ]


# ----------------------------------------------------------------------------- tile_grid
@FAST
@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(16, 1024), st.data())
def test_tile_grid_covers_frame_edge_to_edge(height, width, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    tiles = tile_grid(height, width, size, overlap)
    xs = sorted({(t[0], t[2]) for t in tiles})
    ys = sorted({(t[1], t[3]) for t in tiles})
    # A grid: every combination of a column and a row, once.
    assert sorted(tiles) == sorted((x0, y0, x1, y1) for x0, x1 in xs for y0, y1 in ys)
    for spans, length in ((xs, width), (ys, height)):
        assert spans[0][0] == 0 and spans[-1][1] == length
        for start, end in spans:
            assert end - start == min(size, length)
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s0 < s1 and s1 <= e0 - overlap  # no gap, at least `overlap` shared
        if len(spans) > 1:
            assert spans[-2][1] < length  # the last tile is needed


def test_tile_grid_small_frame_is_one_tile():
    assert tile_grid(10, 7, 512, 128) == [(0, 0, 7, 10)]
    assert tile_grid(1, 1, 512, 0) == [(0, 0, 1, 1)]
    assert tile_grid(100, 1000, 512, 128) == [(0, 0, 512, 100), (384, 0, 896, 100), (488, 0, 1000, 100)]


def test_tile_grid_rectangular_tiles():
    tiles = tile_grid(100, 100, (50, 100), (10, 0))
    assert tiles == [(0, 0, 100, 50), (0, 40, 100, 90), (0, 50, 100, 100)]


@pytest.mark.parametrize("args", [(0, 5, 10, 2), (5, -1, 10, 2), (5, 5, 0, 0), (5, 5, 10, 10),
                                  (5, 5, 10, -1), (5, 5, 10.5, 2), (5, 5, 10, True)])
def test_tile_grid_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        tile_grid(*args)


# ----------------------------------------------------------------------------- merging
def test_merge_is_class_wise():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10.5], [1, 0, 10, 10]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    classes = torch.tensor([0, 1, 0])
    for method in ("nms", "nmm", "wbf"):
        b, s, c = merge_detections(boxes, scores, classes, method=method)
        assert c.tolist() == [0, 1], method
        assert s.tolist() == pytest.approx([0.9, 0.8]), method


def test_merge_methods_combine_boxes_differently():
    boxes = torch.tensor([[0, 0, 10, 10], [2, 0, 12, 10]], dtype=torch.float32)
    scores = torch.tensor([0.75, 0.25])
    classes = torch.zeros(2, dtype=torch.int64)
    assert merge_detections(boxes, scores, classes, method="nms", iou_threshold=0.5)[0].tolist() == [[0, 0, 10, 10]]
    assert merge_detections(boxes, scores, classes, method="nmm", iou_threshold=0.5)[0].tolist() == [[0, 0, 12, 10]]
    fused = merge_detections(boxes, scores, classes, method="wbf", iou_threshold=0.5)[0]
    assert len(fused) == 1 and fused[0].tolist() == pytest.approx([0.5, 0, 10.5, 10])
    with pytest.raises(ValueError, match="merge method"):
        merge_detections(boxes, scores, classes, method="soft")


def test_cut_box_yields_to_whole_view_even_with_higher_score():
    # A piece cut by a tile edge, scored higher than the whole object seen by the next tile.
    boxes = torch.tensor([[60, 10, 64, 20], [60, 10, 70, 20]], dtype=torch.float32)
    out = merge_detections(boxes, torch.tensor([0.9, 0.6]), torch.zeros(2, dtype=torch.int64),
                           cut=torch.tensor([True, False]), tile_ids=torch.tensor([0, 1]))
    assert out[0].tolist() == [[60, 10, 70, 20]] and out[1].tolist() == pytest.approx([0.6])
    # Without the cut flags plain NMS keeps the wrong box: the flags are what fixes it.
    plain = merge_detections(boxes, torch.tensor([0.9, 0.6]), torch.zeros(2, dtype=torch.int64))
    assert plain[0].tolist() != [[60, 10, 70, 20]]


def test_pieces_of_one_tile_are_not_stitched():
    # Two objects side by side, both cut by the same tile edge: two objects, not one.
    boxes = torch.tensor([[10, 60, 20, 64], [22, 60, 30, 64]], dtype=torch.float32)
    out = merge_detections(boxes, torch.tensor([0.9, 0.8]), torch.zeros(2, dtype=torch.int64),
                           cut=torch.tensor([True, True]), tile_ids=torch.tensor([3, 3]), border_margin=2)
    assert len(out[0]) == 2


# ----------------------------------------------------------------------------- SlicedPredictor
@pytest.mark.parametrize("merge", ["nms", "nmm", "wbf"])
@pytest.mark.parametrize("full_image_pass", [False, True])
def test_objects_across_borders_come_back_once_and_exact(merge, full_image_pass):
    objects = crossing_objects()
    model = RectangleDetector()
    pred = SlicedPredictor(stand_in_cfg(), 64, 16, full_image_pass=full_image_pass, merge=merge,
                           batch_size=3, model=model)
    out = pred(paint(200, 300, objects))["instances"]
    assert out.image_size == (200, 300)
    assert as_records(out) == expected_records(objects)
    assert out.scores.tolist() == sorted(out.scores.tolist(), reverse=True)
    # 6 x 4 tiles in batches of 3, plus the full frame alone.
    assert len(tile_grid(200, 300, 64, 16)) == 24
    assert model.batch_sizes == [3] * 8 + ([1] if full_image_pass else [])
    assert model.input_shapes[0] == (3, 64, 64)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 120), st.integers(1, 120), st.integers(16, 64), st.data())
def test_random_frames_every_object_once_exact(height, width, size, data):
    overlap = data.draw(st.integers(0, size // 2), label="overlap")
    merge = data.draw(st.sampled_from(["nms", "nmm", "wbf"]), label="merge")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    objects = random_objects(rng, height, width, count=10, max_side=size + 20)
    pred = SlicedPredictor(stand_in_cfg(), size, overlap, full_image_pass=False, merge=merge,
                           batch_size=8, model=RectangleDetector())
    out = pred(paint(height, width, objects))["instances"]
    assert out.image_size == (height, width)
    assert as_records(out) == expected_records(objects)


def test_rgb_model_gets_rgb_tiles():
    objects = [(60, 10, 70, 20, 200, 1)]
    frame = paint(100, 100, objects)
    frame[:, :, 2] = 0  # red off in BGR: a model reading RGB must see it in channel 0
    seen = []

    class Probe(RectangleDetector):
        def forward(self, batched_inputs):
            seen.extend(float(d["image"][0].max()) for d in batched_inputs)
            return super().forward(batched_inputs)

    pred = SlicedPredictor(stand_in_cfg(fmt="RGB"), 64, 16, full_image_pass=False, model=Probe())
    pred(frame)
    assert max(seen) < 50  # the red channel carries only background


def test_each_tile_gets_the_test_resize_and_boxes_come_back_in_frame_pixels():
    objects = [(60, 10, 70, 20, 200, 1), (20, 40, 30, 56, 150, 0), (90, 90, 100, 100, 100, 2)]
    model = RectangleDetector()
    pred = SlicedPredictor(stand_in_cfg(min_size=128, max_size=1000), 64, 16, full_image_pass=True,
                           model=model)
    out = pred(paint(120, 110, objects))["instances"]
    tile_inputs, full_input = model.input_shapes[:-1], model.input_shapes[-1]
    assert set(tile_inputs) == {(3, 128, 128)}  # 64 px tiles, upscaled 2x
    assert full_input == (3, 140, 128)  # 120x110 frame, short edge to 128
    assert out.image_size == (120, 110)
    got, want = as_records(out), expected_records(objects)
    assert len(got) == len(want)
    for (box, value, cls), (true_box, true_value, true_cls) in zip(got, want):
        assert np.allclose(box, true_box, atol=1.0)  # bilinear edges: within a pixel
        assert (value, cls) == (true_value, true_cls)


# ----------------------------------------------------------------------------- odd inputs
def _pred(**kwargs):
    return SlicedPredictor(stand_in_cfg(), 64, 16, model=RectangleDetector(), **kwargs)


def test_grayscale_rgba_and_16_bit_give_the_colour_result():
    objects = [(60, 10, 70, 20, 200, 0), (10, 70, 40, 75, 150, 0)]
    frame = paint(90, 120, objects)
    gray = frame[:, :, 1].copy()
    # In gray every channel holds the object's value, so the stand-in's class is value // 40.
    want = expected_records([(x0, y0, x1, y1, v, v // 40) for x0, y0, x1, y1, v, _ in objects])
    assert as_records(_pred()(gray)["instances"]) == want
    assert as_records(_pred()(gray[:, :, None])["instances"]) == want

    bgra = np.concatenate([frame, np.full((90, 120, 1), 7, np.uint8)], axis=2)
    assert as_records(_pred()(bgra)["instances"]) == as_records(_pred()(frame)["instances"])

    deep = frame.astype(np.uint16) * 257  # the same picture in 16 bits
    assert as_records(_pred()(deep)["instances"]) == as_records(_pred()(frame)["instances"])
    assert as_records(_pred()(frame.astype(np.float32))["instances"]) == as_records(_pred()(frame)["instances"])


def test_one_pixel_frame():
    out = _pred()(np.full((1, 1, 3), 200, np.uint8))["instances"]
    assert out.image_size == (1, 1)
    assert out.pred_boxes.tensor.tolist() == [[0, 0, 1, 1]]
    dark = _pred()(np.zeros((1, 1), np.uint8))["instances"]
    assert dark.image_size == (1, 1) and len(dark) == 0


def test_very_tall_frame():
    objects = [(5, 60, 15, 70, 200, 1), (40, 9990, 50, 10000, 180, 2), (0, 5000, 50, 5003, 160, 3)]
    out = _pred(batch_size=64)(paint(10000, 50, objects))["instances"]
    assert out.image_size == (10000, 50)
    assert as_records(out) == expected_records(objects)


def test_extreme_aspect_ratio_with_resize_does_not_collapse_to_zero_pixels():
    model = RectangleDetector()
    pred = SlicedPredictor(stand_in_cfg(min_size=800, max_size=1333), 512, 128, model=model)
    out = pred(paint(1, 20000, []))["instances"]
    assert out.image_size == (1, 20000) and len(out) == 0
    assert min(min(s[1:]) for s in model.input_shapes) >= 1


@pytest.mark.parametrize("image, message", [
    (np.zeros((0, 10, 3), np.uint8), "empty"),
    (np.zeros((10, 0), np.uint8), "empty"),
    (np.zeros((0, 0, 3), np.uint8), "empty"),
    (None, "None"),
    (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
    (np.zeros(5, np.uint8), "shape"),
    (np.zeros((4, 4, 3), np.int32), "dtype"),
    (np.zeros((4, 4, 3), bool), "dtype"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
])
def test_bad_images_raise_a_clear_value_error(image, message):
    with pytest.raises(ValueError, match=message):
        _pred()(image)


def test_bad_settings_raise_at_construction():
    for kwargs in ({"merge": "soft"}, {"batch_size": 0}, {"merge_iou": 0.0}):
        with pytest.raises(ValueError):
            _pred(**kwargs)
    with pytest.raises(ValueError, match="overlap"):
        SlicedPredictor(stand_in_cfg(), 64, 64, model=RectangleDetector())


def test_sliced_config_node():
    cfg = get_cfg()
    add_sliced_config(cfg)
    add_sliced_config(cfg)  # harmless twice
    cfg.merge_from_list(["TEST.SLICED.ENABLED", True, "TEST.SLICED.SLICE_SIZE", 640, "TEST.SLICED.MERGE", "wbf"])
    assert set(cfg.TEST.SLICED) == {"ENABLED", "SLICE_SIZE", "OVERLAP", "FULL_IMAGE_PASS", "MERGE", "MERGE_IOU",
                                    "BATCH_SIZE"}
    assert (cfg.TEST.SLICED.ENABLED, cfg.TEST.SLICED.SLICE_SIZE, cfg.TEST.SLICED.MERGE) == (True, 640, "wbf")


def test_defaults_come_from_config():
    cfg = stand_in_cfg()
    cfg.TEST.SLICED.SLICE_SIZE, cfg.TEST.SLICED.OVERLAP, cfg.TEST.SLICED.MERGE = 32, 8, "wbf"
    pred = SlicedPredictor(cfg, model=RectangleDetector())
    assert (pred.slice_size, pred.overlap, pred.merge) == (32, 8, "wbf")
    assert SlicedPredictor(cfg, 48, model=RectangleDetector()).slice_size == 48


# ----------------------------------------------------------------------------- evaluation wrapper
def test_inference_model_slices_native_resolution(tmp_path):
    objects = crossing_objects()
    frame = paint(200, 300, objects)
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), frame)
    small = torch.as_tensor(cv2.resize(frame, (150, 100)).transpose(2, 0, 1).copy())
    native = torch.as_tensor(frame.transpose(2, 0, 1).copy())
    wrapped = SlicedInferenceModel(RectangleDetector(), stand_in_cfg(), slice_size=64, overlap=16,
                                   full_image_pass=False)
    assert wrapped.training and wrapped.model.training  # wrapping leaves the mode alone
    wrapped.eval()
    # Resized by the test mapper: the original is read again from the file.
    reread = wrapped([{"image": small, "height": 200, "width": 300, "file_name": str(path)}])[0]
    # Native resolution from the loader: used as it is.
    direct = wrapped([{"image": native, "height": 200, "width": 300}])[0]
    for out in (reread, direct):
        assert out["instances"].image_size == (200, 300)
        assert as_records(out["instances"]) == expected_records(objects)
    # Nothing better than the resized image: boxes still come back in original coordinates.
    fallback = wrapped([{"image": torch.as_tensor(paint(100, 150, [(10, 10, 20, 20, 200, 0)])
                                                  .transpose(2, 0, 1).copy()), "height": 200, "width": 300}])[0]
    assert fallback["instances"].pred_boxes.tensor.tolist() == [[20, 20, 40, 40]]


# ----------------------------------------------------------------------------- real model
def tiny_rcnn_cfg():
    cfg = get_cfg()
    add_srtod_config(cfg)
    add_sliced_config(cfg)
    cfg.merge_from_file(model_zoo.get_config_file("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"))
    cfg.merge_from_list([
        "MODEL.META_ARCHITECTURE", "SRTODRCNN", "MODEL.BACKBONE.NAME", "build_srtod_resnet_fpn_backbone",
        "MODEL.RESNETS.DEPTH", 18, "MODEL.RESNETS.RES2_OUT_CHANNELS", 64, "MODEL.FPN.OUT_CHANNELS", 32,
        "MODEL.ROI_BOX_HEAD.FC_DIM", 64, "MODEL.SRTOD.HEAD_CHANNELS", [16, 8],
        "MODEL.ROI_HEADS.NUM_CLASSES", 3, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0,
        "MODEL.RPN.PRE_NMS_TOPK_TEST", 200, "MODEL.RPN.POST_NMS_TOPK_TEST", 50,
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "INPUT.MIN_SIZE_TEST", 64, "INPUT.MAX_SIZE_TEST", 128,
    ])
    return cfg


def test_real_tiny_model_end_to_end():
    torch.manual_seed(0)
    pred = SlicedPredictor(tiny_rcnn_cfg(), 64, 16, full_image_pass=True, batch_size=4)
    frame = (np.random.default_rng(0).random((100, 150, 3)) * 255).astype(np.uint8)
    out = pred(frame)["instances"]
    assert out.image_size == (100, 150)
    assert len(out) > 0  # score threshold 0: random weights still give boxes
    boxes = out.pred_boxes.tensor
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 150).all() and (boxes[:, 3] <= 100).all()
    assert set(out.pred_classes.tolist()) <= {0, 1, 2}
    # Same model, same frame: a second call gives the same detections (nothing random remains).
    again = pred(frame)["instances"]
    assert torch.equal(again.pred_boxes.tensor, boxes) and torch.equal(again.scores, out.scores)


@pytest.mark.parametrize("native_loader", [True, False])
def test_sliced_evaluation_with_detectron2_loader_and_evaluator(tmp_path, native_loader):
    from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_test_loader
    from detectron2.evaluation import COCOEvaluator, inference_on_dataset
    from detectron2.structures import BoxMode

    from srtod_d2.engine import build_sliced_test_loader

    frames = []
    for i, seed in enumerate((1, 2)):
        objects = random_objects(np.random.default_rng(seed), 150, 220, count=8, max_side=40)
        path = tmp_path / f"frame{i}.png"
        cv2.imwrite(str(path), paint(150, 220, objects, seed=seed))
        frames.append({"file_name": str(path), "image_id": i, "height": 150, "width": 220, "annotations": [
            {"bbox": [x0, y0, x1, y1], "bbox_mode": BoxMode.XYXY_ABS, "category_id": c}
            for x0, y0, x1, y1, _, c in objects]})
    name = f"_sliced_eval_test_{native_loader}"
    DatasetCatalog.register(name, lambda: frames)
    MetadataCatalog.get(name).thing_classes = [f"c{k}" for k in range(5)]
    try:
        # The test resize halves the frames: a model seeing the loader's image would miss objects.
        cfg = stand_in_cfg(min_size=75, max_size=1000)
        cfg.DATALOADER.NUM_WORKERS = 0
        loader = build_sliced_test_loader(cfg, name) if native_loader else build_detection_test_loader(cfg, name)
        model = SlicedInferenceModel(RectangleDetector(), cfg, slice_size=64, overlap=16, full_image_pass=False)
        # Tiles of the native frame are not resized (short edge 0), so boxes stay pixel exact.
        model.predictor.aug = T.ResizeShortestEdge([0, 0], 1000)
        evaluator = COCOEvaluator(name, output_dir=str(tmp_path / "eval"), max_dets_per_image=100)
        results = inference_on_dataset(model, loader, evaluator)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    assert results["bbox"]["AP"] == pytest.approx(100.0)


def test_sliced_loader_and_reread_scale_16_bit_frames_as_training_does(tmp_path):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from srtod_d2.engine import build_sliced_test_loader

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))  # a 16-bit infrared frame
    path = tmp_path / "ir.png"
    cv2.imwrite(str(path), ramp)
    want = np.rint(ramp / 257.0).astype(np.uint8)  # 0..65535 -> 0..255, as TinyDatasetMapper reads it
    name = "_sliced_16_bit_test"
    DatasetCatalog.register(name, lambda: [{"file_name": str(path), "image_id": 0, "height": 48, "width": 64}])
    MetadataCatalog.get(name).thing_classes = ["target"]
    try:
        cfg = stand_in_cfg()
        cfg.DATALOADER.NUM_WORKERS = 0
        image = next(iter(build_sliced_test_loader(cfg, name)))[0]["image"]
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    for channel in image.numpy():
        assert np.array_equal(channel, want)
    # a resized loader image makes the model read the file again: the same scaling there
    seen = []
    wrapped = SlicedInferenceModel(RectangleDetector(), stand_in_cfg(), slice_size=64, overlap=16,
                                   full_image_pass=False).eval()
    wrapped.predictor.predict_model_format = lambda frame: seen.append(frame) or Instances(frame.shape[:2])
    small = torch.zeros(3, 24, 32, dtype=torch.uint8)
    wrapped([{"image": small, "height": 48, "width": 64, "file_name": str(path)}])
    assert np.array_equal(seen[0][:, :, 1], want)
