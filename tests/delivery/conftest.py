"""A PostgreSQL target database, a receiving webhook server, a template that delivers to
both, and approved records in an engine database. PostgreSQL unreachable: skipped on a
developer's machine, failed in CI (CI=true)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from adapters.delivery import verify_signature
from adapters.delivery.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from config.form_template import bundled_template_dir
from domain.forms import ExtractedField
from tests.migration.conftest import postgres_name

__all__ = ["postgres_name"]  # a fixture the tests here use

SECRET = "webhook-secret-for-tests"
FORM_TYPE = "register-to-vote"


@pytest.fixture(scope="module")
def target_url(postgres_name: str) -> str:
    """A throwaway PostgreSQL database on 127.0.0.1:5432, as a SQLAlchemy URL."""
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_name}"


def target_rows(target_url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(target_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return list(conn.execute(sql).fetchall())


@dataclass
class Receiver:
    """A webhook receiver as a careful one is written: it checks the signature, and
    processes each idempotency key once."""

    secret: bytes
    requests: Counter[str] = field(default_factory=Counter)
    """Requests received per idempotency key (the sender retries: may be more than one)."""
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The body of each key, processed once."""
    processed_twice: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    answers: dict[str, list[int]] = field(default_factory=dict)
    """Status codes to answer a key with before accepting it, in order; 'always' below."""
    always: dict[str, int] = field(default_factory=dict)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: Any, body: bytes) -> int:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not verify_signature(self.secret, headers.get(TIMESTAMP_HEADER, ""), body, signature):
            with self.lock:
                self.bad_signatures += 1
            return 401
        key = headers.get(IDEMPOTENCY_HEADER, "")
        with self.lock:
            self.requests[key] += 1
            if key in self.always:
                return self.always[key]
            queued = self.answers.get(key)
            if queued:
                return queued.pop(0)
            if key in self.processed:
                return 200  # seen: acknowledged, not processed again
            self.processed[key] = json.loads(body)
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        return 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(SECRET.encode())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-request (a killed worker): the connection broke,
                # and a server drops what it got, as it would the connection.
                self.close_connection = True
                return
            status = state.handle(self.headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/records"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def write_template(folder: Path, target_url: str, webhook_url: str, table: str) -> Path:
    """The bundled register-to-vote template, delivering to a table and a webhook."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load((bundled_template_dir() / "register-to-vote.yaml").read_text())
    raw["deliver_to"] = [
        {"name": "electoral-db", "kind": "postgres", "url": target_url, "table": table},
        {"name": "caseworking", "kind": "webhook", "url": webhook_url},
    ]
    path = folder / "register-to-vote.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def approve_records(engine_url: str, count: int, *, start: int = 0) -> list[int]:
    """``count`` approved register-to-vote records, approved as the digitisation's last step
    approves them (which puts each in the outbox)."""
    from db import documents, records
    from db.session import session_scope
    from domain.digitise import RecordStatus

    ids = []
    with session_scope(engine_url) as session:
        for n in range(start, start + count):
            sha = hashlib.sha256(f"document {n}".encode()).hexdigest()
            documents.register_document(session, sha256=sha, filename=f"scan-{n}.png",
                                        content_type="image/png", size_bytes=10,
                                        storage_key=f"documents/{sha}")  # fmt: skip
            fields = {
                "surname": ExtractedField(value=f"SURNAME{n}", confidence=0.9, valid=True),
                "national_insurance_number": ExtractedField(
                    value=f"QQ{n:06d}C", confidence=0.9, valid=True
                ),
            }
            record = records.save_form_record(
                session, workflow_id=f"digitise-{sha}", document_id=sha, form_type=FORM_TYPE,
                status=RecordStatus.APPROVED, fields=fields,
                decided_at=dt.datetime.now(dt.UTC),
            )  # fmt: skip
            ids.append(record.id)
    return ids


@pytest.fixture
def engine_url(tmp_path: Path) -> str:
    from db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'switchover.db'}"
    upgrade(url)
    return url
