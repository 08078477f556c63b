"""`switchover audit verify` and `export-head`: a chain edited, cut, reordered or truncated
is named by its first bad event; heads go to the object store, under S3 Object Lock on a
bucket that has it (moto's S3 server)."""

from __future__ import annotations

import json
import random
import uuid

import boto3
import pytest
from sqlalchemy import select, text

from config.settings import get_settings
from db.audit import append_audit_event
from db.migrate import upgrade
from db.models import AuditEvent
from db.session import dispose_engines, session_scope


def _trail(n: int) -> list[int]:
    url = get_settings().resolved_database_url
    upgrade(url)
    ids = []
    for i in range(n):
        with session_scope(url) as session:
            ids.append(append_audit_event(session, actor=f"user{i % 3}", action="review.approved",
                                          subject_type="review_task", subject_id=i,
                                          detail={"n": i}).id)  # fmt: skip
    return ids


def _tamper(kind: str, ids: list[int], rng: random.Random) -> int:
    """Damage the trail; the id of the first event verification must name."""
    url = get_settings().resolved_database_url
    with session_scope(url) as session:
        if kind == "edit":
            victim = rng.choice(ids)
            session.execute(text("UPDATE audit_events SET subject_id = 'x' WHERE id = :id"),
                            {"id": victim})  # fmt: skip
            return victim
        if kind == "delete":
            victim = rng.choice(ids[:-1])
            session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": victim})
            return ids[ids.index(victim) + 1]
        # reorder: two neighbours swap their content (ids stay in place)
        i = rng.randrange(len(ids) - 1)
        first, second = (session.get_one(AuditEvent, ids[j]) for j in (i, i + 1))
        columns = ("occurred_at", "actor", "action", "subject_type", "subject_id", "detail",
                   "prev_hash", "hash")  # fmt: skip
        a = {c: getattr(first, c) for c in columns}
        b = {c: getattr(second, c) for c in columns}
        # Unique hashes: park one row's hash while they change places.
        first.hash = "f" * 64
        session.flush()
        for c in columns:
            setattr(second, c, a[c])
        session.flush()
        for c in columns:
            setattr(first, c, b[c])
        return ids[i]


@pytest.mark.parametrize("seed", range(6))
def test_verify_names_the_first_event_that_does_not_hold(run, seed: int) -> None:
    rng = random.Random(seed)
    ids = _trail(rng.randrange(4, 12))
    intact = run("audit", "verify", "--json")
    assert intact.exit_code == 0, intact.output
    assert json.loads(intact.stdout)["events_checked"] == len(ids)
    kind = ("edit", "delete", "reorder")[seed % 3]
    named = _tamper(kind, ids, rng)
    broken = run("audit", "verify")
    dispose_engines()
    assert broken.exit_code == 1, (kind, broken.output)
    assert f"audit event {named}:" in broken.stderr, (kind, broken.stderr)
    as_json = json.loads(run("audit", "verify", "--json").stdout)
    assert (as_json["ok"], as_json["broken_at"]) == (False, named)


def test_truncation_at_the_end_is_found_with_the_exported_head(run) -> None:
    ids = _trail(5)
    exported = run("audit", "export-head", "--json")
    assert exported.exit_code == 0, exported.output
    head = json.loads(exported.stdout)
    assert head["event_id"] == ids[-1]
    assert head["locked_until"] is None
    assert run("audit", "verify").exit_code == 0
    with session_scope(get_settings().resolved_database_url) as session:
        session.execute(text("DELETE FROM audit_events WHERE id > :id"), {"id": ids[2]})
    alone = run("audit", "verify", "--no-stored-head")
    assert alone.exit_code == 0  # a shorter chain is still a chain...
    cut = run("audit", "verify")
    dispose_engines()
    assert cut.exit_code == 1  # ...but not the one the exported head ends at
    assert f"audit event {ids[-1]}: missing" in cut.stderr


def test_every_cli_action_recorder_writes_the_chain(run) -> None:
    from switchover.audit import record_cli_action

    _trail(1)
    record_cli_action(get_settings(), actor="erin", action="cutover.advance",
                      subject_type="system", subject_id="legacy-x",
                      detail={"accepted": True})  # fmt: skip
    with session_scope(get_settings().resolved_database_url) as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
        assert (last.actor, last.action, last.detail["via"]) == ("erin", "cutover.advance", "cli")
    assert run("audit", "verify").exit_code == 0


def test_heads_on_s3_are_locked_where_the_bucket_has_object_lock(
    run, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"audit-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="eu-west-2")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True,
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})  # fmt: skip
    monkeypatch.setenv("SWITCHOVER_STORAGE_URL", f"s3://{bucket}/engine")
    monkeypatch.setenv("SWITCHOVER_S3_ENDPOINT_URL", aws_endpoint)
    get_settings.cache_clear()
    ids = _trail(3)
    exported = run("audit", "export-head", "--json")
    assert exported.exit_code == 0, exported.output
    head = json.loads(exported.stdout)
    assert head["locked_until"] is not None
    key = f"engine/{head['key']}"
    stored = s3.head_object(Bucket=bucket, Key=key)
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    assert stored["ObjectLockRetainUntilDate"].year >= 2033
    version = stored["VersionId"]
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    # verify reads the head back from the bucket.
    checked = json.loads(run("audit", "verify", "--json").stdout)
    assert checked["ok"]
    assert checked["checked_against"] == head["key"]
    assert head["event_id"] == ids[-1]
