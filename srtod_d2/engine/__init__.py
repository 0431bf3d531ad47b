"""Inference helpers: sliced (tiled) inference for large frames."""
from .sliced import (
    SlicedInferenceModel,
    SlicedPredictor,
    add_sliced_config,
    build_sliced_test_loader,
    merge_detections,
    tile_grid,
)

__all__ = [
    "SlicedInferenceModel",
    "SlicedPredictor",
    "add_sliced_config",
    "build_sliced_test_loader",
    "merge_detections",
    "tile_grid",
]
