"""Scoring extractions against a specimen's ground truth, as the issue's targets count:
a field is right when its normalised value equals the truth exactly; a wrong field is
only harmless when it was flagged for review."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldScore:
    """Running totals over many forms."""

    fields: int = 0
    right: int = 0
    wrong_unflagged: int = 0
    misses: list[str] = field(default_factory=list)

    def add(
        self,
        truth: Mapping[str, Any],
        values: Mapping[str, Any],
        flagged: set[str | None],
        label: str = "",
    ) -> None:
        """Count one form: ``values`` are the extracted values by field name, ``flagged``
        the names of the fields sent to review. Misses name the field, never its value."""
        for name, expected in truth.items():
            self.fields += 1
            if values.get(name) == expected:
                self.right += 1
                continue
            unflagged = name not in flagged
            self.wrong_unflagged += unflagged
            self.misses.append(f"{label} {name} {'UNFLAGGED' if unflagged else 'flagged'}")

    @property
    def exact_rate(self) -> float:
        return self.right / self.fields if self.fields else 0.0

    @property
    def wrong_unflagged_rate(self) -> float:
        return self.wrong_unflagged / self.fields if self.fields else 0.0
