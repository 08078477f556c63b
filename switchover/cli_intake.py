"""``switchover forms watch`` and the other mailroom intake commands."""

from __future__ import annotations

import click

FORMS_COMMANDS: list[click.Command] = []
"""Commands added to the ``forms`` group."""
