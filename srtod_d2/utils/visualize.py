"""Difference-map panels: the paper's figure of what SR-TOD sees, for one image."""
from typing import Dict, Tuple

import cv2
import numpy as np
import torch


def _to_uint8_rgb(t: torch.Tensor) -> np.ndarray:
    return (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _labelled(img_rgb: np.ndarray, text: str) -> np.ndarray:
    out = img_rgb.copy()
    scale = max(out.shape[1] / 800, 0.4)
    thickness = max(int(round(2 * scale)), 1)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
    cv2.putText(out, text, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def difference_map_panel(maps: Dict[str, torch.Tensor], size: Tuple[int, int] = None) -> np.ndarray:
    """A 2x2 RGB panel: input, reconstruction, difference map (colour, scaled to its 99.9th
    percentile so tiny objects stand out), binary map.

    Args:
        maps: one image's entry from ``model.capture_maps()``.
        size: (height, width) of each tile; default: the maps' own resolution.
    Returns:
        uint8 array (2H, 2W, 3), RGB.
    """
    diff = maps["diff"].numpy()
    top = max(float(np.percentile(diff, 99.9)), 1e-6)
    diff_rgb = cv2.applyColorMap((np.clip(diff / top, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    binary = (maps["binary"].numpy() * 255).astype(np.uint8)
    tiles = [
        _to_uint8_rgb(maps["image"]),
        _to_uint8_rgb(maps["recon"]),
        diff_rgb,
        np.repeat(binary[..., None], 3, axis=2),
    ]
    if size is not None:
        tiles = [cv2.resize(t, (size[1], size[0]), interpolation=cv2.INTER_NEAREST) for t in tiles]
    t255 = maps["threshold"] * 255
    names = ["input", "reconstruction", f"difference (max {top * 255:.0f}/255)", f"binary (t = {t255:.1f}/255)"]
    tiles = [_labelled(t, n) for t, n in zip(tiles, names)]
    return np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0)
