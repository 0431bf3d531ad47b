import importlib
import os
from pathlib import Path

import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog
import srtod_d2.data  # noqa: F401  (registers)
from srtod_d2.data import builtin
from srtod_d2.data.builtin import register_coco_json_dataset, register_synthetic_tiny

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "sirst_v2"

EXPECTED = {
    "visdrone2019_det_train": 10, "visdrone2019_det_val": 10, "visdrone2019_det_test_dev": 10,
    "aitod_trainval": 8, "aitod_test": 8, "aitod_v1_trainval": 8, "aitod_v2_test": 8,
    "droneswarms_train": 1, "droneswarms_test": 1,
    "dota_v1_train": 15, "dota_v1_val": 15,
    "sirst_v2_train": 1, "sirst_v2_val": 1, "sirst_v2_test": 1,
    "synthetic_tiny_train": 3, "synthetic_tiny_val": 3, "synthetic_tiny_easy_train": 1, "synthetic_tiny_easy_val": 1,
    "synthetic_tiny_sky_train": 1, "synthetic_tiny_sky_val": 1,
}


def test_all_names_registered_with_classes_and_evaluator_type():
    names = set(DatasetCatalog.list())
    for name, n in EXPECTED.items():
        assert name in names, name
        meta = MetadataCatalog.get(name)
        assert len(meta.thing_classes) == n, name
        assert meta.evaluator_type == "tiny_coco", name
        # the evaluator reads VisDrone's ignored regions only where the metadata says they exist
        assert meta.get("has_ignore_regions", False) == name.startswith("visdrone"), name
    for name in ("aitod_trainval", "droneswarms_test", "synthetic_tiny_val"):
        assert MetadataCatalog.get(name).json_file.endswith(".json")
    assert MetadataCatalog.get("droneswarms_train").json_file.endswith(os.path.join("droneswarms", "train", "train.json"))


def test_registration_is_guarded():
    importlib.reload(builtin)  # a second import registers again: must not raise
    builtin.register_all(builtin._root)
    first = MetadataCatalog.get("aitod_test").registered_from
    assert register_coco_json_dataset("aitod_test", first["json_file"], first["image_root"], first["class_names"]) is False


def test_registering_a_name_again_from_other_data_is_an_error(tmp_path):
    # detectron2 keeps the first registration: a user pointing a built-in name at their copy
    # would otherwise train on data they did not choose
    with pytest.raises(ValueError, match=r"'droneswarms_train' is already registered .*'/my/ds/train.json'.* would be ignored"):
        register_coco_json_dataset("droneswarms_train", "/my/ds/train.json", "/my/ds")
    name = "_test_reregister"
    assert register_coco_json_dataset(name, str(tmp_path / "a.json"), str(tmp_path)) is True
    try:
        assert register_coco_json_dataset(name, str(tmp_path / "a.json"), str(tmp_path)) is False
        with pytest.raises(ValueError, match=r"b.json'.* would be ignored"):
            register_coco_json_dataset(name, str(tmp_path / "b.json"), str(tmp_path))
        assert MetadataCatalog.get(name).json_file == str(tmp_path / "a.json")
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _reregister(monkeypatch, root):
    # every name the built-ins registered under the current root, so the reload registers anew
    for name in [n for n in DatasetCatalog.list()
                 if str(builtin._root) in str(MetadataCatalog.get(n).get("registered_from", ""))]:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    if root is None:
        monkeypatch.delenv("DETECTRON2_DATASETS", raising=False)
    else:
        monkeypatch.setenv("DETECTRON2_DATASETS", str(root))
    importlib.reload(builtin)


def test_root_comes_from_environment(tmp_path, monkeypatch):
    original = os.environ.get("DETECTRON2_DATASETS")
    try:
        _reregister(monkeypatch, tmp_path)
        assert MetadataCatalog.get("synthetic_tiny_val").json_file == str(tmp_path / "synthetic_tiny" / "val" / "annotations.json")
        assert MetadataCatalog.get("aitod_test").json_file == str(tmp_path / "aitod" / "annotations" / "aitod_test_v1.json")
        # only v2 installed: the plain name follows it
        (tmp_path / "aitod" / "annotations").mkdir(parents=True)
        (tmp_path / "aitod" / "annotations" / "aitodv2_test.json").write_text("{}")
        _reregister(monkeypatch, tmp_path)
        assert MetadataCatalog.get("aitod_test").json_file.endswith("aitodv2_test.json")
        _reregister(monkeypatch, None)
        assert MetadataCatalog.get("sirst_v2_val").image_root == os.path.join("datasets", "sirst_v2", "images")
    finally:
        _reregister(monkeypatch, original)


def test_synthetic_registration_generates_on_first_use_and_loads(tmp_path):
    out = tmp_path / "syn"
    assert register_synthetic_tiny("_test_syn_small", str(out), num_images=3, seed=5, image_size=(160, 96))
    assert not out.exists()  # registering reads nothing
    dicts = DatasetCatalog.get("_test_syn_small")
    assert len(dicts) == 3 and all(os.path.isfile(d["file_name"]) for d in dicts)
    meta = MetadataCatalog.get("_test_syn_small")
    assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2}
    mtime = (out / "annotations.json").stat().st_mtime_ns
    assert len(DatasetCatalog.get("_test_syn_small")) == 3
    assert (out / "annotations.json").stat().st_mtime_ns == mtime


def test_missing_dataset_fails_clearly_on_use_not_on_import(tmp_path):
    register_coco_json_dataset("_test_absent", str(tmp_path / "none.json"), str(tmp_path))
    with pytest.raises(Exception, match="COCO json file not found: .*none.json"):
        DatasetCatalog.get("_test_absent")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real SIRST-V2 subset not found at {SHARED}")
def test_registered_sirst_name_loads_the_shared_subset(tmp_path):
    builtin.register_sirst_v2("_test_sirst_val", str(SHARED), "val")
    assert len(DatasetCatalog.get("_test_sirst_val")) == 132
