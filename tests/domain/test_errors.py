"""The error tree: exit codes, retryability, and the translation at the activity edge."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.errors import to_application_error, translated
from activities.names import BAD_INPUT_TYPES
from domain import errors


def test_every_class_is_registered_by_name():
    classes = {cls for cls in vars(errors).values() if isinstance(cls, type)
               and issubclass(cls, errors.SwitchoverError)}  # fmt: skip
    assert classes == set(errors.ERROR_TYPES.values())


@pytest.mark.parametrize(
    ("cls", "code", "retryable"),
    [
        (errors.UnreadableDocumentError, errors.ExitCode.BAD_INPUT, False),
        (errors.UnknownFormError, errors.ExitCode.BAD_INPUT, False),
        (errors.ValidationFailed, errors.ExitCode.CHECK_FAILED, False),
        (errors.ConflictError, errors.ExitCode.CHECK_FAILED, False),
        (errors.ServiceUnavailableError, errors.ExitCode.UNAVAILABLE, True),
        (errors.StorageError, errors.ExitCode.UNAVAILABLE, True),
        (errors.LaunchError, errors.ExitCode.UNAVAILABLE, False),
    ],
)
def test_exit_codes_and_retryability(cls, code, retryable):
    assert cls.exit_code is code
    assert cls.retryable is retryable


def test_where_names_file_and_page():
    error = errors.BlankPageError("no legible text", where="scan.pdf page 3")
    assert str(error) == "scan.pdf page 3: no legible text"


def test_bad_input_types_are_exactly_the_bad_input_classes():
    bad = {name for name, cls in errors.ERROR_TYPES.items()
           if issubclass(cls, errors.BadInputError)}  # fmt: skip
    assert bad == set(BAD_INPUT_TYPES)


def test_activity_edge_turns_ours_into_application_errors():
    failure = to_application_error(errors.UnsupportedFormatError("a ZIP, not a PDF", where="a.pdf"))
    assert failure.type == "UnsupportedFormatError"
    assert failure.non_retryable
    assert "a.pdf" in failure.message
    assert not to_application_error(errors.StorageError("timed out")).non_retryable


async def test_translated_decorator():
    @translated
    async def activity() -> None:
        raise errors.DocumentTooLargeError("200 megapixels", where="bomb.png")

    with pytest.raises(ApplicationError) as caught:
        await activity()
    assert caught.value.type == "DocumentTooLargeError"
    assert isinstance(caught.value.__cause__, errors.DocumentTooLargeError)
