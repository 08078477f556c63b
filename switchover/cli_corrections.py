"""Caseworkers' corrections as labelled examples: the export command."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from config.settings import get_settings


@click.command("corrections")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only corrections made from this date (UTC) on.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (JSON lines) instead of standard output.",
)
def review_corrections(since: dt.datetime | None, out_path: Path | None) -> None:
    """Export the fields caseworkers corrected, as labelled examples for tuning the OCR.

    One JSON object a line: the scan's storage key, page and box, the value extracted,
    each engine's reading, and the corrected value. These are personal data: write
    them only where such data may be kept.
    """
    from db.corrections import export_corrections
    from db.session import session_scope

    start = since.replace(tzinfo=dt.UTC) if since is not None else None
    with session_scope(get_settings().resolved_database_url) as session:
        if out_path is None:
            count = export_corrections(session, sys.stdout, start)
        else:
            with out_path.open("w", encoding="utf-8") as out:
                count = export_corrections(session, out, start)
    if out_path is not None:
        click.echo(f"{count} corrections written to {out_path}")


REVIEW_COMMANDS: list[click.Command] = [review_corrections]
"""Commands added to the ``review`` group."""
