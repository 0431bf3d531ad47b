"""SR-TOD's reconstruction head and loss on P2, without DGFE: P2 reaches the RPN and box heads as
the FPN made it. With ``reference-t254`` (the map forced to zeros: DGFE is its channel attention
alone) and ``reference-t40`` (the paper's selective map), it splits SR-TOD's change on the
detector into three steps: what the reconstruction loss does to the shared features, what the
channel attention adds, what the map adds.

Why: on the sky set every map read from the image (the head's at 8/255 and 40/255, the local
mean's) leaves the detector 2-4 AP below its baseline (docs/benchmarks.md, sessions 12-16), even
where the map is selective; this asks which part of SR-TOD costs the AP.

    .venv/bin/python benchmarks/reconstruction_only.py --config-file configs/Synthetic/srtod_faster_rcnn_R18_sky.yaml \\
        MODEL.META_ARCHITECTURE ReconstructionOnlyRCNN MODEL.SRTOD.HEAD reference OUTPUT_DIR /tmp/recon_only

bench_gain's ``reference-nodgfe`` variant runs it with the benchmark's schedule. Arguments are
those of train_net.py.
"""
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import train_net  # noqa: E402
from detectron2.modeling import META_ARCH_REGISTRY  # noqa: E402

from srtod_d2.modeling import SRTODRCNN  # noqa: E402
from srtod_d2.modeling.enhancement import DifferenceMapEnhancement  # noqa: E402


class PassThroughEnhancement(DifferenceMapEnhancement):
    """DGFE that hands the feature on unchanged. The binary map is still drawn, so the map studies
    (capture_maps, difference_map_stats.py) read these models as they read SRTODRCNN's."""

    def enhance(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x


@META_ARCH_REGISTRY.register()
class ReconstructionOnlyRCNN(SRTODRCNN):
    """SRTODRCNN whose DGFE passes P2 through: the reconstruction head still trains on its loss,
    through P2 into the backbone."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Swapping the class, not the module, keeps the threshold and the (now unused) attention
        # under their keys: checkpoints load into SRTODRCNN and back.
        self.backbone.enhancement.__class__ = PassThroughEnhancement


if __name__ == "__main__":
    train_net.invoke_main()
