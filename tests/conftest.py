import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
# Two cores are shared by every test process: one thread each keeps timings steady.
torch.set_num_threads(1)
os.environ.setdefault("DETECTRON2_DATASETS", str(ROOT / "datasets"))


@pytest.fixture
def shared_data():
    """../shared/data beside the project root; tests that need it skip where it is absent."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} is absent (only present in the project workplace)")
    return path
