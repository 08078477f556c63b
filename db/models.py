"""The engine's tables, as SQLAlchemy 2 typed models on one ``DeclarativeBase``.

Alembic owns the schema: change a model here, then add a migration in
``db/migrations/versions``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db.types import (
    Actor,
    CreatedAt,
    FormType,
    IntPK,
    Money,
    RowRef,
    Sha256,
    StorageKey,
    Timestamp,
    UTCDateTime,
    WorkflowId,
)
from domain.cutover import CutoverEventKind, CutoverPhase, Side, WriteHold
from domain.digitise import RecordStatus  # one set of states, shared with workflows
from domain.systems import SystemStage

# Stable constraint names: Alembic needs them to alter constraints, SQLite batch mode most of all.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The one declarative base of the engine database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dt.date: Date(),
        Decimal: Money(),
        dict[str, Any]: JSON(),
        list[dict[str, Any]]: JSON(),
    }


class ReviewStatus(StrEnum):
    """Where a review task is: open until a caseworker decides it."""

    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


class Role(StrEnum):
    """What a person may do in the web app; a person may hold several roles."""

    CASEWORKER = "caseworker"  # works the review queue
    ENGINEER = "engineer"  # migrations, cutover approvals
    MANAGER = "manager"  # the programme dashboard, exports
    ADMIN = "admin"  # people's accounts


class LedgerKind(StrEnum):
    """What a ledger entry saves: a digitised form, or a retired system's run cost."""

    FORM = "form"
    SYSTEM = "system"


def _status_type(enum: type[StrEnum], name: str) -> Enum:
    # VARCHAR plus a CHECK constraint rather than a native PostgreSQL enum: adding a
    # status later is then a plain migration on both backends.
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Document(Base):
    """An original file as received, stored once per content (its sha256 is its id)."""

    __tablename__ = "documents"

    id: Mapped[Sha256] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(1024), comment="name when first seen")
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger())
    storage_key: Mapped[StorageKey]
    created_at: Mapped[CreatedAt]

    __table_args__ = (Index(None, "created_at"),)


class QuarantinedDocument(Base):
    """A document that could not be processed, with why, kept for a person to see."""

    __tablename__ = "quarantined_documents"

    id: Mapped[IntPK]
    # No foreign key: a file can be refused before it is registered as a document.
    document_sha256: Mapped[Sha256]
    filename: Mapped[str] = mapped_column(String(1024))
    error_type: Mapped[str] = mapped_column(String(100), comment="a domain.errors class name")
    reason: Mapped[str] = mapped_column(Text())
    where: Mapped[str | None] = mapped_column(String(255), comment="file or page")
    storage_key: Mapped[StorageKey] = mapped_column(comment="key of the quarantined copy")
    created_at: Mapped[CreatedAt]

    __table_args__ = (Index(None, "document_sha256"), Index(None, "created_at"))


class FormRecord(Base):
    """The structured record digitisation made from one document."""

    __tablename__ = "form_records"

    id: Mapped[IntPK]
    document_id: Mapped[Sha256] = mapped_column(ForeignKey("documents.id"))
    form_type: Mapped[FormType | None]
    status: Mapped[RecordStatus] = mapped_column(_status_type(RecordStatus, "status"))
    fields: Mapped[dict[str, Any]] = mapped_column(
        comment="name -> domain.forms.ExtractedField dumped as JSON"
    )
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(
        comment="domain.forms.ReviewReason dumped as JSON"
    )
    workflow_id: Mapped[WorkflowId] = mapped_column(unique=True)
    legacy_match: Mapped[dict[str, Any] | None]
    created_at: Mapped[CreatedAt]
    decided_at: Mapped[Timestamp | None]

    document: Mapped[Document] = relationship(lazy="raise")

    __table_args__ = (
        Index(None, "status", "form_type"),
        Index(None, "document_id"),
        Index(None, "created_at"),
    )


class ReviewTask(Base):
    """A record that needs a caseworker: corrections, then approval or rejection."""

    __tablename__ = "review_tasks"

    id: Mapped[IntPK]
    record_id: Mapped[RowRef] = mapped_column(ForeignKey("form_records.id"), unique=True)
    workflow_id: Mapped[WorkflowId] = mapped_column(index=True)
    form_type: Mapped[FormType | None]
    reasons: Mapped[list[dict[str, Any]]]
    status: Mapped[ReviewStatus] = mapped_column(_status_type(ReviewStatus, "status"))
    due_at: Mapped[Timestamp] = mapped_column(comment="SLA deadline; escalation after it")
    escalated_at: Mapped[Timestamp | None]
    claimed_by: Mapped[Actor | None]
    claim_expires_at: Mapped[Timestamp | None]
    decided_by: Mapped[Actor | None]
    decision: Mapped[dict[str, Any] | None] = mapped_column(comment="corrections and reason")
    created_at: Mapped[CreatedAt]
    decided_at: Mapped[Timestamp | None]

    record: Mapped[FormRecord] = relationship(lazy="raise")

    __table_args__ = (
        # The queue: open tasks of a form type, soonest due first.
        Index(None, "status", "form_type", "due_at"),
        Index(None, "status", "due_at"),
    )


class LedgerEntry(Base):
    """Money saved: a form handled digitally, or a legacy system no longer run."""

    __tablename__ = "ledger_entries"

    id: Mapped[IntPK]
    kind: Mapped[LedgerKind] = mapped_column(_status_type(LedgerKind, "kind"))
    subject: Mapped[str] = mapped_column(String(255), comment="form type or system id")
    ref: Mapped[str] = mapped_column(String(255), comment="what was saved on: a record id")
    amount_gbp: Mapped[Decimal]
    occurred_on: Mapped[dt.date]
    note: Mapped[str | None] = mapped_column(Text())
    basis: Mapped[dict[str, Any] | None] = mapped_column(
        comment="the figures and dates the amount was worked out from"
    )
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        # One entry per thing saved on, so a retried activity cannot count it twice.
        UniqueConstraint("kind", "ref"),
        Index(None, "kind", "subject", "occurred_on"),
        Index(None, "occurred_on"),
    )


class AuditEvent(Base):
    """Who did what to which subject, hash-chained so that changes to history show."""

    __tablename__ = "audit_events"

    id: Mapped[IntPK]
    occurred_at: Mapped[Timestamp]
    actor: Mapped[Actor]
    action: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(100))
    subject_id: Mapped[str] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[Sha256]
    hash: Mapped[Sha256] = mapped_column(unique=True)

    __table_args__ = (Index(None, "subject_type", "subject_id"), Index(None, "occurred_at"))


class System(Base):
    """A legacy system in the programme: what it costs, how risky it is, how far along."""

    __tablename__ = "systems"

    id: Mapped[str] = mapped_column(String(100), primary_key=True, comment="the plan's system id")
    name: Mapped[str] = mapped_column(String(255))
    department: Mapped[str] = mapped_column(String(255))
    stage: Mapped[SystemStage] = mapped_column(_status_type(SystemStage, "stage"))
    cutover_percent: Mapped[int | None] = mapped_column(comment="share of traffic on modern")
    risk_score: Mapped[int] = mapped_column(comment="CDDO legacy risk score out of 30")
    annual_run_cost_gbp: Mapped[Decimal]
    migration_cost_gbp: Mapped[Decimal]
    rows_total: Mapped[int | None] = mapped_column(BigInteger())
    rows_migrated: Mapped[int] = mapped_column(BigInteger(), default=0)
    last_reconciliation_passed: Mapped[bool | None]
    last_reconciliation_at: Mapped[Timestamp | None]
    retired_on: Mapped[dt.date | None] = mapped_column(comment="run cost saved from this day")
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[CreatedAt]

    __table_args__ = (Index(None, "stage"), Index(None, "department"))


class SystemStageChange(Base):
    """One step of a system's history: the stage it entered, when, and who moved it."""

    __tablename__ = "system_stage_changes"

    id: Mapped[IntPK]
    system_id: Mapped[str] = mapped_column(String(100), ForeignKey("systems.id"))
    stage: Mapped[SystemStage] = mapped_column(_status_type(SystemStage, "stage"))
    cutover_percent: Mapped[int | None]
    occurred_at: Mapped[Timestamp]
    actor: Mapped[Actor]
    note: Mapped[str | None] = mapped_column(Text())

    __table_args__ = (Index(None, "system_id", "occurred_at"),)


# --- web accounts ----------------------------------------------------------------------


class User(Base):
    """A person who signs in to the web app: a local account, or one made by single sign-on."""

    __tablename__ = "users"

    id: Mapped[IntPK]
    username: Mapped[Actor] = mapped_column(unique=True, comment="what the audit trail names")
    display_name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(
        String(255), comment="argon2; null for single sign-on accounts"
    )
    oidc_subject: Mapped[str | None] = mapped_column(
        String(512), unique=True, comment="issuer|sub of a single sign-on account"
    )
    roles: Mapped[list[str]] = mapped_column(JSON(), comment="db.models.Role values")
    active: Mapped[bool] = mapped_column(Boolean(), default=True)
    created_at: Mapped[CreatedAt]
    last_signed_in_at: Mapped[Timestamp | None]


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its sha256 is stored, so
    a copy of the database does not let anyone sign in as someone else."""

    __tablename__ = "web_sessions"

    id: Mapped[Sha256] = mapped_column(primary_key=True, comment="sha256 of the cookie token")
    user_id: Mapped[RowRef] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]
    last_seen_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp]

    user: Mapped[User] = relationship(lazy="raise")

    __table_args__ = (Index(None, "user_id"), Index(None, "expires_at"))


class SignInThrottle(Base):
    """Failed sign-ins counted per client and per account from one client, kept in the
    database so every web replica sees them.

    A counter past its free failures makes further tries from that client wait, for a time
    that doubles with each failure; nothing locks an account for everyone. ``key`` is a
    keyed hash of what is counted, so no username or address is kept in clear.
    """

    __tablename__ = "sign_in_throttles"
    __table_args__ = (Index("ix_sign_in_throttles_last_failure_at", "last_failure_at"),)

    key: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="HMAC of scope and what it counts"
    )
    scope: Mapped[str] = mapped_column(String(16), comment="client | account_client")
    failures: Mapped[int] = mapped_column(Integer(), default=0)
    last_failure_at: Mapped[Timestamp]
    blocked_until: Mapped[Timestamp | None]


# --- reconciliation --------------------------------------------------------------------


class ReconciliationReport(Base):
    """One table's reconciliation: legacy against target, with its findings.

    ``report`` holds ``domain.reconciliation.TableReport`` dumped as JSON: samples of the
    differing keys and values (personal data, shown to the engineer who runs the
    migration), with complete counts beside them in columns for listing and charts.
    """

    __tablename__ = "reconciliation_reports"

    id: Mapped[IntPK]
    # No foreign key: `switchover reconcile` may run before the system is registered.
    system_id: Mapped[str] = mapped_column(String(100), comment="the plan's system id")
    run_id: Mapped[WorkflowId | None] = mapped_column(comment="the migration run, if any")
    table_name: Mapped[str] = mapped_column(String(255), comment="the target table")
    source_table: Mapped[str] = mapped_column(String(255))
    passed: Mapped[bool] = mapped_column(Boolean())
    legacy_rows: Mapped[int] = mapped_column(BigInteger())
    target_rows: Mapped[int] = mapped_column(BigInteger())
    missing_count: Mapped[int] = mapped_column(BigInteger())
    extra_count: Mapped[int] = mapped_column(BigInteger())
    changed_count: Mapped[int] = mapped_column(BigInteger())
    stopped: Mapped[str | None] = mapped_column(Text(), comment="why a budget ended it early")
    method: Mapped[str] = mapped_column(String(32), comment="segments, streamed or keys")
    seconds: Mapped[float] = mapped_column(Float())
    report: Mapped[dict[str, Any]] = mapped_column(comment="domain.reconciliation.TableReport")
    created_at: Mapped[CreatedAt]

    __table_args__ = (Index(None, "system_id", "table_name", "created_at"),)


class QuarantineState(StrEnum):
    """Where a quarantined legacy record is: open until an engineer accepts it or a fixed
    transform copies it after all (re-run)."""

    OPEN = "open"
    ACCEPTED = "accepted"
    RERUN = "rerun"


class QuarantinedRecord(Base):
    """A legacy record a copy set aside (it did not decode), kept so it is accounted for.

    The raw bytes are in the document store (``raw_key``), never here or in a log; the
    reason names the field and position, never a value. One row per (system, table,
    record number): a retried or repeated copy batch finds the row and adds none.
    """

    __tablename__ = "quarantined_records"

    id: Mapped[IntPK]
    # No foreign key: a plan's copy may run before the system is registered.
    system_id: Mapped[str] = mapped_column(String(100), comment="the plan's system id")
    table_name: Mapped[str] = mapped_column(String(255), comment="the source file or table")
    record_number: Mapped[int] = mapped_column(BigInteger(), comment="1-based, in file order")
    byte_offset: Mapped[int | None] = mapped_column(BigInteger())
    reason: Mapped[str] = mapped_column(Text(), comment="field and position, never a value")
    raw_key: Mapped[StorageKey | None] = mapped_column(comment="the raw bytes in storage")
    raw_sha256: Mapped[Sha256 | None]
    raw_size: Mapped[int | None] = mapped_column(Integer())
    run_id: Mapped[WorkflowId | None] = mapped_column(comment="the copy that set it aside")
    state: Mapped[QuarantineState] = mapped_column(
        _status_type(QuarantineState, "quarantine_state"), default=QuarantineState.OPEN
    )
    decided_by: Mapped[Actor | None]
    decided_at: Mapped[Timestamp | None]
    decision_reason: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        UniqueConstraint("system_id", "table_name", "record_number"),
        Index(None, "system_id", "state"),
    )


# --- cutover and decommissioning -------------------------------------------------------


class CutoverState(Base):
    """A system's traffic setting now: what every router for it applies.

    The builtin proxy polls this row (``version`` rises with every change), so any number
    of proxy processes follow one setting.
    """

    __tablename__ = "cutover_states"

    system_id: Mapped[str] = mapped_column(String(100), ForeignKey("systems.id"), primary_key=True)
    phase: Mapped[CutoverPhase] = mapped_column(_status_type(CutoverPhase, "phase"))
    modern_percent: Mapped[int] = mapped_column(Integer(), default=0)
    shadow: Mapped[bool] = mapped_column(Boolean(), default=False)
    system_of_record: Mapped[Side] = mapped_column(_status_type(Side, "side"))
    version: Mapped[int] = mapped_column(Integer(), default=0)
    stage_started_at: Mapped[Timestamp | None]
    updated_at: Mapped[Timestamp]
    # The write hold at the switch of the system of record (adapters/router/store.py).
    hold_id: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    hold_state: Mapped[WriteHold] = mapped_column(
        _status_type(WriteHold, "hold_state"), default=WriteHold.NONE, server_default="none"
    )
    hold_started_at: Mapped[Timestamp | None]
    hold_max_s: Mapped[float | None] = mapped_column(Float())
    applied_up_to: Mapped[Timestamp | None] = mapped_column(
        comment="the side that is not the system of record has applied its changes up to here"
    )


class CutoverEvent(Base):
    """One step of a cutover or decommissioning, with the figures it was decided on."""

    __tablename__ = "cutover_events"

    id: Mapped[IntPK]
    system_id: Mapped[str] = mapped_column(String(100), ForeignKey("systems.id"))
    occurred_at: Mapped[Timestamp]
    kind: Mapped[CutoverEventKind] = mapped_column(_status_type(CutoverEventKind, "kind"))
    modern_percent: Mapped[int | None]
    actor: Mapped[Actor]
    figures: Mapped[dict[str, Any] | None] = mapped_column(comment="domain.cutover.GateFigures")
    note: Mapped[str | None] = mapped_column(Text())

    __table_args__ = (Index(None, "system_id", "occurred_at"),)


class RouterMetricWindow(Base):
    """What one proxy saw on one side during a few seconds, under one setting version.

    Latencies are a fixed-bucket histogram (``domain.cutover.LATENCY_BOUNDS_MS``), so
    windows from many proxies add up to exact percentiles per stage.
    """

    __tablename__ = "router_metric_windows"

    id: Mapped[IntPK]
    system_id: Mapped[str] = mapped_column(String(100))
    setting_version: Mapped[int] = mapped_column(Integer())
    side: Mapped[Side] = mapped_column(_status_type(Side, "side"))
    instance: Mapped[str] = mapped_column(String(255), comment="the proxy process")
    window_start: Mapped[Timestamp]
    window_end: Mapped[Timestamp]
    requests: Mapped[int] = mapped_column(BigInteger())
    errors: Mapped[int] = mapped_column(BigInteger())
    latency_histogram: Mapped[list[int]] = mapped_column(JSON())
    shadow_compared: Mapped[int] = mapped_column(BigInteger(), default=0)
    shadow_mismatched: Mapped[int] = mapped_column(BigInteger(), default=0)

    __table_args__ = (
        Index(None, "system_id", "setting_version"),
        Index(None, "system_id", "window_end"),
    )


class RouterProxy(Base):
    """One builtin proxy process, as it last reported itself: the setting it serves, the
    write hold it took and the writes it still has in flight. ``hold_writes`` waits on
    these rows; a row not refreshed within a few poll intervals is a proxy gone."""

    __tablename__ = "router_proxies"

    system_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    instance: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[Timestamp]
    setting_version: Mapped[int] = mapped_column(Integer())
    hold_id: Mapped[int] = mapped_column(Integer(), comment="the newest hold it took")
    hold_state: Mapped[str] = mapped_column(String(16), comment="holding, released or expired")
    in_flight_writes: Mapped[int] = mapped_column(Integer())
    held_writes: Mapped[int] = mapped_column(Integer(), comment="held under hold_id, so far")


class RouterRecentWrite(Base):
    """A citizen's write through one proxy while their reads go to the side that is not
    the system of record: other proxies send that citizen's reads to the system of record
    until ``cutover_states.applied_up_to`` passes ``written_at``. The key is hashed: no
    citizen's id is stored."""

    __tablename__ = "router_recent_writes"

    id: Mapped[IntPK]
    system_id: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(32))
    written_at: Mapped[Timestamp]

    __table_args__ = (Index(None, "system_id", "id"),)


class ChecklistItem(Base):
    """One item of a system's retirement checklist, closed with evidence by a person."""

    __tablename__ = "checklist_items"

    id: Mapped[IntPK]
    system_id: Mapped[str] = mapped_column(String(100), ForeignKey("systems.id"))
    position: Mapped[int] = mapped_column(Integer())
    item: Mapped[str] = mapped_column(Text())
    closed_by: Mapped[Actor | None]
    closed_at: Mapped[Timestamp | None]
    note: Mapped[str | None] = mapped_column(Text())
    evidence_key: Mapped[StorageKey | None]
    evidence_name: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("system_id", "position"),)


class SystemArchive(Base):
    """A legacy system's archive in the object store, and when it was read back."""

    __tablename__ = "system_archives"

    id: Mapped[IntPK]
    system_id: Mapped[str] = mapped_column(String(100), ForeignKey("systems.id"))
    manifest_key: Mapped[StorageKey]
    manifest_sha256: Mapped[Sha256]
    files: Mapped[int] = mapped_column(Integer())
    rows: Mapped[int] = mapped_column(BigInteger())
    bytes: Mapped[int] = mapped_column(BigInteger())
    verified_at: Mapped[Timestamp | None]
    created_at: Mapped[CreatedAt]

    __table_args__ = (Index(None, "system_id"),)


# --- mailroom intake -------------------------------------------------------------------


class IntakeState(StrEnum):
    """What became of a file that arrived by a route (folder, S3 prefix, mailbox, upload)."""

    TAKEN = "taken"
    """Stored, and its document (or the documents split from it) started."""
    DUPLICATE = "duplicate"
    """The same content was taken before, by this route or another: nothing new."""
    QUARANTINED = "quarantined"
    """Could not be taken (not a document, unreadable); kept in storage with the reason."""


class IntakeItem(Base):
    """A file as it arrived by one route, so that no route ever takes the same file twice.

    One row per (route, source, reference, content); ``arrival`` is the sha256 of those four,
    which keeps the unique index short whatever the length of a path or key. Whether a
    file is new is asked of its content (``sha256``) across every route: the same scan
    mailed and dropped in a folder is one document.
    """

    __tablename__ = "intake_items"

    id: Mapped[IntPK]
    arrival: Mapped[Sha256] = mapped_column(comment="sha256 of route, source, ref and content")
    route: Mapped[str] = mapped_column(String(20), comment="folder | s3 | mailbox | upload")
    source: Mapped[str] = mapped_column(String(1024), comment="folder, s3:// prefix or mailbox")
    ref: Mapped[str] = mapped_column(String(1024), comment="path, key or message and part")
    sha256: Mapped[Sha256]
    size_bytes: Mapped[int] = mapped_column(BigInteger())
    state: Mapped[IntakeState] = mapped_column(_status_type(IntakeState, "intake_state"))
    documents: Mapped[list[dict[str, Any]]] = mapped_column(
        default=list, comment="[{document_id, form_type, pages}] started from this file"
    )
    reason: Mapped[str | None] = mapped_column(Text(), comment="why quarantined; never a value")
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        UniqueConstraint("arrival"),
        Index(None, "sha256"),
        Index(None, "route", "source"),
    )


class PlanVersion(Base):
    """A migration plan as ``migrate run`` stored it: the run carries ``version`` and every
    activity reads this content, so a worker needs no copy of the file, and editing the
    file changes no run in flight.

    ``files`` lists what the plan's source reads (copybook, data files), each with its
    sha256, size and modification time; a copybook's content is kept too (small), so a
    worker writes it out named by its hash. A data file is checked on read instead.
    """

    __tablename__ = "plan_versions"

    id: Mapped[IntPK]
    version: Mapped[Sha256] = mapped_column(comment="sha256 of content, folder and files")
    system_id: Mapped[str] = mapped_column(String(100), comment="the plan's system id")
    plan_sha256: Mapped[Sha256] = mapped_column(comment="sha256 of the plan file's bytes")
    content: Mapped[str] = mapped_column(Text(), comment="the plan's YAML as run")
    filename: Mapped[str] = mapped_column(Text(), comment="where the engineer's file was")
    base_dir: Mapped[str] = mapped_column(Text(), comment="relative paths resolve here")
    files: Mapped[list[dict[str, Any]]] = mapped_column(comment="db.plans.PlanFile each")
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        UniqueConstraint("version"),
        Index(None, "system_id", "created_at"),
    )


# --- delivery of approved records, and retention (docs/delivery.md) ----------------------


class DeliveryState(StrEnum):
    """Where one delivery of a record to one destination is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up after the attempt limit, or refused for good; re-drivable


class OutboxEntry(Base):
    """A record approved, written in the transaction that approves it: what the delivery
    workflow sends. ``version`` counts the record's approvals (1 for the first)."""

    __tablename__ = "outbox"

    id: Mapped[IntPK]
    record_id: Mapped[RowRef] = mapped_column(ForeignKey("form_records.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer())
    form_type: Mapped[FormType | None]
    approved_at: Mapped[Timestamp]
    expanded_at: Mapped[Timestamp | None] = mapped_column(
        comment="when its destinations were listed in deliveries"
    )
    created_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("record_id", "version"), Index(None, "expanded_at"))


class Delivery(Base):
    """One approved record (one version) to one destination its template names."""

    __tablename__ = "deliveries"

    id: Mapped[IntPK]
    outbox_id: Mapped[RowRef] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    record_id: Mapped[RowRef]
    version: Mapped[int] = mapped_column(Integer())
    destination: Mapped[str] = mapped_column(String(100), comment="the template's name for it")
    kind: Mapped[str] = mapped_column(String(32), comment="postgres | webhook")
    state: Mapped[DeliveryState] = mapped_column(
        _status_type(DeliveryState, "delivery_state"), default=DeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    last_error: Mapped[str | None] = mapped_column(Text(), comment="never a field value")
    delivered_at: Mapped[Timestamp | None]
    dead_at: Mapped[Timestamp | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[CreatedAt]

    __table_args__ = (
        UniqueConstraint("outbox_id", "destination"),
        Index(None, "state", "id"),
        Index(None, "record_id"),
    )


class RetentionAction(Base):
    """What retention or an erasure did to a record: its scan deleted, the record deleted,
    or one person's data erased. One row per record and action, so a run repeated after a
    crash does nothing twice. No foreign key: the record itself may be gone."""

    __tablename__ = "retention_actions"

    id: Mapped[IntPK]
    record_id: Mapped[RowRef]
    document_id: Mapped[Sha256]
    form_type: Mapped[FormType | None]
    action: Mapped[str] = mapped_column(String(32), comment="scan_deleted, record_deleted, erased")
    done_at: Mapped[Timestamp]

    __table_args__ = (UniqueConstraint("record_id", "action"), Index(None, "action", "done_at"))


# --- OCR corrections --------------------------------------------------------------------


class OcrCorrection(Base):
    """A field a caseworker corrected at review, kept as a labelled example for tuning the
    OCR: what extraction gave (value, confidence, each engine's reading), what the person
    set, and where on which scan it was read.

    Values are personal data: they live here and in the record, never in a log. No foreign
    key to the record, so erasure deletes these rows itself (``db.corrections``). One row
    per record and field: a retried decision adds none.
    """

    __tablename__ = "ocr_corrections"

    id: Mapped[IntPK]
    record_id: Mapped[RowRef]
    document_id: Mapped[Sha256]
    storage_key: Mapped[StorageKey] = mapped_column(comment="the scan in the document store")
    form_type: Mapped[FormType | None]
    field: Mapped[str] = mapped_column(String(255))
    field_type: Mapped[str | None] = mapped_column(String(32))
    page: Mapped[int | None] = mapped_column(Integer())
    bbox: Mapped[list[float] | None] = mapped_column(JSON(), comment="page fractions")
    extracted: Mapped[dict[str, Any]] = mapped_column(
        comment="domain.forms.ExtractedField as extracted, with its readings"
    )
    corrected_value: Mapped[Any] = mapped_column(JSON(), nullable=True)
    corrected_by: Mapped[Actor]
    corrected_at: Mapped[Timestamp]

    __table_args__ = (UniqueConstraint("record_id", "field"), Index(None, "corrected_at"))


class PersonalToken(Base):
    """An engineer's or manager's token for acting from the command line. Only its sha256
    is stored: a copy of the database does not let anyone act as someone else."""

    __tablename__ = "personal_tokens"

    id: Mapped[IntPK]
    public_id: Mapped[str] = mapped_column(String(32), unique=True, comment="shown in lists")
    user_id: Mapped[RowRef] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), comment="what the person uses it for")
    token_sha256: Mapped[Sha256] = mapped_column(unique=True)
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[Timestamp]
    revoked_at: Mapped[Timestamp | None]
    revoked_by: Mapped[Actor | None]
    last_used_at: Mapped[Timestamp | None]

    user: Mapped[User] = relationship()

    __table_args__ = (Index(None, "user_id"),)


class ActingGrant(Base):
    """One action a proven person may take on one workflow: written by the shell after it
    verified who acts (a personal token, a web session), consumed once by the worker's role
    check, so a name sent to Temporal by anyone else is refused."""

    __tablename__ = "acting_grants"

    id: Mapped[IntPK]
    username: Mapped[Actor]
    workflow_id: Mapped[WorkflowId]
    token_id: Mapped[RowRef | None] = mapped_column(
        ForeignKey("personal_tokens.id", ondelete="SET NULL")
    )
    via: Mapped[str] = mapped_column(String(20), comment="cli | web")
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[Timestamp]
    used_at: Mapped[Timestamp | None]
    used_by: Mapped[str | None] = mapped_column(String(512), comment="the activity that used it")

    __table_args__ = (Index(None, "workflow_id", "username"),)
