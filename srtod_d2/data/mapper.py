"""A DatasetMapper that reads images with :func:`srtod_d2.data.image_io.read_image`.

detectron2's ``read_image`` converts with ``PIL.Image.convert``, which clips 16-bit images at
255 (a 0..65535 infrared frame comes out almost white). Grayscale, palette and RGBA are fine
there; 16-bit is not. This mapper keeps everything else of ``DatasetMapper`` (augmentations,
annotation handling, ``from_config``); it swaps the image reader and hands the boxes to the
transforms as floats (:func:`float_boxes`).
"""
from __future__ import annotations

import threading

from detectron2.data import dataset_mapper as _dm
from detectron2.data import detection_utils as _du
from detectron2.data.dataset_mapper import DatasetMapper

from .image_io import read_image

__all__ = ["TinyDatasetMapper", "float_boxes"]

_local = threading.local()


class _ReadImageSwitch:
    """Stands in for ``detection_utils`` inside ``dataset_mapper``.

    It forwards everything to the real module; ``read_image`` goes to our reader only while a
    TinyDatasetMapper call is running in this thread, so plain DatasetMappers are unaffected.
    """

    def __getattr__(self, name):
        return getattr(_du, name)

    @staticmethod
    def read_image(file_name, format=None):
        reader = getattr(_local, "reader", None)
        if reader is None:
            return _du.read_image(file_name, format)
        return reader(file_name, format)


_install_lock = threading.Lock()


def _install_switch():
    with _install_lock:
        if not isinstance(_dm.utils, _ReadImageSwitch):
            _dm.utils = _ReadImageSwitch()


def float_boxes(dataset_dict: dict) -> dict:
    """The dict with every annotation's ``bbox`` as floats (the input is not modified).

    detectron2's resize scales box coordinates in place, in an array of the boxes' own dtype:
    integer boxes (VisDrone, many COCO-style tiny-object sets) come out truncated, up to a pixel
    towards the top-left at the resized scale, a large share of a 2-8 px object.
    """
    annos = dataset_dict.get("annotations")
    if not annos:
        return dataset_dict
    annos = [{**a, "bbox": [float(v) for v in a["bbox"]]} if "bbox" in a else a for a in annos]
    return {**dataset_dict, "annotations": annos}


class TinyDatasetMapper(DatasetMapper):
    """``DatasetMapper`` with a mode-robust image reader and untruncated resized boxes.

    Args:
        uint16_scaling: how 16-bit images map to 8 bits ("full" or "minmax", see
            :func:`srtod_d2.data.image_io.to_uint8_rgb`). Other arguments as ``DatasetMapper``
            (``image_format`` must be "BGR", "RGB" or "L").
    """

    def __init__(self, *args, uint16_scaling: str = "full", **kwargs):
        super().__init__(*args, **kwargs)
        if self.image_format not in ("BGR", "RGB", "L"):
            raise ValueError(f"TinyDatasetMapper reads BGR, RGB or L images, not {self.image_format!r}")
        self.uint16_scaling = uint16_scaling
        _install_switch()

    def __setstate__(self, state):
        # DataLoader workers started by spawn or forkserver (macOS, Windows, Python >= 3.14)
        # unpickle the mapper in a fresh interpreter, where __init__ never ran
        self.__dict__.update(state)
        _install_switch()

    def _read(self, file_name, format):
        return read_image(file_name, format=format or "BGR", uint16_scaling=self.uint16_scaling)

    def __call__(self, dataset_dict):
        _local.reader = self._read
        try:
            return super().__call__(float_boxes(dataset_dict))
        finally:
            _local.reader = None
