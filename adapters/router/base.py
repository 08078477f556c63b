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
from typing import Protocol

from domain.cutover import RouterHealth, RouterMetrics, RouterSetting


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
