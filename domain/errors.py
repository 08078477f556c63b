"""The one error tree of Switchover.

Every error says whether retrying can help and which exit code the command line
uses for it. Adapters turn vendor exceptions into these with ``raise ... from``;
activities turn these into Temporal ``ApplicationError`` (see
``activities.errors``); the CLI turns them into an exit code and one line.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``switchover`` command (DESIGN.md, command line)."""

    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2
    UNAVAILABLE = 3


class SwitchoverError(Exception):
    """Base of every error Switchover raises on purpose.

    Attributes:
        retryable: whether doing the same thing again may succeed.
        exit_code: what the CLI exits with when this error reaches it.
    """

    retryable: bool = False
    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    @property
    def type_name(self) -> str:
        """The name Temporal failures carry, so a caller can tell errors apart."""
        return type(self).__name__


# --- bad input: never retried, quarantined, shown to a person -------------------------


class BadInputError(SwitchoverError):
    """Input that can never be processed as it is."""


class UnreadableDocumentError(BadInputError):
    """A document that cannot be opened: empty, truncated, encrypted, corrupt."""


class UnsupportedFormatError(BadInputError):
    """A file of a kind Switchover does not read, or whose name lies about its content."""


class DocumentTooLargeError(BadInputError):
    """An image over the pixel limit (a decompression bomb) or a file over the size limit."""


class BlankPageError(BadInputError):
    """A page that carries nothing legible."""


class UnknownFormError(BadInputError):
    """A document that matches none of the form templates."""


class TemplateError(BadInputError):
    """A form template that does not follow the template format."""


class PlanError(BadInputError):
    """A migration plan that does not follow the plan format."""


class LegacyReadError(BadInputError):
    """A legacy record or file that cannot be decoded exactly: a truncated file, an
    undecodable byte in the declared code page, an unreadable page.

    Attributes:
        table: the table, file or record layout being read.
        record: the 1-based record number, when the error is in one record.
        offset: the byte offset in the file, when the source is a file.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        record: int | None = None,
        offset: int | None = None,
        where: str | None = None,
    ) -> None:
        self.table = table
        self.record = record
        self.offset = offset
        parts = [where or table]
        if record is not None:
            parts.append(f"record {record}")
        if offset is not None:
            parts.append(f"byte offset {offset}")
        super().__init__(message, where=", ".join(parts))


class ValidationFailed(SwitchoverError):
    """A check ran and found problems (reconciliation mismatch, invalid plan)."""

    exit_code = ExitCode.CHECK_FAILED


# --- state conflicts -------------------------------------------------------------------


class NotFoundError(SwitchoverError):
    """A record, document, task or workflow that does not exist."""


class ConflictError(SwitchoverError):
    """An action that the current state forbids: a task already decided, claimed by someone
    else, or expired."""

    exit_code = ExitCode.CHECK_FAILED


class NotPermittedError(SwitchoverError):
    """The person asking does not hold the role the action needs (an approval of a
    cutover stage by someone who is not an engineer)."""

    exit_code = ExitCode.CHECK_FAILED


# --- the outside world -----------------------------------------------------------------


class ServiceUnavailableError(SwitchoverError):
    """A service Switchover needs cannot be reached: Temporal, a database, object storage."""

    retryable = True
    exit_code = ExitCode.UNAVAILABLE


class StorageError(ServiceUnavailableError):
    """Document storage failed in a way that may pass (network, throttling)."""


class DatabaseError(ServiceUnavailableError):
    """The engine database or a legacy database failed in a way that may pass."""


class OcrEngineError(SwitchoverError):
    """The OCR engine itself failed (missing binary, crash, timeout)."""

    retryable = True
    exit_code = ExitCode.UNAVAILABLE


class RouterError(ServiceUnavailableError):
    """A traffic router refused a setting or could not be reached (nginx config test,
    reload, the load balancer's API); the previous setting is still live."""


class LaunchError(SwitchoverError):
    """The embedded stack cannot start: port in use, stale server, missing binary."""

    exit_code = ExitCode.UNAVAILABLE


ERROR_TYPES: dict[str, type[SwitchoverError]] = {
    cls.__name__: cls
    for cls in [
        SwitchoverError,
        BadInputError,
        UnreadableDocumentError,
        UnsupportedFormatError,
        DocumentTooLargeError,
        BlankPageError,
        UnknownFormError,
        TemplateError,
        PlanError,
        LegacyReadError,
        ValidationFailed,
        NotFoundError,
        ConflictError,
        NotPermittedError,
        ServiceUnavailableError,
        StorageError,
        DatabaseError,
        OcrEngineError,
        RouterError,
        LaunchError,
    ]
}
"""Errors by name, so a Temporal failure's ``type`` can be turned back into our class."""
