"""DefaultPredictor with input checks: what a server meets in the wild (grayscale, RGBA, 16-bit,
float, elongated or empty frames) gives a correct result or a clear ValueError."""
import numpy as np

from detectron2.data.transforms import ResizeShortestEdge
from detectron2.engine import DefaultPredictor

from .evaluation_weights import load_inference_weights


def check_frame(image) -> np.ndarray:
    """The frame as a contiguous (H, W, 3) array, uint8 or float32 in 0-255, same channel order;
    a ValueError naming the problem for what cannot be read as one."""
    if image is None:
        raise ValueError("image is None (cv2.imread returns None for a file it cannot read)")
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array of shape (H, W, C), got {type(image).__name__}")
    shape = image.shape
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {shape}")
    if image.dtype == np.uint16:
        # The full 16-bit range maps to 0-255; guessing a 10/12-bit sensor range would be wrong
        # as often as right, so a caller with such data should scale it first.
        image = image.astype(np.float32) * np.float32(255.0 / 65535.0)
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError("image contains NaN or infinite values")
        image = image.astype(np.float32, copy=False)
    elif image.dtype != np.uint8:
        raise ValueError(f"image dtype must be uint8, uint16 or float (0-255 range), got {image.dtype}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]  # BGRA as cv2.IMREAD_UNCHANGED reads it: alpha is no colour
    return np.ascontiguousarray(image)



class Predictor(DefaultPredictor):
    """``DefaultPredictor`` (same construction and call) that first brings the image to (H, W, 3)
    in the config's channel order: grayscale is repeated, an alpha channel dropped, 16-bit
    scaled to 0-255. Images it cannot read raise ``ValueError`` naming the problem, and so do
    ``MODEL.WEIGHTS`` that leave part of the model untrained."""

    def __init__(self, cfg):
        # DefaultPredictor loads whatever fits and only warns about the rest; load here instead,
        # refusing weights that leave part of the model (e.g. another reconstruction head) random.
        unloaded = cfg.clone()
        unloaded.defrost()
        unloaded.MODEL.WEIGHTS = ""
        super().__init__(unloaded)
        self.cfg = cfg.clone()
        load_inference_weights(self.model, self.cfg, "Predictor")

    def __call__(self, original_image):
        image = check_frame(original_image)
        h, w = image.shape[:2]
        if isinstance(self.aug, ResizeShortestEdge):
            short = max(self.aug.short_edge_length)
            if short > 0:
                nh, nw = ResizeShortestEdge.get_output_shape(h, w, short, self.aug.max_size)
                if min(nh, nw) < 1:
                    raise ValueError(
                        f"image of {w}x{h} is too elongated: the test-time resize (INPUT.MIN_SIZE_TEST="
                        f"{short}, MAX_SIZE_TEST={self.aug.max_size}) would make it {nw}x{nh}; use "
                        "SlicedPredictor, or crop it"
                    )
        return super().__call__(image)
