"""SR-TOD for detectron2. Importing this package registers its backbone, meta-architectures,
datasets and evaluator with detectron2."""
from .config import add_srtod_config
from . import data  # noqa: F401  (registers the datasets)
from . import evaluation  # noqa: F401
from . import modeling  # noqa: F401  (registers backbone and meta-architectures)
from .engine import Predictor, SlicedPredictor
from .evaluation import TinyCOCOEvaluator

__all__ = ["Predictor", "SlicedPredictor", "TinyCOCOEvaluator", "add_srtod_config"]
