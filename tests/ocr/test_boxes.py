"""Boxes found from ruled lines: value boxes, tick boxes, combs and grid cells."""

from __future__ import annotations

import cv2
import numpy as np

from ocr.boxes import BoxKind, comb_compacted, find_boxes

DPI = 300


def _page() -> np.ndarray:
    return np.full((1200, 1600), 255, np.uint8)


def _rect(page: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    cv2.rectangle(page, (x0, y0), (x1, y1), 60, 3)


def test_a_value_box_a_tick_box_and_text_that_is_not_a_box() -> None:
    page = _page()
    _rect(page, 500, 100, 1400, 190)
    _rect(page, 100, 300, 150, 350)
    cv2.putText(page, "Surname 0 O", (100, 160), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 3)
    boxes = find_boxes(page, DPI)
    kinds = sorted((b.kind, b.bbox[0] // 10) for b in boxes)
    assert kinds == [(BoxKind.TICK, 10), (BoxKind.VALUE, 50)]
    value = next(b for b in boxes if b.kind is BoxKind.VALUE)
    # The inside, walls excluded (within the dilation's pixel).
    assert 501 <= value.bbox[0] <= 505
    assert 1395 <= value.bbox[2] <= 1399


def test_a_comb_is_one_box_with_its_cells_and_walls() -> None:
    page = _page()
    for i in range(9):
        _rect(page, 200 + i * 60, 500, 260 + i * 60, 580)
    boxes = find_boxes(page, DPI)
    assert [b.kind for b in boxes] == [BoxKind.COMB]
    assert boxes[0].cells == 9
    assert len(boxes[0].spans) == 9


def test_grid_cells_sharing_walls_are_boxes_of_their_own() -> None:
    page = _page()
    for x in (100, 600, 1500):
        cv2.line(page, (x, 100), (x, 400), 60, 3)
    for y in (100, 250, 400):
        cv2.line(page, (100, y), (1500, y), 60, 3)
    boxes = find_boxes(page, DPI)
    assert len(boxes) == 4
    assert all(b.kind is BoxKind.VALUE for b in boxes)


def test_a_row_of_separate_tick_boxes_is_not_a_comb() -> None:
    page = _page()
    for i in range(4):
        _rect(page, 200 + i * 250, 500, 250 + i * 250, 550)
    boxes = find_boxes(page, DPI)
    assert [b.kind for b in boxes] == [BoxKind.TICK] * 4


def test_a_comb_in_groups_is_one_comb() -> None:
    page = _page()
    x = 200
    for group in (2, 2, 4):
        for _ in range(group):
            _rect(page, x, 500, x + 60, 580)
            x += 60
        x += 35
    boxes = find_boxes(page, DPI)
    assert [b.kind for b in boxes] == [BoxKind.COMB]
    assert boxes[0].cells == 8


def test_a_comb_whose_cells_writing_broke_up_is_found_whole() -> None:
    """Letters written from a cell's top to its foot leave stems taken for walls, and a
    stroke run over a wall leaves a cell no box: the comb (a postcode's two groups) is
    still found with all its cells, from its rules and its walls."""
    page = _page()
    x, lefts = 200, []
    for group in (4, 3):
        for _ in range(group):
            _rect(page, x, 500, x + 60, 580)
            lefts.append(x)
            x += 60
        x += 35
    for left in (lefts[0], lefts[5]):  # an N, stems from the top wall to the foot
        cv2.line(page, (left + 15, 500), (left + 15, 580), 0, 4)
        cv2.line(page, (left + 45, 500), (left + 45, 580), 0, 4)
        cv2.line(page, (left + 15, 500), (left + 45, 580), 0, 4)
    # A stroke run from the second cell over its wall into the third.
    cv2.line(page, (lefts[1] + 20, 540), (lefts[2] + 40, 520), 0, 4)
    boxes = find_boxes(page, DPI)
    assert [b.kind for b in boxes] == [BoxKind.COMB]
    (comb,) = boxes
    assert comb.cells == 7
    # Each cell's inside, within the walls' few pixels.
    for (a, b), left in zip(comb.spans, lefts, strict=True):
        assert 0 < a - left <= 6
        assert 0 < left + 60 - b <= 6


def test_a_comb_is_not_taken_on_into_a_box_beside_it() -> None:
    """Rules that run on past a comb's last cell without walls at a cell's width (a
    value box beside it on the same line) add no cell."""
    page = _page()
    for i in range(4):
        _rect(page, 200 + i * 60, 500, 260 + i * 60, 580)
    _rect(page, 300 + 4 * 60, 500, 1400, 580)
    boxes = find_boxes(page, DPI)
    combs = [b for b in boxes if b.kind is BoxKind.COMB]
    assert [c.cells for c in combs] == [4]
    assert any(b.kind is BoxKind.VALUE for b in boxes)


def test_comb_compaction_keeps_a_word_gap_for_an_empty_cell() -> None:
    cells = np.full((80, 600), 255, np.uint8)
    for i in (0, 1, 3, 4):
        cv2.putText(cells, "A", (i * 100 + 30, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 3)
    compact = comb_compacted(cells, [(i * 100 + 3, i * 100 + 97) for i in range(6)], DPI)
    # Four letters of ~35 px, three letter gaps and one word gap: far narrower than 600.
    assert 150 < compact.shape[1] < 260
    blank_columns = np.flatnonzero(~(compact < 128).any(axis=0))
    assert len(blank_columns) > 20


def test_a_tick_running_over_the_box_s_top_and_out_past_its_corner_keeps_the_box() -> None:
    page = _page()
    _rect(page, 100, 300, 150, 350)
    # The tick: down to the bottom left, then a long stroke up over the top wall's
    # right end and beyond, drawn with a thick pen so that near the top it lies along
    # the wall for a stretch.
    cv2.line(page, (108, 325), (122, 343), 20, 6)
    cv2.line(page, (122, 343), (190, 296), 20, 6)
    cv2.line(page, (120, 300), (185, 300), 20, 5)
    ticks = [b for b in find_boxes(page, DPI) if b.kind is BoxKind.TICK]
    assert len(ticks) == 1
    assert abs(ticks[0].bbox[0] - 102) <= 3
    assert abs(ticks[0].bbox[3] - 348) <= 3


def test_a_stroke_inside_a_box_that_meets_one_wall_only_is_not_a_wall() -> None:
    page = _page()
    _rect(page, 500, 100, 1400, 190)
    # A long bar of a letter joined to the bottom wall: one meeting, not two.
    cv2.line(page, (800, 190), (800, 120), 0, 4)
    boxes = find_boxes(page, DPI)
    assert [b.kind for b in boxes] == [BoxKind.VALUE]


def test_a_tick_box_struck_through_is_one_box() -> None:
    """A tick taken back by strokes drawn across the box, wall to wall and straight
    enough to pass for ruled lines (one running out past the wall): the box is still
    one tick box, its whole inside, not slivers or a short value box."""
    page = _page()
    _rect(page, 100, 300, 150, 350)
    cv2.line(page, (98, 318), (151, 316), 40, 4)
    cv2.line(page, (98, 334), (168, 333), 40, 4)
    cv2.line(page, (104, 346), (146, 304), 40, 4)
    (box,) = find_boxes(page, DPI)
    assert box.kind is BoxKind.TICK
    assert box.struck  # what it holds is for a person
    assert 101 <= box.bbox[0] <= 105
    assert 301 <= box.bbox[1] <= 305
    assert 145 <= box.bbox[2] <= 149
    assert 345 <= box.bbox[3] <= 349


def test_two_boxes_sharing_a_wall_stay_two() -> None:
    """Two tick-sized cells of a grid, one above the other, share a wall as a strike
    would split a box: they are as big as two boxes, and stay two."""
    page = _page()
    _rect(page, 100, 300, 150, 350)
    _rect(page, 100, 350, 150, 400)
    boxes = find_boxes(page, DPI)
    assert len(boxes) == 2
    assert not any(b.struck for b in boxes)
