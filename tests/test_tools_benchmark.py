import importlib.util
from pathlib import Path

import pytest

from helpers import CONFIGS

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("srtod_tools_benchmark", ROOT / "tools/benchmark.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)

SMALL = ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.SRTOD.HEAD_CHANNELS", "[16, 8]",
         "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"]


def test_benchmark_prints_ratio_of_srtod_over_baseline(capsys):
    stats = benchmark.main(["--config-file", str(CONFIGS / "Synthetic/srtod_faster_rcnn_R18_tiny.yaml"),
                            "--compare", str(CONFIGS / "Synthetic/faster_rcnn_R18_tiny.yaml"),
                            "--size", "96x64", "--reps", "2", "--warmup", "1", "--opts", *SMALL])
    out = capsys.readouterr().out
    assert "ratio    latency x" in out
    a, b = stats["config"], stats["compare"]
    assert stats["ratio"]["latency_s"] == pytest.approx(a["latency_s"] / b["latency_s"])
    # SR-TOD adds the reconstruction head and DGFE: more parameters and more multiply-adds.
    assert a["params_M"] > b["params_M"] and a["GMACs"] > b["GMACs"]
    assert a["images_per_s"] == pytest.approx(1 / a["latency_s"])
