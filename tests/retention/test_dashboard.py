"""The programme dashboard shows what retention will delete, per form type."""

from __future__ import annotations

import datetime as dt
import re

from tests.retention.conftest import Engine, decided_record
from tests.web.conftest import add_user, sign_in


def test_the_dashboard_shows_what_is_due(engine: Engine) -> None:
    from fastapi.testclient import TestClient

    from switchover.web.app import create_app

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=45)
    for n in (1, 2):
        decided_record(engine, n, decided_at=long_ago)
    decided_record(engine, 3)
    add_user(engine.settings, "pm1", "manager")
    with TestClient(create_app(engine.settings)) as client:
        sign_in(client, "pm1")
        html = client.get("/dashboard").text
    section = html[html.index('id="retention"') :]
    row = re.search(r"register-to-vote</th>(.*?)</tr>", section, re.S)
    assert row is not None
    cells = re.findall(r">([^<]+)</td>", row.group(1))
    assert cells == ["30", "6", "2", "1", "0"]
    assert "legal-aid-means</th>" not in section  # no schedule: not listed
