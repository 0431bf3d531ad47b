"""The ``MODEL.SRTOD`` config node."""
from detectron2.config import CfgNode as CN


def add_srtod_config(cfg):
    """Add the ``MODEL.SRTOD`` node (and ``TEST.SLICED``, sliced inference) to ``cfg`` in place
    (a copy of detectron2's defaults, never the global defaults themselves). Calling it twice is
    harmless."""
    if "SRTOD" in cfg.MODEL:
        return cfg
    _C = cfg
    _C.MODEL.SRTOD = CN()
    # Off builds the plain detector with the same backbone and heads: the baseline of an ablation.
    _C.MODEL.SRTOD.ENABLED = True
    # FPN level that is reconstructed from and enhanced (the paper uses the stride-4 level).
    _C.MODEL.SRTOD.IN_FEATURE = "p2"
    # Reconstruction head: "reference" (the authors' deconv head) or "efficient" (pixel shuffle).
    _C.MODEL.SRTOD.HEAD = "reference"
    # Channel widths of the reference head's two x2 upsampling stages.
    _C.MODEL.SRTOD.HEAD_CHANNELS = [128, 64]
    # Channel width of the efficient head's hidden convolution (at the feature's stride).
    _C.MODEL.SRTOD.EFFICIENT_CHANNELS = 32
    # Kernel of that convolution, 3 or 1: a 1x1 conv can be 9x wider for the same cost.
    _C.MODEL.SRTOD.EFFICIENT_KERNEL = 3
    # Initial difference threshold t, in [0, 1] image units (4/255 VisDrone, 3/255 AI-TOD).
    _C.MODEL.SRTOD.THRESHOLD_INIT = 4.0 / 255
    # How t learns: "none" (reference: sign() has no gradient) or "ste" (straight-through sigmoid).
    _C.MODEL.SRTOD.THRESHOLD_GRAD = "none"
    # Temperature of the straight-through sigmoid, in image units; smaller is closer to sign().
    _C.MODEL.SRTOD.THRESHOLD_STE_TAU = 2.0 / 255
    # Learning rate of t over SOLVER.BASE_LR (ste): at 1.0 t ran to a range end in <100 iterations.
    _C.MODEL.SRTOD.THRESHOLD_LR_SCALE = 0.01
    # t is clamped to this range so the binary map can never be NaN or all ones.
    _C.MODEL.SRTOD.THRESHOLD_RANGE = [0.5 / 255, 254.5 / 255]
    # Weight of loss_recon, the MSE between reconstruction and input image (paper: 1.0).
    _C.MODEL.SRTOD.RECON_LOSS_WEIGHT = 1.0
    # Channel reduction of the reweighting MLP (CBAM-style channel attention).
    _C.MODEL.SRTOD.REWEIGHT_REDUCTION = 16
    # t counts from "zero" (paper: 1 where d > t) or "median" (1 where d > t + the image's median d).
    _C.MODEL.SRTOD.THRESHOLD_BASE = "zero"
    # Binary map to feature resolution: "nearest" (reference) or "max" (never skips a 2 px object).
    _C.MODEL.SRTOD.MASK_RESIZE = "nearest"
    # Odd max-pool kernel over the map at feature resolution: 3 spreads each mark one cell, so an
    # object two cells across marked anywhere is doubled whole (1: the paper's map, unchanged).
    _C.MODEL.SRTOD.MASK_DILATION = 1
    # Training iterations over which the map's weight in DGFE ramps 0 -> 1 (0: full from the start).
    _C.MODEL.SRTOD.MAP_WARMUP_ITERS = 0
    # Training only: chance that an image's map is all zeros in a step, so the detector also meets
    # objects its map misses (0: the paper, never; 0.5 helped neither set, docs/benchmarks.md).
    _C.MODEL.SRTOD.MAP_DROPOUT = 0.0
    # Extra FPN level on top: "maxpool" (P6 from P5, as R-CNN) or "p6p7" (P6, P7 from C5).
    _C.MODEL.SRTOD.FPN_TOP_BLOCK = "maxpool"

    from .engine.sliced import add_sliced_config  # late import: engine sits on top of config

    add_sliced_config(cfg)
    return cfg
