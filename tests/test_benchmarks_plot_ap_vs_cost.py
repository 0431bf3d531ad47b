import json
import sys

import pytest

from helpers import load_benchmark

plot = load_benchmark("plot_ap_vs_cost")

RATIOS = {"baseline": 1.0, "srtod-reference": 2.5, "srtod-efficient": 1.05, "srtod-efficient-wide": 1.2}


@pytest.mark.parametrize("variant, key", [
    ("baseline", "baseline"),
    ("efficient-wide", "srtod-efficient-wide"),  # timed itself: its own ratio, not the head's
    ("efficient-t40", "srtod-efficient"),
    ("efficient-t40-dil3", "srtod-efficient"),
    ("efficient-t40-drop50", "srtod-efficient"),
    ("reference-t254-recon0", "srtod-reference"),
    ("reference-max-t16", "srtod-reference"),
    ("reference-ste-lr1", "srtod-reference"),
    # these change what inference computes: no ratio borrowed
    ("reference-median", None),
    ("reference-localmean", None),
    ("efficient-half", None),
])
def test_cost_key_borrows_the_heads_ratio_only_across_cost_neutral_suffixes(variant, key):
    assert plot.cost_key(variant, RATIOS) == key


def _runs(root, rows):
    for variant, seeds in rows.items():
        for seed, metrics in seeds.items():
            d = root / variant / f"seed{seed}"
            d.mkdir(parents=True)
            (d / "final_metrics.json").write_text(json.dumps(metrics))


def test_panel_points_mean_and_range_per_variant_with_the_borrowed_ratio(tmp_path):
    _runs(tmp_path, {"baseline": {5: {"APvt": 40.0}, 6: {"APvt": 44.0}, 7: {"APvt": 39.0}},
                     "efficient-t40": {5: {"APvt": 30.0}, 6: {"APvt": 36.0}},
                     "reference-median": {5: {"APvt": 50.0}}})
    (tmp_path / "efficient-t40" / "seed7").mkdir()  # an unfinished run: no metrics yet
    points = plot.panel_points(tmp_path, RATIOS, "APvt")
    assert points == [("baseline", "baseline", 1.0, 41.0, 39.0, 44.0, 3),
                      ("efficient-t40", "srtod-efficient", 1.05, 33.0, 30.0, 36.0, 2)]
    assert [p[0] for p in plot.panel_points(tmp_path, RATIOS, "APvt", min_seeds=3)] == ["baseline"]


def test_panel_points_names_the_file_without_the_metric(tmp_path):
    _runs(tmp_path, {"baseline": {5: {"AP": 40.0}}})
    with pytest.raises(SystemExit, match=r"baseline/seed5/final_metrics.json has no metric 'APvt' \(it has AP\)"):
        plot.panel_points(tmp_path, RATIOS, "APvt")


def test_dodge_centres_the_variants_sharing_a_ratio():
    points = [("baseline", "baseline", 1.0, 0, 0, 0, 1), ("efficient-t254", "srtod-efficient", 1.05, 0, 0, 0, 1),
              ("efficient-t40", "srtod-efficient", 1.05, 0, 0, 0, 1),
              ("efficient-t40-dil3", "srtod-efficient", 1.05, 0, 0, 0, 1)]
    assert plot.dodge(points, 0.02) == pytest.approx({"baseline": 0.0, "efficient-t254": -0.02,
                                                      "efficient-t40": 0.0, "efficient-t40-dil3": 0.02})


def test_main_writes_one_panel_per_metric_and_says_whose_ratio_each_point_takes(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    _runs(runs, {"baseline": {5: {"APvt": 40.0, "APt": 50.0}}, "efficient-t40": {5: {"APvt": 30.0, "APt": 45.0}}})
    cost = tmp_path / "cost.json"
    cost.write_text(json.dumps({"device": "cpu", "config": "configs/Synthetic/srtod_faster_rcnn_R18_sky.yaml",
                                "sizes": {"1024x576": {"latency_s": {"baseline": 0.4, "srtod-efficient": 0.42}}}}))
    out = tmp_path / "plot.png"
    monkeypatch.setattr(sys, "argv", ["plot_ap_vs_cost.py", "--cost", str(cost), "--size", "1024x576",
                                      "--metric", "APvt", "APt", "--panel", f"sky={runs}", "--out", str(out)])
    plot.main()
    printed = capsys.readouterr().out
    assert "sky: efficient-t40 (1 seeds) at x = 1.050, the latency ratio of srtod-efficient" in printed
    import matplotlib.image
    height, width = matplotlib.image.imread(out).shape[:2]
    assert height > width  # two rows of one panel
    monkeypatch.setattr(sys, "argv", ["plot_ap_vs_cost.py", "--cost", str(cost), "--panel", f"sky={runs}",
                                      "--out", str(out)])
    with pytest.raises(SystemExit, match="has no size 1920x1080 \\(it has 1024x576\\)"):
        plot.main()


def test_minus_gives_the_mean_same_seed_difference_and_its_standard_error(tmp_path):
    _runs(tmp_path, {"baseline": {5: {"APvt": 40.0}, 6: {"APvt": 44.0}, 7: {"APvt": 39.0}},
                     # seed 8 has no baseline run: left out of the pairing
                     "efficient-t40": {5: {"APvt": 37.0}, 6: {"APvt": 40.0}, 7: {"APvt": 34.0}, 8: {"APvt": 99.0}}})
    (variant, key, x, mean, low, high, n), = plot.panel_points(tmp_path, RATIOS, "APvt", minus="baseline")
    diffs = [37.0 - 40.0, 40.0 - 44.0, 34.0 - 39.0]  # -3, -4, -5
    se = (sum((d + 4.0) ** 2 for d in diffs) / 2) ** 0.5 / 3 ** 0.5
    assert (variant, key, x, n) == ("efficient-t40", "srtod-efficient", 1.05, 3)
    assert mean == pytest.approx(-4.0) and (low, high) == pytest.approx((-4.0 - se, -4.0 + se))
    with pytest.raises(SystemExit, match="--minus reference: no such variant in"):
        plot.panel_points(tmp_path, RATIOS, "APvt", minus="reference")
