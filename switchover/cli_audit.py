"""``switchover audit``: the audit trail proves itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from domain.errors import ExitCode


@click.group()
def audit() -> None:
    """The audit trail: check its hash chain and write out its head."""


@audit.command("verify")
@click.option("--head", "head_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A head exported earlier (default: the newest stored).")  # fmt: skip
@click.option("--no-stored-head", is_flag=True,
              help="Check the chain alone (cannot see events removed from the end).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def audit_verify(head_file: Path | None, no_stored_head: bool, as_json: bool) -> None:
    """Walk the hash chain from the first event; exit 1 naming the first event that does not
    hold (edited, deleted, reordered), or the exported head's event when the chain no
    longer reaches it (events removed from the end)."""
    from config.settings import get_settings
    from switchover.audit import verify

    report, source = verify(get_settings(), head_file=head_file,
                            use_stored_head=not no_stored_head)  # fmt: skip
    if as_json:
        click.echo(json.dumps({
            "ok": report.ok, "events_checked": report.events_checked,
            "head_hash": report.head_hash, "broken_at": report.broken_at,
            "problem": report.problem, "checked_against": source,
        }, indent=2))  # fmt: skip
    elif report.ok:
        against = f", and it reaches the exported head {source}" if source else \
            " (no exported head to check its end against)"  # fmt: skip
        click.echo(f"audit chain holds: {report.events_checked} events{against}")
    if not report.ok:
        click.echo(f"switchover: audit chain broken: {report.problem}", err=True)
        sys.exit(int(ExitCode.CHECK_FAILED))


@audit.command("export-head")
@click.option("--json", "as_json", is_flag=True)
def audit_export_head(as_json: bool) -> None:
    """Write the chain's head (last event id and hash) to the object store now, under S3
    Object Lock where the bucket has it; a schedule does this every night."""
    from config.settings import get_settings
    from switchover.audit import export_head_now

    head = export_head_now(get_settings())
    if as_json:
        click.echo(json.dumps(head.model_dump(mode="json"), indent=2))
        return
    locked = f", locked until {head.locked_until:%Y-%m-%d}" if head.locked_until else ""
    click.echo(f"head event {head.event_id} ({head.hash[:16]}...) written to {head.key}{locked}")
