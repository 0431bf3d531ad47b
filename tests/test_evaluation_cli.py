import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evaluation_support as support  # noqa: E402

from srtod_d2.evaluation import AITOD, COCO  # noqa: E402
from srtod_d2.evaluation.__main__ import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path):
    gt, dets = support.random_coco(5)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    return gt, dets, str(tmp_path / "gt.json"), str(tmp_path / "dets.json")


def _bands(protocol):
    return [(r.name, r.key, r.low, r.high) for r in protocol.area_ranges]


def test_json_output_equals_reference(files, capsys):
    gt, dets, gt_path, det_path = files
    assert main([gt_path, det_path, "--json"]) == 0
    captured = capsys.readouterr()
    got = json.loads(captured.out)  # one JSON object, nothing else on stdout
    assert "faster-coco-eval" in captured.err
    assert got["AP-class1"] is None  # NaN (class without ground truth) is null
    metrics = {k: (math.nan if v is None else v) for k, v in got.items()}
    support.assert_metrics_equal(metrics, support.reference_metrics(gt, dets, _bands(AITOD),
                                                                    AITOD.max_dets))


def test_protocol_max_dets_and_backend_options(files, capsys):
    gt, dets, gt_path, det_path = files
    assert main([gt_path, det_path, "--json", "--protocol", "coco", "--max-dets", "5", "20",
                 "--backend", "pycocotools"]) == 0
    captured = capsys.readouterr()
    got = {k: (math.nan if v is None else v) for k, v in json.loads(captured.out).items()}
    assert "pycocotools" in captured.err
    proto = COCO.with_max_dets([5, 20])
    support.assert_metrics_equal(got, support.reference_metrics(gt, dets, _bands(proto), [5, 20]))


def test_table_output(files, capsys):
    _, dets, gt_path, det_path = files
    assert main([gt_path, det_path]) == 0
    out = capsys.readouterr().out
    assert f"Evaluated {len(dets)} detections on 12 images with faster-coco-eval" in out
    for word in ["|  AP  ", "APvt", "AR@1500", "category", "class4"]:
        assert word in out


def test_input_errors_exit_2(files, tmp_path, capsys):
    gt, dets, gt_path, det_path = files
    dets[17]["category_id"] = 99
    bad = tmp_path / "bad_dets.json"
    bad.write_text(json.dumps(dets))
    assert main([gt_path, str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: bad_dets.json: detection [17] has category_id 99, "
                                   "which is not in the ground truth categories [10, 20, 30, 40, 50]")
    gt["annotations"][3]["id"] = 0
    (tmp_path / "bad_gt.json").write_text(json.dumps(gt))
    assert main([str(tmp_path / "bad_gt.json"), det_path]) == 2
    assert "bad_gt.json: annotation 0 (annotations[3]) has id 0" in capsys.readouterr().err
    assert main([gt_path, det_path, "--max-dets", "10", "5"]) == 2
    assert "strictly increasing" in capsys.readouterr().err


def test_python_dash_m_entry(files):
    _, _, gt_path, det_path = files
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "srtod_d2.evaluation", gt_path, det_path, "--json"],
                          capture_output=True, text=True, env=env, cwd=str(REPO), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) >= {"AP", "AP50", "AP75", "APvt", "APt", "APs", "APm"}
