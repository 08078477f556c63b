"""Cutover, freeze, archive and retire: the vocabulary shared by routers, workflows, the
engine database, the CLI and the web app.

A system's traffic is described by a ``RouterSetting``: which share of requests goes to
the modern service, whether the other side is shadowed, and which side is the system of
record (the only one that receives writes). Routers report ``RouterMetrics``: per side,
requests, errors (5xx and timeouts) and latency as a mergeable histogram, plus the shadow
comparison counts. ``CutoverWorkflow`` moves the setting stage by stage and judges each
stage on those figures (``GateFigures``).
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.migration import StreamLag


class Side(StrEnum):
    LEGACY = "legacy"
    MODERN = "modern"

    @property
    def other(self) -> Side:
        return Side.MODERN if self is Side.LEGACY else Side.LEGACY


class RouterSetting(BaseModel):
    """What a router is told to do; ``version`` rises with every change."""

    modern_percent: int = Field(default=0, ge=0, le=100)
    shadow: bool = False
    system_of_record: Side = Side.LEGACY
    version: int = 0


# Latency histogram: bucket i holds requests that took at most LATENCY_BOUNDS_MS[i]
# milliseconds (the last bucket is everything slower). Fixed bounds make histograms from
# several proxies, and several flush windows, add up exactly.
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(
    round(0.25 * 1.25**i, 3) for i in range(int(math.log(120_000 / 0.25, 1.25)) + 2)
)


def latency_bucket(milliseconds: float) -> int:
    """The histogram bucket a latency falls in."""
    low, high = 0, len(LATENCY_BOUNDS_MS)
    while low < high:
        middle = (low + high) // 2
        if milliseconds <= LATENCY_BOUNDS_MS[middle]:
            high = middle
        else:
            low = middle + 1
    return low


def empty_histogram() -> list[int]:
    return [0] * (len(LATENCY_BOUNDS_MS) + 1)


def percentile_ms(histogram: list[int], fraction: float) -> float | None:
    """The latency below which ``fraction`` of requests fell (a bucket's upper bound)."""
    total = sum(histogram)
    if total == 0:
        return None
    wanted = math.ceil(fraction * total)
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= wanted:
            return LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)]
    return LATENCY_BOUNDS_MS[-1]


class SideMetrics(BaseModel):
    """One side's traffic over a period."""

    requests: int = 0
    errors: int = 0
    latency_histogram: list[int] = Field(default_factory=empty_histogram)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def percentile_ms(self, fraction: float) -> float | None:
        return percentile_ms(self.latency_histogram, fraction)

    def add(self, other: SideMetrics) -> SideMetrics:
        return SideMetrics(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            latency_histogram=[
                a + b for a, b in zip(self.latency_histogram, other.latency_histogram, strict=True)
            ],
        )


class RouterMetrics(BaseModel):
    """What a router saw since a moment: per side, and the shadow comparisons."""

    legacy: SideMetrics = Field(default_factory=SideMetrics)
    modern: SideMetrics = Field(default_factory=SideMetrics)
    shadow_compared: int = 0
    shadow_mismatched: int = 0

    def side(self, side: Side) -> SideMetrics:
        return self.legacy if side is Side.LEGACY else self.modern

    @property
    def mismatch_rate(self) -> float:
        return self.shadow_mismatched / self.shadow_compared if self.shadow_compared else 0.0


class RouterHealth(BaseModel):
    """Whether each side answers, as the router sees it."""

    legacy: bool
    modern: bool
    detail: str | None = None


class CutoverPhase(StrEnum):
    """Where a system's cutover is."""

    PENDING = "pending"  # migrated, not yet shadowed
    SHADOW = "shadow"
    STAGE = "stage"  # a weighted stage: modern_percent of traffic on modern
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_ENGINEER = "awaiting_engineer"  # a gate failed; rolled back or frozen
    COMPLETE = "complete"  # modern is the system of record
    ABANDONED = "abandoned"


class CutoverEventKind(StrEnum):
    """One line of a cutover's history."""

    SHADOW_STARTED = "shadow_started"
    STAGE_STARTED = "stage_started"
    GATE_PASSED = "gate_passed"
    GATE_FAILED = "gate_failed"
    ROLLED_BACK = "rolled_back"
    FROZEN = "frozen"  # held at a stage after a failed gate, or by the engineer
    APPROVED = "approved"
    ADVANCED = "advanced"  # the engineer moved on without waiting
    COMPLETED = "completed"  # modern became the system of record
    LEGACY_FROZEN = "legacy_frozen"  # decommission: legacy made read-only
    ARCHIVED = "archived"
    CHECKLIST_CLOSED = "checklist_closed"
    RETIRED = "retired"


class GateFigures(BaseModel):
    """What a stage showed, and each gate's verdict: stored with the stage history."""

    requests: int
    error_rate: float
    p95_ms: float | None
    mismatch_rate: float | None
    reconciliation_passed: bool | None
    failures: list[str] = Field(default_factory=list)
    """Each gate that failed, in words: ``error rate 4.0% > 1.0%``."""
    too_few_requests: bool = False
    """Modern saw fewer requests than the plan's minimum: the stage proves nothing yet,
    which is no reason to roll back (the workflow holds and asks the engineer)."""
    lag_s: float | None = None
    """With a change stream: seconds modern was behind legacy's writes when judged."""
    changes_behind: int | None = None
    """With a change stream: legacy's changes modern had not applied when judged."""

    @property
    def passed(self) -> bool:
        return not self.failures


class ArchiveEntry(BaseModel):
    """One file in an archive, as its manifest lists it."""

    name: str  # a table as ``tables/<name>.parquet``, or an original file by its name
    key: str  # storage key
    sha256: str
    bytes: int
    rows: int | None = None  # tables only


class ArchiveManifest(BaseModel):
    """Everything a retired system's archive holds, with sums to check it by."""

    system_id: str
    created_at: datetime
    source_kind: str
    entries: list[ArchiveEntry]


# --- the cutover workflow's contract ------------------------------------------------------


class CutoverInput(BaseModel):
    """Start a system's cutover (workflow id ``cutover/<system_id>``)."""

    plan_path: str
    system_id: str
    decommission: bool = True
    """Go on to freeze, archive and retire once modern is the system of record."""
    caught_up_at: datetime | None = None
    """When the migration's last catch-up began: the first gate's catch-up starts there."""


class EngineerActionKind(StrEnum):
    APPROVE = "approve"  # let the next stage begin (the plan asks for approval)
    ADVANCE = "advance"  # end the soak now and judge the gates; after a failed gate, retry
    ROLLBACK = "rollback"  # back to the previous stage now
    FREEZE = "freeze"  # hold at this stage until ``advance``


class EngineerAction(BaseModel):
    """An engineer's instruction to a cutover, by the ``act`` update.

    The workflow checks in the engine database that ``actor`` holds the engineer role;
    anyone else is refused.
    """

    kind: EngineerActionKind
    actor: str
    reason: str | None = None


class WayBackStatus(BaseModel):
    """The way back after the switch: while it is open, modern's writes are carried to
    legacy (reverse replication) and a ``rollback`` switches back losing nothing."""

    open: bool = False
    reason: str | None = None
    """Why there is none, when the plan asked for a final soak and cannot have one."""
    rows_applied: int = 0
    """Modern's written rows carried to legacy so far (log rows applied)."""
    rows_waiting: int = 0
    """Written rows not yet carried, when last counted."""
    oldest_waiting_s: float = 0.0
    """Age of the oldest of them, when last counted."""
    behind_s: float = 0.0
    """How far legacy was behind modern at the last catch-up (the oldest row it applied)."""
    caught_up_at: datetime | None = None


class CutoverStatus(BaseModel):
    """What the ``status`` query of ``CutoverWorkflow`` answers."""

    system_id: str
    phase: CutoverPhase = CutoverPhase.PENDING
    stages: list[int] = Field(default_factory=list)
    stage_index: int = -1  # -1: shadow (or not begun)
    setting: RouterSetting = Field(default_factory=RouterSetting)
    held: bool = False  # frozen at a stage by a failed gate or the engineer
    waiting_for: str | None = None  # what the workflow waits for, in words
    stage_started_at: datetime | None = None
    soak_ends_at: datetime | None = None
    last_figures: GateFigures | None = None
    decommission_step: str | None = None  # legacy_frozen | archived | checklist | retired
    way_back: WayBackStatus | None = None
    """After the switch, with a final soak: reverse replication to legacy, and its lag."""
    change_stream: StreamLag | None = None
    """Before the switch: legacy's change stream at the last catch-up, and its lag."""


class GateInput(BaseModel):
    """Judge one stage: router figures since it began, and a fresh reconciliation."""

    plan_path: str
    system_id: str
    since: datetime
    setting_version: int
    shadow_only: bool = False  # the shadow phase: no share of live traffic on modern yet
    reconciliation_passed: bool | None = None  # judged by the workflow's reconcile steps


class CutoverPlanView(BaseModel):
    """What the cutover workflow needs of the plan, read once by an activity."""

    system_id: str
    stages: list[int]
    shadow: bool
    soak_minutes: float
    catch_up_every_s: float = 60
    approval: str  # required | auto
    on_gate_failure: str  # rollback | freeze
    tables: list[str]
    decommission: bool  # the plan has freeze statements, an archive or a checklist
    archive: bool
    final_soak_minutes: float = 0
    """After the switch, how long legacy is kept current from modern before the freeze."""
    no_way_back: str | None = None
    """Why the plan's system can have no way back after the switch (None: it can)."""


class ApplySettingInput(BaseModel):
    plan_path: str
    system_id: str
    phase: CutoverPhase
    setting: RouterSetting


class CutoverEventInput(BaseModel):
    plan_path: str
    system_id: str
    kind: CutoverEventKind
    actor: str = "cutover-workflow"
    modern_percent: int | None = None
    figures: GateFigures | None = None
    note: str | None = None


class CheckActorInput(BaseModel):
    actor: str
    role: str = "engineer"


class WayBackInput(BaseModel):
    """Install, apply or close the reverse replication of a system (modern to legacy)."""

    plan_path: str
    system_id: str


class ReverseCatchUpResult(BaseModel):
    """What applying modern's logged writes to legacy did, and what was left waiting."""

    log_rows: int = 0  # log rows applied (one per row modern wrote)
    upserts: int = 0  # legacy rows written
    deletes: int = 0  # legacy rows deleted
    behind_s: float = 0.0  # age of the oldest log row applied
    rows_waiting: int = 0  # log rows left when it finished (written meanwhile)
    oldest_waiting_s: float = 0.0


# --- decommissioning's contract -----------------------------------------------------------


class DecommissionInput(BaseModel):
    plan_path: str
    system_id: str
    actor: str = "cutover-workflow"


class FreezeResult(BaseModel):
    statements_run: int
    write_refused: bool
    """A write attempted after the freeze failed, as it must."""
    detail: str


class ArchiveResult(BaseModel):
    manifest_key: str
    manifest_sha256: str
    files: int
    rows: int
    bytes: int
    verified: bool


class ChecklistItemStatus(BaseModel):
    position: int
    item: str
    closed_by: str | None = None
    closed_at: datetime | None = None
    note: str | None = None
    evidence_name: str | None = None


class ChecklistStatus(BaseModel):
    items: list[ChecklistItemStatus]

    @property
    def all_closed(self) -> bool:
        return all(item.closed_by for item in self.items)


class AccrueSavingsInput(BaseModel):
    today: datetime | None = None  # None: the activity's own clock


# --- the write hold at the switch of the system of record (builtin router) --------------


class WriteHold(StrEnum):
    """The write hold a system's builtin proxies follow (``cutover_states.hold_state``)."""

    NONE = "none"
    HOLDING = "holding"  # writes wait inside the proxies; reads go on
    RELEASED = "released"  # held writes go to the system of record the release named


class HoldWritesInput(BaseModel):
    """Hold the writes of a system's builtin proxies until ``release_writes``."""

    plan_path: str
    system_id: str


class HoldWritesResult(BaseModel):
    """What ``hold_writes`` saw: every live proxy took the hold and drained, or not."""

    held: bool  # False: the router cannot hold (aws-alb); nothing was changed
    hold_id: int = 0
    proxies: int = 0  # live proxies that took the hold
    in_flight: int = 0  # writes in flight to the old system of record when it was taken
    waited_s: float = 0.0  # from setting the hold to every proxy drained
    hold_max_s: float = 0.0  # the proxies release to the old system of record after this
    refusing: bool = False  # writes are refused (503, Retry-After), not held: nginx
    detail: str | None = None


class ReleaseWritesInput(BaseModel):
    """Release held writes to ``system_of_record`` (and, when given, set the share)."""

    plan_path: str
    system_id: str
    system_of_record: Side
    modern_percent: int | None = Field(default=None, ge=0, le=100)


class ReleaseWritesResult(BaseModel):
    """What ``release_writes`` did: the setting live with the release, and the proxies
    that sent their held writes on."""

    released: bool  # False: the router cannot hold; nothing was changed
    setting: RouterSetting | None = None
    proxies: int = 0
    held_writes: int = 0  # writes the proxies held, now sent to the system of record
    detail: str | None = None
