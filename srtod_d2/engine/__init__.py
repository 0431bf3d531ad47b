"""Training and inference on top of the model, data and evaluation packages: the trainer,
atomic checkpoints, and sliced (tiled) inference for large frames."""
from .checkpoint import make_atomic
from .evaluation_weights import load_for_evaluation
from .predictor import Predictor, check_frame
from .sliced import (
    SlicedInferenceModel,
    SlicedPredictor,
    add_sliced_config,
    build_sliced_test_loader,
    merge_detections,
    tile_grid,
)
from .trainer import Trainer

__all__ = [
    "Predictor",
    "SlicedInferenceModel",
    "check_frame",
    "SlicedPredictor",
    "Trainer",
    "add_sliced_config",
    "build_sliced_test_loader",
    "load_for_evaluation",
    "make_atomic",
    "merge_detections",
    "tile_grid",
]
