import pytest

from helpers import load_benchmark

scenes = load_benchmark("scene_map_selectivity")
SMALL = (256, 160)


def test_a_map_marking_everything_scores_the_base_rate_and_one_marking_nothing_zero():
    got = scenes.scene_selectivity("ground", True, [-1.0, 256.0], images=2, size=SMALL)
    reached, other, in_box, base = got[-1.0]
    assert (reached, other) == (1.0, 1.0) and in_box == pytest.approx(base) and 0 < base < 1
    assert got[256.0][:3] == (0.0, 0.0, 0.0)


def test_the_local_mean_map_is_more_selective_against_the_sky_than_in_a_city():
    sky = scenes.scene_selectivity("sky", True, [8.0], images=3, size=SMALL)[8.0]
    city = scenes.scene_selectivity("urban", True, [8.0], images=3, size=SMALL)[8.0]
    # share of what the map marks that is an object, over what a map of ones would score
    assert sky[2] / sky[3] > 3 * city[2] / city[3], (sky, city)
    assert sky[1] < city[1]


def test_main_prints_a_row_per_scene_setting_and_threshold(capsys):
    scenes.main(["--images", "1", "--thresholds", "8,16", "--size", "128x96"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "scene" not in line]
    assert len(rows) == 4 * 2 * 2
    assert {r.split(" | ")[0][2:] for r in rows} == {"sky", "ground", "urban", "mixed"}
