from .backbone import SRTODFPN, build_srtod_resnet_fpn_backbone
from .enhancement import ChannelReweighting, DifferenceMapEnhancement, difference_map
from .meta_arch import SRTODRCNN, SRTODRetinaNet, masked_mse
from .reconstruction import EfficientReconstructionHead, ReconstructionHead

__all__ = [
    "SRTODFPN", "build_srtod_resnet_fpn_backbone", "ChannelReweighting",
    "DifferenceMapEnhancement", "difference_map", "SRTODRCNN", "SRTODRetinaNet", "masked_mse",
    "EfficientReconstructionHead", "ReconstructionHead",
]
