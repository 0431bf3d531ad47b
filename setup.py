from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
requirements = [
    line.split("#")[0].strip()
    for line in (here / "requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip()
]

setup(
    name="srtod-d2",
    version="0.1.0",
    description="SR-TOD (ECCV 2024) tiny-object detection for detectron2",
    packages=find_packages(include=["srtod_d2", "srtod_d2.*"]),
    python_requires=">=3.10",
    # torch and detectron2 are not listed: they must already be installed (CUDA builds differ per
    # machine, and detectron2 has no package of its own name on PyPI).
    install_requires=requirements,
    extras_require={"test": ["pytest", "hypothesis"]},
)
