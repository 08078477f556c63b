"""Personal data stays out of Temporal: forms ingested through `switchover up` (the real dev
server, its database a file) leave none of their values, and no file name, in the
server's database or in the workflows' histories as the server keeps them; yet the values
are there, sealed, for whoever holds the key, and the forms still reach their records."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from config.settings import Settings
from switchover.codec import ENCODING, EncryptionCodec, payload_keys
from switchover.specimens import write_specimens
from tests.switchover.test_end_to_end import cli, stack  # noqa: F401 (stack: a fixture)
from tests.switchover.tokens import reviewer_env

pytestmark = pytest.mark.slow

SWITCHOVER = str(Path(sys.executable).parent / "switchover")
# A file name that is itself personal: it must not reach Temporal either.
BROKEN_NAME = "letter-from-adaeze-okonkwo.pdf"


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload anywhere inside a protobuf message (events, failures, headers)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            entries = value.values()
        elif isinstance(value, Message):
            entries = [value]
        else:  # a repeated field
            entries = value
        for entry in entries:
            if isinstance(entry, Message):
                yield from payloads_in(entry)


def test_no_personal_value_reaches_temporal(stack, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    env, up, port, log_path = stack
    specimens = write_specimens(tmp_path / "in", form_type="register-to-vote", count=3, seed=41,
                                variants=("scan",))  # fmt: skip
    values: set[str] = set()
    workflow_ids: list[str] = []
    reviewer: dict[str, str] | None = None
    for specimen in specimens:
        values |= {v for k, v in specimen.truth.items()
                   if isinstance(v, str) and len(v) > 4 and k != "nationality"}  # fmt: skip
        ingested = cli(env, "forms", "ingest", str(specimen.files["scan"]), "--wait", "--json",
                       cwd=tmp_path)  # fmt: skip
        assert ingested.returncode == 0, ingested.stderr
        summary = json.loads(ingested.stdout)
        assert summary["status"] in ("approved", "awaiting_review")
        workflow_ids.append(summary["workflow_id"])
        if summary["status"] == "awaiting_review":
            # A caseworker's corrections are personal data too: send every value as one.
            sets = [a for name, value in specimen.truth.items() if isinstance(value, str)
                    for a in ("--set", f"{name}={value}")]  # fmt: skip
            reviewer = reviewer or reviewer_env(SWITCHOVER, env, "cw1", str(tmp_path))
            approved = cli(reviewer, "review", "approve", str(summary["task_id"]), *sets,
                           cwd=tmp_path)  # fmt: skip
            assert approved.returncode == 0, approved.stderr
    broken = tmp_path / "in" / BROKEN_NAME
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")  # truncated
    quarantined = cli(env, "forms", "ingest", str(broken), "--wait", "--json", cwd=tmp_path)
    assert json.loads(quarantined.stdout)["status"] == "quarantined", quarantined.stderr
    workflow_ids.append(json.loads(quarantined.stdout)["workflow_id"])
    assert len(values) >= 6

    # The histories as the server keeps them (and as its UI shows them without the codec).
    histories = asyncio.run(_histories(f"127.0.0.1:{port}", workflow_ids))
    plain = "\n".join(h.to_json() for h in histories)
    needles = values | {BROKEN_NAME, BROKEN_NAME.removesuffix(".pdf")}
    assert [n for n in needles if n in plain or n.upper() in plain] == []
    # ...yet the values are there, sealed: the key opens them.
    codec = EncryptionCodec(payload_keys(Settings(home=tmp_path / "state")))
    sealed = [p for h in histories for e in h.events for p in payloads_in(e)
              if p.metadata.get("encoding") == ENCODING]  # fmt: skip
    assert sealed
    opened = b"\n".join(codec.open(p).data for p in sealed).decode("utf-8", "replace")
    assert any(value in opened for value in values)
    assert BROKEN_NAME in opened  # the failure's message, encoded

    up.send_signal(signal.SIGINT)
    assert up.wait(60) == 0, log_path.read_text()
    database = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("temporal.db*"))
    assert b"DigitiseFormWorkflow" in database  # the histories are in the file, readable
    found = [n for n in needles if n.encode() in database or n.upper().encode() in database]
    assert found == [], "personal values in the Temporal server's database file"


async def _histories(address: str, workflow_ids: list[str]):
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    return [await client.get_workflow_handle(w).fetch_history() for w in workflow_ids]
