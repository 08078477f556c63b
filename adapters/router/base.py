"""The one interface every traffic router offers the cutover workflow.

A router sits between citizens and the two services. The cutover activities tell it how
to split traffic (``apply``), ask whether both sides answer (``health``) and what it saw
since a stage began (``metrics``). Implementations: ``builtin`` (our own proxy, steered
through the engine database), ``nginx`` (an upstream block, reloaded safely) and
``aws-alb`` (weighted target groups on a load balancer's listener).

Methods are synchronous: activities run them in a thread, and the nginx and AWS clients
are blocking anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from domain.cutover import (
    HoldWritesResult,
    ReleaseWritesResult,
    RouterHealth,
    RouterMetrics,
    RouterSetting,
    Side,
)


class TrafficRouter(Protocol):
    """Splits one system's traffic between its legacy and modern services."""

    name: str

    def apply(self, setting: RouterSetting) -> None:
        """Make ``setting`` the live one, and check that it took.

        Raises:
            RouterError: the router refused the setting or could not be reached; the
                previous setting is still live.
        """
        ...

    def current(self) -> RouterSetting:
        """The setting live now, as the router reports it."""
        ...

    def health(self) -> RouterHealth:
        """Whether each side answers."""
        ...

    def metrics(self, since: datetime, *, setting_version: int | None = None) -> RouterMetrics:
        """Requests, errors, latencies and shadow comparisons since ``since`` (and, when
        given, under one setting version only)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class WriteHolding(Protocol):
    """A router that can stop writes reaching the old system of record at the switch:
    the builtin one holds them; nginx can only refuse them (503) for the window; a load
    balancer neither (see docs/cutover.md)."""

    def hold_writes(self) -> HoldWritesResult:
        """Hold writes, and wait until every live proxy has taken the hold and drained.

        Raises:
            RouterError: not every proxy took the hold and drained in time; the held
                writes went on to the old system of record.
        """
        ...

    def release_writes(
        self, system_of_record: Side, *, modern_percent: int | None = None
    ) -> ReleaseWritesResult:
        """Send held writes to ``system_of_record``, live with the setting naming it;
        ``released=False`` when the hold ran out first (hold again)."""
        ...
