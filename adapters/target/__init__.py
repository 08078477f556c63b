"""The modern target store a migration copies into.

``open_target(plan.target)`` gives the store for a plan's ``target`` section; PostgreSQL
is the one implemented. Loads are idempotent: a batch written twice leaves one row per key.
"""

from __future__ import annotations

from adapters.target.postgres import PostgresTarget, open_target, postgres_type

__all__ = ["PostgresTarget", "open_target", "postgres_type"]
