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
