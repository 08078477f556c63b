"""Fixtures for the command line's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from config.settings import get_settings
from switchover.cli import main


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run ``switchover`` in this process with its own state folder and JSON logs."""
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()
