"""Evaluation protocols: which area bands and detection limits a COCO-style evaluation uses.

A protocol is plain data. The IoU thresholds are always COCO's 0.50:0.05:0.95 (AP50 and AP75
are read from them); the area bands and the per-image-and-category detection limits vary:

* :data:`AITOD` -- AI-TOD's protocol, the one tiny-object papers (SR-TOD included) report:
  bands all [0, 1e5^2], very tiny [0, 8^2], tiny [8^2, 16^2], small [16^2, 32^2],
  medium [32^2, 1e5^2]; maxDets 100, 300, 1500.
* :data:`COCO` -- the plain COCO protocol: small [0, 32^2], medium [32^2, 96^2],
  large [96^2, 1e5^2]; maxDets 1, 10, 100.

Bounds are inclusive at both ends, as in pycocotools (a box of area exactly 64 is both
"very tiny" and "tiny"). Areas are those of the ground truth's json ``area`` field and, for
detections, box width * height.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Sequence, Tuple

import numpy as np

__all__ = [
    "AreaRange",
    "EvalProtocol",
    "AITOD",
    "COCO",
    "PROTOCOLS",
    "get_protocol",
    "IOU_THRESHOLDS",
    "RECALL_THRESHOLDS",
]

#: IoU thresholds 0.50:0.05:0.95, built exactly as pycocotools builds them.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
#: Recall thresholds 0:0.01:1, built exactly as pycocotools builds them.
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)

_MAX_AREA = 1e5**2


@dataclass(frozen=True)
class AreaRange:
    """One area band.

    Attributes:
        name: label given to the COCO API (e.g. ``"verytiny"``); also used in printed tables.
        key: suffix of the result names (``"vt"`` gives ``APvt``/``ARvt``); ``""`` for the band
            that covers every box (``AP``).
        low, high: inclusive bounds on the area, in pixels^2.
    """

    name: str
    key: str
    low: float
    high: float

    def __post_init__(self):
        if not self.name:
            raise ValueError("AreaRange.name must be a non-empty string")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"AreaRange {self.name!r}: bounds must be finite, got "
                             f"[{self.low}, {self.high}]")
        if self.low > self.high:
            raise ValueError(f"AreaRange {self.name!r}: low {self.low} > high {self.high}")


@dataclass(frozen=True)
class EvalProtocol:
    """Area bands and detection limits of a COCO-style box evaluation.

    Attributes:
        name: short name (``"aitod"``, ``"coco"``), shown in logs.
        area_ranges: the bands; the first must have ``key == ""`` (the band every result
            without a suffix -- ``AP``, ``AP50``, ``AR@N`` -- is computed on).
        max_dets: detection limits per image and category, increasing. AP is computed at the
            last one; ``AR@N`` is reported for each.
    """

    name: str
    area_ranges: Tuple[AreaRange, ...]
    max_dets: Tuple[int, ...]

    def __post_init__(self):
        ranges = tuple(self.area_ranges)
        dets = tuple(int(d) for d in self.max_dets)
        object.__setattr__(self, "area_ranges", ranges)
        object.__setattr__(self, "max_dets", dets)
        if not ranges:
            raise ValueError("EvalProtocol needs at least one area range")
        if ranges[0].key != "":
            raise ValueError(
                f"EvalProtocol {self.name!r}: the first area range must be the overall band "
                f"with key '' (got key {ranges[0].key!r})"
            )
        for what, values in (("names", [r.name for r in ranges]), ("keys", [r.key for r in ranges])):
            if len(set(values)) != len(values):
                raise ValueError(f"EvalProtocol {self.name!r}: area range {what} must be unique, "
                                 f"got {values}")
        if not dets or any(d < 1 for d in dets) or list(dets) != sorted(set(dets)):
            raise ValueError(
                f"EvalProtocol {self.name!r}: max_dets must be positive, strictly increasing "
                f"integers, got {list(self.max_dets)}"
            )

    @property
    def max_det(self) -> int:
        """The detection limit AP is computed at (the last of ``max_dets``)."""
        return self.max_dets[-1]

    @property
    def area_rng(self) -> list:
        """Area bands as pycocotools' ``params.areaRng``."""
        return [[float(r.low), float(r.high)] for r in self.area_ranges]

    @property
    def area_rng_lbl(self) -> list:
        """Band names as pycocotools' ``params.areaRngLbl``."""
        return [r.name for r in self.area_ranges]

    def with_max_dets(self, max_dets: Iterable[int] | int) -> "EvalProtocol":
        """A copy with other detection limits.

        An int ``n`` keeps the limits below ``n`` and ends with ``n`` (so AI-TOD with 500 gives
        100, 300, 500); a sequence replaces them.
        """
        if isinstance(max_dets, (int, np.integer)):
            n = int(max_dets)
            dets = tuple(d for d in self.max_dets if d < n) + (n,)
        else:
            dets = tuple(int(d) for d in max_dets)
        return replace(self, max_dets=dets)

    def with_area_ranges(self, area_ranges: Sequence[AreaRange]) -> "EvalProtocol":
        """A copy with other area bands."""
        return replace(self, area_ranges=tuple(area_ranges))


AITOD = EvalProtocol(
    name="aitod",
    area_ranges=(
        AreaRange("all", "", 0.0, _MAX_AREA),
        AreaRange("verytiny", "vt", 0.0, 8.0**2),
        AreaRange("tiny", "t", 8.0**2, 16.0**2),
        AreaRange("small", "s", 16.0**2, 32.0**2),
        AreaRange("medium", "m", 32.0**2, _MAX_AREA),
    ),
    max_dets=(100, 300, 1500),
)

COCO = EvalProtocol(
    name="coco",
    area_ranges=(
        AreaRange("all", "", 0.0, _MAX_AREA),
        AreaRange("small", "s", 0.0, 32.0**2),
        AreaRange("medium", "m", 32.0**2, 96.0**2),
        AreaRange("large", "l", 96.0**2, _MAX_AREA),
    ),
    max_dets=(1, 10, 100),
)

PROTOCOLS = {"aitod": AITOD, "coco": COCO}


def get_protocol(protocol: "str | EvalProtocol") -> EvalProtocol:
    """Return ``protocol`` itself, or the built-in protocol of that name (``aitod``/``coco``)."""
    if isinstance(protocol, EvalProtocol):
        return protocol
    key = str(protocol).lower().replace("-", "").replace("_", "")
    if key not in PROTOCOLS:
        raise ValueError(f"Unknown evaluation protocol {protocol!r}; known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[key]
