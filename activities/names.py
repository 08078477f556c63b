"""Activity names, importable by workflows without pulling in any I/O library."""

REGISTER_DOCUMENT = "register_document"
EXTRACT_FORM = "extract_form"
QUARANTINE_DOCUMENT = "quarantine_document"
SAVE_EXTRACTION = "save_extraction"
ESCALATE_REVIEW = "escalate_review"
CHECK_DECISION = "check_decision"
FINALISE_RECORD = "finalise_record"
READ_MANIFEST = "read_manifest"
MATCH_LEGACY = "match_legacy"  # LegacyMatchInput -> LegacyMatchResult (domain.digitise)

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
# People's decisions about a migration (activities.decisions): RecordDecisionInput -> None.
AUTHORISE_DECISION = "authorise_decision"  # NotPermittedError (refusal recorded) unless engineer
RECORD_DECISION = "record_decision"  # the accepted decision, in the audit trail

# Cutover (workflows.cutover; activities.cutover): the router and the gates.
APPLY_ROUTER_SETTING = "apply_router_setting"  # ApplySettingInput -> RouterSetting
EVALUATE_GATES = "evaluate_gates"  # GateInput -> GateFigures
RECORD_CUTOVER_EVENT = "record_cutover_event"  # CutoverEventInput -> None
CHECK_ACTOR_ROLE = "check_actor_role"  # CheckActorInput -> None, or NotPermittedError
# The write hold at the switch of the system of record (builtin router; docs/cutover.md).
HOLD_WRITES = "hold_writes"  # HoldWritesInput -> HoldWritesResult
RELEASE_WRITES = "release_writes"  # ReleaseWritesInput -> ReleaseWritesResult
# The way back after the switch: reverse replication, modern to legacy (docs/cutover.md).
INSTALL_REVERSE_CAPTURE = "install_reverse_capture"  # WayBackInput -> None
APPLY_REVERSE_CHANGES = "apply_reverse_changes"  # WayBackInput -> ReverseCatchUpResult
CLOSE_WAY_BACK = "close_way_back"  # WayBackInput -> ReverseCatchUpResult (capture dropped)

# Decommissioning (activities.decommission).
FREEZE_LEGACY = "freeze_legacy"  # DecommissionInput -> FreezeResult
ARCHIVE_LEGACY = "archive_legacy"  # DecommissionInput -> ArchiveResult (written and read back)
OPEN_CHECKLIST = "open_checklist"  # DecommissionInput -> ChecklistStatus
CHECKLIST_STATUS = "checklist_status"  # DecommissionInput -> ChecklistStatus
RETIRE_SYSTEM = "retire_system"  # DecommissionInput -> None (stage retired, ledger begins)
ACCRUE_SAVINGS = "accrue_savings"  # AccrueSavingsInput -> int (entries added)
READ_CUTOVER_PLAN = "read_cutover_plan"  # plan path (str) -> CutoverPlanView
EXPORT_AUDIT_HEAD = "export_audit_head"  # ExportAuditHeadInput -> ExportedAuditHead
COPY_RANGES = "copy_ranges"  # CopyRangesInput -> a table's key ranges, copied at once
RECONCILE_SCHEDULED = "reconcile_scheduled"  # every table of a stored plan, within its budgets
SYSTEM_STAGE = "system_stage"  # system id -> its programme stage
PAUSE_SCHEDULE = "pause_schedule"  # a scheduled reconciliation pauses its own schedule
