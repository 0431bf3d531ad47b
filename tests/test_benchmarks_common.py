import re
import sys
from importlib import metadata

import numpy
import pytest

from helpers import load_benchmark

common = load_benchmark("common")


def test_describe_run_names_the_unpinned_libraries_installed_versions():
    lines = common.describe_run().splitlines()
    libs = [line for line in lines if line.startswith("libraries: ")]
    assert len(libs) == 1
    named = dict(item.rsplit(" ", 1) for item in libs[0][len("libraries: "):].split(", "))
    assert set(named) == set(common.LIBRARIES)
    # numpy's own attribute, not the metadata the code reads
    assert named["numpy"] == numpy.__version__
    for name, version in named.items():
        assert version == metadata.version(name)
    assert re.match(r"command: \S+", lines[0]) and sys.argv[0].split("/")[-1] in lines[0]


def test_a_library_not_installed_reads_absent(monkeypatch):
    monkeypatch.setattr(common, "LIBRARIES", ("numpy", "no-such-package-srtod"))
    libs = next(line for line in common.describe_run().splitlines() if line.startswith("libraries: "))
    assert libs == f"libraries: numpy {numpy.__version__}, no-such-package-srtod absent"
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("no-such-package-srtod")


def test_constraints_pin_exactly_the_libraries_benchmarks_print():
    from helpers import ROOT

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not name==version"
            pins[name] = version
    assert set(pins) == set(common.LIBRARIES)
    assert "constraints.txt" in (ROOT / "scripts" / "setup_env.sh").read_text()
