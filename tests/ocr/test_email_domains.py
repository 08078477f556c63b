"""E-mail addresses read with a prior on the common providers' domains: a domain read a
letter or two wrong is proposed as the provider's, and the recogniser's frames still
decide; a domain clearly written otherwise is read as written."""

from __future__ import annotations

from config.form_template import FieldSpec, FieldType
from ocr.ctc import CharFrames
from ocr.email_domains import COMMON_DOMAINS, domain_proposals, has_common_domain
from ocr.voting import weigh_readings
from tests.ocr.recogniser_frames import spaced_frames

ALPHABET = ("<blank>", "a", "@", "m", "e", "o", ".", "c", "s", "k", "y", "E", "M", "O", "C")
EMAIL = FieldSpec(name="email", label="Email", type=FieldType.EMAIL)


def frames(*rows: dict[str, float]) -> CharFrames:
    return spaced_frames(ALPHABET, rows)


def sure(text: str) -> list[dict[str, float]]:
    return [{c: 0.95} for c in text]


def test_a_domain_a_letter_or_two_off_is_proposed_as_the_provider_s() -> None:
    assert "jo.smith@hotmail.co.uk" in domain_proposals("jo.smith@hotmal.co.uk")
    assert "jo.smith@gmail.com" in domain_proposals("jo.smith@gmail.gom")
    # the @ read as a letter: the tail is the domain, in the reading's case
    assert "FRANKHURST@BTINTERNET.COM" in domain_proposals("FRANKHURSTEBTNTERNET.COM")
    assert domain_proposals("jo.smith@gmail.com") == []  # already a provider's
    assert domain_proposals("jo.smith@westshire.gov.uk") == []  # nothing close
    assert has_common_domain("JO@GMAIL.COM")
    assert not has_common_domain("jo@gmail.co")
    assert len(set(COMMON_DOMAINS)) == len(COMMON_DOMAINS)


def test_a_faint_last_letter_of_a_provider_s_domain_is_read() -> None:
    # a@me.co, its final m all but missed: alone the frames say .co, the prior says .com
    seen = frames(*sure("a@me.co"), {"m": 0.2})
    weighed = weigh_readings(EMAIL, [], seen)
    assert weighed is not None
    assert weighed.value == "a@me.com"


def test_an_at_read_as_a_letter_is_put_back_before_a_provider_s_domain() -> None:
    rows = sure("aeme.com")
    rows[1] = {"e": 0.6, "@": 0.3}
    weighed = weigh_readings(EMAIL, ["aeme.com"], frames(*rows))
    assert weighed is not None
    assert weighed.value == "a@me.com"


def test_a_domain_clearly_written_otherwise_is_read_as_written() -> None:
    rows = sure("a@mo.com")
    rows[3] = {"o": 0.95, "e": 0.001}  # mo.com is one letter from me.com
    weighed = weigh_readings(EMAIL, ["a@mo.com"], frames(*rows))
    assert weighed is not None
    assert weighed.value == "a@mo.com"
