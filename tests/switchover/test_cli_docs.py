"""docs/cli.md is the command's own help: regenerated, it must not change."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from switchover.cli_docs import REGENERATE, main, render

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_cli_md_is_what_the_cli_says_now() -> None:
    written = CLI_MD.read_text(encoding="utf-8") if CLI_MD.exists() else ""
    now = render()
    if written != now:
        diff = difflib.unified_diff(
            written.splitlines(), now.splitlines(), "docs/cli.md", "the CLI now", lineterm=""
        )
        shown = "\n".join(list(diff)[:60])
        raise AssertionError(
            f"docs/cli.md is out of date with switchover/cli.py; regenerate it with\n"
            f"    {REGENERATE}\n{shown}"
        )


@click.group("tool")
def _tool() -> None:
    """A tool."""


@_tool.group("things")
def _things() -> None:
    """Things, grouped."""


@_things.command("make")
@click.argument("name")
@click.option("--size", type=int, default=3, show_default=True, help="How big.")
def _make(name: str, size: int) -> None:
    """Make a thing called NAME."""


@_tool.command("secret", hidden=True)
def _secret() -> None:
    """Not for people."""


def test_every_visible_command_and_option_is_rendered_from_its_help() -> None:
    text = render(_tool)
    assert "- [`switchover things`](#switchover-things): Things, grouped." in text
    assert "  - [`switchover things make`](#switchover-things-make): Make a thing" in text
    assert "#### switchover things make" in text
    assert "Usage: switchover things make [OPTIONS] NAME" in text
    assert "--size INTEGER  How big.  [default: 3]" in text
    assert "secret" not in text


def test_writes_the_file_it_is_given(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    assert main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render()
