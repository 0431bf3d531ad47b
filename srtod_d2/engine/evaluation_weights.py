"""Load the model that ``--eval-only`` evaluates, refusing weights that leave it untrained."""
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
    missing = checkpointer.missing_keys or []
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise ValueError(f"--eval-only: {source} has no weights for {len(missing)} of the model's parameters "
                         f"({shown}): it is not a trained {cfg.MODEL.META_ARCHITECTURE} (an ImageNet backbone?). "
                         "Pass MODEL.WEIGHTS <model_final.pth> of a trained model")
    return source
