"""An engine database and a document store with decided records whose scans are stored,
and a forms folder whose register-to-vote template has a retention schedule."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from adapters.storage import DocumentStore, open_store
from config.form_template import bundled_template_dir
from config.settings import Settings
from domain.forms import ExtractedField

SCANS_DAYS = 30
RECORDS_YEARS = 6


@dataclass
class Engine:
    settings: Settings
    store: DocumentStore

    @property
    def url(self) -> str:
        return self.settings.resolved_database_url


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    from db.migrate import upgrade

    forms = tmp_path / "forms"
    forms.mkdir()
    raw = yaml.safe_load((bundled_template_dir() / "register-to-vote.yaml").read_text())
    raw["retention"] = {"scans_days": SCANS_DAYS, "records_years": RECORDS_YEARS}
    (forms / "register-to-vote.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    settings = Settings(home=tmp_path / "state", forms_dir=forms)
    upgrade(settings.resolved_database_url)
    return Engine(settings, open_store(settings.resolved_storage_url, settings))


def decided_record(
    engine: Engine, n: int, *, form_type: str = "register-to-vote", ni: str | None = None,
    legacy_match: dict[str, object] | None = None, decided_at: dt.datetime | None = None,
) -> tuple[int, str]:  # fmt: skip
    """A decided record with its scan stored; its id and the scan's storage key."""
    from db import documents, records
    from db.session import session_scope
    from domain.digitise import RecordStatus

    content = f"scan {n} of a paper form".encode()
    stored = engine.store.put(content, content_type="image/png")
    sha = hashlib.sha256(content).hexdigest()
    fields = {
        "surname": ExtractedField(value=f"SURNAME{n}", confidence=0.9, valid=True, page=1),
        "postcode": ExtractedField(value="SW1A 1AA", confidence=0.9, valid=True, page=1),
        "national_insurance_number": ExtractedField(
            value=ni or f"QQ{n:06d}C", confidence=0.9, valid=True, page=1
        ),
    }
    with session_scope(engine.url) as session:
        documents.register_document(session, sha256=sha, filename=f"surname{n}-scan.png",
                                    content_type="image/png", size_bytes=len(content),
                                    storage_key=stored.key)  # fmt: skip
        record = records.save_form_record(
            session, workflow_id=f"digitise-{sha}", document_id=sha, form_type=form_type,
            status=RecordStatus.APPROVED, fields=fields, legacy_match=legacy_match,
            decided_at=decided_at or dt.datetime.now(dt.UTC),
        )  # fmt: skip
        return record.id, stored.key
