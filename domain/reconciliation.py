"""Reconciliation reports: what differs between a legacy table and its copy.

The ``reconcile_table`` activity's input and result are the migration's contract
(``domain.migration.ReconcileTableInput`` and ``ReconcileTableResult``); the full report
they refer to by ``report_id`` is this module's ``TableReport``, stored in the engine
database.

A report says what differs between a legacy table and its copy: keys missing from the
target, keys the target has that the legacy system does not, and rows whose columns
differ (with both values). Samples are capped; the counts are always complete. Values are
held as JSON-safe values (``report_value``), because reports travel through Temporal and
are stored as JSON; they are personal data, shown to the engineer and never logged.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field


def report_value(value: Any) -> Any:
    """A value as a report holds it: decimals as text, ISO 8601 dates, bytes in base64.

    Args:
        value: a value as a source or the target returned it.

    Returns:
        A value ``json.dumps`` accepts, which reads back as the same text.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value) if value != value or value in (float("inf"), float("-inf")) else value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


class ChangedRow(BaseModel):
    """A row present on both sides whose columns differ: per column (legacy, target)."""

    key: list[Any]
    columns: dict[str, tuple[Any, Any]]


class TableReport(BaseModel):
    """One table's reconciliation.

    ``missing``, ``extra`` and ``changed`` are samples of at most the run's sample limit;
    ``missing_count``, ``extra_count`` and ``changed_count`` count everything found.
    ``stopped`` says why a diff ended early (time or diff budget); such a report never
    passes and its counts are lower bounds. A table kept in step by a change stream is
    compared at a ``position`` of it: differences are those behind it, and ``in_flight``
    counts keys legacy kept changing during the compare (not differences). ``quarantined``
    counts the table's legacy records a copy set aside that nobody has accepted yet: while
    any is, the report does not pass (``stopped`` says how many and how to accept them).
    """

    table: str
    source_table: str
    legacy_rows: int
    target_rows: int
    missing: list[list[Any]] = Field(default_factory=list)
    extra: list[list[Any]] = Field(default_factory=list)
    changed: list[ChangedRow] = Field(default_factory=list)
    missing_count: int = 0
    extra_count: int = 0
    changed_count: int = 0
    passed: bool
    stopped: str | None = None
    method: str = "segments"
    seconds: float = 0.0
    in_flight: int = 0
    position: str | None = None
    quarantined: int = 0

    @property
    def differences(self) -> int:
        return self.missing_count + self.extra_count + self.changed_count

    def design_json(self) -> dict[str, Any]:
        """DESIGN.md's per-table shape, then the full counts and the reason for a stop."""
        return {
            "table": self.table,
            "legacy_rows": self.legacy_rows,
            "target_rows": self.target_rows,
            "missing": self.missing,
            "extra": self.extra,
            "changed": [{"key": c.key, "columns": {n: list(v) for n, v in c.columns.items()}}
                        for c in self.changed],
            "passed": self.passed,
            "missing_count": self.missing_count,
            "extra_count": self.extra_count,
            "changed_count": self.changed_count,
            "stopped": self.stopped,
            "in_flight": self.in_flight,
            "position": self.position,
            "quarantined": self.quarantined,
        }  # fmt: skip


def with_quarantined(
    report: TableReport, system_id: str, quarantined: int, accepted: int = 0
) -> TableReport:
    """The report with the table's quarantined records counted: it does not pass while
    any is open (``quarantined``), and says how many and how to accept them.

    Some sources count every record of a file, decodable or not (a copybook's count):
    then the legacy count exceeds the target's by the records set aside, and when the
    diff found nothing else and the ``accepted`` ones are exactly that gap, they account
    for it. A diff that found differences keeps ``stopped`` empty, so the gate's automatic
    re-sync still runs; the report after it, with nothing left to re-sync, carries the
    reason.
    """
    if quarantined <= 0:
        explained = (
            not report.passed and accepted > 0 and report.stopped is None
            and report.differences == 0
            and report.legacy_rows - report.target_rows == accepted
        )  # fmt: skip
        return report.model_copy(update={"passed": True}) if explained else report
    table = report.source_table
    reason = (
        f"{quarantined} quarantined record{'s' if quarantined != 1 else ''} of {table} not "
        f"accounted for: list them with `switchover migrate quarantine {system_id} --table "
        f"{table}`, accept them with `switchover migrate quarantine accept {system_id} --table "
        f"{table} --all --reason TEXT --as USERNAME`, or fix the transform and copy again"
    )
    stopped = report.stopped
    if stopped:
        stopped = f"{stopped}; {reason}"
    elif report.differences == 0:
        stopped = reason
    return report.model_copy(update={"quarantined": quarantined, "passed": False,
                                     "stopped": stopped})  # fmt: skip


class SystemReport(BaseModel):
    """Every reconciled table of one legacy system; passed when every table passed."""

    system: str
    tables: list[TableReport]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tables)

    def design_json(self) -> dict[str, Any]:
        """What ``switchover reconcile PLAN --json`` prints (DESIGN.md, command line)."""
        return {
            "system": self.system,
            "passed": self.passed,
            "tables": [t.design_json() for t in self.tables],
        }
