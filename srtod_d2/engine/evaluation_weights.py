"""Load the weights that ``--eval-only`` and the predictors run, refusing weights that leave part
of the model untrained."""
from detectron2.checkpoint import DetectionCheckpointer


class _RecordingCheckpointer(DetectionCheckpointer):
    """A DetectionCheckpointer that keeps the model keys its last load left unset."""

    missing_keys = None

    def _load_model(self, checkpoint):
        incompatible = super()._load_model(checkpoint)
        self.missing_keys = list(incompatible.missing_keys) if incompatible is not None else []
        return incompatible


def load_for_evaluation(model, cfg, resume: bool = False) -> str:
    """Load ``cfg.MODEL.WEIGHTS`` (or, with ``resume``, the last checkpoint in ``cfg.OUTPUT_DIR``)
    into ``model`` and return the file loaded.

    detectron2 loads what matches and logs the rest, so an empty ``MODEL.WEIGHTS`` or the
    config's ImageNet backbone would be evaluated with random detection heads and give an AP
    that means nothing. Raises ValueError, naming ``MODEL.WEIGHTS``, in both cases.
    """
    checkpointer = _RecordingCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
    from_output = resume and checkpointer.has_checkpoint()
    if not cfg.MODEL.WEIGHTS and not from_output:
        raise ValueError("--eval-only: MODEL.WEIGHTS is empty and no --resume checkpoint is in OUTPUT_DIR "
                         f"({cfg.OUTPUT_DIR}): pass MODEL.WEIGHTS <model_final.pth> to name the model to evaluate")
    source = checkpointer.get_checkpoint_file() if from_output else cfg.MODEL.WEIGHTS
    checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=resume)
    _refuse_unset(checkpointer, source, cfg, "--eval-only")
    return source


def load_inference_weights(model, cfg, who: str) -> None:
    """Load ``cfg.MODEL.WEIGHTS`` into ``model`` for inference (nothing when it is empty: a random
    model, as detectron2's predictor allows). Raises ValueError, prefixed with ``who``, when the
    file leaves any of the model's parameters unset: detectron2 only warns when, say, a model
    trained with ``MODEL.SRTOD.HEAD: efficient`` is loaded under ``reference``, and the
    reconstruction head left at random makes every difference map, and so every detection, wrong.
    """
    if cfg.MODEL.WEIGHTS:
        checkpointer = _RecordingCheckpointer(model)
        checkpointer.load(cfg.MODEL.WEIGHTS)
        _refuse_unset(checkpointer, cfg.MODEL.WEIGHTS, cfg, who)


def _refuse_unset(checkpointer, source, cfg, who):
    missing = checkpointer.missing_keys or []
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        srtod = cfg.MODEL.get("SRTOD")
        head = f", or a model trained with another MODEL.SRTOD.HEAD than {srtod.HEAD!r}" if srtod and srtod.ENABLED else ""
        raise ValueError(f"{who}: {source} has no weights for {len(missing)} of the model's parameters "
                         f"({shown}): it is not a trained {cfg.MODEL.META_ARCHITECTURE} of this config (an "
                         f"ImageNet backbone{head}?). Pass MODEL.WEIGHTS <model_final.pth> of a trained model "
                         "and the config it was trained with")
