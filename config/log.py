"""structlog, configured once: console in a terminal, JSON elsewhere, personal data masked.

The redaction processor runs before any renderer. It masks whole values under keys
that name personal data (``surname``, ``date_of_birth``, ``address``...), and masks
patterns that look like personal data wherever they appear in other strings: NI
numbers, postcodes, dates, e-mail addresses and phone numbers. Log field *names*
and confidences, never field values; the redaction is the safety net.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO, cast

import structlog

MASK = "[redacted]"

PERSONAL_KEYS = frozenset(
    {
        "name", "names", "full_name", "forename", "forenames", "first_name", "given_name",
        "middle_names", "surname", "last_name", "family_name", "previous_name", "maiden_name",
        "date_of_birth", "dob", "birth_date", "ni_number", "nino", "national_insurance_number",
        "postcode", "post_code", "address", "address_line_1", "address_line_2", "street",
        "town", "email", "phone", "telephone", "mobile", "value", "values", "old_value",
        "new_value", "corrections", "fields", "text", "words", "citizen",
        # People name their uploads after themselves ("J Smith DOB 1961.pdf").
        "file", "filename", "file_name",
    }
)  # fmt: skip

_PATTERNS = [
    # National Insurance number, read broadly (invalid ones are still personal data).
    re.compile(r"\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]?\b", re.I),
    # UK postcode.
    re.compile(r"\b(GIR\s?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2})\b", re.I),
    # Dates written with separators: 01/02/1980, 1980-02-01, 1.2.80.
    re.compile(r"\b\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}\b"),
    # Dates written with a month name: 1 February 1980, 1st Feb 1980.
    re.compile(
        r"\b\d{1,2}(st|nd|rd|th)?\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
        r"\s+\d{2,4}\b",
        re.I,
    ),
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    # UK phone numbers: 07700 900123, +44 20 7946 0000, 020-7946-0000.
    re.compile(r"(?<!\w)(\+44\s?|0)(\d[\s-]?){9,10}\b"),
]


def redact_text(text: str) -> str:
    """Mask every pattern of personal data in a free-text string."""
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


def _redact(key: str | None, value: Any) -> Any:
    if key is not None and key.lower() in PERSONAL_KEYS and value is not None:
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact(None, v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return value


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor that masks personal data in every key and string of an event."""
    for key in list(event_dict):
        event_dict[key] = _redact(None if key == "event" else key, event_dict[key])
    return event_dict


def _render_exception_redacted(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Tracebacks quote values ("invalid date '12/03/1961'"), so they are redacted too.
    event_dict = structlog.processors.format_exc_info(logger, method, event_dict)
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = redact_text(event_dict["exception"])
    return event_dict


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time (test capture, a redirected worker)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_configured = False


def configure_logging(level: str = "INFO", fmt: str = "auto", *, force: bool = False) -> None:
    """Configure structlog and the standard library's logging, once per process.

    Args:
        level: the lowest level shown.
        fmt: ``console``, ``json``, or ``auto`` (console when stderr is a terminal).
        force: configure again even when already configured (tests).
    """
    global _configured
    if _configured and not force:
        return
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=True)
        if use_console
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            _render_exception_redacted,
            redact_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=not force,
    )
    handler = logging.StreamHandler(cast(TextIO, _CurrentStderr()))
    # Records from the standard library (Temporal's, Alembic's) go through the same
    # redaction and renderer, so every line has one format.
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                stamp,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _render_exception_redacted,
                redact_personal_data,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO whenever it loads: noise on every
    # command that touches the engine database.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # httpx logs every request's URL at INFO, and URLs can carry personal data
    # (/claimants/AB123456C): the router and the services it calls must not log them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    _configured = True


def get_logger(name: str | None = None) -> Any:
    """A structlog logger. Configures logging from the settings if nothing has yet, so a
    child process (an OCR pool's) never logs through structlog's unredacted defaults."""
    if not _configured:
        from config.settings import get_settings

        settings = get_settings()
        configure_logging(settings.log_level, settings.log_format)
    return structlog.get_logger(name)
