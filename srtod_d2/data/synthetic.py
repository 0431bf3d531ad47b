"""Procedural tiny-object detection set: no download, deterministic, fast.

Each image is a sky, ground, urban or mixed (horizon) scene built from low-resolution noise
octaves, gradients and drawn clutter. Labelled objects are small low-contrast shapes whose size
(sqrt of box area) follows a truncated log-normal close to DroneSwarms' (mean about 8 px, 99%
under 32 px):

- ``drone``: quadcopter (arms crossing with four rotor discs) or a fixed-wing cross, dark grey;
- ``bird``: elongated ellipse body with swept wings, warm brown;
- ``vehicle``: rotated rectangle with a darker windscreen, saturated car colours (ground only).

Unlabelled distractors of the same scale (blobs, specks, short strokes, squarish roof units,
irregular polygons) are drawn on the background, so telling objects from clutter takes shape and
colour, not just "anything small". Sensor blur, noise and JPEG compression come last.

Objects are rendered 4x supersampled into an alpha patch; faint anti-aliasing (alpha < 0.25)
is cut so that every pixel counted in the box visibly changes the image. The ground-truth box
is the bounding box of the patch's remaining alpha, i.e. tight to what is drawn before blur.
Image ``i`` of a seed depends only on ``(seed, i)``, not on how many images are generated.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
from typing import Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    "SYNTHETIC_CLASSES",
    "SCENES",
    "GENERATOR_VERSION",
    "sample_object_sizes",
    "render_object",
    "generate_image",
    "generate_synthetic_dataset",
    "ensure_synthetic_dataset",
]

logger = logging.getLogger(__name__)

SYNTHETIC_CLASSES = ("drone", "bird", "vehicle")
GENERATOR_VERSION = 1

# Truncated log-normal of the object size sqrt(w*h): median 7 px, sigma 0.55 gives a mean near
# 8 px and a 99th percentile near 25 px; truncation keeps 2..32 px.
SIZE_MEDIAN, SIZE_SIGMA, SIZE_MIN, SIZE_MAX = 7.0, 0.55, 2.0, 32.0
_SS = 4  # supersampling factor for rendering
_ALPHA_CUT = 0.25
_SHIFT = 4  # cv2 drawing with 4 fractional bits, for sub-pixel shapes
# How often each background is drawn (the shares are renormalised over a chosen subset).
_SCENE_SHARES = {"sky": 0.35, "ground": 0.2, "urban": 0.2, "mixed": 0.25}
SCENES = tuple(_SCENE_SHARES)


def sample_object_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw ``n`` target sizes (sqrt of area, px) from the truncated log-normal."""
    out = np.empty(0)
    while out.size < n:
        s = rng.lognormal(math.log(SIZE_MEDIAN), SIZE_SIGMA, size=2 * n + 8)
        out = np.concatenate([out, s[(s >= SIZE_MIN) & (s <= SIZE_MAX)]])
    return out[:n]


# ----------------------------------------------------------------------------- object rendering
def _pts(xy: np.ndarray) -> np.ndarray:
    return np.round(xy * (1 << _SHIFT)).astype(np.int32)


def _rot(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _canvas(size: float) -> Tuple[np.ndarray, np.ndarray]:
    side = int(math.ceil(size * 1.6)) + 4
    big = np.zeros((side * _SS, side * _SS), np.uint8)
    return big, np.array([side * _SS / 2.0, side * _SS / 2.0])


def _line(big, a, b, thick):
    cv2.line(big, tuple(_pts(a)), tuple(_pts(b)), 255, max(1, int(round(thick))), cv2.LINE_AA, _SHIFT)


def _draw_quad(big, c, L, angle, rng):
    arm = L * 0.42
    for k in (0, 1):
        d = _rot(np.array([[arm, 0.0]]), angle + k * math.pi / 2)[0]
        _line(big, c - d, c + d, max(_SS * 0.8, L * 0.11))
    for k in range(4):
        d = _rot(np.array([[arm, 0.0]]), angle + k * math.pi / 2)[0]
        cv2.circle(big, tuple(_pts(c + d)), int(round(L * 0.17 * (1 << _SHIFT))), 255, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(big, tuple(_pts(c)), int(round(L * 0.12 * (1 << _SHIFT))), 255, -1, cv2.LINE_AA, _SHIFT)


def _draw_cross(big, c, L, angle, rng):
    body = _rot(np.array([[L * 0.5, 0.0]]), angle)[0]
    wing = _rot(np.array([[0.0, L * 0.45]]), angle)[0]
    tail = _rot(np.array([[0.0, L * 0.18]]), angle)[0]
    _line(big, c - body, c + body, max(_SS, L * 0.14))
    wc = c + body * 0.15
    _line(big, wc - wing, wc + wing, max(_SS * 0.8, L * 0.12))
    tc = c - body * 0.85
    _line(big, tc - tail, tc + tail, max(_SS * 0.8, L * 0.09))


def _draw_bird(big, c, L, angle, rng):
    axes = (max(1, int(round(L * 0.32 * (1 << _SHIFT)))), max(1, int(round(L * 0.13 * (1 << _SHIFT)))))
    cv2.ellipse(big, tuple(_pts(c)), axes, math.degrees(angle), 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
    sweep = rng.uniform(0.25, 0.6)
    for side in (-1, 1):
        tip = c + _rot(np.array([[-L * sweep * 0.5, side * L * 0.5]]), angle)[0]
        root = c + _rot(np.array([[L * 0.05, 0.0]]), angle)[0]
        _line(big, root, tip, max(_SS * 0.7, L * 0.08))


def _vehicle_polys(c, L, angle, aspect):
    w = L / math.sqrt(aspect)
    h = w * aspect
    body = np.array([[-h / 2, -w / 2], [h / 2, -w / 2], [h / 2, w / 2], [-h / 2, w / 2]])
    glass = np.array([[h * 0.12, -w * 0.38], [h * 0.3, -w * 0.38], [h * 0.3, w * 0.38], [h * 0.12, w * 0.38]])
    return c + _rot(body, angle), c + _rot(glass, angle)


_DRAWERS = {"quad": _draw_quad, "cross": _draw_cross, "bird": _draw_bird}
_EXTENT = {"quad": 0.85, "cross": 0.93, "bird": 1.09, "vehicle": 0.71}


def _downsample(big: np.ndarray) -> np.ndarray:
    small = cv2.resize(big, (big.shape[1] // _SS, big.shape[0] // _SS), interpolation=cv2.INTER_AREA)
    alpha = small.astype(np.float32) / 255.0
    alpha[alpha < _ALPHA_CUT] = 0.0
    return alpha


def render_object(shape: str, size: float, angle: float, rng: np.random.Generator, aspect: float = 2.0):
    """Render one object as alpha layers on a small patch.

    Args:
        shape: "quad", "cross", "bird" or "vehicle".
        size: target size in px (about sqrt of the box area).
        angle: rotation in radians.
        rng: random generator for shape details.
        aspect: length/width ratio for "vehicle".

    Returns:
        ``(layers, box)``: ``layers`` is a list of HxW float32 alpha maps on the same patch
        (body first, then details such as a windscreen), ``box`` the tight ``[x0, y0, x1, y1]``
        (exclusive ends, patch pixels) of the union of non-zero alpha, or None if nothing shows.
    """
    # Factors measured over random angles so that sqrt(box area) is ``size`` on average.
    extent = size * _EXTENT[shape]
    big, c = _canvas(extent)
    L = extent * _SS
    layers = []
    if shape == "vehicle":
        body, glass = _vehicle_polys(c, L, angle, aspect)
        cv2.fillPoly(big, [_pts(body)], 255, cv2.LINE_AA, _SHIFT)
        layers.append(_downsample(big))
        if size >= 9:
            g = np.zeros_like(big)
            cv2.fillPoly(g, [_pts(glass)], 255, cv2.LINE_AA, _SHIFT)
            layers.append(np.minimum(_downsample(g), layers[0]))
    else:
        _DRAWERS[shape](big, c, L, angle, rng)
        layers.append(_downsample(big))
    mask = layers[0] > 0
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if ys.size == 0:
        return layers, None
    return layers, [int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1]


# ----------------------------------------------------------------------------- backgrounds
def _octaves(rng, h, w, cells: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """Smooth value noise in about [0, 1]: a weighted mean of upsampled random grids."""
    out = np.zeros((h, w), np.float32)
    total = float(sum(weights))
    for n, wt in zip(cells, weights):
        gh, gw = max(2, int(round(n * h / w))), n
        grid = rng.random((gh, gw), dtype=np.float32)
        # cubic for coarse grids (linear shows diamond artefacts there), linear for fine ones
        interp = cv2.INTER_CUBIC if n < 30 else cv2.INTER_LINEAR
        out = cv2.scaleAdd(cv2.resize(grid, (w, h), interpolation=interp), wt / total, out)
    return out


# Backgrounds are built channel by channel from 2-D maps: broadcasting HxWx1 against 3 colours
# in numpy allocates full-size temporaries at every step and was most of the generation time.
def _sky(rng, h, w) -> np.ndarray:
    top = np.array([rng.uniform(60, 120), rng.uniform(110, 170), rng.uniform(170, 235)], np.float32)
    bottom = np.array([rng.uniform(170, 230), rng.uniform(185, 235), rng.uniform(200, 245)], np.float32)
    if rng.random() < 0.3:  # overcast: grey sky
        g = rng.uniform(140, 215)
        top, bottom = np.full(3, g * 0.85, np.float32), np.full(3, g, np.float32)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    cover = rng.uniform(0.0, 0.9)
    clouds = _octaves(rng, h, w, (6, 14, 40), (1.0, 0.5, 0.2))
    alpha = np.clip((clouds - (1.0 - cover * 0.6)) * np.float32(rng.uniform(3, 8)), 0, 1)
    cloud_col = cv2.addWeighted(clouds, 40.0, clouds, 0.0, float(rng.uniform(200, 250)) - 40.0)
    chans = []
    for c in range(3):
        grad = top[c] + (bottom[c] - top[c]) * t  # Hx1
        chans.append((cloud_col - grad) * alpha + grad)
    return cv2.merge(chans)


_GROUND_COLOURS = np.array([[95, 120, 70], [120, 110, 80], [150, 140, 115], [80, 95, 60], [130, 125, 120], [170, 160, 130]], np.float32)


def _ground(rng, h, w) -> np.ndarray:
    base = _GROUND_COLOURS[rng.integers(len(_GROUND_COLOURS))] + rng.normal(0, 10, 3).astype(np.float32)
    alt = _GROUND_COLOURS[rng.integers(len(_GROUND_COLOURS))]
    mix = np.clip(_octaves(rng, h, w, (5, 12), (1.0, 0.5)) * 1.6 - 0.3, 0, 1)
    tex = _octaves(rng, h, w, (60, 180), (1.0, 0.7))
    amp = float(rng.uniform(20, 60))
    img = cv2.merge([cv2.addWeighted(mix, float(alt[c] - base[c]), tex, amp, float(base[c]) - amp / 2) for c in range(3)])
    # fields / plots: a few convex patches of another colour
    for _ in range(int(rng.integers(0, 6))):
        centre, radius = rng.random(2) * [w, h], rng.uniform(0.05, 0.3) * w
        pts = cv2.convexHull((centre + rng.uniform(-1, 1, (8, 2)) * radius).astype(np.int32))
        col = tuple(float(v) for v in _GROUND_COLOURS[rng.integers(len(_GROUND_COLOURS))] + rng.normal(0, 12, 3))
        cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
    return img


def _half_res(fn, rng, h, w) -> np.ndarray:
    """Build a smooth layer at half resolution and upsample it (a quarter of the work; the
    layers have no detail finer than a few pixels, and sensor noise is added later anyway)."""
    small = fn(rng, max(2, (h + 1) // 2), max(2, (w + 1) // 2))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _urban(rng, h, w) -> np.ndarray:
    img = cv2.addWeighted(_half_res(_ground, rng, h, w), 0.4, 0, 0, float(rng.uniform(90, 140)) * 0.6)
    for _ in range(int(rng.integers(2, 6))):  # roads
        y = rng.uniform(0, h)
        p0, p1 = (0, int(y)), (w, int(y + rng.uniform(-0.4, 0.4) * h))
        if rng.random() < 0.5:
            x = rng.uniform(0, w)
            p0, p1 = (int(x), 0), (int(x + rng.uniform(-0.4, 0.4) * w), h)
        g = float(rng.uniform(50, 95))
        cv2.line(img, p0, p1, (g, g, g), int(rng.integers(12, 40)), cv2.LINE_AA)
        if rng.random() < 0.6:
            cv2.line(img, p0, p1, (200.0, 200.0, 190.0), 1, cv2.LINE_AA)
    n = int(rng.integers(60, 220))  # buildings / roofs
    xy = rng.random((n, 2)) * [w, h]
    wh = rng.lognormal(math.log(40), 0.6, (n, 2))
    cols = rng.uniform(60, 190, (n, 1)) + rng.normal(0, 12, (n, 3))
    for (x, y), (bw, bh), col in zip(xy, wh, cols):
        cv2.rectangle(img, (int(x), int(y)), (int(x + bw), int(y + bh)), tuple(float(v) for v in col), -1)
        if rng.random() < 0.4:  # roof edge / shadow
            cv2.rectangle(img, (int(x), int(y)), (int(x + bw), int(y + bh)), tuple(float(v) * 0.6 for v in col), 1)
    return img


def _scene(rng, h, w, scenes: Sequence[str] = SCENES) -> Tuple[np.ndarray, str, int]:
    """Return (image float32 HxWx3 RGB, scene kind, first ground row)."""
    p = np.array([_SCENE_SHARES[k] for k in scenes])
    kind = rng.choice(list(scenes), p=p / p.sum())
    if kind == "sky":
        return _half_res(_sky, rng, h, w), kind, h
    if kind == "ground":
        return _half_res(_ground, rng, h, w), kind, 0
    if kind == "urban":
        return _urban(rng, h, w), kind, 0
    horizon = int(rng.uniform(0.25, 0.7) * h)
    img = _half_res(_sky, rng, h, w)
    lower = _urban(rng, h - horizon, w) if rng.random() < 0.4 else _half_res(_ground, rng, h - horizon, w)
    # treeline / skyline: a ragged band so the horizon is not a clean line
    img[horizon:] = lower
    prof = (_octaves(rng, 1, w, (30, 120), (1.0, 0.4))[0] * rng.uniform(10, 45)).astype(np.int32)
    dark = lower[: 1].mean() * 0.55
    for x0 in range(0, w, 8):
        top = max(0, horizon - int(prof[x0]))
        img[top:horizon, x0 : x0 + 8] = dark
    return img, kind, horizon


# ----------------------------------------------------------------------------- distractors
def _draw_clutter(rng, img, n, y_min):
    """Unlabelled small things: blobs, specks, strokes, squarish units, irregular polygons."""
    h, w = img.shape[:2]
    for _ in range(n):
        kind = rng.integers(5)
        x, y = float(rng.uniform(0, w)), float(rng.uniform(y_min if kind >= 3 else 0, h))
        s = float(sample_object_sizes(rng, 1)[0]) * rng.uniform(0.6, 1.3)
        local = img[int(min(y, h - 1)), int(min(x, w - 1))]
        sign = 1 if rng.random() < 0.5 else -1
        col = tuple(float(v) for v in np.clip(local + sign * rng.uniform(10, 60) + rng.normal(0, 15, 3), 0, 255))
        p = (int(x * 16), int(y * 16))
        if kind == 0:
            cv2.circle(img, p, int(s * 0.4 * 16), col, -1, cv2.LINE_AA, 4)
        elif kind == 1:
            cv2.circle(img, p, int(rng.uniform(0.5, 1.2) * 16), col, -1, cv2.LINE_AA, 4)
        elif kind == 2:
            a = rng.uniform(0, math.pi)
            d = (int(math.cos(a) * s * 16), int(math.sin(a) * s * 16))
            cv2.line(img, (p[0] - d[0], p[1] - d[1]), (p[0] + d[0], p[1] + d[1]), col, 1, cv2.LINE_AA, 4)
        elif kind == 3:
            q = s * 0.5
            cv2.rectangle(img, (int(x - q), int(y - q)), (int(x + q), int(y + q * rng.uniform(0.7, 1.3))), col, -1)
        else:
            k = int(rng.integers(4, 8))
            ang = np.sort(rng.uniform(0, 2 * math.pi, k))
            r = s * 0.5 * rng.uniform(0.4, 1.0, k)
            pts = np.stack([x + r * np.cos(ang), y + r * np.sin(ang)], 1)
            cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], col, cv2.LINE_AA, 4)


# ----------------------------------------------------------------------------- images
_CLASS_COLOURS = {
    "drone": [np.array([45, 45, 50], np.float32), np.array([25, 25, 28], np.float32)],
    "bird": [np.array([95, 70, 45], np.float32), np.array([60, 45, 35], np.float32)],
}
_CAR_COLOURS = np.array([[200, 30, 30], [235, 235, 235], [30, 60, 170], [20, 20, 20], [160, 160, 165], [210, 180, 40]], np.float32)


def _object_colour(target: np.ndarray, bg: np.ndarray, contrast: float) -> np.ndarray:
    """A colour in the direction of ``target`` from ``bg`` at mean distance ``contrast``."""
    d = target - bg
    norm = float(np.abs(d).mean())
    if norm < 1.0:
        d, norm = np.full(3, -1.0 if bg.mean() > 128 else 1.0, np.float32), 1.0
    return np.clip(bg + d * (contrast / norm), 0, 255)


def generate_image(
    rng: np.random.Generator,
    image_size: Tuple[int, int] = (1024, 576),
    classes: Sequence[str] = SYNTHETIC_CLASSES,
    objects_per_image: Tuple[int, int] = (5, 40),
    clutter_per_image: Tuple[int, int] = (30, 150),
    contrast: Tuple[float, float] = (12.0, 60.0),
    blur_sigma: Tuple[float, float] = (0.4, 1.1),
    noise_sigma: Tuple[float, float] = (1.5, 6.0),
    clean: bool = False,
    scenes: Sequence[str] = SCENES,
):
    """Generate one image and its objects.

    Args:
        rng: random generator (the only source of randomness).
        image_size: ``(width, height)``.
        classes: subset of :data:`SYNTHETIC_CLASSES` to draw.
        objects_per_image, clutter_per_image: inclusive ranges of counts.
        contrast: range of the mean absolute colour difference object vs local background.
        blur_sigma, noise_sigma: sensor blur (px) and Gaussian noise (grey levels) ranges.
        clean: flat grey background, no clutter, blur or noise (to check boxes against pixels).
        scenes: the backgrounds to draw from (a subset of :data:`SCENES`), e.g. ``("sky",)`` for
            drones against the sky only, where little but the targets and the distractors has
            small-scale contrast.

    Returns:
        ``(image, objects)``: HxWx3 uint8 RGB, and a list of ``{"bbox": [x, y, w, h],
        "category": name, "shape": str}``.
    """
    w, h = image_size
    for c in classes:
        if c not in SYNTHETIC_CLASSES:
            raise ValueError(f"unknown synthetic class {c!r}; choose from {SYNTHETIC_CLASSES}")
    # a bare string would be read letter by letter
    if isinstance(scenes, str) or not scenes or any(k not in SCENES for k in scenes):
        raise ValueError(f"scenes must be a non-empty subset of {SCENES}, e.g. ('sky',); got {scenes!r}")
    if clean:
        img, kind, ground_y = np.full((h, w, 3), 128.0, np.float32), "clean", 0
    else:
        img, kind, ground_y = _scene(rng, h, w, scenes)
        _draw_clutter(rng, img, int(rng.integers(clutter_per_image[0], clutter_per_image[1] + 1)), ground_y)
    airborne = [c for c in classes if c != "vehicle"]
    n = int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))
    sizes = sample_object_sizes(rng, n)
    occupied = np.zeros((h, w), bool)
    objects = []
    for size in sizes:
        options = airborne + (["vehicle"] if "vehicle" in classes and ground_y < h - 8 else [])
        if not options:
            break
        cls = options[int(rng.integers(len(options)))]
        shape = {"drone": "quad" if rng.random() < 0.7 else "cross", "bird": "bird", "vehicle": "vehicle"}[cls]
        angle, aspect = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(1.7, 2.6))
        layers, box = render_object(shape, float(size), angle, rng, aspect=aspect)
        if box is not None and (box[2] - box[0]) * (box[3] - box[1]) > SIZE_MAX**2:
            # rare: a rotated shape came out above the size cap; shrink it to fit
            drawn = math.sqrt((box[2] - box[0]) * (box[3] - box[1]))
            layers, box = render_object(shape, float(size) * SIZE_MAX / drawn * 0.95, angle, rng, aspect=aspect)
        if box is None:
            continue
        ph, pw = layers[0].shape
        y_lo = ground_y if cls == "vehicle" else 0
        for _ in range(10):  # find a free spot; objects must not overlap (tight, distinct boxes)
            ox = int(rng.integers(-box[0], w - box[2] + 1))
            oy = int(rng.integers(max(-box[1], y_lo - box[1]), max(h - box[3], y_lo - box[1]) + 1))
            bx0, by0, bx1, by1 = ox + box[0], oy + box[1], ox + box[2], oy + box[3]
            if bx1 <= w and by1 <= h and not occupied[max(by0 - 2, 0) : by1 + 2, max(bx0 - 2, 0) : bx1 + 2].any():
                break
        else:
            continue
        occupied[by0:by1, bx0:bx1] = True
        # Composite only the box region of the patch.
        sl = (slice(by0, by1), slice(bx0, bx1))
        psl = (slice(box[1], box[3]), slice(box[0], box[2]))
        bg = img[sl].reshape(-1, 3).mean(axis=0)
        k = float(rng.uniform(*contrast))
        if cls == "vehicle":
            target = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))]
            cols = [_object_colour(target, bg, k), _object_colour(target * 0.3, bg, k * 1.3)]
        else:
            cols = [_object_colour(t, bg, k) for t in _CLASS_COLOURS[cls]]
        for a, col in zip(layers, cols):
            a = a[psl][:, :, None]
            img[sl] = img[sl] * (1 - a) + col * a
        objects.append({"bbox": [bx0, by0, bx1 - bx0, by1 - by0], "category": cls, "shape": shape})
    if not clean:
        cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*blur_sigma)), dst=img)
        # One noise field shared by the channels (luminance noise; JPEG then adds chroma
        # artefacts). The sum of two uniforms (triangular, std sqrt(1/6)) is close enough to
        # Gaussian for sensor noise and several times cheaper to draw than normal variates.
        u = rng.random((2, h, w), dtype=np.float32)
        noise = cv2.addWeighted(u[0], 1.0, u[1], 1.0, -1.0)
        noise *= np.float32(rng.uniform(*noise_sigma) / math.sqrt(1.0 / 6.0))
        cv2.add(img, cv2.merge((noise, noise, noise)), dst=img)  # half the time of numpy's broadcast
    np.clip(img, 0, 255, out=img)
    return cv2.convertScaleAbs(img), objects


def _params(num_images, seed, image_size, classes, image_format, kwargs) -> dict:
    return {
        "generator_version": GENERATOR_VERSION, "num_images": int(num_images), "seed": int(seed),
        "image_size": list(image_size), "classes": list(classes), "image_format": image_format,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in sorted(kwargs.items())},
    }


def generate_synthetic_dataset(
    out_dir,
    num_images: int,
    seed: int,
    image_size: Tuple[int, int] = (1024, 576),
    classes: Sequence[str] = SYNTHETIC_CLASSES,
    image_format: str = "jpg",
    jpeg_quality: int = 92,
    **kwargs,
) -> str:
    """Write ``out_dir/images/*.jpg|png`` and ``out_dir/annotations.json`` (COCO).

    Args:
        out_dir: output folder (created).
        num_images: how many images.
        seed: image ``i`` is drawn from ``np.random.default_rng([seed, i])``.
        image_size: ``(width, height)``.
        classes: subset of :data:`SYNTHETIC_CLASSES`; category ids follow this order from 1.
        image_format: "jpg" (default; fast, and real aerial sets are JPEG) or "png" (lossless).
        jpeg_quality: JPEG quality.
        **kwargs: passed to :func:`generate_image` (counts, contrast, blur, noise ranges).

    Returns:
        the path of the json file. Ids (images, annotations, categories) start at 1.
    """
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {image_format!r}")
    classes = list(classes)
    img_dir = os.path.join(out_dir, "images")
    os.makedirs(img_dir, exist_ok=True)
    cat_id = {c: i + 1 for i, c in enumerate(classes)}
    images, annotations = [], []
    enc = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_format == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    for i in range(num_images):
        rng = np.random.default_rng([int(seed), i])
        image, objects = generate_image(rng, image_size, classes, **kwargs)
        name = f"{i:06d}.{image_format}"
        # a contiguous BGR copy encodes faster than the reversed view (which cv2 copies anyway)
        if not cv2.imwrite(os.path.join(img_dir, name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), enc):
            raise OSError(f"could not write {os.path.join(img_dir, name)}")
        images.append({"id": i + 1, "file_name": f"images/{name}", "width": image_size[0], "height": image_size[1]})
        for o in objects:
            x, y, bw, bh = o["bbox"]
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1, "category_id": cat_id[o["category"]],
                "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0, "shape": o["shape"],
            })
    data = {
        "info": {"description": "srtod_d2 synthetic tiny objects", **_params(num_images, seed, image_size, classes, image_format, kwargs)},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": cat_id[c], "name": c, "supercategory": "object"} for c in classes],
    }
    json_file = os.path.join(out_dir, "annotations.json")
    tmp = json_file + f".tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, json_file)
    return json_file


def _is_complete(out_dir, params) -> bool:
    """Whether ``out_dir`` holds a finished set made with ``params``."""
    try:
        with open(os.path.join(out_dir, "_complete.json")) as f:
            return json.load(f) == params and os.path.isfile(os.path.join(out_dir, "annotations.json"))
    except (OSError, json.JSONDecodeError):
        return False


def ensure_synthetic_dataset(
    out_dir,
    num_images: int,
    seed: int,
    image_size: Tuple[int, int] = (1024, 576),
    classes: Sequence[str] = SYNTHETIC_CLASSES,
    image_format: str = "jpg",
    **kwargs,
) -> str:
    """Generate the set into ``out_dir`` once and reuse it afterwards.

    A ``_complete.json`` written last records the parameters; if it is missing or differs (a
    different size, seed or generator version), the folder is regenerated. Generation goes to a
    temporary sibling folder that is renamed into place, so an interrupted run or a concurrent
    process never leaves a half-written set behind.

    Returns:
        the path of the COCO json.
    """
    params = _params(num_images, seed, image_size, classes, image_format, kwargs)
    json_file = os.path.join(out_dir, "annotations.json")
    if _is_complete(out_dir, params):
        return json_file
    logger.info("Generating %d synthetic images into %s (seed %d) ...", num_images, out_dir, seed)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(os.path.abspath(out_dir))}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    generate_synthetic_dataset(tmp, num_images, seed, image_size, classes, image_format, **kwargs)
    with open(os.path.join(tmp, "_complete.json"), "w") as f:
        json.dump(params, f)
    if _is_complete(out_dir, params):
        # Another process (a rank of a multi-GPU run) finished the same set meanwhile and others
        # may be reading it: keep that one rather than swap it out from under them.
        shutil.rmtree(tmp, ignore_errors=True)
        return json_file
    old = None
    if os.path.exists(out_dir):
        old = f"{tmp}.old"
        os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except OSError:
        # Another process finished first; use its copy.
        shutil.rmtree(tmp, ignore_errors=True)
    if old:
        shutil.rmtree(old, ignore_errors=True)
    return json_file
