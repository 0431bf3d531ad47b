import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import CONFIGS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demo"))
import demo as demo_mod  # noqa: E402

SMALL = ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.SRTOD.HEAD_CHANNELS", "[16, 8]",
         "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "128"]


def test_demo_writes_detections_and_panels_of_the_right_size(tmp_path):
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "a.png"), rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), rng.integers(0, 65535, (50, 70), dtype=np.uint16))  # 16-bit gray
    written = demo_mod.main(["--config-file", str(CONFIGS / "Synthetic/srtod_faster_rcnn_R18_tiny.yaml"),
                             "--input", str(tmp_path / "*.png"), "--output", str(tmp_path / "out"),
                             "--opts", *SMALL])
    names = sorted(p.name for p in written)
    assert names == ["a_det.png", "a_maps.png", "b_det.png", "b_maps.png"]
    det, maps = cv2.imread(str(tmp_path / "out/a_det.png")), cv2.imread(str(tmp_path / "out/a_maps.png"))
    assert det.shape == (90, 120, 3)
    assert maps.shape == (180, 240, 3)  # 2x2 tiles at the image size
    assert cv2.imread(str(tmp_path / "out/b_maps.png")).shape == (100, 140, 3)


def test_demo_rejects_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        demo_mod.main(["--config-file", str(CONFIGS / "Synthetic/srtod_faster_rcnn_R18_tiny.yaml"),
                       "--input", str(tmp_path / "nothing_here*.png"), "--output", str(tmp_path)])


def test_demo_sliced_mode_draws_detections_on_the_full_frame(tmp_path):
    rng = np.random.default_rng(2)
    cv2.imwrite(str(tmp_path / "big.png"), rng.integers(0, 256, (150, 260, 3), dtype=np.uint8))
    written = demo_mod.main(["--config-file", str(CONFIGS / "Synthetic/srtod_faster_rcnn_R18_tiny.yaml"),
                             "--input", str(tmp_path / "big.png"), "--output", str(tmp_path / "out"),
                             "--sliced", "--slice-size", "96", "--overlap", "16", "--opts", *SMALL])
    assert [p.name for p in written] == ["big_det.png"]
    assert cv2.imread(str(written[0])).shape == (150, 260, 3)


def test_demo_on_a_video_writes_a_video_with_every_frame(tmp_path):
    src = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 5, (96, 64))
    rng = np.random.default_rng(3)
    for _ in range(3):
        writer.write(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    writer.release()
    demo_mod.main(["--config-file", str(CONFIGS / "Synthetic/srtod_faster_rcnn_R18_tiny.yaml"),
                   "--input", str(src), "--output", str(tmp_path / "out"), "--opts", *SMALL])
    cap = cv2.VideoCapture(str(tmp_path / "out" / "clip_det.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 3 and frames[0].shape == (64, 96, 3)


def _args(*extra):
    return demo_mod.get_parser().parse_args(["--config-file", str(CONFIGS / "Synthetic/srtod_faster_rcnn_R18_tiny.yaml"),
                                             "--input", "x.png", "--output", "out", *extra])


def test_demo_keeps_a_score_threshold_given_in_opts():
    cfg = demo_mod.setup_cfg(_args("--opts", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.05"))
    assert cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.05
    cfg = demo_mod.setup_cfg(_args("--confidence-threshold", "0.6"))
    assert cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.6 and cfg.MODEL.RETINANET.SCORE_THRESH_TEST == 0.6
    assert demo_mod.setup_cfg(_args()).MODEL.ROI_HEADS.SCORE_THRESH_TEST == demo_mod.DEFAULT_CONFIDENCE
    with pytest.raises(ValueError, match="--confidence-threshold and --opts MODEL.RETINANET.SCORE_THRESH_TEST"):
        demo_mod.setup_cfg(_args("--confidence-threshold", "0.6", "--opts", "MODEL.RETINANET.SCORE_THRESH_TEST", "0.1"))


def test_demo_refuses_two_inputs_that_would_write_the_same_file(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        cv2.imwrite(str(tmp_path / sub / "img.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"a/img.png and .*b/img.png would both be written as img_det.png"):
        demo_mod.expand_inputs([str(tmp_path / "*" / "img.png")])
    assert len(demo_mod.expand_inputs([str(tmp_path / "a" / "img.png")])) == 1
