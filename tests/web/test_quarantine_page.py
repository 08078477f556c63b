"""The system page lists a system's open quarantined legacy records with counts per
table, for everyone who may read the page; accepted ones leave the list. An engineer
accepts a table's records there with a reason; a manager or caseworker cannot."""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from db.audit import audit_events_for
from db.quarantine import AUDIT_ACTION, KeptRecord, accept_records, keep_records
from db.session import session_scope
from tests.web.conftest import csrf_of
from tests.web.test_cutover_pages import call, settings  # noqa: F401
from tests.web.test_migration_pages import system_id  # noqa: F401


async def test_the_page_lists_open_quarantined_records_per_table(
    settings: Settings,  # noqa: F811
    system_id: str,  # noqa: F811
    client_for: Any,
) -> None:
    url = f"/dashboard/systems/{system_id}"
    engineer = client_for("eng1", "engineer")
    page = await call(engineer.get, url)
    assert "None open." in page.text.split('id="quarantine"')[1]
    records = [KeptRecord("CLAIMS", n, n * 22, f"BALANCE: packed-decimal nibble 0xA ({n})")
               for n in (4, 9, 30)]  # fmt: skip
    records.append(KeptRecord("PEOPLE", 2, None, "the record is 3 bytes"))
    with session_scope(settings.resolved_database_url) as session:
        keep_records(session, system_id, records)
        accept_records(session, system_id, "CLAIMS", actor="eng1", reason="ok", records=[9])
    for who in (engineer, client_for("pm1", "manager")):
        page = await call(who.get, url)
        assert page.status_code == 200, page.text
        part = page.text.split('id="quarantine"')[1].split('id="cutover"')[0]
        assert "3 records did not decode" in part
        assert '<li data-table="CLAIMS">CLAIMS: 2 open</li>' in part
        assert '<li data-table="PEOPLE">PEOPLE: 1 open</li>' in part
        listed = [int(x.split('"')[0]) for x in part.split('data-record="')[1:]]
        assert listed == [4, 30, 2]
        assert "BALANCE: packed-decimal nibble 0xA (30)" in part
        assert "(9)" not in part  # accepted: no longer listed


async def test_an_engineer_accepts_a_tables_records_on_the_page(
    settings: Settings,  # noqa: F811
    system_id: str,  # noqa: F811
    client_for: Any,
) -> None:
    url = f"/dashboard/systems/{system_id}"
    with session_scope(settings.resolved_database_url) as session:
        keep_records(session, system_id, [KeptRecord("CLAIMS", n, None, "VISITS: short")
                                          for n in (5, 6)])  # fmt: skip
    engineer = client_for("eng1", "engineer")
    page = await call(engineer.get, url)
    assert 'id="quarantine-accept"' in page.text
    manager, caseworker = client_for("pm1", "manager"), client_for("cw1", "caseworker")
    assert 'id="quarantine-accept"' not in (await call(manager.get, url)).text
    form = {"table": "CLAIMS", "reason": "closed claims, on paper"}
    for someone in (manager, caseworker):
        token = csrf_of(someone.get("/").text)
        refused = await call(someone.post, f"{url}/quarantine", follow_redirects=False,
                             data={**form, "csrf_token": token})  # fmt: skip
        assert refused.status_code == 403
    token = csrf_of(engineer.get("/").text)
    blank = await call(engineer.post, f"{url}/quarantine", data={**form, "reason": " ",
                                                                 "csrf_token": token})  # fmt: skip
    assert blank.status_code == 400
    assert "Enter why you accept these records" in blank.text
    done = await call(engineer.post, f"{url}/quarantine", data={**form, "csrf_token": token})
    assert done.status_code == 200, done.text
    assert "Accepted 2 quarantined records of CLAIMS." in done.text
    assert "None open." in done.text.split('id="quarantine"')[1]
    again = await call(engineer.post, f"{url}/quarantine", data={**form, "csrf_token": token})
    assert again.status_code == 409
    with session_scope(settings.resolved_database_url) as session:
        events = audit_events_for(session, [("system", system_id)])
        assert sorted(e.detail["record"] for e in events if e.action == AUDIT_ACTION) == [5, 6]
