"""``switchover records``: approved records after review: delivery and erasure."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

from config.settings import get_settings


def _print_json(data: Any) -> None:
    from switchover.cli import _print_json as print_json  # defined before this module loads

    print_json(data)


@click.group()
def records() -> None:
    """Approved records: where they are delivered, and erasing one person's data."""


@records.command("deliveries")
@click.option("--dead", is_flag=True, help="Only the dead-lettered ones, with their reasons.")
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def deliveries(dead: bool, limit: int, as_json: bool) -> None:
    """Deliveries of approved records to their destinations, newest first."""
    from switchover.records import list_deliveries

    rows = list_deliveries(get_settings(), dead=dead, limit=limit)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no dead-lettered deliveries" if dead else "no deliveries")
    for row in rows:
        reason = f"  {row['last_error']}" if row["last_error"] else ""
        click.echo(
            f"{row['id']:>6}  record {row['record_id']} v{row['version']}  "
            f"{row['destination']:<20} {row['state']:<9} attempts {row['attempts']}{reason}"
        )


@records.command("redrive")
@click.argument("delivery_ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every dead-lettered delivery.")
def redrive(delivery_ids: Sequence[int], every: bool) -> None:
    """Send dead-lettered deliveries again (the next delivery pass, within a minute)."""
    from switchover.records import redrive as redrive_deliveries

    if bool(delivery_ids) == every:
        raise click.UsageError("name the deliveries to re-drive, or give --all")
    ids = redrive_deliveries(get_settings(), None if every else list(delivery_ids))
    click.echo(f"re-driven: {len(ids)} deliver{'y' if len(ids) == 1 else 'ies'}"
               + (f" ({', '.join(map(str, ids))})" if ids else ""))  # fmt: skip


@records.command("erase")
@click.option("--ni", "ni_number", required=True, help="The person's National Insurance number.")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@click.option("--by", "actor", default=lambda: os.environ.get("USER", "operator"),
              show_default="$USER", help="Who asks, for the audit trail.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def erase(ni_number: str, dry_run: bool, actor: str, as_json: bool) -> None:
    """Remove one person's personal data from records, scans and legacy-match results."""
    from switchover.records import erase as erase_person

    report = erase_person(get_settings(), ni_number, dry_run=dry_run, actor=actor)
    if as_json:
        _print_json(report)
        return
    verb = "would remove" if dry_run else "removed"
    if not report["records"] and not report["legacy_matches_cleared"]:
        click.echo("no records hold this National Insurance number")
    for row in report["records"]:
        click.echo(
            f"record {row['record_id']} ({row['form_type']}): {verb} "
            f"{len(row['fields_erased'])} field values, {row['scans_deleted']} scan objects"
            + (", the legacy match" if row["legacy_match_erased"] else "")
            + (f"; already delivered to {', '.join(row['already_delivered_to'])}: erase there too"
               if row["already_delivered_to"] else "")
        )  # fmt: skip
    for record_id in report["legacy_matches_cleared"]:
        click.echo(f"record {record_id}: {verb} a legacy-match result naming this person")
    click.echo("audit events kept (they hold no personal data)")
