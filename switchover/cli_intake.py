"""``switchover forms watch`` and the other mailroom intake commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from config.settings import get_settings


@click.command("watch")
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True)
@click.option("--form-type", help="Form type of everything that arrives (a separator "
              "sheet's form type wins); recognised from the page if omitted.")  # fmt: skip
@click.option("--once", is_flag=True,
              help="Take what is complete now (two looks, a moment apart) and stop.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, a line each.")
def forms_watch(sources: tuple[str, ...], form_type: str | None, once: bool, as_json: bool) -> None:
    """Take forms as they arrive in SOURCE: a folder, s3://bucket/prefix or
    imaps://user@host/Folder (password in SWITCHOVER_INTAKE_IMAP_PASSWORD).

    A file is taken once complete and never twice; bulk scans are split at separator
    sheets; each document is digitised by its own workflow. Ctrl-C stops watching.
    """
    from switchover.intake import IntakeResult, watch

    def report(result: IntakeResult) -> None:
        click.echo(json.dumps(result.as_json()) if as_json else result.line())

    asyncio.run(watch(get_settings(), list(sources), form_type=form_type, once=once,
                      report=report))  # fmt: skip


@click.command("separator")
@click.option("--form-type", help="The form type the sheet names; none: any form.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the sheet (A4 PDF).")  # fmt: skip
def forms_separator(form_type: str | None, out: Path) -> None:
    """Print a separator sheet to put on top of each form in a bulk scan."""
    from adapters.intake import separator_sheet_pdf
    from config.form_template import load_templates
    from switchover.intake import require_template

    require_template(form_type, load_templates(get_settings().forms_dir))
    out.write_bytes(separator_sheet_pdf(form_type))
    click.echo(f"wrote a separator sheet{f' for {form_type}' if form_type else ''} to {out}")


@click.command("quarantined")
@click.option("--limit", default=100, show_default=True, help="The newest this many.")
@click.option("--json", "as_json", is_flag=True)
def forms_quarantined(limit: int, as_json: bool) -> None:
    """List documents set aside because they could not be taken or read, with why."""
    from switchover.intake import quarantined

    rows = quarantined(get_settings(), limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no quarantined documents")
    for row in rows:
        where = f" ({row['where']})" if row["where"] else ""
        click.echo(f"{row['when'][:19]}  {row['filename']}{where}: {row['reason']} "
                   f"[{row['error']}, {row['sha256'][:12]}]")  # fmt: skip


FORMS_COMMANDS: list[click.Command] = [forms_watch, forms_separator, forms_quarantined]
"""Commands added to the ``forms`` group."""
