"""Cutover activities: read the plan, move traffic, judge a stage, keep the history, and
check that the person acting is an engineer. All run on the IO queue.

The router is opened from the plan each time (``adapters.router.open_router``): the
setting itself lives in the engine database (``cutover_states``), so an activity retried
on another worker applies the same thing again, harmlessly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities import names
from activities.errors import translated
from adapters.change_capture import change_lag
from adapters.inverse_mapping import inverse_problems
from adapters.target.changes import ChangeLag
from config.log import get_logger
from config.migration_plan import CutoverPlan, MigrationPlan, load_plan
from config.settings import Settings
from domain.cutover import (
    ApplySettingInput,
    CheckActorInput,
    CutoverEventInput,
    CutoverPhase,
    CutoverPlanView,
    GateFigures,
    GateInput,
    HoldWritesInput,
    HoldWritesResult,
    ReleaseWritesInput,
    ReleaseWritesResult,
    ReverseCatchUpResult,
    RouterMetrics,
    RouterSetting,
    Side,
    WayBackInput,
)
from domain.errors import NotPermittedError, PlanError
from domain.systems import SystemStage

log = get_logger(__name__)

RouterOpener = Callable[[MigrationPlan, Settings], Any]


def _cutover_plan(plan: MigrationPlan) -> CutoverPlan:
    if plan.cutover is None:
        raise PlanError(f"the plan for {plan.system.id} has no cutover section")
    return plan.cutover


def _open_router(plan: MigrationPlan, settings: Settings) -> Any:
    from adapters.router import open_router

    return open_router(plan, settings)


def judge(
    metrics: RouterMetrics,
    plan: CutoverPlan,
    *,
    shadow_only: bool,
    reconciliation_passed: bool | None,
) -> GateFigures:
    """A stage's figures against the plan's gates.

    The modern service is the one on trial: its error rate and p95 latency (from live
    traffic, or from shadowed requests in the shadow phase), the shadow mismatch rate when
    responses were compared, and a fresh reconciliation.
    """
    gates = plan.gates
    modern = metrics.modern
    p95 = modern.percentile_ms(0.95)
    mismatch = metrics.mismatch_rate if metrics.shadow_compared else None
    failures: list[str] = []
    too_few = modern.requests < gates.min_requests
    if too_few:
        failures.append(
            f"only {modern.requests} requests on modern (at least {gates.min_requests})"
        )
    if modern.error_rate > gates.max_error_rate:
        failures.append(f"error rate {modern.error_rate:.2%} > {gates.max_error_rate:.2%}")
    if p95 is not None and p95 > gates.max_p95_ms:
        failures.append(f"p95 {p95:.0f} ms > {gates.max_p95_ms:.0f} ms")
    if mismatch is not None and mismatch > gates.max_mismatch_rate:
        failures.append(f"shadow mismatch rate {mismatch:.2%} > {gates.max_mismatch_rate:.2%}")
    if shadow_only and plan.shadow and metrics.shadow_compared == 0 and modern.requests:
        failures.append("no shadow comparisons were made")
    if reconciliation_passed is False:
        failures.append("reconciliation found differences")
    return GateFigures(
        requests=modern.requests,
        error_rate=modern.error_rate,
        p95_ms=p95,
        mismatch_rate=mismatch,
        reconciliation_passed=reconciliation_passed,
        failures=failures,
        too_few_requests=too_few and len(failures) == 1,
    )


def with_lag(figures: GateFigures, lag: ChangeLag, max_lag_s: float) -> GateFigures:
    """The figures with how far modern was behind legacy's writes, and a failure when it
    was further than the plan allows."""
    failures = list(figures.failures)
    if lag.seconds_behind > max_lag_s:
        failures.append(f"modern is {lag.seconds_behind:.0f} s behind legacy's writes "
                        f"({lag.changes_behind}{'+' if lag.more else ''} changes; at most "
                        f"{max_lag_s:g} s)")  # fmt: skip
    return figures.model_copy(
        update={
            "lag_s": round(lag.seconds_behind, 3),
            "changes_behind": lag.changes_behind,
            "failures": failures,
            "too_few_requests": figures.too_few_requests and failures == figures.failures,
        }
    )


@dataclass
class CutoverActivities:
    """The cutover's IO activities."""

    settings: Settings
    router_opener: RouterOpener = _open_router

    @classmethod
    def from_settings(cls, settings: Settings) -> CutoverActivities:
        return cls(settings)

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.read_cutover_plan,
            self.apply_router_setting,
            self.evaluate_gates,
            self.record_cutover_event,
            self.check_actor_role,
            self.hold_writes,
            self.release_writes,
            self.install_reverse_capture,
            self.apply_reverse_changes,
            self.close_way_back,
        ]

    @activity.defn(name=names.READ_CUTOVER_PLAN)
    @translated
    def read_cutover_plan(self, plan_path: str) -> CutoverPlanView | None:
        """What the workflow needs of the plan: stages, gates' soak, approval, tables;
        None when the plan has no cutover section."""
        plan = load_plan(plan_path)
        cutover = plan.cutover
        if cutover is None:
            return None
        decommission = plan.decommission
        return CutoverPlanView(
            system_id=plan.system.id,
            stages=list(cutover.stages),
            shadow=cutover.shadow,
            soak_minutes=cutover.gates.soak_minutes,
            catch_up_every_s=cutover.catch_up_every_s,
            approval=cutover.approval,
            on_gate_failure=cutover.on_gate_failure,
            tables=[t.target for t in plan.tables],
            decommission=bool(
                decommission.freeze_sql or decommission.archive or decommission.checklist
            ),
            archive=decommission.archive,
            final_soak_minutes=cutover.final_soak_minutes,
            no_way_back=_no_way_back(plan, cutover),
        )

    @activity.defn(name=names.APPLY_ROUTER_SETTING)
    @translated
    def apply_router_setting(self, request: ApplySettingInput) -> RouterSetting:
        """Record the setting as the system's live one, have the router apply it, and move
        the system's stage on the dashboard (shadow, or cutover at a share)."""
        from db.cutover import set_cutover_state
        from db.models import System
        from db.programme import move_system
        from db.session import session_scope

        plan = load_plan(request.plan_path)
        with session_scope(self.database_url) as session:
            setting = set_cutover_state(
                session, request.system_id, phase=request.phase, setting=request.setting
            )
        router = self.router_opener(plan, self.settings)
        try:
            router.apply(setting)
        finally:
            router.close()
        stage, percent = (
            (SystemStage.SHADOW, None)
            if request.phase is CutoverPhase.SHADOW
            else (SystemStage.CUTOVER, setting.modern_percent)
        )
        with session_scope(self.database_url) as session:
            system = session.get(System, request.system_id)
            # Retried after a crash: the step is recorded once.
            if system is not None and (system.stage, system.cutover_percent) != (stage, percent):
                move_system(
                    session,
                    request.system_id,
                    stage,
                    cutover_percent=percent,
                    actor="cutover-workflow",
                    note=_describe(setting),
                )
        log.info(
            "router setting applied",
            system=request.system_id,
            modern_percent=setting.modern_percent,
            shadow=setting.shadow,
            version=setting.version,
        )
        return setting

    @activity.defn(name=names.EVALUATE_GATES)
    @translated
    def evaluate_gates(self, request: GateInput) -> GateFigures:
        """The router's figures since the stage began, judged against the plan's gates."""
        plan = load_plan(request.plan_path)
        router = self.router_opener(plan, self.settings)
        try:
            metrics = router.metrics(request.since, setting_version=request.setting_version)
        finally:
            router.close()
        figures = judge(
            metrics,
            _cutover_plan(plan),
            shadow_only=request.shadow_only,
            reconciliation_passed=request.reconciliation_passed,
        )
        lag = change_lag(plan)
        if lag is not None:
            figures = with_lag(figures, lag, _cutover_plan(plan).gates.max_lag_s)
        log.info(
            "gates judged",
            system=request.system_id,
            requests=figures.requests,
            passed=figures.passed,
            failures=len(figures.failures),
        )
        return figures

    @activity.defn(name=names.RECORD_CUTOVER_EVENT)
    @translated
    def record_cutover_event(self, request: CutoverEventInput) -> None:
        """Add a line to the system's cutover history."""
        from db.cutover import record_cutover_event
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            record_cutover_event(
                session,
                request.system_id,
                request.kind,
                actor=request.actor,
                modern_percent=request.modern_percent,
                figures=request.figures,
                note=request.note,
                at=dt.datetime.now(dt.UTC),
            )

    @staticmethod
    def _close(router: Any) -> None:
        router.close()

    @activity.defn(name=names.HOLD_WRITES)
    @translated
    def hold_writes(self, request: HoldWritesInput) -> HoldWritesResult:
        """Hold writes in the router before the system of record changes: returns once
        every live proxy holds and has nothing in flight to the old one. A router that
        cannot hold (aws-alb) changes nothing and says so (``held=False``); nginx refuses
        writes for the window instead (``refusing=True``)."""
        from adapters.router import WriteHolding

        plan = load_plan(request.plan_path)
        router = self.router_opener(plan, self.settings)
        try:
            if not isinstance(router, WriteHolding):
                return HoldWritesResult(held=False, detail=f"the {router.name} router cannot "
                                        "hold writes (docs/cutover.md)")  # fmt: skip
            result = router.hold_writes()
        finally:
            self._close(router)
        log.info("writes held", system=request.system_id, proxies=result.proxies,
                 in_flight=result.in_flight, waited_s=round(result.waited_s, 3))  # fmt: skip
        return result

    @activity.defn(name=names.RELEASE_WRITES)
    @translated
    def release_writes(self, request: ReleaseWritesInput) -> ReleaseWritesResult:
        """Release held writes to ``system_of_record``, live in the same step as the setting
        that names it (with ``modern_percent`` when given). ``released=False``: the hold
        ran out first and the held writes went to the old system of record; hold again."""
        from adapters.router import WriteHolding

        plan = load_plan(request.plan_path)
        router = self.router_opener(plan, self.settings)
        try:
            if not isinstance(router, WriteHolding):
                return ReleaseWritesResult(released=False, detail=f"the {router.name} router "
                                           "cannot hold writes (docs/cutover.md)")  # fmt: skip
            result = router.release_writes(
                request.system_of_record, modern_percent=request.modern_percent
            )
        finally:
            self._close(router)
        log.info("writes released", system=request.system_id, released=result.released,
                 proxies=result.proxies, held=result.held_writes)  # fmt: skip
        return result

    @activity.defn(name=names.INSTALL_REVERSE_CAPTURE)
    @translated
    def install_reverse_capture(self, request: WayBackInput) -> None:
        """Begin logging modern's writes to the plan's tables, for the way back (under
        the write hold, before modern takes its first write). Idempotent."""
        from adapters.reverse_replication import open_reverse_applier

        with open_reverse_applier(load_plan(request.plan_path)) as applier:
            applier.install()

    @activity.defn(name=names.APPLY_REVERSE_CHANGES)
    @translated
    def apply_reverse_changes(self, request: WayBackInput) -> ReverseCatchUpResult:
        """Carry modern's logged writes to legacy, heartbeating after each batch."""
        from adapters.reverse_replication import open_reverse_applier

        with open_reverse_applier(load_plan(request.plan_path)) as applier:
            done = applier.catch_up(heartbeat=activity.heartbeat)
            lag = applier.lag()
        log.info(
            "reverse_changes_caught_up",
            system=request.system_id,
            log_rows=done.log_rows,
            waiting=lag.rows_waiting,
        )
        return ReverseCatchUpResult(
            log_rows=done.log_rows,
            upserts=done.upserts,
            deletes=done.deletes,
            behind_s=round(done.oldest_s, 3),
            rows_waiting=lag.rows_waiting,
            oldest_waiting_s=round(lag.oldest_s, 3),
        )

    @activity.defn(name=names.CLOSE_WAY_BACK)
    @translated
    def close_way_back(self, request: WayBackInput) -> ReverseCatchUpResult:
        """End the way back: carry the last of modern's writes to legacy and drop the
        capture (triggers, log) from the target. Idempotent."""
        from adapters.reverse_replication import open_reverse_applier

        with open_reverse_applier(load_plan(request.plan_path)) as applier:
            done = applier.end(heartbeat=activity.heartbeat)
        log.info("way_back_closed", system=request.system_id, log_rows=done.log_rows)
        return ReverseCatchUpResult(
            log_rows=done.log_rows,
            upserts=done.upserts,
            deletes=done.deletes,
            behind_s=round(done.oldest_s, 3),
        )

    @activity.defn(name=names.CHECK_ACTOR_ROLE)
    @translated
    def check_actor_role(self, request: CheckActorInput) -> None:
        """Refuse anyone who is not an active user holding the role."""
        from db.accounts import get_user_by_username
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            user = get_user_by_username(session, request.actor)
            allowed = user is not None and user.active and request.role in user.roles
        if not allowed:
            raise NotPermittedError(
                f"{request.actor} does not hold the {request.role} role; only an "
                f"{request.role} may do this"
            )


def _no_way_back(plan: MigrationPlan, cutover: CutoverPlan) -> str | None:
    """Why a plan that asks for a final soak can have no way back (None: it can, or it
    asks for none)."""
    if cutover.final_soak_minutes <= 0:
        return None
    return "; ".join(inverse_problems(plan)) or None


def _describe(setting: RouterSetting) -> str:
    parts = [f"{setting.modern_percent}% of traffic on modern"]
    if setting.shadow:
        parts.append("shadowed")
    if setting.system_of_record is Side.MODERN:
        parts.append("modern is the system of record")
    return ", ".join(parts)
