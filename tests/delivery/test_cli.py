"""``switchover records deliveries [--dead]`` and ``records redrive``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from config.settings import Settings, get_settings
from db import outbox
from db.migrate import upgrade
from db.session import session_scope
from switchover.cli import main
from tests.delivery.conftest import approve_records


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    get_settings.cache_clear()
    upgrade(Settings(home=tmp_path / "state").resolved_database_url)

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(main, ["records", *args], catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()


def test_dead_deliveries_are_listed_with_their_reason_and_redriven(run: Callable[..., Any]) -> None:
    url = get_settings().resolved_database_url
    approve_records(url, 2)
    with session_scope(url) as session:
        for entry in outbox.unexpanded_entries(session, limit=10):
            outbox.expand_entry(session, entry, [("caseworking", "webhook")])
        first, second = outbox.pending_deliveries(session, limit=10)
        outbox.mark_dead(session, first.id, reason="DeliveryRefused: the webhook answered 422")
        dead_id = first.id

    listed = run("deliveries", "--dead", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["state"], r["last_error"]) for r in rows] == [
        (dead_id, "dead", "DeliveryRefused: the webhook answered 422")]  # fmt: skip
    assert len(json.loads(run("deliveries", "--json").stdout)) == 2
    assert "answered 422" in run("deliveries", "--dead").stdout

    assert run("redrive").exit_code == 2  # neither ids nor --all
    assert run("redrive", str(second.id)).exit_code == 1  # pending, not dead: a conflict
    assert run("redrive", "999").exit_code == 2  # no such delivery
    done = run("redrive", "--all")
    assert done.exit_code == 0
    assert f"({dead_id})" in done.stdout
    assert json.loads(run("deliveries", "--dead", "--json").stdout) == []
