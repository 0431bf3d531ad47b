"""Image reading that gives the same 3-channel 8-bit array whatever the file's mode.

Tiny-object datasets mix modes: SIRST-V2 has RGB, grayscale (``L``), RGBA and palette PNGs, and
infrared data often comes as 16-bit PNG/TIFF. detectron2's ``read_image`` converts with
``PIL.Image.convert("RGB")``, which clips 16-bit values at 255 instead of rescaling them; this
module rescales instead, so an 8-bit image and its 16-bit copy (``v * 257``) read identically.
"""
from __future__ import annotations

import os
from typing import Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageReadError", "read_image", "read_image_size", "to_uint8_rgb"]

# Orientation tags 5..8 transpose the image, so width and height swap when it is applied.
_EXIF_ORIENTATION = 274
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I")


class ImageReadError(ValueError):
    """An image file is missing, not an image, truncated, or in a mode we cannot convert."""


def _open(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageReadError(f"Image file not found: {path}")
    try:
        return Image.open(path)
    except UnidentifiedImageError as e:
        raise ImageReadError(f"Not a readable image (unknown or corrupt format): {path}") from e
    except OSError as e:
        raise ImageReadError(f"Cannot open image {path}: {e}") from e


def _exif_orientation(img) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not make the image unreadable
        return 1


def read_image_size(path) -> Tuple[int, int]:
    """Return ``(width, height)`` from the file header, without decoding the pixels.

    The size is the one after EXIF orientation is applied, which is what ``read_image`` (ours and
    detectron2's) returns.

    Args:
        path: image file.

    Raises:
        ImageReadError: missing file or unrecognised header.
    """
    with _open(path) as img:
        width, height = img.size
        if _exif_orientation(img) in _TRANSPOSING_ORIENTATIONS:
            width, height = height, width
    if width <= 0 or height <= 0:
        raise ImageReadError(f"Image header of {path} gives a non-positive size {width}x{height}")
    return int(width), int(height)


def to_uint8_rgb(img: Image.Image, uint16_scaling: str = "full") -> np.ndarray:
    """Convert a decoded PIL image of any common mode to an HxWx3 uint8 RGB array.

    Args:
        img: a PIL image.
        uint16_scaling: for 16-bit (and 32-bit integer) single-channel images, "full" maps
            0..65535 linearly to 0..255 (same value everywhere, so an 8-bit image and its
            16-bit copy agree); "minmax" stretches each image's own range to 0..255 (useful for
            infrared data that uses only a few bits of the 16).
    """
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        arr = np.asarray(img).astype(np.float64)
        if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ImageReadError(
                f"32-bit integer image with values outside 0..65535 (min {arr.min()}, "
                f"max {arr.max()}) cannot be mapped to 8 bits unambiguously"
            )
        if uint16_scaling == "full":
            arr = arr / 257.0
        elif uint16_scaling == "minmax":
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        else:
            raise ValueError(f"uint16_scaling must be 'full' or 'minmax', got {uint16_scaling!r}")
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        raise ImageReadError("Floating-point ('F' mode) images are not supported")
    # Alpha is dropped rather than composited: that is what detectron2's own reader does, so
    # training with either reader sees the same pixels for RGBA/LA/PA files.
    if mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def read_image(path, format: str = "BGR", uint16_scaling: str = "full") -> np.ndarray:
    """Read an image as a 3-channel 8-bit array (or HxWx1 for ``format="L"``).

    Grayscale, palette, RGBA/LA, CMYK and 16-bit files all come back in the same layout; EXIF
    orientation is applied as in ``detectron2.data.detection_utils.read_image``.

    Args:
        path: image file.
        format: "BGR" (detectron2's default), "RGB" or "L".
        uint16_scaling: see :func:`to_uint8_rgb`.

    Raises:
        ImageReadError: missing, unreadable, truncated or unsupported image, with the path.
    """
    if format not in ("BGR", "RGB", "L"):
        raise ValueError(f"format must be 'BGR', 'RGB' or 'L', got {format!r}")
    img = _open(path)
    try:
        img.load()
        if _exif_orientation(img) != 1:
            img = ImageOps.exif_transpose(img)
        rgb = to_uint8_rgb(img, uint16_scaling=uint16_scaling)
    except ImageReadError as e:
        raise ImageReadError(f"{path}: {e}") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"Corrupt or truncated image {path}: {e}") from e
    finally:
        img.close()
    if format == "RGB":
        return rgb
    if format == "BGR":
        return np.ascontiguousarray(rgb[:, :, ::-1])
    # ITU-R 601-2 luma, the same weights PIL uses for "L"
    gray = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)[:, :, None]
