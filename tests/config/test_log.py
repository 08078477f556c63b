"""Personal data never reaches a log line, in any renderer."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from config.log import MASK, configure_logging, get_logger, redact_text

PERSONAL = {
    "ni number": "QQ 12 34 56 C",
    "compact ni number": "AB123456D",
    "postcode": "SW1A 1AA",
    "lower-case postcode": "m1 1ae",
    "slashed date": "12/03/1985",
    "iso date": "1985-03-12",
    "written date": "12th March 1985",
    "email": "amara.okafor@example.org",
    "mobile": "07700 900123",
    "international phone": "+44 20 7946 0000",
}


@pytest.mark.parametrize("label", list(PERSONAL))
def test_patterns_are_masked_inside_free_text(label: str):
    secret = PERSONAL[label]
    text = f"could not read the value {secret} on page 2"
    redacted = redact_text(text)
    assert secret not in redacted
    assert MASK in redacted
    assert "page 2" in redacted  # what is not personal survives


def test_ordinary_text_is_left_alone():
    text = "extracted 14 fields from register-to-vote in 1.32 s; 3 below 0.80"
    assert redact_text(text) == text


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]):
    configure_logging("DEBUG", "json", force=True)
    yield capsys
    structlog.reset_defaults()
    configure_logging("INFO", "json", force=True)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_keys_that_name_personal_data_are_masked_whole(json_logs: pytest.CaptureFixture[str]):
    get_logger("t").info(
        "field_read",
        field="surname",  # the field's *name* is fine
        surname="OKAFOR",
        address="12 Acacia Avenue, Leeds",
        fields={"forenames": "Amara Grace", "confidence": 0.93},
        confidence=0.93,
    )
    (line,) = _lines(json_logs)
    for secret in ("OKAFOR", "Acacia", "Amara"):
        assert secret not in line
    event = json.loads(line)
    assert event["field"] == "surname"
    assert event["confidence"] == 0.93
    assert event["surname"] == MASK


def test_exceptions_are_redacted_too(json_logs: pytest.CaptureFixture[str]):
    try:
        raise ValueError("invalid date '31/02/1961' for NI AB123456C")
    except ValueError:
        get_logger("t").exception("validation_crashed")
    text = "\n".join(_lines(json_logs))
    assert "31/02/1961" not in text
    assert "AB123456C" not in text
    assert "validation_crashed" in text


def test_standard_library_records_are_redacted(json_logs: pytest.CaptureFixture[str]):
    logging.getLogger("temporalio.activity").warning("retrying for postcode SW1A 1AA")
    text = "\n".join(_lines(json_logs))
    assert "SW1A 1AA" not in text
    assert "retrying" in text


def test_console_renderer_is_redacted(capsys: pytest.CaptureFixture[str]):
    configure_logging("INFO", "console", force=True)
    try:
        get_logger("t").info("decided", surname="OKAFOR", note="born 01/02/1990")
        err = capsys.readouterr().err
        assert "OKAFOR" not in err
        assert "01/02/1990" not in err
        assert "decided" in err
    finally:
        structlog.reset_defaults()
        configure_logging("INFO", "json", force=True)


def test_a_fresh_process_logs_redacted_without_being_told_to():
    import subprocess
    import sys

    code = (
        "from config.log import get_logger\n"
        "get_logger('child').info('form extracted', file='Okafor Amara.pdf', note='AB123456C')\n"
    )
    env = {"SWITCHOVER_LOG_FORMAT": "json", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert "form extracted" in done.stderr
    assert "Okafor" not in done.stderr + done.stdout
    assert "AB123456C" not in done.stderr + done.stdout
