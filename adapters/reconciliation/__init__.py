"""Reconciliation: a legacy table against its copy in the target database.

``Reconciler(plan, legacy, target)`` diffs a plan's tables (counts, segment checksums with
bisection, field-level comparison with tolerances and normalisation) into
``domain.reconciliation.TableReport``; ``Reconciler.differing_keys`` gives exactly the
keys a re-sync must copy again or delete. ``open_reconciler(plan)`` opens both sides.
"""

from adapters.reconciliation.compare import (
    ColumnRule,
    TargetColumnType,
    changed_columns,
    column_rules,
    values_equal,
)
from adapters.reconciliation.engine import (
    Budgets,
    DifferingKeys,
    Reconciler,
    Reconciliation,
    open_reconciler,
)

__all__ = [
    "Budgets",
    "ColumnRule",
    "DifferingKeys",
    "Reconciler",
    "Reconciliation",
    "TargetColumnType",
    "changed_columns",
    "column_rules",
    "open_reconciler",
    "values_equal",
]
