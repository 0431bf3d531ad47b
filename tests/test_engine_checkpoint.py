import os

import pytest
import torch
from torch import nn

from detectron2.checkpoint import DetectionCheckpointer

from srtod_d2.engine.checkpoint import AtomicWritePathManager, make_atomic


def test_atomic_save_writes_complete_files_and_leaves_no_temporaries(tmp_path):
    model = nn.Linear(3, 2)
    ck = make_atomic(DetectionCheckpointer(model, save_dir=str(tmp_path)))
    ck.save("model_0000009", iteration=9)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    data = torch.load(tmp_path / "model_0000009.pth", weights_only=True)  # torch >= 2.6 default
    assert data["iteration"] == 9 and torch.equal(data["model"]["weight"], model.weight)
    assert make_atomic(ck).path_manager is ck.path_manager  # wrapping twice is harmless


def test_failed_write_keeps_the_previous_file(tmp_path):
    model = nn.Linear(3, 2)
    ck = make_atomic(DetectionCheckpointer(model, save_dir=str(tmp_path)))
    ck.save("model_final", iteration=1)
    before = (tmp_path / "model_final.pth").read_bytes()

    class Boom:
        def state_dict(self):
            return {"x": torch.zeros(1)}

    ck.checkpointables["boom"] = Boom()
    real_save = torch.save

    def dying_save(obj, f, *a, **k):
        f.write(b"partial")
        raise KeyboardInterrupt  # a kill in the middle of the write

    torch.save = dying_save
    try:
        with pytest.raises(KeyboardInterrupt):
            ck.save("model_final", iteration=2)
    finally:
        torch.save = real_save
    assert (tmp_path / "model_final.pth").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_final.pth"]


def test_reads_and_remote_paths_are_delegated():
    calls = []

    class FakePM:
        def open(self, path, mode="r", **kw):
            calls.append((path, mode))
            return "delegated"

        def exists(self, path):
            return True

    pm = AtomicWritePathManager(FakePM())
    assert pm.open("x", "r") == "delegated" and pm.open("s3://b/x", "wb") == "delegated"
    assert pm.exists("anything") and calls == [("x", "r"), ("s3://b/x", "wb")]


# --- a real training process, killed with SIGKILL ---------------------------------------------
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]
TRAIN = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from helpers import register_tiny_coco
import train_net
from detectron2.engine import default_argument_parser
register_tiny_coco("tiny_kill_set", {data!r})
train_net.main(default_argument_parser().parse_args({argv!r}))
"""


def _argv(out, iters, *extra):
    from test_train_net import CONFIG, small_opts

    return ["--config-file", CONFIG, *extra, *small_opts("tiny_kill_set", out, iters),
            "SOLVER.CHECKPOINT_PERIOD", "1", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()"]


def _run(tmp_path, argv):
    code = TRAIN.format(root=str(ROOT), tests=str(ROOT / "tests"), data=str(tmp_path / "data"), argv=argv)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_during_training_leaves_a_loadable_last_checkpoint_and_resume_continues(tmp_path):
    out = tmp_path / "out"
    proc = _run(tmp_path, _argv(out, 500))
    deadline = time.time() + 120
    while not (out / "model_0000002.pth").exists():  # a few checkpoints written, more coming
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "training did not start"
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 1.0))  # an arbitrary moment: often inside a checkpoint write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    last = (out / "last_checkpoint").read_text()
    data = torch.load(out / last, weights_only=True)  # complete, and loadable under torch's default
    it = data["iteration"]
    assert {"model", "trainer", "iteration"} <= set(data)
    assert "optimizer" in data["trainer"]["_trainer"] and "LRScheduler" in data["trainer"]["hooks"]
    assert last.endswith(".pth")

    resumed = _run(tmp_path, _argv(out, it + 3, "--resume"))
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err.decode()[-3000:]
    log = (out / "log.txt").read_text()
    assert f"Starting training from iteration {it + 1}" in log
    final = torch.load(out / "model_final.pth", weights_only=True)
    assert final["iteration"] == it + 2
    # Optimizer and scheduler continued rather than restarted: momentum buffers are there and the
    # scheduler counts every iteration, the killed run's included.
    assert final["trainer"]["_trainer"]["optimizer"]["state"]
    assert final["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == it + 3


def test_checkpoint_in_legacy_torch_format_loads(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    path = tmp_path / "old.pth"
    # The pre-1.6 serialization format stands in for a file written by an older torch.
    torch.save({"model": model.state_dict(), "iteration": 7}, path, _use_new_zipfile_serialization=False)
    fresh = nn.Sequential(nn.Linear(3, 2))
    info = DetectionCheckpointer(fresh).load(str(path))
    assert torch.equal(fresh[0].weight, model[0].weight) and info["iteration"] == 7
