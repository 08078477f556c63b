"""Caseworkers' corrections as labelled examples: the export command."""

from __future__ import annotations

import click

REVIEW_COMMANDS: list[click.Command] = []
"""Commands added to the ``review`` group."""
