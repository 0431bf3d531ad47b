import numpy as np
import torch

from helpers import CONFIGS, load_benchmark, register_tiny_coco
from srtod_d2.modeling.enhancement import DifferenceMapEnhancement

stats = load_benchmark("difference_map_stats")


def test_p2_hits_agrees_with_dgfe_resize():
    # The script's cells must be what DGFE's own resize hands to P2, for both modes.
    rng = np.random.default_rng(0)
    binary = rng.random((32, 48)) > 0.9
    boxes = [(5.0, 6.0, 7.5, 8.0), (40.2, 0.0, 47.9, 3.1), (12.0, 20.0, 30.0, 31.0)]
    got = stats.p2_hits(binary, boxes)
    mask = torch.from_numpy(binary).float()[None, None]
    for mode in ("nearest", "max"):
        cells = DifferenceMapEnhancement(channels=16, mask_resize=mode).resize(mask, (8, 12))[0, 0].numpy() > 0
        footprint = np.zeros((8, 12), bool)
        hits = []
        for x0, y0, x1, y1 in boxes:
            rows = [r for r in range(8) if r * 4 < y1 and (r + 1) * 4 > y0]
            cols = [c for c in range(12) if c * 4 < x1 and (c + 1) * 4 > x0]
            footprint[np.ix_(rows, cols)] = True
            hits.append(cells[np.ix_(rows, cols)].any())
        assert got[mode] == (np.mean(hits), cells[~footprint].mean(), cells[footprint].sum(), cells.sum())


def test_p2_hits_nearest_misses_a_target_off_the_cell_corner():
    # A 2x2 target away from the cell's top-left pixel is invisible to nearest, not to max.
    binary = np.zeros((16, 16), bool)
    binary[5:7, 9:11] = True
    binary[12, 0] = True  # background, on the top-left pixel of cell (3, 0): both modes keep it
    got = stats.p2_hits(binary, [(9, 5, 11, 7)])
    assert got["nearest"] == (0.0, 1 / 15, 0, 1)
    assert got["max"] == (1.0, 1 / 15, 1, 2)


def test_separation_auc_is_the_pairwise_win_rate():
    # Independent count over every (object, other) pair, ties half, on values with many ties.
    rng = np.random.default_rng(3)
    obj, rest = rng.integers(0, 12, 57).astype(float), rng.integers(0, 9, 140).astype(float)
    wins = (obj[:, None] > rest[None, :]).sum() + 0.5 * (obj[:, None] == rest[None, :]).sum()
    assert np.isclose(stats.separation_auc(obj, rest), wins / (57 * 140))
    assert stats.separation_auc([5.0, 6.0], [1.0, 2.0, 4.9]) == 1.0
    assert stats.separation_auc([3.0, 3.0], [3.0]) == 0.5
    assert np.isnan(stats.separation_auc([], [1.0]))


def test_format_p2_pools_the_share_of_marked_cells_in_boxes():
    # 1 of 2 marked cells in a box on one image, 0 of 8 on the other: pooled 1/10, not the mean 1/4
    hits = [{"nearest": (1.0, 0.1, 1, 2), "max": (1.0, 0.2, 2, 4)},
            {"nearest": (0.5, 0.3, 0, 8), "max": (1.0, 0.4, 0, 0)}]
    assert stats.format_p2(hits) == "nearest 0.750 / 0.200 (0.100); max 1.000 / 0.300 (0.500)"


def test_main_prints_each_map_and_the_boxes_base_rate(tmp_path, monkeypatch, capsys):
    name = register_tiny_coco("srtod_tiny_stats", tmp_path, num_images=3)
    monkeypatch.setattr("sys.argv", [
        "difference_map_stats.py", "--images", "3", "--thresholds", "8", "--local-mean", "9",
        str(CONFIGS / "Synthetic/srtod_faster_rcnn_R18_tiny.yaml"), "", name,
        "MODEL.DEVICE", "cpu", "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.SRTOD.HEAD_CHANNELS", "[16, 8]",
        "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "128"])
    threads = torch.get_num_threads()
    try:
        stats.main()
    finally:
        torch.set_num_threads(threads)  # main() pins one thread; the rest of the suite keeps its own
    out = capsys.readouterr().out
    assert "9x9 local-mean difference: separation" in out and "threshold 8/255: nearest" in out
    # base rate, counted here from the json: P2 cells (4x4 px) that a box overlaps, over all cells
    import json
    coco = json.loads((tmp_path / "train.json").read_text())
    in_boxes = 0
    for image in coco["images"]:
        cells = set()
        for a in coco["annotations"]:
            if a["image_id"] == image["id"]:
                x, y, w, h = a["bbox"]
                cells |= {(r, c) for r in range(16) for c in range(20)
                          if r * 4 < y + h and (r + 1) * 4 > y and c * 4 < x + w and (c + 1) * 4 > x}
        in_boxes += len(cells)
    ones = next(line for line in out.splitlines() if "a map of ones" in line)
    rate = f"{in_boxes / (3 * 16 * 20):.3f}"
    assert ones.endswith(f"nearest 1.000 / 1.000 ({rate}); max 1.000 / 1.000 ({rate})"), ones
