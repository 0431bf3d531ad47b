"""SR-TOD whose difference map is taken against each pixel's local mean instead of the
reconstruction head's output: ``D = mean_c |avgpool_9x9(I) - I|``, a fixed "reconstruction" that,
like the paper's head, cannot reproduce what is much smaller than its window.

Why: on the synthetic set the head trained 600 CPU iterations from scratch leaves a background
error of about 20/255, and its difference tells object pixels from the rest with a ROC area of
0.67; the 9x9 local mean's leaves about 1/255 and separates them at 0.92
(benchmarks/difference_map_stats.py). The ground-truth map (oracle_map.py) showed DGFE gains with
a perfect map; this asks whether a good map that reads only the image gains too. Everything else
is the reference SR-TOD model: the head still trains on its loss, DGFE and its threshold are
unchanged. Unlike the oracle's, its AP is a detector's.

    .venv/bin/python benchmarks/local_mean_map.py --config-file configs/Synthetic/srtod_faster_rcnn_R18_quickstart.yaml \\
        MODEL.META_ARCHITECTURE LocalMeanMapRCNN MODEL.SRTOD.HEAD reference OUTPUT_DIR /tmp/local_mean

bench_gain's ``reference-localmean`` variant runs it (``reference-localmean-noreweight``: the same
without DGFE's channel attention, ``LocalMeanNoReweightRCNN``) with the benchmark's schedule. Arguments are
those of train_net.py.
"""
import sys
from pathlib import Path
from typing import List

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_net  # noqa: E402
from common import dgfe_reads, local_mean_batch  # noqa: E402
from detectron2.modeling import META_ARCH_REGISTRY  # noqa: E402

from srtod_d2.modeling import SRTODRCNN  # noqa: E402


@META_ARCH_REGISTRY.register()
class LocalMeanMapRCNN(SRTODRCNN):
    """SRTODRCNN whose DGFE binarises the local-mean difference of each input image (its own
    pixels only: padding is 0 and no window reaches into it)."""

    def forward(self, batched_inputs: List[dict]):
        sizes = [tuple(x["image"].shape[-2:]) for x in batched_inputs]
        with dgfe_reads(self.backbone, lambda x, diff: local_mean_batch(self.backbone, x, sizes, diff)):
            return super().forward(batched_inputs)


class UnitReweighting(torch.nn.Module):
    """Channel weights of 1: DGFE without its channel attention multiplies P2 by (mask + 1) alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_ones(x.shape[0], x.shape[1], 1, 1)


@META_ARCH_REGISTRY.register()
class LocalMeanNoReweightRCNN(LocalMeanMapRCNN):
    """LocalMeanMapRCNN whose DGFE has no channel attention. Why: with a selective map (SIRST-V2:
    0.93 of target boxes, 5% of other P2 cells) SR-TOD still falls below its baseline; the
    attention's sigmoid rescales all of P2 per image while P3-P5 share the RPN and box heads
    unscaled. This separates that rescaling from the map's emphasis."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.backbone.enhancement.reweighting = UnitReweighting()

if __name__ == "__main__":
    train_net.invoke_main()
