"""Shared by the benchmark scripts: what each prints first (the command, the machine and the
versions), the pixels that ground-truth boxes cover, the local-mean difference map, and a way
to hand DGFE another map."""
import contextlib
import math
import os
import platform
import shlex
import sys


LIBRARIES = ("numpy", "opencv-python-headless", "pycocotools", "faster-coco-eval", "fvcore", "Pillow")


def _installed_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def describe_run() -> str:
    import torch

    try:
        import detectron2
        d2 = detectron2.__version__
    except ImportError:  # pragma: no cover - the project requires detectron2
        d2 = "absent"
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        "command: " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable)] + sys.argv),
        f"machine: {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        f"versions: python {platform.python_version()}, torch {torch.__version__}, detectron2 {d2}",
        # unpinned: a rebuilt environment that draws other versions trains the same seed to
        # another model (sky baseline seed 5: 44.4 AP in session 12, 47.6 in session 19)
        "libraries: " + ", ".join(f"{name} {_installed_version(name)}" for name in LIBRARIES),
    ]
    if torch.cuda.is_available():
        lines.append(f"gpu: {torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, cudnn {torch.backends.cudnn.version()}")
    return "\n".join(lines)


def box_map(boxes_per_image, shape):
    """An (N, 1, H, W) float tensor, 1 on every pixel that a box (XYXY, pixel units; one (K, 4)
    tensor per image) covers even partly. Partly covered pixels count: a 2.5 px target drawn on
    3-4 pixels must be marked on all of them."""
    import torch

    _, _, h, w = shape
    out = torch.zeros(shape)
    for i, boxes in enumerate(boxes_per_image):
        for x0, y0, x1, y1 in boxes.tolist():
            c0, r0 = max(math.floor(x0), 0), max(math.floor(y0), 0)
            c1, r1 = min(math.ceil(x1), w), min(math.ceil(y1), h)
            out[i, 0, r0:r1, c0:c1] = 1.0
    return out


# separates best of 5, 9, 17 and 33 px on the synthetic set (ROC area 0.90, 0.92, 0.91, 0.87)
LOCAL_MEAN_KERNEL = 9


def local_mean_difference(image, kernel=LOCAL_MEAN_KERNEL):
    """(N, C, H, W) -> (N, 1, H, W): the difference of each pixel from the mean of the
    ``kernel`` x ``kernel`` window around it, the window cut at the image's edges."""
    import torch.nn.functional as F

    from srtod_d2.modeling import difference_map

    local_mean = F.avg_pool2d(image, kernel, stride=1, padding=kernel // 2, count_include_pad=False)
    return difference_map(local_mean, image)


def local_mean_batch(backbone, x, sizes, like):
    """The local-mean difference of each image of the backbone's input batch ``x``, its own
    pixels only (``sizes``: each image's (h, w); the batch padding stays 0 and no window reaches
    into it), in a tensor shaped and typed like ``like`` (the (N, 1, H, W) map it replaces)."""
    import torch

    image = backbone.recover_image(x)
    local = torch.zeros_like(like)
    for i, (h, w) in enumerate(sizes):
        local[i, :, :h, :w] = local_mean_difference(image[i : i + 1, :, :h, :w], LOCAL_MEAN_KERNEL)[0]
    return local


@contextlib.contextmanager
def dgfe_reads(backbone, make_map):
    """Within the block, DGFE binarises ``make_map(x, diff)`` in place of the reconstruction's
    difference map, where ``x`` is the backbone's (normalised, padded) input batch and ``diff``
    the map it replaces (its shape and dtype are the result's). The reconstruction head still runs
    and still gets its loss."""
    seen = {}

    def keep_input(module, args):
        seen["x"] = args[0]

    def swap_map(module, args):
        feature, diff = args
        return feature, make_map(seen["x"], diff)

    # The efficient head's sampled path skips the module call this hooks: keep the full path.
    backbone.keep_full_maps = True
    handles = [backbone.register_forward_pre_hook(keep_input),
               backbone.enhancement.register_forward_pre_hook(swap_map)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
