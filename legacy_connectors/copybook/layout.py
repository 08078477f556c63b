"""Record layouts: a parsed copybook turned into flat fields with offsets, sizes and types.

Column naming (documented for plan writers): a column is the COBOL name of an elementary
item, as written (``COMPANY-NAME``). An item under OCCURS becomes one column per
occurrence, suffixed ``_1``, ``_2``... (nested: ``_1_2``); occurrences beyond an OCCURS
DEPENDING ON count are null. FILLER items are not columns. A name used twice in one
layout is qualified by its enclosing groups, joined with ``.``. Sizes follow IBM
Enterprise COBOL: binary fields take 2, 4 or 8 bytes by digits (more than 18 digits:
the fewest bytes that hold the value and a sign, as cobrix does); COMP-3 takes
digits/2 + 1 bytes; SYNCHRONIZED slack bytes are not added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from legacy_connectors.base import Column
from legacy_connectors.copybook.parser import CopybookSyntaxError, Item, Usage, expand_picture


@dataclass(frozen=True)
class FieldType:
    """How one elementary item is stored."""

    kind: str  # text | display | edited | packed | binary | float | double
    size: int
    digits: int = 0
    scale: int = 0  # digits after the point; negative when P positions scale it up
    signed: bool = False
    sign_leading: bool = False
    sign_separate: bool = False
    native: bool = False  # COMP-5: the whole binary range, not limited by the PIC
    picture: str = ""  # expanded picture string (for edited numbers)

    @property
    def is_numeric(self) -> bool:
        return self.kind != "text"

    @property
    def is_decimal(self) -> bool:
        return self.kind not in ("text", "float", "double") and self.scale > 0

    def column_type(self) -> tuple[str, int | None, int | None]:
        """(portable type, precision, scale) for ``Column``."""
        if self.kind == "text":
            return "text", None, None
        if self.kind in ("float", "double"):
            return "float", None, None
        if self.scale > 0:
            precision = max(self.digits, self.scale)
            return f"decimal({precision},{self.scale})", precision, self.scale
        return "integer", self.digits - self.scale, 0


@dataclass(frozen=True)
class Shift:
    """An OCCURS DEPENDING ON array before a field: the field moves by (count - max) * size."""

    count_column: str
    maximum: int
    size: int


@dataclass(frozen=True)
class Field:
    """One column of a layout: an elementary item (one occurrence of it)."""

    column: str
    name: str
    offset: int  # from the start of the record, with every ODO array at its maximum
    type: FieldType
    # (count column, occurrence) for each ODO array around this field: present only if
    # the count reaches the occurrence.
    present_if: tuple[tuple[str, int], ...] = ()
    shifts: tuple[Shift, ...] = ()
    views: tuple[tuple[str, str], ...] = ()  # (REDEFINES area, view) this field lies in
    optional: bool = False  # in one of several views decoded together: null if it fails

    @property
    def end(self) -> int:
        return self.offset + self.type.size


@dataclass
class Node:
    """A laid-out item: the parsed item with its size and offset within its parent."""

    item: Item
    offset: int = 0
    size: int = 0  # one occurrence
    type: FieldType | None = None
    children: list[Node] = field(default_factory=list)
    area: str | None = None  # the REDEFINES area this node is a view of
    views: list[str] = field(default_factory=list)  # for an area's original: every view

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def occurs(self) -> int:
        return self.item.occurs or 1


def field_type(item: Item, usage: Usage, path: str) -> FieldType:
    """The storage of an elementary item from its PICTURE, USAGE and SIGN clauses."""

    def fail(message: str) -> CopybookSyntaxError:
        return CopybookSyntaxError(message, path=path, line=item.line, column=item.column)

    if usage is Usage.FLOAT:
        return FieldType("float", 4, signed=True)
    if usage is Usage.DOUBLE:
        return FieldType("double", 8, signed=True)
    assert item.picture is not None
    pic = expand_picture(item.picture)
    body = pic.replace("CR", "").replace("DB", "")
    if set(pic) <= set("XA9") and ("X" in pic or "A" in pic):
        if usage is not Usage.DISPLAY:
            raise fail(f"{item.name}: an alphanumeric PICTURE cannot be {usage.value}")
        return FieldType("text", len(pic), picture=pic)
    if set(pic) <= set("NG"):
        raise fail(f"{item.name}: national (PIC N/G) items are not supported")
    if set(body) <= set("9SVP"):
        # A SIGN SEPARATE clause gives the item a sign even when its PIC has no S.
        signed = pic.startswith("S") or item.sign_separate
        digits = pic.count("9")
        if digits == 0:
            raise fail(f"{item.name}: a numeric PICTURE needs at least one 9")
        if digits > MAX_DIGITS or pic.count("P") > MAX_DIGITS:
            raise fail(f"{item.name}: a numeric PICTURE holds at most {MAX_DIGITS} digits")
        core = pic.lstrip("S")
        if "V" in core:
            left, right = core.split("V", 1)
        elif core.startswith("P"):
            left, right = "", core
        else:
            left, right = core, ""
        if "P" in left and left.strip("9"):
            # 9(5)PPP: the P positions are zeros to the right of the digits.
            scale = -left.count("P")
        else:
            scale = right.count("9") + right.count("P")
        if usage is Usage.DISPLAY:
            separate = item.sign_separate
            return FieldType(
                "display",
                digits + (1 if separate else 0),
                digits,
                scale,
                signed,
                item.sign_leading,
                separate,
                picture=pic,
            )
        if item.sign_separate:
            raise fail(f"{item.name}: SIGN SEPARATE applies to DISPLAY items only")
        if usage is Usage.PACKED:
            return FieldType("packed", digits // 2 + 1, digits, scale, signed, picture=pic)
        if digits <= 4:
            size = 2
        elif digits <= 9:
            size = 4
        elif digits <= 18:
            size = 8
        else:
            size = math.ceil((digits * math.log2(10) + 1) / 8)
        native = usage is Usage.NATIVE_BINARY
        return FieldType("binary", size, digits, scale, signed, native=native, picture=pic)
    if usage is not Usage.DISPLAY:
        raise fail(f"{item.name}: an edited PICTURE must be DISPLAY")
    digits = sum(pic.count(c) for c in "9Z*")
    point = pic.find(".") if "." in pic else pic.find("V")
    scale = 0 if point < 0 else sum(pic[point:].count(c) for c in "9Z*")
    size = len(pic.replace("V", "").replace("S", ""))
    signed = any(s in pic for s in "+-") or "CR" in pic or "DB" in pic
    return FieldType("edited", size, digits, scale, signed, picture=pic)


MAX_DIGITS = 38
"""Digits of a numeric item (and P positions), as far as any compiler goes."""
MAX_LAYOUT_ITEMS = 200_000
"""Items of one record, every occurrence of an OCCURS counted: a layout beyond that is a
typo (``OCCURS 50000000``), and reading it would hold a column per occurrence."""


def lay_out(record: Item, path: str) -> Node:
    """Sizes and relative offsets of every item of a record.

    Raises:
        CopybookSyntaxError: an item that cannot be stored, or a record of more than
            ``MAX_LAYOUT_ITEMS`` items once its OCCURS are counted.
    """
    items = _items(record)
    if items > MAX_LAYOUT_ITEMS:
        raise _error(
            record,
            path,
            f"{record.name} has {items:,} items once its OCCURS are counted, over the "
            f"{MAX_LAYOUT_ITEMS:,} this reader lays out",
        )
    _check_counts(record, path)
    return _lay(record, None, path)


def _check_counts(record: Item, path: str) -> None:
    """Every OCCURS DEPENDING ON names an elementary item of the same record."""
    elementary: set[str] = set()
    depending: list[Item] = []
    stack = [record]
    while stack:
        item = stack.pop()
        if not item.children:
            elementary.add(item.name)
        if item.depending_on:
            depending.append(item)
        stack.extend(item.children)
    for item in depending:
        if item.depending_on not in elementary:
            raise _error(
                item,
                path,
                f"{item.name} OCCURS DEPENDING ON {item.depending_on}, which is not an "
                f"elementary item of {record.name}",
            )


def _error(item: Item, path: str, message: str) -> CopybookSyntaxError:
    return CopybookSyntaxError(message, path=path, line=item.line, column=item.column)


def _items(item: Item) -> int:
    inner = 1 + sum(_items(child) for child in item.children)
    return (item.occurs or 1) * inner


def _lay(item: Item, inherited: Usage | None, path: str) -> Node:
    usage = item.usage or inherited
    node = Node(item)
    if not item.children:
        node.type = field_type(item, usage or Usage.DISPLAY, path)
        node.size = node.type.size
        return node
    offset = 0
    by_name: dict[str, Node] = {}
    end = 0
    for child_item in item.children:
        child = _lay(child_item, usage, path)
        if child_item.redefines:
            target = by_name.get(child_item.redefines)
            if target is None:
                raise CopybookSyntaxError(
                    f"{child_item.name} REDEFINES {child_item.redefines}, which is not an "
                    "earlier item of the same group",
                    path=path,
                    line=child_item.line,
                    column=child_item.column,
                )
            original = by_name[target.area] if target.area else target
            child.offset = original.offset
            child.area = original.name
            original.area = original.name
            if not original.views:
                original.views = [original.name]
            original.views.append(child.name)
            end = max(end, child.offset + child.size * child.occurs)
        else:
            offset = end
            child.offset = offset
            end = offset + child.size * child.occurs
        by_name[child.name] = child
        node.children.append(child)
    node.size = end
    return node


def find_node(root: Node, name: str) -> Node | None:
    """The first node of that name, depth first."""
    if root.name == name:
        return root
    for child in root.children:
        found = find_node(child, name)
        if found is not None:
            return found
    return None


def areas(root: Node) -> dict[str, list[str]]:
    """Every REDEFINES area of a record: original name -> its views (original first)."""
    found: dict[str, list[str]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.views:
            found[node.name] = list(node.views)
        stack.extend(node.children)
    return found


def flatten(root: Node, chosen: dict[str, str]) -> list[Field]:
    """The columns of a record, with every REDEFINES area decoded as ``chosen`` says.

    Args:
        root: a laid-out 01 record.
        chosen: area name -> the one view to decode; areas not named decode every view,
            and each view's fields are then optional (null where they do not decode).
    """
    raw: list[tuple[tuple[str, ...], str, Field]] = []

    def walk(
        node: Node,
        base: int,
        path: tuple[str, ...],
        suffix: str,
        present_if: tuple[tuple[str, int], ...],
        shifts: tuple[Shift, ...],
        views: tuple[tuple[str, str], ...],
        optional: bool,
    ) -> tuple[Shift, ...]:
        area = node.area
        if area is not None:
            if area in chosen and chosen[area] != node.name:
                return shifts
            views = (*views, (area, node.name))
            if area not in chosen:
                optional = True
        item = node.item
        count = node.occurs
        odo_column = None
        if item.depending_on:
            odo_column = item.depending_on
        for index in range(1, count + 1):
            start = base + node.offset + (index - 1) * node.size
            sfx = f"{suffix}_{index}" if item.occurs else suffix
            cond = (*present_if, (odo_column, index)) if odo_column else present_if
            if node.type is not None:
                if node.name != "FILLER":
                    raw.append(
                        (
                            path,
                            node.name + sfx,
                            Field(
                                column="",
                                name=node.name,
                                offset=start,
                                type=node.type,
                                present_if=cond,
                                shifts=shifts,
                                views=views,
                                optional=optional,
                            ),
                        )
                    )
                continue
            inner = shifts
            for child in node.children:
                inner = walk(child, start, (*path, node.name), sfx, cond, inner, views, optional)
        if odo_column:
            return (*shifts, Shift(odo_column, count, node.size))
        return shifts

    shifts: tuple[Shift, ...] = ()
    for child in root.children:
        shifts = walk(child, 0, (), "", (), shifts, (), False)
    if root.type is not None:  # an 01 record that is itself elementary
        walk(root, 0, (), "", (), (), (), False)

    counts: dict[str, int] = {}
    for _, column, _ in raw:
        counts[column] = counts.get(column, 0) + 1
    fields: list[Field] = []
    for path, column, spec in raw:
        name = column if counts[column] == 1 else ".".join((*path, column))
        fields.append(
            Field(
                column=name,
                name=spec.name,
                offset=spec.offset,
                type=spec.type,
                present_if=spec.present_if,
                shifts=spec.shifts,
                views=spec.views,
                optional=spec.optional,
            )
        )
    return fields


def columns_of(fields: list[Field], record_number: str) -> tuple[Column, ...]:
    """Portable column descriptions, the record number first."""
    out = [Column(record_number, "integer", nullable=False)]
    for f in fields:
        kind, precision, scale = f.type.column_type()
        nullable = f.optional or bool(f.present_if) or f.type.is_numeric
        out.append(
            Column(
                f.column,
                kind,
                nullable=nullable,
                length=f.type.size if kind == "text" else None,
                precision=precision,
                scale=scale,
            )
        )
    return tuple(out)
