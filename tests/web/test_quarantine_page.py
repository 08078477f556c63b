"""The system page lists a system's open quarantined legacy records with counts per
table, for everyone who may read the page; accepted ones leave the list."""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from db.quarantine import KeptRecord, accept_records, keep_records
from db.session import session_scope
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
