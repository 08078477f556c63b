"""docs/cli.md, written from the ``switchover`` command's own help.

The reference is the help click prints for every command and group, walked from the
``switchover`` group down, so a command or option added to ``switchover/cli.py`` shows up
here with nothing else to edit. ``tests/switchover/test_docs.py`` fails when docs/cli.md
is not what this module writes; regenerate it with::

    make docs        # or: .venv/bin/python -m switchover.cli_docs docs/cli.md
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from domain.errors import ExitCode

WIDTH = 88
"""Help is wrapped at this width whatever the terminal, so the output is the same on
every machine."""

_SUMMARY_LIMIT = 300
"""Long enough that the contents list shows each command's first sentence whole."""

REGENERATE = "make docs  (or: .venv/bin/python -m switchover.cli_docs docs/cli.md)"

_EXIT_CODES = {
    ExitCode.OK: "success",
    ExitCode.CHECK_FAILED: "a check failed: a plan that does not fit its source or target, "
    "reconciliation differences, a request that conflicts with the current state, or a role "
    "that may not do this",
    ExitCode.BAD_INPUT: "bad usage or bad input: an unknown option, a file that cannot be "
    "read, a plan or template that does not load, something that does not exist",
    ExitCode.UNAVAILABLE: "a service the command needs is unreachable or failing: Temporal, "
    "a database, storage, a router, the OCR engine",
}
"""What each exit code means; a new code in ``domain.errors.ExitCode`` needs a line here."""


@dataclass(frozen=True)
class CommandHelp:
    """One command or group: its full name (``switchover migrate run``), depth and help."""

    path: tuple[str, ...]
    summary: str
    help: str

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def anchor(self) -> str:
        """The heading's anchor as GitHub and most Markdown renderers make it."""
        return "-".join(self.path).lower()


def walk(command: click.Command, name: str = "switchover") -> Iterator[CommandHelp]:
    """Every visible command under ``command`` (itself first), subcommands sorted by name.

    Args:
        command: the root command or group.
        name: the program's name, as the usage line shows it.
    """
    context = click.Context(command, info_name=name, terminal_width=WIDTH, max_content_width=WIDTH)
    yield from _walk(command, context, (name,))


def _walk(
    command: click.Command, context: click.Context, path: tuple[str, ...]
) -> Iterator[CommandHelp]:
    yield CommandHelp(
        path=path,
        summary=command.get_short_help_str(limit=_SUMMARY_LIMIT),
        help=command.get_help(context).rstrip(),
    )
    if not isinstance(command, click.Group):
        return
    for sub_name in command.list_commands(context):
        sub = command.get_command(context, sub_name)
        if sub is None or sub.hidden:
            continue
        sub_context = click.Context(sub, info_name=sub_name, parent=context)
        yield from _walk(sub, sub_context, (*path, sub_name))


def render(command: click.Command | None = None) -> str:
    """docs/cli.md for ``command`` (default: the ``switchover`` group of switchover.cli)."""
    if command is None:
        from switchover.cli import main

        command = main
    pages = list(walk(command))
    lines = [
        "# Command line",
        "",
        "<!-- Generated from the command's own help by switchover/cli_docs.py; do not edit.",
        f"     After changing a command, regenerate it: {REGENERATE} -->",
        "",
        "Every command below prints this text with `--help`. Exit codes:",
        "",
        "| code | meaning |",
        "|---|---|",
        *(f"| {int(code)} | {_EXIT_CODES[code]} |" for code in ExitCode),
        "",
        "An error Switchover recognises is one line on stderr: `switchover: ` and what went",
        "wrong.",
        "Settings come from `SWITCHOVER_*` environment variables (see",
        "[Operations](operations.md#settings)).",
        "",
        "## Commands",
        "",
    ]
    for page in pages[1:]:
        indent = "  " * (len(page.path) - 2)
        lines.append(f"{indent}- [`{page.name}`](#{page.anchor}): {page.summary}")
    for page in pages:
        level = "#" * min(len(page.path) + 1, 4)
        lines += ["", f"{level} {page.name}", "", "```text", page.help, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m switchover.cli_docs [PATH]``: write the reference to PATH, or stdout."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
