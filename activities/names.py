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
