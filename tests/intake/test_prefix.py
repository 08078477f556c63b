"""An S3 prefix, polled: against moto's S3 server over real HTTP, as the storage tests do."""

from __future__ import annotations

import secrets

import pytest

from adapters.intake import PrefixSource, open_source
from adapters.storage import s3_client
from config.settings import Settings
from db.models import IntakeState
from switchover.intake import Intake
from tests.intake.conftest import BUCKET, Recorder, one_page_pdf, poll_twice

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_objects_under_the_prefix_are_taken_once_and_moved_under_taken(
    s3_settings: Settings, recorder: Recorder
) -> None:
    prefix = f"incoming-{secrets.token_hex(4)}"
    client = s3_client(s3_settings)
    first = one_page_pdf(250)
    for key, body in ((f"{prefix}/a.pdf", first),
                      (f"{prefix}/team-2/b.pdf", one_page_pdf(240)),
                      (f"{prefix}/c.pdf.part", one_page_pdf(230)),
                      (f"{prefix}-other/d.pdf", one_page_pdf(220))):  # fmt: skip
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    source = open_source(f"s3://{BUCKET}/{prefix}", s3_settings)
    assert isinstance(source, PrefixSource)
    intake = Intake.of(s3_settings, recorder)

    results = await poll_twice(intake, source)

    assert sorted(r.ref for r in results) == ["a.pdf", "team-2/b.pdf"]
    assert {r.state for r in results} == {IntakeState.TAKEN}
    assert {r.source for r in results} == {f"s3://{BUCKET}/{prefix}"}
    assert recorder.starts == 2
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
    keys = sorted(item["Key"] for item in listed.get("Contents", []))
    assert keys == [f"{prefix}/{rest}" for rest in (".taken/a.pdf", ".taken/team-2/b.pdf",
                                                    "c.pdf.part")]  # fmt: skip

    # The same object put again (a sync tool re-uploading): known content, nothing started.
    client.put_object(Bucket=BUCKET, Key=f"{prefix}/a.pdf", Body=first)
    [again] = await poll_twice(Intake.of(s3_settings, recorder), source)
    assert not again.new
    assert recorder.starts == 2
