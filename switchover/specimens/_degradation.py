"""Making a clean page image look scanned or photographed with a phone.

Pure functions over numpy images, each driven by a ``numpy.random.Generator``
so a seed gives the same result. They return what they did (angle, corners) so
the ground truth can say it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

Pixels = NDArray[np.uint8]


@dataclass(frozen=True)
class ScanEffects:
    """What a scan did to the page."""

    angle_degrees: float
    blur_sigma: float
    noise_sigma: float
    jpeg_quality: int
    grey: bool


@dataclass(frozen=True)
class PhotoEffects:
    """What a phone photo did to the page: where its corners landed, as fractions of the photo."""

    corners: tuple[tuple[float, float], ...]  # top-left, top-right, bottom-right, bottom-left
    width_px: int
    height_px: int


def _u8(array: object) -> Pixels:
    """An OpenCV result as a typed uint8 array (OpenCV's stubs say only "MatLike")."""
    return np.asarray(array, dtype=np.uint8)


def _f32(array: object) -> NDArray[np.float32]:
    return np.asarray(array, dtype=np.float32)


def _to_array(image: Image.Image) -> Pixels:
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _jpeg_round_trip(pixels: Pixels, quality: int) -> Pixels:
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - encoding an in-memory array does not fail
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return np.asarray(decoded, dtype=np.uint8)


def _add_noise(pixels: Pixels, sigma: float, rng: np.random.Generator) -> Pixels:
    # One noise plane for all channels: sensor grain is mostly luminance, and it is
    # a third of the work of per-channel noise on a 300-dpi page.
    plane = rng.standard_normal(size=pixels.shape[:2], dtype=np.float32) * np.float32(sigma)
    noise = plane if pixels.ndim == 2 else plane[:, :, None]
    return np.clip(pixels.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def scan(
    page: Image.Image, rng: np.random.Generator, *, max_skew: float = 3.0
) -> tuple[Image.Image, ScanEffects]:
    """A flatbed scan of ``page``: skew, blur, sensor noise, tone shift and JPEG artefacts.

    The image keeps the page's size and DPI; the corners the rotation uncovers are
    the scanner lid's off-white.

    Args:
        page: the clean page image (RGB).
        rng: the random source.
        max_skew: the largest rotation in degrees, either way.

    Returns:
        The scanned image (greyscale or RGB) and what was done to it.
    """
    effects = ScanEffects(
        angle_degrees=round(float(rng.uniform(-max_skew, max_skew)), 3),
        blur_sigma=round(float(rng.uniform(0.4, 1.1)), 3),
        noise_sigma=round(float(rng.uniform(3.0, 9.0)), 3),
        jpeg_quality=int(rng.integers(35, 80)),
        grey=bool(rng.random() < 0.6),
    )
    pixels = _to_array(page)
    if effects.grey:
        pixels = _u8(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY))
    height, width = pixels.shape[:2]
    lid = int(rng.integers(225, 250))
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), effects.angle_degrees, 1.0)
    border = lid if effects.grey else (lid, lid, lid - 4)
    pixels = _u8(
        cv2.warpAffine(pixels, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=border)
    )
    pixels = _u8(cv2.GaussianBlur(pixels, (0, 0), effects.blur_sigma))
    # Scanners lift the black point and dull the white; contrast and brightness drift.
    contrast = float(rng.uniform(0.8, 0.97))
    brightness = float(rng.uniform(-8.0, 18.0))
    pixels = _u8(
        cv2.convertScaleAbs(pixels, alpha=contrast, beta=brightness + (1 - contrast) * 128)
    )
    pixels = _add_noise(pixels, effects.noise_sigma, rng)
    pixels = _jpeg_round_trip(pixels, effects.jpeg_quality)
    image = Image.fromarray(pixels)
    image.info["dpi"] = page.info.get("dpi", (300, 300))
    return image, effects


def bilevel(page: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A 1-bit scan as document scanners and fax servers store it (for CCITT G4 TIFF)."""
    scanned, _ = scan(page, rng, max_skew=1.5)
    grey = np.asarray(scanned.convert("L"), dtype=np.uint8)
    # Otsu picks the ink/paper threshold as a scanner's auto-threshold would.
    _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    image = Image.fromarray(binary).convert("1")
    image.info["dpi"] = page.info.get("dpi", (300, 300))
    return image


def _desk(width: int, height: int, rng: np.random.Generator) -> Pixels:
    """A wooden or laminate desk: a base colour, grain along one axis, soft blotches."""
    base = np.array(
        [rng.uniform(90, 170), rng.uniform(70, 130), rng.uniform(40, 100)], dtype=np.float32
    )  # RGB, a brown to grey-beige
    # One row of grain stretched down the whole desk: stripes, as wood has.
    row = _f32(cv2.GaussianBlur(_f32(rng.normal(0, 1, size=(1, width // 4 + 1))), (0, 0), 2.0))
    grain = _f32(cv2.resize(row, (width, height), interpolation=cv2.INTER_LINEAR))
    coarse = _f32(rng.normal(0, 1, size=(height // 64 + 1, width // 64 + 1)))
    blotch = _f32(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC))
    shade = 14 * grain + 10 * blotch
    desk = base[None, None, :] + shade[:, :, None]
    return np.clip(desk, 0, 255).astype(np.uint8)


def _lighting(width: int, height: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """A multiplier field: a light from one side falling off, plus a soft vignette."""
    # Light varies slowly: compute it on a coarse grid and scale it up.
    small_w, small_h = width // 16, height // 16
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    xs /= small_w
    ys /= small_h
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.cos(angle) * (xs - 0.5) + np.sin(angle) * (ys - 0.5)
    ramp = 1.0 + float(rng.uniform(0.15, 0.4)) * direction
    vignette = 1.0 - float(rng.uniform(0.1, 0.25)) * ((xs - 0.5) ** 2 + (ys - 0.5) ** 2) / 0.5
    field = np.asarray(ramp * vignette, dtype=np.float32)
    return _f32(cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR))


def photograph(
    page: Image.Image, rng: np.random.Generator, *, size: tuple[int, int] = (2268, 3024)
) -> tuple[Image.Image, PhotoEffects]:
    """A phone photo of ``page`` lying on a desk: perspective, uneven light, blur, noise.

    Args:
        page: the clean page image (RGB).
        rng: the random source.
        size: the photo's width and height in pixels (portrait, 3:4 like a phone camera).

    Returns:
        The photo (RGB) and where the page's corners are in it.
    """
    width, height = size
    full = _to_array(page)
    # The page fills most of the frame, a little off-centre, held at a slant.
    scale = rng.uniform(0.72, 0.86) * min(width / full.shape[1], height / full.shape[0])
    # Shrink first with area averaging, so the perspective warp does not alias the print.
    pixels = _u8(cv2.resize(full, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    page_h, page_w = pixels.shape[:2]
    cx = width / 2 + rng.uniform(-0.04, 0.04) * width
    cy = height / 2 + rng.uniform(-0.03, 0.03) * height
    half_w, half_h = page_w / 2, page_h / 2
    jitter = 0.05 * min(width, height)
    corners = np.array(
        [[cx - half_w, cy - half_h], [cx + half_w, cy - half_h],
         [cx + half_w, cy + half_h], [cx - half_w, cy + half_h]],
        dtype=np.float32,
    )  # fmt: skip
    corners += rng.uniform(-jitter, jitter, size=corners.shape).astype(np.float32)
    # Tilt: the far edge of the page looks narrower than the near one.
    tilt = rng.uniform(0.0, 0.06) * half_w
    corners[0, 0] += tilt
    corners[1, 0] -= tilt
    source = np.array([[0, 0], [page_w, 0], [page_w, page_h], [0, page_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners)
    photo = _desk(width, height, rng)
    # BORDER_TRANSPARENT leaves the desk where the page is not.
    cv2.warpPerspective(
        pixels,
        matrix,
        (width, height),
        dst=photo,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )
    # Paper under room light is warm, not white; the light falls off across the desk.
    warmth = np.array([1.0, rng.uniform(0.95, 0.99), rng.uniform(0.85, 0.95)], dtype=np.float32)
    lit = photo.astype(np.float32) * _lighting(width, height, rng)[:, :, None] * warmth
    photo = np.clip(lit, 0, 255).astype(np.uint8)
    photo = _u8(cv2.GaussianBlur(photo, (0, 0), float(rng.uniform(0.6, 1.4))))
    photo = _add_noise(photo, float(rng.uniform(2.0, 6.0)), rng)
    effects = PhotoEffects(
        corners=tuple(
            (round(float(x) / width, 4), round(float(y) / height, 4)) for x, y in corners
        ),
        width_px=width,
        height_px=height,
    )
    return Image.fromarray(photo), effects
