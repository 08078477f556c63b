"""From a legacy row to a target row: column names and the plan's transforms.

Copy and reconciliation both go through ``RowMapper``, so a row is transformed the same
way when it is written and when it is checked. Transforms are parsed once per table
(``RowMapper(table_plan, table_info)``); a bad transform, an unknown column or a transform
that cannot apply to the column's type is a ``PlanError`` before any row is read.

Named transforms (DESIGN.md, "Migration plan format"):

=================  ==========================================================  ==============
transform          what it does                                                target type
=================  ==========================================================  ==============
``strip``          trailing and leading blanks removed                         text
``upper``          upper case                                                  text
``lower``          lower case                                                  text
``title``          title case                                                  text
``date:FMT``       text parsed with ``strptime`` format ``FMT``; blank → null  date, or datetime
                   (dates and datetimes already typed pass through)            when FMT has a time
``decimal:N``      exact decimal, rounded half up to N places; blank → null    decimal(p,N)
``int``            integer; blank → null; a fraction is an error               integer
``null_if:A|B``    null when the value (as text) is one of A, B; ``null_if:``  unchanged
                   alone nulls the empty string
``map:A=B|C=D``    A becomes B, C becomes D (as text); other values kept       text
``ebcdic-packed``  bytes of a COBOL COMP-3 packed decimal to an integer        decimal(p,0)
                   ``Decimal`` (values already decoded pass through)
``module:func``    ``func(value)``; the target type is the callable's          the source's, or
                   ``target_type`` attribute if it has one                     ``target_type``
=================  ==========================================================  ==============

Every transform passes null through. A value a transform cannot convert raises
``LegacyReadError`` naming the table, column and transform, never the value (row values
are personal data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import import_module
from typing import Any

from config.migration_plan import TablePlan
from domain.errors import LegacyReadError, PlanError
from legacy_connectors.base import Column, Key, Row, TableInfo
from legacy_connectors.sql import TextBatch

__all__ = ["MappedBatch", "MappedColumn", "RowMapper", "Transform", "parse_transform"]

_TEXT_TYPES = ("text",)
_TIME_DIRECTIVES = re.compile(r"%[HIMSfpXcT]")
_DEFAULT_DECIMAL_PRECISION = 38
"""Precision of ``decimal:N`` when the source's digits are unknown (text, float)."""


class _ValueError(Exception):
    """A value one transform cannot convert; the mapper adds table and column."""


@dataclass(frozen=True)
class Transform:
    """One parsed transform: the function and the target column it produces.

    Attributes:
        spec: the transform as the plan spells it.
        apply: value -> value; never called with None.
        output: the target column's portable type and its precision and scale,
            given the source column.
        text_method: for the text transforms, the ``str`` method itself: a column of
            text can then be transformed in one call (``RowMapper.map_text``).
    """

    spec: str
    apply: Callable[[Any], Any]
    output: Callable[[Column], Column]
    text_method: Callable[[str], str] | None = None


def _keep_type(column: Column) -> Column:
    return column


def _as_text(column: Column) -> Column:
    return replace(column, type="text", precision=None, scale=None)


def _text_transform(spec: str, fn: Callable[[str], str]) -> Transform:
    def apply(value: Any) -> Any:
        if not isinstance(value, str):
            raise _ValueError("is not text")
        return fn(value)

    return Transform(spec, apply, _as_text, text_method=fn)


def _date_transform(spec: str, fmt: str) -> Transform:
    with_time = bool(_TIME_DIRECTIVES.search(fmt))

    def apply(value: Any) -> Any:
        if isinstance(value, datetime):
            return value if with_time else value.date()
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day) if with_time else value
        if isinstance(value, bytes | bytearray):
            raise _ValueError("is bytes, not text")
        text = str(value).strip()
        if not text:
            return None
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            raise _ValueError(f"does not match the date format {fmt!r}") from None
        return parsed if with_time else parsed.date()

    def output(column: Column) -> Column:
        return replace(column, type="datetime" if with_time else "date", precision=None, scale=None)

    return Transform(spec, apply, output)


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        raise _ValueError("is a boolean, not a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr gives the shortest text that reads back as the same float: 0.1 stays 0.1
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _ValueError("is not a number") from None
        if not number.is_finite():
            raise _ValueError("is not a finite number")
        return number
    raise _ValueError(f"is a {type(value).__name__}, not a number")


def _decimal_transform(spec: str, places: int) -> Transform:
    quantum = Decimal(1).scaleb(-places)

    def apply(value: Any) -> Any:
        number = _to_decimal(value)
        if number is None:
            return None
        try:
            return number.quantize(quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise _ValueError("has too many digits") from None

    def output(column: Column) -> Column:
        if column.type.startswith("decimal") and column.precision is not None:
            whole = column.precision - (column.scale or 0)
            precision = max(whole + places, places + 1)
        elif column.type == "integer":
            precision = 19 + places  # a BIGINT has at most 19 digits
        else:
            precision = _DEFAULT_DECIMAL_PRECISION
        return replace(
            column, type=f"decimal({precision},{places})", precision=precision, scale=places
        )

    return Transform(spec, apply, output)


def _int_apply(value: Any) -> Any:
    number = _to_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise _ValueError("has a fraction")
    return int(number)


def _int_output(column: Column) -> Column:
    return replace(column, type="integer", precision=None, scale=None)


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _null_if_transform(spec: str, values: Sequence[str]) -> Transform:
    nulls = frozenset(values)

    def apply(value: Any) -> Any:
        return None if _text_of(value) in nulls else value

    return Transform(spec, apply, _keep_type)


def _map_transform(spec: str, pairs: str) -> Transform:
    table: dict[str, str] = {}
    for pair in pairs.split("|"):
        old, sep, new = pair.partition("=")
        if not sep:
            raise PlanError(f"transform {spec!r}: {pair!r} is not FROM=TO")
        if old in table:
            raise PlanError(f"transform {spec!r}: {old!r} is mapped twice")
        table[old] = new

    def apply(value: Any) -> Any:
        text = _text_of(value)
        return table.get(text, text)

    return Transform(spec, apply, _as_text)


def _packed_apply(value: Any) -> Any:
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return Decimal(value)  # the connector already decoded it (copybook COMP-3)
    if not isinstance(value, bytes | bytearray) or not value:
        raise _ValueError("is not packed-decimal bytes")
    digits = []
    for byte in value[:-1]:
        digits += [byte >> 4, byte & 0x0F]
    digits.append(value[-1] >> 4)
    sign = value[-1] & 0x0F
    if any(d > 9 for d in digits) or sign < 0x0A:
        raise _ValueError("is not a valid packed decimal")
    number = int("".join(map(str, digits)))
    # IBM: D and B are negative, A, C, E, F positive
    return Decimal(-number if sign in (0x0B, 0x0D) else number)


def _packed_output(column: Column) -> Column:
    precision = 2 * column.length - 1 if column.length else _DEFAULT_DECIMAL_PRECISION
    return replace(column, type=f"decimal({precision},0)", precision=precision, scale=0)


def _callable_transform(spec: str) -> Transform:
    module_name, _, name = spec.partition(":")
    try:
        fn = getattr(import_module(module_name), name)
    except (ImportError, AttributeError) as e:
        raise PlanError(f"transform {spec!r}: cannot import it ({e})") from e
    if not callable(fn):
        raise PlanError(f"transform {spec!r} is not callable")
    target_type = getattr(fn, "target_type", None)

    def apply(value: Any) -> Any:
        try:
            return fn(value)
        except Exception as e:  # a plan's own code: any failure is a bad value
            raise _ValueError(f"made {spec} fail ({type(e).__name__})") from e

    def output(column: Column) -> Column:
        if target_type is None:
            return column
        return replace(column, type=str(target_type), precision=None, scale=None)

    return Transform(spec, apply, output)


def parse_transform(spec: str) -> Transform:
    """Parse one transform as a plan spells it.

    Args:
        spec: e.g. ``strip``, ``date:%Y%m%d``, ``decimal:2``, ``map:Y=true|N=false``,
            ``mypackage.cleaning:fix_postcode``.

    Returns:
        The transform, ready to apply.

    Raises:
        PlanError: unknown transform, malformed arguments, or a callable that cannot be imported.
    """
    simple: dict[str, Callable[[str], str]] = {
        "strip": str.strip,
        "upper": str.upper,
        "lower": str.lower,
        "title": str.title,
    }
    if spec in simple:
        return _text_transform(spec, simple[spec])
    if spec == "int":
        return Transform(spec, _int_apply, _int_output)
    if spec == "ebcdic-packed":
        return Transform(spec, _packed_apply, _packed_output)
    name, sep, argument = spec.partition(":")
    if sep and name == "date":
        if not argument or "%" not in argument:
            raise PlanError(f"transform {spec!r}: date needs a strptime format like %Y%m%d")
        return _date_transform(spec, argument)
    if sep and name == "decimal":
        if not argument.isdigit():
            raise PlanError(f"transform {spec!r}: decimal needs a number of places, e.g. decimal:2")
        return _decimal_transform(spec, int(argument))
    if sep and name == "null_if":
        return _null_if_transform(spec, argument.split("|"))
    if sep and name == "map":
        return _map_transform(spec, argument)
    if sep and re.fullmatch(r"[A-Za-z_][\w.]*", name) and re.fullmatch(r"[A-Za-z_]\w*", argument):
        return _callable_transform(spec)
    raise PlanError(
        f"unknown transform {spec!r}: use strip, upper, lower, title, int, date:FMT, "
        "decimal:N, null_if:A|B, map:A=B|C=D, ebcdic-packed, or module:function"
    )


_NEEDS_TEXT = {"strip", "upper", "lower", "title"}


def _text_column(values: Sequence[Any], method: Callable[[str], str]) -> list[Any] | None:
    """A column of UTF-8 text with a ``str`` method applied to every value, in one decode,
    one call and one encode over the whole column: the same as value by value, because
    the separator (NUL) is neither a letter nor blank. None when a value holds a NUL or
    is not UTF-8 (then it goes value by value)."""
    present = [v for v in values if v is not None]
    try:
        joined = b"\x00".join(present).decode()
    except UnicodeDecodeError:
        return None
    if method in _WHOLE_TEXT_METHODS:
        done = method(joined).encode().split(b"\x00")
    else:
        done = "\x00".join(map(method, joined.split("\x00"))).encode().split(b"\x00")
    if len(done) != len(present):
        return None  # a NUL inside a value
    if len(present) == len(values):
        return done
    parts = iter(done)
    return [None if v is None else next(parts) for v in values]


_WHOLE_TEXT_METHODS = (str.upper, str.lower, str.title)
"""Methods that act on each character in its context of letters: a whole column joined by
NULs gives each value's result. (``strip`` acts on the ends of each value, so it is not
one of them.)"""


def _leaves_as_is(transform: Transform | None, column: Column) -> bool:
    """Whether a transform leaves every value of the column as the target stores it anyway:
    ``decimal:N`` of a decimal with at most N places (the target's scale pads it), ``int``
    of an integer column."""
    if transform is None:
        return True
    head, _, argument = transform.spec.partition(":")
    if head == "decimal" and column.type.startswith("decimal") and column.scale is not None:
        return column.scale <= int(argument)
    return head == "int" and not argument and column.type == "integer"


@dataclass(frozen=True)
class MappedBatch:
    """A batch of target rows, column by column, for a bulk load.

    Attributes:
        targets: the target columns, in the order of each row's fields: first those of
            ``lines``, then those of ``columns``.
        columns: per target column not in ``lines``, every row's value.
        text: per such column, True when its values are the source database's text for the
            column's type (bytes, ``legacy_connectors.sql.TextBatch``), False when they are
            Python values.
        rows: how many rows.
        lines: per row, the first target columns as one line of COPY text, as the source
            database wrote it; None when there are none.
    """

    targets: tuple[Column, ...]
    columns: list[Sequence[Any]]
    text: list[bool]
    rows: int
    lines: Sequence[bytes] | None = None


@dataclass(frozen=True)
class MappedColumn:
    """One source column and where it goes.

    Attributes:
        source: the legacy column's name.
        target: the target column (name, portable type, nullability, precision, scale).
        transform: the parsed transform, or None to copy the value as it is.
    """

    source: str
    target: Column
    transform: Transform | None


class RowMapper:
    """Maps a table's legacy rows to target rows, as its plan says.

    Attributes:
        table: the table's name in the source (the plan's ``source``).
        target_table: the plan's ``target``.
        columns: every source column in source order, with its target and transform.
        target_columns: the target columns in source order (name + portable type).
        source_key: the key's source columns (the plan's key, else the source's own).
        target_key: the same key's target column names.
    """

    def __init__(self, table_plan: TablePlan, info: TableInfo) -> None:
        """Parse the table's mapping once.

        Args:
            table_plan: the plan's entry for this table.
            info: the source's description of the table (``LegacySource.describe()``).

        Raises:
            PlanError: a mapped or key column the source does not have, a bad transform,
                two columns mapped to one target name, or no key at all.
        """
        where = f"table {table_plan.source}"
        self.table = table_plan.source
        self.target_table = table_plan.target
        known = {c.name for c in info.columns}
        unknown = [name for name in table_plan.columns if name not in known]
        if unknown:
            raise PlanError(f"no such source column: {', '.join(unknown)}", where=where)
        key = tuple(table_plan.key or info.key or ())
        if not key:
            raise PlanError(
                "no key: the source declares none, so the plan must give one", where=where
            )
        pseudo = {c for c in key if c not in known}
        # _record and _row_hash are keys the source adds to each row; no other unknown name is
        if pseudo - {"_record", "_row_hash"} or (pseudo and len(key) > 1):
            raise PlanError(f"no such key column: {', '.join(sorted(pseudo))}", where=where)
        source_columns = list(info.columns)
        for name in pseudo:
            kind = "integer" if name == "_record" else "text"
            source_columns.insert(0, Column(name, kind, nullable=False))
        mapped: list[MappedColumn] = []
        for column in source_columns:
            mapping = table_plan.column_mapping(column.name)
            transform = None
            if mapping.transform is not None:
                try:
                    transform = parse_transform(mapping.transform)
                except PlanError as e:
                    raise PlanError(e.message, where=f"{where}, column {column.name}") from e
                head = mapping.transform.partition(":")[0]
                if head in _NEEDS_TEXT and column.type not in _TEXT_TYPES:
                    raise PlanError(
                        f"transform {mapping.transform!r} is for text, the column is {column.type}",
                        where=f"{where}, column {column.name}",
                    )
            target = column if transform is None else transform.output(column)
            nullable = column.nullable and column.name not in key
            mapped.append(
                MappedColumn(
                    column.name, replace(target, name=mapping.to, nullable=nullable), transform
                )
            )
        names = [m.target.name for m in mapped]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise PlanError(f"two columns map to {', '.join(twice)}", where=where)
        self.columns: tuple[MappedColumn, ...] = tuple(mapped)
        self.target_columns: tuple[Column, ...] = tuple(m.target for m in mapped)
        self.source_key: tuple[str, ...] = key
        by_source = {m.source: m for m in mapped}
        self.target_key: tuple[str, ...] = tuple(by_source[name].target.name for name in key)
        self._key_columns = tuple(by_source[name] for name in key)
        self._steps = tuple((m.source, m.transform.apply if m.transform else None) for m in mapped)
        sources = {c.name: c for c in source_columns}
        self._as_is = tuple(_leaves_as_is(m.transform, sources[m.source]) for m in mapped)

    def map(self, row: Row) -> dict[str, Any]:
        """One legacy row as a target row.

        Args:
            row: column name to value, as the source reads it.

        Returns:
            Target column name to value, in ``target_columns`` order.

        Raises:
            LegacyReadError: a value the column's transform cannot convert (the message
                names the column and transform, not the value).
        """
        out: dict[str, Any] = {}
        for column in self.columns:
            out[column.target.name] = self._value(column, row.get(column.source))
        return out

    def values(self, row: Row) -> tuple[Any, ...]:
        """One legacy row as target values in ``target_columns`` order (what a bulk load
        writes; the same values as ``map``, without the names).

        Raises:
            LegacyReadError: as ``map``.
        """
        # The copy's hot loop (about half its time): one comprehension over prepared pairs;
        # a value that fails goes the slow way round to name its column.
        try:
            return tuple(
                [
                    value if (value := row.get(source)) is None or apply is None else apply(value)
                    for source, apply in self._steps
                ]
            )
        except _ValueError:
            self.map(row)  # raises LegacyReadError naming the column
            raise

    @property
    def line_sources(self) -> tuple[str, ...]:
        """The source columns a bulk copy takes as the source database writes them (no
        transform, or one that cannot change their values), in ``columns`` order: what
        ``SqlSource.read_text`` can write as lines."""
        return tuple(m.source for m, as_is in zip(self.columns, self._as_is, strict=True)
                     if as_is)  # fmt: skip

    def map_text(self, batch: TextBatch) -> MappedBatch:
        """A batch read as the source database's text (``SqlSource.read_text``), mapped for
        a bulk load: the lines the database wrote stay as they are, the other columns are
        transformed a whole column at a time.

        A column copied as it is, or whose transform cannot change its values (``decimal:2``
        of a DECIMAL(p,2), ``int`` of an integer), keeps the database's text. The values
        are those ``values`` gives for the same rows.

        Raises:
            PlanError: a line column that the plan transforms.
            LegacyReadError: as ``map``.
        """
        in_lines = set(batch.line_columns)
        by_source = {m.source: m for m in self.columns}
        transformed = [by_source[n].source for n in batch.line_columns
                       if n not in self.line_sources]  # fmt: skip
        if transformed:
            raise PlanError(f"column {transformed[0]} is transformed: it cannot be a line column")
        targets = [by_source[name].target for name in batch.line_columns]
        index = {name: i for i, name in enumerate(batch.names)}
        columns: list[Sequence[Any]] = []
        text: list[bool] = []
        for column, (source, apply), as_is in zip(self.columns, self._steps, self._as_is,
                                                 strict=True):  # fmt: skip
            if source in in_lines:
                continue
            targets.append(column.target)
            position = index.get(source)
            if position is None:
                columns.append([None] * batch.rows)
                text.append(False)
            elif apply is None or as_is:
                columns.append(batch.columns[position])
                text.append(True)
            elif (
                column.transform is not None
                and column.transform.text_method is not None
                and batch.kinds[position] in ("text", "char")
                and (done := _text_column(batch.columns[position], column.transform.text_method))
                is not None
            ):
                columns.append(done)
                text.append(True)
            else:
                values = batch.values(source)
                try:
                    columns.append([None if v is None else apply(v) for v in values])
                except _ValueError:
                    for value in values:
                        self._value(column, value)  # raises LegacyReadError naming the column
                    raise
                text.append(False)
        return MappedBatch(tuple(targets), columns, text, batch.rows, batch.lines)

    def map_key(self, key: Key) -> Key:
        """A source key (values in ``source_key`` order) as the target's key values."""
        return tuple(self._value(c, v) for c, v in zip(self._key_columns, key, strict=True))

    def _value(self, column: MappedColumn, value: Any) -> Any:
        if value is None or column.transform is None:
            return value
        try:
            return column.transform.apply(value)
        except _ValueError as e:
            raise LegacyReadError(
                f"column {column.source}: the value {e} (transform {column.transform.spec})",
                table=self.table,
            ) from None
