"""Preprocessing: small pure stages over grayscale page images (numpy arrays).

Each stage takes pixels and returns pixels (or a measurement), so the pipeline reads
as a chain and each stage is tested alone. Heavy measurements (skew, the page outline
in a photo) run on a reduced copy: they need the shape of the page, not its detail.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

GrayImage = np.ndarray[Any, np.dtype[np.uint8]]

TARGET_DPI = 300
# A4 is 11.69 in tall and US Letter 11 in: a page's long side is about 11.3 in.
_PAGE_LONG_SIDE_IN = 11.3
_MAX_UPSCALE = 3.0


# --- resolution ------------------------------------------------------------------------


def effective_dpi(image: GrayImage, declared: int | None) -> int:
    """The resolution of a page image: what the file declares when plausible, else what
    a whole A4/Letter page at this pixel size would be."""
    estimated = round(max(image.shape[:2]) / _PAGE_LONG_SIDE_IN)
    if declared and 0.5 * estimated <= declared <= 2.0 * estimated:
        return declared
    return max(50, min(1200, estimated))


def normalise_resolution(
    image: GrayImage, dpi: int, target: int = TARGET_DPI
) -> tuple[GrayImage, int]:
    """Scale a page towards ``target`` dpi, where Tesseract reads best.

    Low-resolution scans (fax, FUNSD's ~100 dpi) gain a lot from upscaling; very high
    resolutions only cost time. Within 20% of the target the page is left alone.

    Returns:
        The scaled image and its new dpi.
    """
    factor = min(target / dpi, _MAX_UPSCALE)
    if 0.8 <= factor <= 1.25:
        return image, dpi
    return scale(image, factor), round(dpi * factor)


def scale(image: GrayImage, factor: float) -> GrayImage:
    """Resize by a factor: cubic when enlarging (smooth strokes), area when reducing."""
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return np.asarray(cv2.resize(image, size, interpolation=interpolation), dtype=np.uint8)


def reduced(image: GrayImage, long_side: int) -> tuple[GrayImage, float]:
    """A copy whose long side is at most ``long_side``, for measuring, and its factor.

    Halved first while it can be: OpenCV averages whole 2×2 blocks ten times faster
    than it resamples by an odd factor, and a measurement needs no finer resampling.
    """
    factor = min(1.0, long_side / max(image.shape[:2]))
    if factor >= 1.0:
        return image, factor
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small, left = image, factor
    while left <= 0.5 and min(small.shape[:2]) >= 2:
        rows, columns = small.shape[:2]
        even = small[: rows - rows % 2, : columns - columns % 2]
        small = np.asarray(
            cv2.resize(even, (columns // 2, rows // 2), interpolation=cv2.INTER_AREA), np.uint8
        )
        left *= 2
    if (small.shape[1], small.shape[0]) != size:
        small = np.asarray(cv2.resize(small, size, interpolation=cv2.INTER_AREA), np.uint8)
    return small, factor


def ink_pieces(ink: GrayImage) -> tuple[int, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The 8-connected pieces of a binary image: their count, label image and stats (as
    ``cv2.connectedComponentsWithStats`` gives them)."""
    try:
        # 16-bit labels are three to four times faster than 32-bit ones over a whole
        # page, and a page has far fewer than 65,535 pieces of ink...
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            ink, connectivity=8, ltype=cv2.CV_16U
        )
    except cv2.error:
        # ... unless it is speckled or patterned all over.
        count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    return count, labels, stats


def median_level(image: GrayImage) -> float:
    """``np.median`` of 8-bit pixels, from their histogram (a fraction of the cost)."""
    histogram = cv2.calcHist([np.ascontiguousarray(image)], [0], None, [256], [0, 256])
    counts = np.cumsum(histogram.ravel().astype(np.int64))
    size = int(counts[-1])
    if size == 0:
        return float("nan")
    lower = int(np.searchsorted(counts, (size - 1) // 2 + 1))
    upper = int(np.searchsorted(counts, size // 2 + 1))
    return (lower + upper) / 2


# --- photos: find the page and flatten it ---------------------------------------------


def find_page(image: GrayImage) -> GrayImage:
    """Cut the page out of a photo and undo its perspective (four-point warp).

    The page is the largest bright four-cornered outline. When none is clear (a flat
    scan, a page that fills the frame), the image is returned as it is.
    """
    small, factor = reduced(image, 1000)
    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    _, bright = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return image
    outline = max(contours, key=cv2.contourArea)
    area_share = cv2.contourArea(outline) / float(small.shape[0] * small.shape[1])
    # Under a quarter of the frame is not a page; over 97% means no background shows.
    if not 0.25 <= area_share <= 0.97:
        return image
    corners = page_corners(outline)
    if corners is None:
        return image
    return _warp(image, _order_corners(corners / factor))


def page_corners(outline: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    """The four corners of a page's outline (float32, 4×2), or None when it has no
    four clear sides.

    A corner in shadow falls below the brightness threshold and is cut off, leaving a
    fifth short edge; so the page's sides are the four longest edges of the outline's
    hull, and its corners are where those meet.
    """
    hull = cv2.convexHull(outline)
    # A fine approximation, so that a cut corner shows as an edge of its own rather than
    # being merged into a corner placed at one end of the cut.
    approx = cv2.approxPolyDP(hull, 0.01 * cv2.arcLength(hull, True), True).reshape(-1, 2)
    if not 4 <= len(approx) <= 8:
        return None
    points = approx.astype(np.float64)
    edges = [(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
    lengths = [float(np.linalg.norm(b - a)) for a, b in edges]
    longest = sorted(sorted(range(len(edges)), key=lambda i: -lengths[i])[:4])
    corners = []
    for index, following in zip(longest, longest[1:] + longest[:1], strict=True):
        corner = _intersection(edges[index], edges[following])
        if corner is None:
            return None
        corners.append(corner)
    quad = np.array(corners, dtype=np.float32)
    # The cut-off corners are restored, not invented: the page only grows a little
    # (the approximation cuts a hair off the hull, hence 0.97).
    hull_area = cv2.contourArea(hull.astype(np.float32))
    if not 0.97 * hull_area <= cv2.contourArea(quad) <= 1.15 * hull_area:
        return None
    return quad


def _intersection(
    first: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    second: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
) -> tuple[float, float] | None:
    """Where the lines through two edges cross, or None when they are near parallel."""
    (a, b), (c, d) = first, second
    direction1, direction2 = b - a, d - c
    cross = direction1[0] * direction2[1] - direction1[1] * direction2[0]
    if abs(cross) < 1e-6 * np.linalg.norm(direction1) * np.linalg.norm(direction2) + 1e-9:
        return None
    t = ((c[0] - a[0]) * direction2[1] - (c[1] - a[1]) * direction2[0]) / cross
    point = a + t * direction1
    return float(point[0]), float(point[1])


def _order_corners(points: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Top-left, top-right, bottom-right, bottom-left."""
    sums = points.sum(axis=1)
    diffs = np.diff(points, axis=1).ravel()
    return np.array(
        [
            points[np.argmin(sums)],
            points[np.argmin(diffs)],
            points[np.argmax(sums)],
            points[np.argmax(diffs)],
        ],
        dtype=np.float32,
    )


def _warp(image: GrayImage, quad: np.ndarray[Any, Any]) -> GrayImage:
    top_left, top_right, bottom_right, bottom_left = quad
    width = round(
        max(np.linalg.norm(top_right - top_left), np.linalg.norm(bottom_right - bottom_left))
    )
    height = round(
        max(np.linalg.norm(bottom_left - top_left), np.linalg.norm(bottom_right - top_right))
    )
    target = np.array(
        [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32
    )
    matrix = cv2.getPerspectiveTransform(quad, target)
    warped = cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=255
    )
    return np.asarray(warped, dtype=np.uint8)


def flatten_lighting(image: GrayImage) -> GrayImage:
    """Even out shadows and gradients (photos): divide by a blurred copy of the page."""
    small, _factor = reduced(image, 500)
    background = cv2.medianBlur(cv2.dilate(small, np.ones((7, 7), np.uint8)), 21)
    background = cv2.resize(background, (image.shape[1], image.shape[0]))
    flattened = cv2.divide(image, background, scale=255)
    return np.asarray(flattened, dtype=np.uint8)


# --- orientation and skew --------------------------------------------------------------


def rotate_quarter(image: GrayImage, degrees: int) -> GrayImage:
    """Turn clockwise by 0, 90, 180 or 270 degrees (lossless)."""
    turns = {0: None, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180}
    turns[270] = cv2.ROTATE_90_COUNTERCLOCKWISE
    code = turns[degrees % 360]
    return image if code is None else np.asarray(cv2.rotate(image, code), dtype=np.uint8)


def text_runs_across(image: GrayImage) -> bool:
    """Whether the text lines run across the page (0/180) rather than up it (90/270).

    Lines of text make the row profile of a page spiky; on a page turned a quarter the
    column profile is the spiky one. Cheap, and it saves an OSD call on upright pages.
    """
    ink = _ink(image, 800)
    return _profile_score(ink, axis=1) >= 0.8 * _profile_score(ink, axis=0)


def skew_angle(image: GrayImage, max_degrees: float = 8.0) -> float:
    """The angle (degrees, counter-clockwise) that makes text lines horizontal.

    Projection-profile search: the rotation whose row sums are spikiest has the lines
    level. Coarse steps first, then fine ones around the best.
    """
    ink = _ink(image, 1000)
    best = _best_angle(ink, np.arange(-max_degrees, max_degrees + 0.01, 0.5))
    return _best_angle(ink, np.arange(best - 0.5, best + 0.51, 0.1))


def deskew(image: GrayImage, angle: float) -> GrayImage:
    """Rotate by ``angle`` degrees counter-clockwise, filling the corners with paper."""
    if abs(angle) < 0.05:
        return image
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    rotated = cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=255
    )
    return np.asarray(rotated, dtype=np.uint8)


def _ink(image: GrayImage, long_side: int) -> GrayImage:
    small, _ = reduced(image, long_side)
    _, ink = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return np.asarray(ink, dtype=np.uint8)


def _profile_score(ink: GrayImage, axis: int) -> float:
    profile = ink.sum(axis=axis, dtype=np.float64)
    return float(np.square(np.diff(profile)).sum())


def _best_angle(ink: GrayImage, angles: np.ndarray[Any, Any]) -> float:
    scores = [_profile_score(deskew(ink, float(a)) if a else ink, axis=1) for a in angles]
    return round(float(angles[int(np.argmax(scores))]), 2)


# --- cleaning --------------------------------------------------------------------------


def remove_specks(image: GrayImage) -> GrayImage:
    """Remove salt-and-pepper noise (scanner dust) without thinning strokes at 300 dpi."""
    return np.asarray(cv2.medianBlur(image, 3), dtype=np.uint8)


def lighten_dark_bars(image: GrayImage, dpi: int) -> GrayImage:
    """Turn dark bars printed with light text (section headings, a title band) into dark
    text on light paper, which is what Tesseract reads.

    A bar is a solid dark rectangle at least an inch wide and a sixth of an inch tall,
    found on a reduced copy; only its inside is inverted.
    """
    small, factor = reduced(image, max(image.shape[:2]) // 4)
    dark = np.where(small < 110, 255, 0).astype(np.uint8)
    # Light letters punch holes in a bar: close them before measuring how solid it is.
    closed = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    if count < 2:
        return image
    result = image
    for x, y, w, h, area in stats[1:]:
        if w < dpi * factor or h < dpi * factor / 6 or area < 0.7 * w * h:
            continue
        # Solid: most of it is dark even before closing (a line of bold print is not).
        if float(np.median(small[y : y + h, x : x + w])) >= 110:
            continue
        if result is image:
            result = image.copy()
        # The reduced copy blurs the bar's edges: paper them over a few pixels of the
        # reduced copy either side, and invert only what lies within.
        edge = round(1 / factor)
        margin = 3 * edge
        x0, y0 = round(x / factor), round(y / factor)
        x1, y1 = round((x + w) / factor), round((y + h) / factor)
        inside = 255 - result[y0 + edge : y1 - edge, x0 + edge : x1 - edge]
        result[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = 255
        result[y0 + edge : y1 - edge, x0 + edge : x1 - edge] = inside
    return result


def remove_leaders(image: GrayImage, dpi: int) -> GrayImage:
    """White out dotted leaders (a label's row of dots running to its box).

    Tesseract reads a row of dots under or after a label as letters and garbles the
    label with them. A leader is a run of small dots, each close to the next, at
    least a third of an inch long and no taller than a dot. Looked for on a half-size
    copy (dots are found as well, four times faster); dots are often printed grey,
    so anything clearly darker than the paper counts as ink.
    """
    small, factor = reduced(image, max(image.shape[:2]) // 2)
    dpi_small = dpi * factor
    paper = median_level(small)
    ink = np.where(small < paper - 35, 255, 0).astype(np.uint8)
    _, labels, stats = ink_pieces(ink)
    dot = max(2, round(dpi_small / 30))
    widths, heights = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    is_dot = (widths <= dot) & (heights <= dot)
    is_dot[0] = False
    if int(is_dot.sum()) < 5:
        return image
    dots = np.where(is_dot[labels], 255, 0).astype(np.uint8)
    gap = max(3, round(dpi_small / 20))
    joined = cv2.dilate(dots, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 1)))
    _, run_labels, run_stats = ink_pieces(np.asarray(joined, np.uint8))
    leader = (run_stats[:, cv2.CC_STAT_WIDTH] >= dpi_small / 3) & (
        run_stats[:, cv2.CC_STAT_HEIGHT] <= 2 * dot
    )
    leader[0] = False
    if not leader.any():
        return image
    found = np.where((dots > 0) & leader[run_labels], 255, 0).astype(np.uint8)
    height, width = image.shape[:2]
    mask = cv2.resize(cv2.dilate(found, np.ones((3, 3), np.uint8)), (width, height))
    cleaned = image.copy()
    cleaned[mask > 0] = 255
    return cleaned


def noise_level(image: GrayImage) -> float:
    """Share of ink pixels that are isolated specks: high on dusty or noisy scans."""
    ink = _ink(image, 1600)
    opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    total = int(np.count_nonzero(ink))
    return 0.0 if total == 0 else 1.0 - np.count_nonzero(opened) / total


def is_blank(image: GrayImage) -> bool:
    """Whether a page carries (almost) no ink: under 0.05% of it clearly darker than the
    paper. Reducing first averages scanner specks away."""
    small, _ = reduced(image, 800)
    paper = median_level(small)
    dark = np.count_nonzero(small < paper - 60)
    return bool(dark < 0.0005 * small.size)


def remove_lines(crop: GrayImage, *, boxed: bool = False, handwritten: bool = False) -> GrayImage:
    """White out long straight lines (box edges, underlines) that Tesseract reads as
    letters.

    A vertical line goes only when it runs into the crop's top or bottom edge, as a
    wall does: a capital I or a 1 written large in its box is as tall and as straight,
    but stands clear of both edges. In a ``boxed`` crop (the inside of a box, rows and
    all) a wall runs from the top edge to the bottom one: letters written large, or run
    on past the wall a size larger, reach one edge with their stems and tails (an h, a
    g, a t), and stay. In ``handwritten`` crops, where a stroke crosses a line the
    line stays under it, and where one only touches a wall the wall's rim beside it
    stays.
    """
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    height, width = crop.shape[:2]
    # A line is longer than a letter is wide: a quarter of the crop, and most of it when
    # the crop is about as narrow as it is tall (a figure in a table's cell, where two
    # small bold figures side by side held a run of a quarter, and went with the lines).
    length = max(15, width // 4, int(0.8 * min(width, height)))
    horizontal = cv2.morphologyEx(
        ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    )
    vertical = np.asarray(
        cv2.morphologyEx(
            ink,
            cv2.MORPH_OPEN,
            cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(15, int(height * 0.7)))),
        ),
        np.uint8,
    )
    count, labels, stats, _ = cv2.connectedComponentsWithStats(vertical, connectivity=8)
    edge = 2  # pixels
    for index in range(1, count):
        top, tall = stats[index, cv2.CC_STAT_TOP], stats[index, cv2.CC_STAT_HEIGHT]
        clear = (top > edge, top + tall < height - edge)
        if any(clear) if boxed else all(clear):
            vertical[labels == index] = 0
    grow = np.ones((3, 3), np.uint8)
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), grow) > 0
    others = (ink > 0) & ~lines
    crossings = np.zeros_like(lines)
    if handwritten:
        walls = cv2.dilate(vertical, grow) > 0
        # Where a stroke crosses a wall or a rule, it stays: a letter written over a
        # wall, or run on past it, is not cut in two (a 9 read as a 0), nor a g's tail
        # through the line under it. (In print, what meets a line on both sides is more
        # often a shaded cell's grey, or a rule found only in part: what was left of the
        # wall there was read as a "|".)
        crossings |= _crossings(walls, others)
        crossings |= _crossings((cv2.dilate(horizontal, grow) > 0).T, others.T).T
        # Where a stroke only touches a wall, the wall goes but not its rim beside the
        # stroke, which is the stroke's edge as much.
        rim = (cv2.dilate(others.astype(np.uint8), grow) > 0) & (vertical == 0)
        crossings |= _crossings(walls, others, beside=True) & rim
    cleaned = crop.copy()
    cleaned[lines & ~crossings] = 255
    return cleaned


def _crossings(band: np.ndarray, others: np.ndarray, *, beside: bool = False) -> np.ndarray:
    """Where a stroke crosses a vertical line (``band``, the line and its rim): the
    stretches of its rows with ink that is no line (``others``) just left of them and
    just right; or, ``beside``, on either side."""
    height, width = band.shape
    inside = np.pad(band, ((0, 0), (1, 1)))
    starts = (band & ~inside[:, :-2]).ravel()  # a stretch's first pixel in its row
    ends = (band & ~inside[:, 2:]).ravel()
    near = np.pad(others, ((0, 0), (2, 2)))
    left = (near[:, 1:-3] | near[:, :-4]).ravel()  # ink one or two pixels to the left
    right = (near[:, 3:-1] | near[:, 4:]).ravel()
    stretch = np.cumsum(starts)  # each pixel's stretch, numbered along the rows
    met = np.zeros(int(stretch[-1]) + 1 if stretch.size else 1, bool)
    met[stretch[starts]] = left[starts]
    if beside:
        met[stretch[ends]] |= right[ends]
    else:
        met[stretch[ends]] &= right[ends]
    return (band.ravel() & met[stretch]).reshape(height, width)
