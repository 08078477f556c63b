"""The engine's own state: SQLAlchemy 2 models, sessions, Alembic migrations.

Activities, the CLI and the web app open one ``session_scope()`` per activity or request
and call the repository functions re-exported here; the scope commits or rolls back.
"""

from db.audit import GENESIS_HASH, AuditChainReport, append_audit_event, verify_audit_chain
from db.documents import get_document, list_quarantined, quarantine_document, register_document
from db.ledger import LedgerTotal, add_ledger_entry, ledger_totals, list_ledger_entries
from db.migrate import current_revision, head_revision, upgrade
from db.models import (
    AuditEvent,
    Base,
    Document,
    FormRecord,
    LedgerEntry,
    LedgerKind,
    QuarantinedDocument,
    RecordStatus,
    ReviewStatus,
    ReviewTask,
)
from db.records import (
    get_form_record,
    get_form_record_by_workflow,
    list_form_records,
    save_form_record,
)
from db.review import (
    decide_review,
    get_review_task,
    list_review_tasks,
    open_review_task,
    record_escalation,
)
from db.session import dispose_engines, get_engine, session_scope

__all__ = [
    "GENESIS_HASH",
    "AuditChainReport",
    "AuditEvent",
    "Base",
    "Document",
    "FormRecord",
    "LedgerEntry",
    "LedgerKind",
    "LedgerTotal",
    "QuarantinedDocument",
    "RecordStatus",
    "ReviewStatus",
    "ReviewTask",
    "add_ledger_entry",
    "append_audit_event",
    "current_revision",
    "decide_review",
    "dispose_engines",
    "get_document",
    "get_engine",
    "get_form_record",
    "get_form_record_by_workflow",
    "get_review_task",
    "head_revision",
    "ledger_totals",
    "list_form_records",
    "list_ledger_entries",
    "list_quarantined",
    "list_review_tasks",
    "open_review_task",
    "quarantine_document",
    "record_escalation",
    "register_document",
    "save_form_record",
    "session_scope",
    "upgrade",
    "verify_audit_chain",
]
