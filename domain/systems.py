"""Legacy systems on their way to retirement: the stages a programme tracks."""

from __future__ import annotations

from enum import StrEnum


class SystemStage(StrEnum):
    """Where a legacy system is on the road to decommissioning, in order."""

    PLANNED = "planned"
    MIGRATING = "migrating"
    RECONCILING = "reconciling"
    SHADOW = "shadow"
    CUTOVER = "cutover"  # with a share of traffic on the modern service
    FROZEN = "frozen"
    ARCHIVED = "archived"
    RETIRED = "retired"

    @property
    def order(self) -> int:
        return list(SystemStage).index(self)

    def label(self, cutover_percent: int | None = None) -> str:
        """The stage as people read it: ``cutover 25%`` rather than ``cutover``."""
        if self is SystemStage.CUTOVER and cutover_percent is not None:
            return f"cutover {cutover_percent}%"
        return self.value


RED_RISK_SCORE = 16
"""CDDO legacy risk framework: a score of 16 or more (out of 30) is red."""
