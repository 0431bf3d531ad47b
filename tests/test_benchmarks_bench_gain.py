import json
from pathlib import Path

import pytest
import torch

from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

from helpers import load_benchmark, tiny_cfg

bench_gain = load_benchmark("bench_gain")


def _run(apvt, apt, ap=0.0):
    return {"AP": ap, "AP50": 0.0, "APvt": apvt, "APt": apt, "APs": 0.0}


def test_paired_differences_are_same_seed_and_counted():
    results = {"baseline": [_run(10.0, 20.0, 30.0), _run(14.0, 18.0, 31.0), _run(12.0, 25.0, 29.0)],
               "reference": [_run(12.5, 19.0, 30.5), _run(13.0, 22.0, 33.0), _run(15.0, 25.0, 29.5)]}
    lines = bench_gain.paired_differences(results, [3, 4, 5])
    assert lines == [
        # s.e. = stdev / sqrt(3): AP stdev of (0.5, 2.0, 0.5) is sqrt(0.75); sign test over 3 of 3 is 2/8
        "reference - baseline, AP: seed 3 +0.5, seed 4 +2.0, seed 5 +0.5; mean +1.0 ± 0.5 s.e., above on 3 of 3"
        ", sign test p 0.25",
        "reference - baseline, APvt: seed 3 +2.5, seed 4 -1.0, seed 5 +3.0; mean +1.5 ± 1.3 s.e., above on 2 of 3"
        ", sign test p 1.00",
        # the zero difference is a tie: the sign test counts 1 of 2, not 1 of 3
        "reference - baseline, APt: seed 3 -1.0, seed 4 +4.0, seed 5 +0.0; mean +1.0 ± 1.5 s.e., above on 1 of 3"
        ", sign test p 1.00",
    ]


def test_sign_test_matches_binomial_tails():
    # 7 of 7 above: 2 * (1/2)^7; 6 of 7: 2 * (1 + 7) / 128; 4 of 7 and a tie-only list: no evidence
    assert bench_gain.sign_test_p([1.0] * 7) == 2 / 128
    assert bench_gain.sign_test_p([1.0] * 6 + [-0.5]) == 16 / 128
    assert bench_gain.sign_test_p([-2.0] * 6 + [0.5]) == 16 / 128
    assert bench_gain.sign_test_p([1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0]) == 1.0
    assert bench_gain.sign_test_p([0.0, 0.0]) == 1.0


def test_one_seed_prints_no_spread():
    results = {"baseline": [_run(10.0, 20.0, 30.0)], "reference": [_run(12.5, 19.0, 30.5), _run(13.5, 21.0, 31.5)]}
    rows = bench_gain.summarize("sirst", results).splitlines()
    assert rows[2] == "| | baseline | 1 | 30.0 | 0.0 | 10.0 | 20.0 | 0.0 |"
    # two seeds: mean and half the range, e.g. APvt (12.5 + 13.5) / 2 ± 0.5
    assert rows[3] == "| | reference | 2 | 31.0 ± 0.5 | 0.0 ± 0.0 | 13.0 ± 0.5 | 20.0 ± 1.0 | 0.0 ± 0.0 |"
    lines = bench_gain.paired_differences({"baseline": results["baseline"], "reference": results["reference"][:1]}, [4])
    assert lines[0] == "reference - baseline, AP: seed 4 +0.5; mean +0.5, above on 1 of 1, sign test p 1.00"
    assert not any("nan" in line for line in rows + lines)


def test_paired_differences_need_the_baseline():
    assert bench_gain.paired_differences({"reference": [_run(1.0, 2.0)]}, [1]) == []


def test_differences_against_several_bases_pair_each_once():
    results = {"baseline": [_run(10.0, 20.0), _run(12.0, 21.0)],
               "reference": [_run(13.0, 24.0), _run(13.5, 22.0)],
               "efficient": [_run(11.0, 19.0), _run(14.5, 23.0)]}
    lines = bench_gain.differences_against(results, [1, 2], ["baseline", "reference"])
    heads = [line.split(":")[0] for line in lines]
    # reference - baseline is printed once, never baseline - reference
    assert heads == [f"{v} - {b}, {m}" for v, b in (("reference", "baseline"), ("efficient", "baseline"),
                                                     ("efficient", "reference")) for m in ("AP", "APvt", "APt")]
    # efficient - reference, APvt: 11.0 - 13.0 and 14.5 - 13.5
    assert lines[7].startswith("efficient - reference, APvt: seed 1 -2.0, seed 2 +1.0; mean -0.5 ± 1.5 s.e.")


def test_differences_against_pairs_the_metrics_asked_for():
    results = {"baseline": [dict(_run(1.0, 2.0), AP50=40.0), dict(_run(1.0, 2.0), AP50=50.0)],
               "efficient-wide": [dict(_run(1.0, 2.0), AP50=43.5), dict(_run(1.0, 2.0), AP50=49.0)]}
    lines = bench_gain.differences_against(results, [6, 7], ["baseline"], metrics=("AP50",))
    # 43.5 - 40.0 and 49.0 - 50.0: mean +1.25, stdev of (3.5, -1.0) / sqrt(2) = 2.25
    assert lines == ["efficient-wide - baseline, AP50: seed 6 +3.5, seed 7 -1.0; mean +1.2 ± 2.2 s.e., "
                     "above on 1 of 2, sign test p 1.00"]


@pytest.mark.parametrize("args, error", [
    (["--variants", "baseline", "--minus-metrics", "APxl"], "--minus-metrics: invalid choice: 'APxl'"),
    (["--variants", "efficient", "--minus", "reference"], "--minus reference: not among --variants efficient"),
])
def test_bad_minus_options_are_refused_before_any_run(tmp_path, capsys, args, error):
    # refused before any run starts: nothing is trained into --out
    with pytest.raises(SystemExit):
        bench_gain.main(["--dataset", "sirst", *args, "--out", str(tmp_path)])
    assert error in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_continue_from_names_the_missing_model(tmp_path):
    try:
        bench_gain.start_weights(tmp_path, "synthetic-easy", "baseline", 5)
    except SystemExit as e:
        assert str(tmp_path / "synthetic-easy/baseline/seed5/model_final.pth") in str(e)
    else:
        raise AssertionError("a missing start model must stop the run")
    model = tmp_path / "synthetic-easy/baseline/seed5/model_final.pth"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    assert bench_gain.start_weights(tmp_path, "synthetic-easy", "baseline", 5) == str(model.resolve())


def test_a_finished_run_is_reused_only_from_the_same_start(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    model = first / "synthetic-easy/reference/seed1/model_final.pth"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    done = second / "synthetic-easy/reference/seed1/final_metrics.json"
    done.parent.mkdir(parents=True)
    # a run from scratch does not stand in for a second cycle, and vice versa
    done.write_text(json.dumps({**_run(1.0, 2.0), "iters": 600, "device": "cpu"}))
    try:
        bench_gain.run_one("synthetic-easy", "reference", 1, 600, 1, second, continue_root=first)
    except SystemExit as e:
        assert "started from scratch" in str(e) and str(done) in str(e)
    else:
        raise AssertionError("a from-scratch run was reused as a continued one")
    done.write_text(json.dumps({**_run(1.0, 2.0), "iters": 600, "device": "cpu", "init": str(model.resolve())}))
    assert bench_gain.run_one("synthetic-easy", "reference", 1, 600, 1, second, continue_root=first)["APt"] == 2.0
    try:
        bench_gain.run_one("synthetic-easy", "reference", 1, 600, 1, second)
    except SystemExit as e:
        assert f"started from {model.resolve()}, not scratch" in str(e)
    else:
        raise AssertionError("a continued run was reused as one from scratch")


def test_init_names_the_missing_checkpoint_and_reuses_only_runs_from_it(tmp_path):
    with pytest.raises(SystemExit, match=f"--init: {tmp_path / 'none.pth'} does not exist"):
        bench_gain.shared_weights(tmp_path / "none.pth")
    first, second = tmp_path / "a.pth", tmp_path / "b.pth"
    first.write_bytes(b"")
    second.write_bytes(b"")
    done = tmp_path / "out/synthetic-sky/baseline/seed5/final_metrics.json"
    done.parent.mkdir(parents=True)
    done.write_text(json.dumps({**_run(3.0, 4.0), "iters": 400, "device": "cpu", "init": str(first.resolve())}))
    assert bench_gain.run_one("synthetic-sky", "baseline", 5, 400, 1, tmp_path / "out", init_weights=first)["APt"] == 4.0
    with pytest.raises(SystemExit, match=f"started from {first.resolve()}, not {second.resolve()}"):
        bench_gain.run_one("synthetic-sky", "baseline", 5, 400, 1, tmp_path / "out", init_weights=second)
    with pytest.raises(ValueError, match="pass one"):
        bench_gain.run_one("synthetic-sky", "baseline", 5, 400, 1, tmp_path / "out", continue_root=tmp_path,
                           init_weights=first)


@pytest.mark.parametrize("variant", sorted(bench_gain.VARIANTS))
def test_every_variant_builds_the_model_it_names(variant):
    # A misspelt key or an unregistered meta-architecture must fail here, not an hour into a run.
    script = bench_gain.SCRIPTS.get(variant)
    if script:
        load_benchmark(Path(script).stem)  # registers the script's meta-architectures
    config = Path(bench_gain.CONFIGS["sirst"]).relative_to("configs")
    cfg = tiny_cfg(str(config), *bench_gain.VARIANTS[variant])
    model = build_model(cfg).eval()
    assert type(model).__name__ == cfg.MODEL.META_ARCHITECTURE
    assert type(model.roi_heads).__name__ == cfg.MODEL.ROI_HEADS.NAME
    names = [name for name, _ in model.named_parameters()]
    # the baseline is the same detector without the reconstruction head and DGFE
    assert any(".enhancement." in n for n in names) == cfg.MODEL.SRTOD.ENABLED
    assert any(".recon_head." in n for n in names) == cfg.MODEL.SRTOD.ENABLED
    assert cfg.MODEL.SRTOD.ENABLED == (not variant.startswith("baseline"))
    overrides = bench_gain.VARIANTS[variant]
    for key, value in zip(overrides[::2], overrides[1::2]):
        got = cfg
        for part in key.split("."):
            got = got[part]
        assert str(got) == value or float(got) == float(value), key
    image = torch.rand(3, 64, 80) * 255
    objects = Instances((64, 80), gt_boxes=Boxes(torch.tensor([[4.0, 5.0, 12.0, 13.0]])),
                        gt_classes=torch.zeros(1, dtype=torch.int64))  # the oracle reads them at test time
    with torch.no_grad():
        out = model([{"image": image, "height": 64, "width": 80, "instances": objects}])
    assert "instances" in out[0]


@pytest.mark.parametrize("dataset", sorted(bench_gain.CONFIGS))
def test_every_dataset_config_trains_and_tests_on_registered_sets(dataset):
    cfg = tiny_cfg(str(Path(bench_gain.CONFIGS[dataset]).relative_to("configs")))
    for name in (*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST):
        assert name in DatasetCatalog.list(), f"{dataset}: {name} is not registered"
    assert cfg.DATASETS.TRAIN != cfg.DATASETS.TEST
