"""Workflow ids, built in one place (DESIGN.md, command line): a document's digitisation,
a system's migration and its table copies, a system's cutover.

An id is how the CLI, the web app and the workflows find a run, so each is written here
once; a workflow module may import this (it is pure).
"""

from __future__ import annotations


def digitise_id(document_id: str) -> str:
    """The id of a document's ``DigitiseFormWorkflow`` (the document's sha256)."""
    return f"digitise-{document_id}"


def migration_id(system_id: str) -> str:
    """The id of a legacy system's ``MigrateSystemWorkflow``."""
    return f"migrate-{system_id}"


def system_of_migration(workflow_id: str) -> str | None:
    """The system whose migration ``workflow_id`` is (None: not a migration's id)."""
    prefix = migration_id("")
    return workflow_id[len(prefix) :] if workflow_id.startswith(prefix) else None


def copy_id(migration_workflow_id: str, table: str) -> str:
    """The id of a table's ``CopyTableWorkflow``, a child of the migration's run."""
    return f"{migration_workflow_id}/copy/{table}"


def copy_part_id(migration_workflow_id: str, table: str, number: int) -> str:
    """The id of part ``number`` (from 1) of a table copied in parallel key ranges."""
    return f"{copy_id(migration_workflow_id, table)}/part-{number}"


def cutover_id(system_id: str) -> str:
    """The id of a system's ``CutoverWorkflow``."""
    return f"cutover/{system_id}"


__all__ = [
    "copy_id",
    "copy_part_id",
    "cutover_id",
    "digitise_id",
    "migration_id",
    "system_of_migration",
]
