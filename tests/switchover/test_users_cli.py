"""``switchover users add``: a name that breaks the rules is refused before any password is
asked for, with one line saying which rule."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from config.settings import get_settings
from switchover.cli import main


@pytest.fixture
def add(tmp_path, monkeypatch):
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    get_settings.cache_clear()
    main(["db", "upgrade"], standalone_mode=False)

    def invoke(*args: str, password: str = "correct horse battery"):
        runner = CliRunner()
        return runner.invoke(
            main, ["users", "add", *args, "--password-stdin"], input=password + "\n"
        )

    yield invoke
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("username", "said"),
    [("<b>x</b>", "not allowed"), ("a\tb", "not allowed"), (" ", "blank"), ("=1+1", "not allowed")],
)
def test_a_username_that_breaks_the_rules_is_refused(add, username, said) -> None:
    result = add(username, "--role", "caseworker")
    assert result.exit_code == 2
    assert said in result.output
    listed = CliRunner().invoke(main, ["users", "list", "--json"])
    assert listed.exit_code == 0
    assert listed.output.strip() == "[]"


def test_a_display_name_with_markup_is_refused_and_a_good_account_is_added(add) -> None:
    refused = add("sam", "--role", "caseworker", "--name", "<script>")
    assert refused.exit_code == 2
    assert "display name" in refused.output
    added = add("sam.jones@example.gov.uk", "--role", "caseworker", "--name", "Sam Jones")
    assert added.exit_code == 0, added.output
    assert "added sam.jones@example.gov.uk" in added.output


def test_the_name_is_checked_before_the_password_is_asked_for(add) -> None:
    result = CliRunner().invoke(main, ["users", "add", "<x>", "--role", "caseworker"], input="")
    assert result.exit_code == 2
    assert "Password" not in result.output
