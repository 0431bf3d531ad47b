import numpy as np
import pytest
import torch

from detectron2.modeling import build_model

from helpers import tiny_cfg
from srtod_d2.engine import Predictor, SlicedPredictor, check_frame


@pytest.fixture(scope="module")
def predictor():
    return Predictor(tiny_cfg())


@pytest.mark.parametrize("image, size", [
    (np.full((40, 60), 90, np.uint8), (40, 60)),                    # grayscale
    (np.full((40, 60, 1), 90, np.uint8), (40, 60)),                 # grayscale with a channel axis
    (np.full((40, 60, 4), 90, np.uint8), (40, 60)),                 # BGRA
    (np.full((40, 60, 3), 30000, np.uint16), (40, 60)),             # 16-bit
    (np.full((40, 60, 3), 90.5, np.float32), (40, 60)),             # float 0-255
    (np.zeros((1, 1, 3), np.uint8), (1, 1)),                        # a single pixel
    (np.zeros((10000, 50, 3), np.uint8), (10000, 50)),              # elongated, still resizable
])
def test_odd_inputs_give_a_result_of_the_frame_size(predictor, image, size):
    out = predictor(image)["instances"]
    assert out.image_size == size


def test_grayscale_and_rgba_give_the_same_result_as_bgr(predictor):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    bgr = np.repeat(gray[:, :, None], 3, axis=2)
    bgra = np.concatenate([bgr, np.full((48, 64, 1), 7, np.uint8)], axis=2)
    ref = predictor(bgr)["instances"]
    for other in (gray, bgra):
        out = predictor(other)["instances"]
        assert np.allclose(out.pred_boxes.tensor.numpy(), ref.pred_boxes.tensor.numpy())
        assert np.allclose(out.scores.numpy(), ref.scores.numpy())


def test_sixteen_bit_is_scaled_not_clipped():
    img = np.array([[[0, 65535, 32768]]], np.uint16)
    np.testing.assert_allclose(check_frame(img)[0, 0], [0, 255, 32768 * 255 / 65535], rtol=1e-6)


@pytest.mark.parametrize("image, match", [
    (np.zeros((0, 10, 3), np.uint8), "empty"),
    (np.zeros((10, 0), np.uint8), "empty"),
    (None, "None"),
    (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    (np.zeros((4, 4, 3), np.int64), "dtype"),
    (np.zeros((20000, 10, 3), np.uint8), "too elongated"),         # would resize to 0 px wide
])
def test_unusable_inputs_raise_a_clear_error(predictor, image, match):
    with pytest.raises(ValueError, match=match):
        predictor(image)


def test_plain_default_predictor_limit_is_what_the_docs_say(predictor):
    """docs/reliability.md and the README send users with uncontrolled frames to our
    Predictor because plain DefaultPredictor fails on a 2-D array before our model runs. If a
    detectron2 release fixes that, this test fails and the documents must change."""
    from detectron2.engine import DefaultPredictor

    plain = DefaultPredictor(tiny_cfg())
    gray = np.full((40, 60), 90, np.uint8)
    with pytest.raises((ValueError, IndexError)):
        plain(gray)
    assert predictor(gray)["instances"].image_size == (40, 60)


@pytest.fixture(scope="module")
def efficient_weights(tmp_path_factory):
    """A model with the efficient reconstruction head, saved as detectron2 saves a trained one."""
    torch.manual_seed(0)
    model = build_model(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.SRTOD.HEAD", "efficient"))
    path = tmp_path_factory.mktemp("weights") / "efficient.pth"
    torch.save({"model": model.state_dict()}, path)
    return path, model.state_dict()


def test_weights_of_the_configs_head_are_loaded(efficient_weights):
    path, saved = efficient_weights
    predictor = Predictor(tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
                                   "MODEL.SRTOD.HEAD", "efficient", "MODEL.WEIGHTS", str(path)))
    loaded = predictor.model.state_dict()
    assert loaded.keys() == saved.keys()
    for key, value in saved.items():
        assert torch.equal(loaded[key], value), key
    assert predictor.cfg.MODEL.WEIGHTS == str(path)


@pytest.mark.parametrize("make", [Predictor, lambda cfg: SlicedPredictor(cfg, slice_size=64, overlap=16)])
def test_weights_of_another_head_are_refused(efficient_weights, make):
    """detectron2 alone would warn, skip the head's mismatched layers and serve a random head."""
    path, _ = efficient_weights
    cfg = tiny_cfg("Synthetic/srtod_faster_rcnn_R18_tiny.yaml", "MODEL.WEIGHTS", str(path))
    with pytest.raises(ValueError, match=r"Predictor: .*efficient\.pth has no weights for \d+ of the model's "
                                         r"parameters \(backbone\.recon_head\..*MODEL\.SRTOD\.HEAD than 'reference'"):
        make(cfg)
