"""Activity names, importable by workflows without pulling in any I/O library."""

REGISTER_DOCUMENT = "register_document"
EXTRACT_FORM = "extract_form"
QUARANTINE_DOCUMENT = "quarantine_document"
SAVE_EXTRACTION = "save_extraction"
ESCALATE_REVIEW = "escalate_review"
CHECK_DECISION = "check_decision"
FINALISE_RECORD = "finalise_record"
READ_MANIFEST = "read_manifest"

BAD_INPUT_TYPES = (
    "BadInputError",
    "UnreadableDocumentError",
    "UnsupportedFormatError",
    "DocumentTooLargeError",
    "BlankPageError",
    "UnknownFormError",
    "TemplateError",
    "PlanError",
    "LegacyReadError",
)
"""Failure types that mean the document itself is bad: quarantine it, never retry."""

# Migration (workflows.migrate; activities.migrate). RECONCILE_TABLE is implemented with the
# reconciliation engine: ReconcileTableInput -> ReconcileTableResult (domain.migration).
PROFILE_SYSTEM = "profile_system"
PREPARE_TARGET = "prepare_target"
COPY_BATCH = "copy_batch"
RECONCILE_TABLE = "reconcile_table"
RESYNC_KEYS = "resync_keys"
CATCH_UP_TABLE = "catch_up_table"
RECORD_MIGRATION_STAGE = "record_migration_stage"
