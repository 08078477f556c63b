"""From a target row back to a legacy row: the plan's mapping inverted, for the way back
after the switch (``adapters.reverse_replication``).

Renames invert by themselves. Each transform has an inverse where one exists:

=================  ============================================================
transform          inverse
=================  ============================================================
none, ``strip``    the value (legacy gets the stripped value)
``decimal:N``      the value
``int``            the value
``date:FMT``       formatted back with ``FMT`` into a text column; a date or
                   datetime column takes the value as it is
``null_if:A|B``    null becomes ``A`` (legacy's own way of saying "none")
``map:A=B|C=D``    B becomes A, D becomes C; none when two values map to one
``upper``,         none: the plan gives one (``inverse:``)
``lower``,
``title``,
``ebcdic-packed``,
``module:func``
=================  ============================================================

A column's ``inverse`` in the plan overrides the derived one: a transform, or ``keep``
to leave legacy's value as it is (the column is not written back; a row modern creates
gets legacy's default there). Every value is then fitted to the legacy column's type
(a number into a text column becomes its text). A key column must invert exactly:
``keep`` is refused there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from adapters.mapping import RowMapper, parse_transform
from config.migration_plan import MigrationPlan, TablePlan
from domain.errors import PlanError
from legacy_connectors.base import Column, Key, Row, TableInfo

__all__ = ["KEEP", "InverseMapper", "inverse_problems"]

KEEP = "keep"
"""The plan's ``inverse: keep``: legacy's value stays as it is."""

_Invert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _date_inverse(fmt: str, legacy: Column) -> _Invert:
    def invert(value: Any) -> Any:
        if value is None:
            return None
        if legacy.type == "datetime" and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day)
        if legacy.type == "date" and isinstance(value, datetime):
            return value.date()
        if legacy.type in ("date", "datetime"):
            return value
        return value.strftime(fmt)

    return invert


def _map_inverse(pairs: str) -> _Invert | None:
    back: dict[str, str] = {}
    for pair in pairs.split("|"):
        old, _, new = pair.partition("=")
        if new in back:
            return None  # two legacy values became one: which one to give back is unknown
        back[new] = old
    return lambda v: None if v is None else back.get(str(v), v)


def _derived(spec: str, legacy: Column) -> _Invert | None:
    """The inverse of a transform as the plan spells it; None when it has none."""
    name, _, argument = spec.partition(":")
    if spec in ("strip", "int") or name == "decimal":
        return _same
    if name == "date" and argument:
        return _date_inverse(argument, legacy)
    if name == "null_if":
        first = argument.split("|")[0]
        return lambda v: first if v is None else v
    if name == "map" and argument:
        return _map_inverse(argument)
    return None  # upper, lower, title, ebcdic-packed, module:function


def _has_inverse(spec: str) -> bool:
    return _derived(spec, Column("", "text")) is not None


def inverse_problems(plan: MigrationPlan) -> list[str]:
    """Why the plan's system can have no way back after the switch, one clear line each;
    empty when it can (judged from the plan alone; the databases are checked when the
    reverse capture is installed)."""
    if plan.source.kind != "sql":
        return [f"legacy is a {plan.source.kind} source: files cannot take modern's writes back"]
    problems: list[str] = []
    for table in plan.tables:
        for name in table.columns:
            mapping = table.column_mapping(name)
            where = f"table {table.source}, column {name}"
            if mapping.inverse == KEEP and table.key and name in table.key:
                problems.append(f"{where}: a key column cannot keep legacy's value")
            elif (
                mapping.inverse is None
                and mapping.transform
                and not _has_inverse(mapping.transform)
            ):
                problems.append(
                    f"{where}: transform {mapping.transform} has no inverse; give "
                    "one as `inverse:` (a transform, or keep)"
                )
    return problems


def _fit(value: Any, legacy: Column) -> Any:
    """A value in the legacy column's own type, where the target's differs."""
    if value is None:
        return None
    if legacy.type == "text" and not isinstance(value, str):
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, date | datetime):
            return value.isoformat()
        return str(value)
    if legacy.type == "integer" and isinstance(value, Decimal | float | str):
        return int(Decimal(str(value)))
    if legacy.type.startswith("decimal") and isinstance(value, int | float | str):
        return Decimal(str(value))
    return value


@dataclass(frozen=True)
class _Back:
    target: str
    source: Column
    invert: _Invert | None  # None: keep legacy's value


class InverseMapper:
    """Maps a table's target rows back to legacy rows, as its plan's mapping inverted.

    Attributes:
        table: the legacy table (the plan's ``source``).
        target_table: the plan's ``target``.
        source_key: the key's legacy columns; target_key: the same key's target columns.
    """

    def __init__(self, table_plan: TablePlan, info: TableInfo) -> None:
        """Invert the table's mapping once.

        Args:
            table_plan: the plan's entry for this table.
            info: the legacy table as the source describes it.

        Raises:
            PlanError: a transform with no inverse and none in the plan, ``keep`` on a key
                column, or a mapping ``RowMapper`` refuses.
        """
        mapper = RowMapper(table_plan, info)
        self.table = mapper.table
        self.target_table = mapper.target_table
        self.source_key = mapper.source_key
        self.target_key = mapper.target_key
        columns = {c.name: c for c in info.columns}
        backs: list[_Back] = []
        for mapped in mapper.columns:
            legacy = columns.get(mapped.source)
            if legacy is None:
                continue  # a key the source adds (_record, _row_hash): not a legacy column
            backs.append(
                _Back(mapped.target.name, legacy, _inverse(table_plan, mapped.source, legacy))
            )
        by_source = {b.source.name: b for b in backs}
        kept = [name for name in self.source_key if by_source.get(name, _KEPT).invert is None]
        if kept:
            raise PlanError(
                f"key column {kept[0]} has no inverse: no way back", where=f"table {self.table}"
            )
        self._backs = tuple(backs)
        self._key_backs = tuple(by_source[name] for name in self.source_key)

    def row(self, target_row: Mapping[str, Any]) -> Row:
        """A target row as the legacy columns to write: those kept, and those the target
        row lacks (modern dropped the column), are left out."""
        out: Row = {}
        for back in self._backs:
            if back.invert is None or back.target not in target_row:
                continue
            out[back.source.name] = _fit(back.invert(target_row[back.target]), back.source)
        return out

    def key(self, target_key: Key) -> Key:
        """A target key (values in ``target_key`` order) as legacy's key values."""
        return tuple(
            _fit(b.invert(v), b.source) if b.invert else v
            for b, v in zip(self._key_backs, target_key, strict=True)
        )


_KEPT = _Back("", Column("", "text"), None)


def _inverse(table_plan: TablePlan, source: str, legacy: Column) -> _Invert | None:
    mapping = table_plan.column_mapping(source)
    where = f"table {table_plan.source}, column {source}"
    if mapping.inverse == KEEP:
        return None
    if mapping.inverse is not None:
        apply = parse_transform(mapping.inverse).apply

        def invert(value: Any) -> Any:
            try:
                return None if value is None else apply(value)
            except Exception as e:  # the transform's own failure: the value does not suit it
                raise PlanError(
                    f"inverse {mapping.inverse} cannot convert modern's value ({type(e).__name__})",
                    where=where,
                ) from None

        return invert
    if mapping.transform is None:
        return _same
    derived = _derived(mapping.transform, legacy)
    if derived is None:
        raise PlanError(
            f"transform {mapping.transform} has no inverse: give one as `inverse:` "
            "(a transform, or keep)",
            where=where,
        )
    return derived
