"""Cutover and decommissioning: traffic settings and their history, router metrics,
retirement checklists, archives, and the basis of each ledger entry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
PHASES = ("pending", "shadow", "stage", "awaiting_approval", "awaiting_engineer", "complete",
          "abandoned")  # fmt: skip
SIDES = ("legacy", "modern")
EVENTS = ("shadow_started", "stage_started", "gate_passed", "gate_failed", "rolled_back",
          "frozen", "approved", "advanced", "completed", "legacy_frozen", "archived",
          "checklist_closed", "retired")  # fmt: skip


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(
            sa.Column("basis", sa.JSON(), nullable=True,
                      comment="the figures and dates the amount was worked out from")
        )  # fmt: skip

    op.create_table(
        "cutover_states",
        sa.Column("system_id", sa.String(100), nullable=False),
        sa.Column("phase", _enum(PHASES, "phase"), nullable=False),
        sa.Column("modern_percent", sa.Integer(), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("system_of_record", _enum(SIDES, "side"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage_started_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"],
                                name=op.f("fk_cutover_states_system_id_systems")),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_cutover_states")),
    )  # fmt: skip

    op.create_table(
        "cutover_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("system_id", sa.String(100), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("kind", _enum(EVENTS, "kind"), nullable=False),
        sa.Column("modern_percent", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=True, comment="domain.cutover.GateFigures"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"],
                                name=op.f("fk_cutover_events_system_id_systems")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cutover_events")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_cutover_events_system_id_occurred_at"),
        "cutover_events",
        ["system_id", "occurred_at"],
    )

    op.create_table(
        "router_metric_windows",
        sa.Column("id", ID, nullable=False),
        sa.Column("system_id", sa.String(100), nullable=False),
        sa.Column("setting_version", sa.Integer(), nullable=False),
        sa.Column("side", _enum(SIDES, "side"), nullable=False),
        sa.Column("instance", sa.String(255), nullable=False, comment="the proxy process"),
        sa.Column("window_start", TIMESTAMP, nullable=False),
        sa.Column("window_end", TIMESTAMP, nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("latency_histogram", sa.JSON(), nullable=False),
        sa.Column("shadow_compared", sa.BigInteger(), nullable=False),
        sa.Column("shadow_mismatched", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_router_metric_windows")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_router_metric_windows_system_id_setting_version"),
        "router_metric_windows",
        ["system_id", "setting_version"],
    )
    op.create_index(
        op.f("ix_router_metric_windows_system_id_window_end"),
        "router_metric_windows",
        ["system_id", "window_end"],
    )

    op.create_table(
        "checklist_items",
        sa.Column("id", ID, nullable=False),
        sa.Column("system_id", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("closed_by", sa.String(255), nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("evidence_key", sa.String(1024), nullable=True),
        sa.Column("evidence_name", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"],
                                name=op.f("fk_checklist_items_system_id_systems")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_items")),
        sa.UniqueConstraint("system_id", "position",
                            name=op.f("uq_checklist_items_system_id_position")),
    )  # fmt: skip

    op.create_table(
        "system_archives",
        sa.Column("id", ID, nullable=False),
        sa.Column("system_id", sa.String(100), nullable=False),
        sa.Column("manifest_key", sa.String(1024), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("verified_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"],
                                name=op.f("fk_system_archives_system_id_systems")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_archives")),
    )  # fmt: skip
    op.create_index(op.f("ix_system_archives_system_id"), "system_archives", ["system_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_system_archives_system_id"), "system_archives")
    op.drop_table("system_archives")
    op.drop_table("checklist_items")
    op.drop_index(op.f("ix_router_metric_windows_system_id_window_end"), "router_metric_windows")
    op.drop_index(
        op.f("ix_router_metric_windows_system_id_setting_version"), "router_metric_windows"
    )
    op.drop_table("router_metric_windows")
    op.drop_index(op.f("ix_cutover_events_system_id_occurred_at"), "cutover_events")
    op.drop_table("cutover_events")
    op.drop_table("cutover_states")
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("basis")
