"""The ``switchover`` command: the contract of DESIGN.md's command-line section.

Exit codes: 0 success, 1 a check failed, 2 bad usage or bad input, 3 a service it
needs is unreachable; always with one clear line on stderr. Heavy imports (OCR,
database, Temporal) happen inside the commands that need them, so ``--help`` is quick.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from config.log import configure_logging
from config.settings import Settings, get_settings
from domain.errors import ExitCode, SwitchoverError

T = TypeVar("T")


class _Group(click.Group):
    """Turns every failure into one line on stderr and the exit code of DESIGN.md: ours
    carry their code; the client libraries' are translated (``_outside_failure``); a bug
    says so in one line, its traceback in the log at debug level."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SwitchoverError as e:
            _fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            click.echo("switchover: interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors: click prints them and exits 2
        except Exception as e:
            _fail(*_outside_failure(e))


def _fail(message: str, code: ExitCode) -> NoReturn:
    first = " ".join(message.split()) or "failed"
    click.echo(f"switchover: {first}", err=True)
    sys.exit(int(code))


def _outside_failure(error: Exception) -> tuple[str, ExitCode]:
    """The line and exit code for a failure that is not one of ours."""
    if "temporalio.client" in sys.modules:
        from temporalio.client import WorkflowFailureError
        from temporalio.service import RPCError

        from switchover.temporal import rpc_failure

        if isinstance(error, RPCError):
            ours = rpc_failure(error, "Temporal refused")
            return str(ours), ours.exit_code
        if isinstance(error, WorkflowFailureError):
            from switchover.migrate import ended_badly

            state, reason, code = ended_badly(error)
            return f"the workflow {state.value.replace('_', ' ')}: {reason}", code
    if "sqlalchemy" in sys.modules:
        from sqlalchemy import exc

        if isinstance(error, exc.OperationalError | exc.InterfaceError):
            return f"the engine database failed: {error.orig or error}", ExitCode.UNAVAILABLE
        if isinstance(error, exc.TimeoutError):
            return f"the engine database did not answer: {error}", ExitCode.UNAVAILABLE
    if isinstance(error, ConnectionError | TimeoutError):
        return f"a service did not answer: {error}", ExitCode.UNAVAILABLE
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename or ''}", ExitCode.BAD_INPUT
    log = logging.getLogger("switchover.cli")
    log.debug("unexpected failure", exc_info=error)
    return (f"unexpected {type(error).__name__}: {error} (a bug; SWITCHOVER_LOG_LEVEL=DEBUG "
            "shows where)", ExitCode.CHECK_FAILED)  # fmt: skip


def run() -> None:
    """The ``switchover`` program: ``main``, then an exit that skips finalization once a
    Temporal client was used.

    The client's Rust threads may outlive the event loop and touch the interpreter while
    it finalizes, which aborts the process ("PyGILState_Release",
    temporalio/sdk-python#300) after the command has done its work. (Tests call ``main``
    through click's runner, never this.)
    """
    try:
        main()
    except SystemExit as e:
        if "temporalio.bridge.temporal_sdk_bridge" not in sys.modules:
            raise
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group(cls=_Group)
@click.version_option(package_name="switchover")
def main() -> None:
    """Switchover: move public services off paper and off outdated IT."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


# --- the stack -----------------------------------------------------------------------


@main.command()
def up() -> None:
    """Start the embedded Temporal server and a worker; Ctrl-C stops everything."""
    from switchover.stack import run_embedded_stack

    _run(run_embedded_stack(get_settings()))


@main.command()
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(["switchover-workflows", "switchover-ocr", "switchover-io"]),
    help="Poll only these task queues (default: all three).",
)
def worker(queues: Sequence[str]) -> None:
    """Run a worker against the Temporal address of the settings (scale-out)."""
    from switchover.stack import run_worker_only

    _run(run_worker_only(get_settings(), queues=tuple(queues) or None))


@main.command()
@click.option("--count", default=3, show_default=True, help="Samples of each form type.")
def demo(count: int) -> None:
    """The whole story on bundled samples, then a summary."""
    from switchover.demo import run_demo

    _run(run_demo(get_settings(), count=count))


@main.group(cls=_Group)
def db() -> None:
    """The engine's own database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the engine database's schema up to date (Alembic)."""
    from db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    click.echo("engine database is up to date")


# --- forms ---------------------------------------------------------------------------


def _templates(settings: Settings) -> dict[str, Any]:
    from config.form_template import load_templates

    return load_templates(settings.forms_dir)


@main.group(cls=_Group)
def forms() -> None:
    """Digitise forms."""


@forms.command("extract")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--template", "form_type", help="Form type; recognised from the page if omitted.")
@click.option("--jobs", type=int, default=None, help="Processes to use (default: cores).")
@click.option("--json", "as_json", is_flag=True, help="Print DESIGN.md's JSON shape.")
def forms_extract(
    files: Sequence[str], form_type: str | None, jobs: int | None, as_json: bool
) -> None:
    """Extract fields from FILES in this process, without Temporal."""
    from ocr import extract_files

    settings = get_settings()
    templates = _templates(settings)
    if form_type and form_type not in templates:
        raise click.BadParameter(f"no template {form_type!r}; known: {', '.join(templates)}")
    results = extract_files([Path(f) for f in files], templates, form_type=form_type, jobs=jobs)
    failed = 0
    out: list[dict[str, Any]] = []
    for result in results:
        if isinstance(result, SwitchoverError):
            failed += 1
            click.echo(f"switchover: {result}", err=True)
            continue
        out.append(result.model_dump(mode="json"))
    if as_json:
        _print_json(out)
    else:
        for item in out:
            flag = "needs review" if item["needs_review"] else "ok"
            click.echo(f"{item['file']}: {item['form_type']} ({flag})")
            for name, fld in item["fields"].items():
                mark = " " if fld["valid"] else "!"
                click.echo(f"  {mark} {name:<28} {fld['value']!s:<32} {fld['confidence']:.2f}")
            for reason in item["reasons"]:
                click.echo(f"    review: {reason['field'] or '-'}: {reason['detail']}")
    if failed:
        sys.exit(int(ExitCode.BAD_INPUT))


@forms.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--template", "form_type", help="Form type; recognised from the page if omitted.")
@click.option("--wait", is_flag=True, help="Wait until every form is decided or with a person.")
@click.option("--json", "as_json", is_flag=True)
def forms_ingest(paths: Sequence[str], form_type: str | None, wait: bool, as_json: bool) -> None:
    """Store the files at PATHS and digitise them on the workers."""
    from switchover.ingest import ingest

    summary = _run(ingest(get_settings(), [Path(p) for p in paths], form_type, wait=wait))
    if as_json:
        _print_json(summary)
    else:
        for line in summary["lines"]:
            click.echo(line)


@forms.command("specimens")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--count", default=3, show_default=True, help="Specimens of each form type.")
@click.option("--template", "form_type", help="Only this form type.")
@click.option("--seed", default=1, show_default=True)
def forms_specimens(out: str, count: int, form_type: str | None, seed: int) -> None:
    """Print filled sample forms, scan-like images and their ground truth into OUT."""
    from switchover.specimens import write_specimens

    written = write_specimens(Path(out), form_type=form_type, count=count, seed=seed)
    click.echo(f"wrote {len(written)} specimens to {out}")


@forms.command("check")
@click.argument("template")
@click.argument("filled", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--truth", "truth_dir", type=click.Path(exists=True, file_okay=False),
              help="A folder of <stem>.json truths: score each field right or wrong.")  # fmt: skip
@click.option("--jobs", type=int, default=None, help="Processes to use (default: cores).")
@click.option("--json", "as_json", is_flag=True)
def forms_check(
    template: str, filled: Sequence[str], truth_dir: str | None, jobs: int | None, as_json: bool
) -> None:
    """Run TEMPLATE (a file, or a form type) on FILLED samples: every field's value,
    confidence and doubts; with --truth, right or wrong (exit 1 when a wrong value would
    pass without review)."""
    from switchover.templates import check_template, resolve_template

    settings = get_settings()
    checked = check_template(
        resolve_template(template, settings.forms_dir),
        [Path(f) for f in filled],
        truth_dir=Path(truth_dir) if truth_dir else None,
        jobs=jobs,
    )
    if as_json:
        _print_json(checked.to_json())
    else:
        for line in checked.lines():
            click.echo(line)
    for item in checked.files:
        if item.error is not None:
            click.echo(f"switchover: {item.error}", err=True)
    if checked.summary.silently_wrong and not checked.summary.unreadable:
        click.echo(
            f"switchover: {checked.summary.silently_wrong} fields wrong and not flagged for review",
            err=True,
        )
    if checked.exit_code:
        sys.exit(int(checked.exit_code))


@forms.command("draft")
@click.argument("blank", type=click.Path(exists=True, dir_okay=False))
@click.option("--form-type", required=True, help="The new template's form type (a-z, 0-9, -).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here (default: stdout).")
def forms_draft(blank: str, form_type: str, out: str | None) -> None:
    """Draft a template from a BLANK form (PDF or image): labels, boxes, types guessed."""
    from switchover.templates import draft_template

    draft = draft_template(Path(blank), form_type)
    if out is None:
        click.echo(draft.yaml(), nl=False)
        return
    Path(out).write_text(draft.yaml(), encoding="utf-8")
    click.echo(f"wrote a draft of {len(draft.template.fields)} fields to {out}; edit it, then "
               f"switchover forms check {out} FILLED... --truth DIR")  # fmt: skip


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print DESIGN.md's JSON shape.")
def ocr(files: Sequence[str], as_json: bool) -> None:
    """Words per page with boxes and confidences (for writing templates).

    Scanned pages are read by Tesseract and by the second engine
    (SWITCHOVER_OCR_SECOND_ENGINE) when one is set, keeping the surer reading of each
    word: a few seconds more a page, and more words right on worn or handwritten scans.
    """
    from ocr import read_words

    out = [read_words(Path(f)).model_dump(mode="json") for f in files]
    if as_json:
        _print_json(out)
        return
    for doc in out:
        for page in doc["pages"]:
            click.echo(f"{doc['file']} page {page['page']} ({page['source']}):")
            for word in page["words"]:
                x0, y0, x1, y1 = word["bbox"]
                click.echo(
                    f"  {word['confidence']:.2f} [{x0:.3f} {y0:.3f} {x1:.3f} {y1:.3f}] "
                    f"{word['text']}"
                )


# --- review --------------------------------------------------------------------------


@main.group(cls=_Group)
def review() -> None:
    """The caseworker's review queue, from the terminal."""


@review.command("list")
@click.option("--status", default="open", show_default=True, help="open | approved | rejected")
@click.option("--template", "form_type")
@click.option("--json", "as_json", is_flag=True)
def review_list(status: str, form_type: str | None, as_json: bool) -> None:
    """Review tasks, soonest due first."""
    from switchover.review import list_tasks

    tasks = list_tasks(get_settings(), status=status, form_type=form_type)
    if as_json:
        _print_json(tasks)
        return
    if not tasks:
        click.echo(f"no {status} review tasks")
    for task in tasks:
        escalated = " ESCALATED" if task["escalated_at"] else ""
        reasons = "; ".join(r["detail"] for r in task["reasons"])
        click.echo(
            f"{task['id']:>5}  {task['form_type'] or '?':<20} due {task['due_at'][:16]}"
            f"{escalated}  {reasons}"
        )


@review.command("show")
@click.argument("task_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def review_show(task_id: int, as_json: bool) -> None:
    """One task: its fields with values, confidences and errors."""
    from switchover.review import show_task

    task = show_task(get_settings(), task_id)
    if as_json:
        _print_json(task)
        return
    click.echo(f"task {task['id']} ({task['status']}), form {task['form_type']}, "
               f"document {task['filename']}")  # fmt: skip
    for name, fld in task["fields"].items():
        mark = " " if fld["valid"] else "!"
        error = f"  <- {fld['error']}" if fld.get("error") else ""
        click.echo(f"  {mark} {name:<28} {fld['value']!s:<32} {fld['confidence']:.2f}{error}")


def _parse_sets(sets: Sequence[str]) -> dict[str, str]:
    corrections: dict[str, str] = {}
    for item in sets:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"--set takes field=value, not {item!r}")
        corrections[name.strip()] = value
    return corrections


_REVIEW_AS_HELP = "Your username, as a check: it must be your personal token's user."


@review.command("approve")
@click.argument("task_id", type=int)
@click.option("--set", "sets", multiple=True, help="A corrected value: field=value.")
@click.option("--as", "--by", "decided_by", metavar="USERNAME", help=_REVIEW_AS_HELP)
def review_approve(task_id: int, sets: Sequence[str], decided_by: str | None) -> None:
    """Approve a form, with corrected values (a caseworker with a personal token)."""
    from db.models import Role
    from domain.digitise import Decision, ReviewDecision
    from switchover.review import decide

    decided_by = _acting_as(decided_by, Role.CASEWORKER)

    decision = ReviewDecision(
        decision=Decision.APPROVE, decided_by=decided_by, corrections=_parse_sets(sets)
    )
    outcome = _run(decide(get_settings(), task_id, decision))
    if not outcome.accepted:
        for name, error in outcome.errors.items():
            click.echo(f"switchover: {name}: {error}", err=True)
        sys.exit(int(ExitCode.BAD_INPUT))
    click.echo(f"task {task_id}: {outcome.status.value}")


@review.command("reject")
@click.argument("task_id", type=int)
@click.option("--reason", required=True, help="Why the form is rejected.")
@click.option("--as", "--by", "decided_by", metavar="USERNAME", help=_REVIEW_AS_HELP)
def review_reject(task_id: int, reason: str, decided_by: str | None) -> None:
    """Reject a form, with a reason (a caseworker with a personal token)."""
    from db.models import Role
    from domain.digitise import Decision, ReviewDecision
    from switchover.review import decide

    decided_by = _acting_as(decided_by, Role.CASEWORKER)

    decision = ReviewDecision(decision=Decision.REJECT, decided_by=decided_by, reason=reason)
    outcome = _run(decide(get_settings(), task_id, decision))
    click.echo(f"task {task_id}: {outcome.status.value}")


# --- savings -------------------------------------------------------------------------


@main.group(cls=_Group)
def savings() -> None:
    """The savings ledger."""


@savings.command("report")
@click.option("--csv", "as_csv", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def savings_report(as_csv: bool, as_json: bool) -> None:
    """Savings to date and projected a year, per system and department, systems by stage
    with their risk scores, and cost per form before and after (the ledger is brought up to
    today first). --csv prints the ledger's totals."""
    from switchover.savings import report_lines, savings_report, write_ledger_csv

    report = savings_report(get_settings())
    if as_json:
        _print_json(report)
    elif as_csv:
        write_ledger_csv(report, sys.stdout)
    else:
        for line in report_lines(report):
            click.echo(line)


# --- web -----------------------------------------------------------------------------


@main.command()
def web() -> None:
    """Serve the web app alone (scale-out: run several behind a reverse proxy)."""
    from switchover.stack import run_web_only

    _run(run_web_only(get_settings()))


@main.group(cls=_Group)
def users() -> None:
    """People who sign in to the web app."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["caseworker", "engineer", "manager", "admin"]),
    help="A role (repeat for several).",
)
@click.option("--name", "display_name", help="The name shown in the app (default USERNAME).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(
    username: str, roles: Sequence[str], display_name: str | None, password_stdin: bool
) -> None:
    """Add a local account; the password is prompted for (or read with --password-stdin)."""
    from db import accounts
    from db.session import session_scope
    from switchover.web.auth import hash_password

    # The name's rules first, so nobody types a password for an account that cannot exist.
    accounts.check_username(username)
    if display_name is not None:
        display_name = accounts.check_display_name(display_name)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 12:
        raise click.BadParameter("a password needs at least 12 characters", param_hint="password")
    settings = get_settings()
    with session_scope(settings.resolved_database_url) as session:
        accounts.create_user(
            session,
            username=username,
            roles=roles,
            display_name=display_name,
            password_hash=hash_password(password),
        )
    _record(settings, "user.created", "user", username, {"roles": sorted(roles)})
    click.echo(f"added {username} ({', '.join(sorted(roles))})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def users_list(as_json: bool) -> None:
    """Every account and its roles."""
    from db import accounts
    from db.session import session_scope

    with session_scope(get_settings().resolved_database_url) as session:
        rows: list[dict[str, Any]] = [
            {
                "username": u.username,
                "roles": u.roles,
                "active": u.active,
                "single_sign_on": u.oidc_subject is not None,
            }
            for u in accounts.list_users(session)
        ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['username']:<32} {', '.join(row['roles'])}")


@users.group("token", cls=_Group)
def users_token() -> None:
    """Personal tokens: engineers and managers act from the command line with one
    (SWITCHOVER_TOKEN); only its sha256 is kept, it expires and can be revoked."""


@users_token.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (a laptop, a script).")
@click.option("--days", type=click.IntRange(1, 366),
              help="Lifetime in days (default SWITCHOVER_TOKEN_DAYS).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def users_token_create(username: str, name: str, days: int | None, as_json: bool) -> None:
    """Make a token for USERNAME (an engineer or manager) and print it once."""
    from switchover.tokens import create

    made = create(get_settings(), username, name=name, days=days)
    if as_json:
        _print_json(made)
        return
    click.echo(made["token"])
    click.echo(f"token {made['id']} for {username}, expires {made['expires_at'][:10]}; "
               "it is shown only now: keep it as SWITCHOVER_TOKEN", err=True)  # fmt: skip


@users_token.command("list")
@click.argument("username", required=False)
@click.option("--json", "as_json", is_flag=True)
def users_token_list(username: str | None, as_json: bool) -> None:
    """Tokens (never the tokens themselves): whose, what for, expiry, last use, revoked."""
    from switchover.tokens import listed

    rows = listed(get_settings(), username)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        state = f"revoked by {row['revoked_by']}" if row["revoked_at"] else \
            f"expires {row['expires_at'][:10]}"  # fmt: skip
        click.echo(f"{row['id']}  {row['username']:<20} {row['name']:<24} {state}")


@users_token.command("revoke")
@click.argument("token_id", metavar="ID")
def users_token_revoke(token_id: str) -> None:
    """Revoke token ID at once (the id `users token list` shows)."""
    from switchover.tokens import revoke

    revoke(get_settings(), token_id)
    click.echo(f"revoked {token_id}")


# --- legacy sources ------------------------------------------------------------------


@main.group(cls=_Group)
def source() -> None:
    """Read a migration plan's legacy source (read-only)."""


def _dump_value(value: Any) -> Any:
    """A value as DESIGN.md's JSON lines want it: decimals as text, ISO dates, base64 bytes."""
    import base64
    import datetime as dt
    from decimal import Decimal

    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.timedelta):
        return str(value)
    return value


@source.command("dump")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--table", "table", required=True, help="A table of the source (or of the plan).")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many rows.")
@click.option(
    "--file-order",
    is_flag=True,
    help="Rows in the file's own record order, not the key's (file sources only).",
)
def source_dump(plan_file: str, table: str, limit: int | None, file_order: bool) -> None:
    """Print TABLE's rows as JSON lines, columns in the source's order.

    Rows come in the plan's key order (a file not in that order is sorted on disk), or in
    the table's declared key order when the plan does not list it; a file table's declared
    key is its record number, so its own order. --file-order keeps a file's own order
    whatever the plan's key.
    """
    from config.migration_plan import load_plan
    from legacy_connectors import RECORD_NUMBER, ROW_HASH, open_source

    plan = load_plan(plan_file)
    planned = next((t for t in plan.tables if table in (t.source, t.target)), None)
    name = planned.source if planned else table
    filters = {planned.source: planned.where} if planned and planned.where else None
    legacy = open_source(plan.source, filters=filters)
    try:
        info = next((t for t in legacy.describe() if t.name == name), None)
        if info is None:
            from domain.errors import PlanError

            known = ", ".join(t.name for t in legacy.describe())
            raise PlanError(f"the source has no table {name!r}; it has {known}")
        key = (planned.key if planned else None) or info.key
        if not key:
            key = [ROW_HASH] if plan.source.kind == "sql" else [RECORD_NUMBER]
        if file_order:
            if plan.source.kind == "sql":
                raise click.UsageError("--file-order is for file sources; a sql table has none")
            key = [RECORD_NUMBER]
        columns = [c.name for c in info.columns]
        batch = min(limit, 10_000) if limit else 10_000
        left = limit
        out = sys.stdout
        for rows in legacy.read(name, list(key), batch_rows=max(1, batch)):
            for row in rows[:left] if left is not None else rows:
                record = {c: _dump_value(row[c]) for c in columns}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            if left is not None:
                left -= min(left, len(rows))
                if left == 0:
                    break
        out.flush()
    finally:
        legacy.close()


# --- reconciliation ------------------------------------------------------------------


@main.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--table", "tables", multiple=True, help="Only this table (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print DESIGN.md's JSON shape.")
@click.option(
    "--time-budget",
    type=click.FloatRange(min=0, min_open=True),
    default=3600.0,
    show_default=True,
    help="Seconds per table before stopping early.",
)
@click.option(
    "--diff-budget",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    help="Differences per table before stopping early.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Keys and changed rows listed per kind (counts are always complete).",
)
def reconcile(
    plan_file: str,
    tables: Sequence[str],
    as_json: bool,
    time_budget: float,
    diff_budget: int,
    samples: int,
) -> None:
    """Diff the plan's legacy tables against the target, in this process; store the report.

    Exits 1 when any table has differences (or a budget stopped it early).
    """
    from adapters.reconciliation import Budgets
    from switchover.reconcile import reconcile_file

    budgets = Budgets(time_s=time_budget, differences=diff_budget, samples=samples)
    report = reconcile_file(get_settings(), Path(plan_file), tables=tables, budgets=budgets)
    if as_json:
        _print_json(report.design_json())
    else:
        for table in report.tables:
            verdict = "passed" if table.passed else "FAILED"
            click.echo(
                f"{table.table}: {verdict}  legacy {table.legacy_rows}, target "
                f"{table.target_rows}; {table.missing_count} missing, {table.extra_count} "
                f"extra, {table.changed_count} changed ({table.method}, {table.seconds:.1f} s)"
            )
            if table.stopped:
                click.echo(f"  {table.stopped}")
            for key in table.missing:
                click.echo(f"  missing {key}")
            for key in table.extra:
                click.echo(f"  extra   {key}")
            for row in table.changed:
                for name, (legacy, target) in row.columns.items():
                    click.echo(f"  changed {row.key} {name}: {legacy!r} -> {target!r}")
    if not report.passed:
        for table in report.tables:
            if not table.passed:
                click.echo(
                    f"switchover: {table.table}: {table.stopped or 'differences found'}", err=True
                )
        sys.exit(int(ExitCode.CHECK_FAILED))


# --- migration -----------------------------------------------------------------------


@main.group(cls=_Group)
def migrate() -> None:
    """Staged migration of a legacy system: validate the plan, run it, watch it, decide
    its gates, pause, resume or cancel it."""


@migrate.command("validate")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--sample", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Rows per table to try the transforms on.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def migrate_validate(plan_file: str, sample: int, as_json: bool) -> None:
    """Check PLAN against the real source and target; exit 1 with a report if it fails."""
    from switchover.migrate import validate_plan

    check = validate_plan(Path(plan_file), sample_rows=sample)
    if as_json:
        _print_json({**check.model_dump(mode="json"), "passed": check.passed})
    else:
        for problem in check.problems:
            click.echo(f"plan: {problem}")
        for warning in check.warnings:
            click.echo(f"note: {warning}")
        for table in check.tables:
            verdict = "ok" if not table.problems else "PROBLEMS"
            rows = "?" if table.rows is None else table.rows
            click.echo(f"{table.table} -> {table.target}: {verdict}  {rows} rows, "
                       f"{table.sampled} sampled")  # fmt: skip
            for problem in table.problems:
                click.echo(f"  {problem}")
            for key in table.duplicate_examples:
                click.echo(f"  repeated key {key}")
    if not check.passed:
        failing = sum(1 for t in check.tables if t.problems) + bool(check.problems)
        click.echo(f"switchover: the plan has problems ({failing} to fix)", err=True)
        sys.exit(int(ExitCode.CHECK_FAILED))


@migrate.command("run")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until the run ends or stops at --until (through Temporal restarts).",
)
@click.option(
    "--until",
    type=click.Choice(["profile", "copy", "reconcile", "catch-up", "cutover", "retire"]),
    default=None,
    help="Stop after this stage (default: everything the plan describes; the cutover then "
    "runs on by itself). With --wait, cutover and retire also wait for the cutover to end.",
)
@click.option("--parallel", type=click.IntRange(min=1), default=2, show_default=True,
              help="Tables copied at the same time.")  # fmt: skip
@click.option("--new-version", is_flag=True,
              help="When a run of another version of this plan is in flight, end it and "
              "start this one (without: refused).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def migrate_run(
    plan_file: str, wait: bool, until: str | None, parallel: int, new_version: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """Start the staged migration of PLAN's system on the workers.

    The plan is stored in the engine database and the run reads that version: workers
    need no copy of the file, and editing it changes no run in flight.

    With --wait, exits 1 when the run is aborted or cancelled, and with the failure's own
    code when it fails (2 for a bad legacy record).
    """
    from domain.migration import MigrationStage, RunState
    from switchover.migrate import start_run, wait_for_run

    settings = get_settings()
    stage = MigrationStage(until) if until else None
    started = _run(start_run(settings, Path(plan_file), until=stage, parallel=parallel,
                             new_version=new_version))  # fmt: skip
    _record(settings, "migration.started", "system", started.system_id,
            {"workflow_id": started.workflow_id, "until": until})  # fmt: skip
    if not wait:
        if as_json:
            _print_json({"system": started.system_id, "workflow_id": started.workflow_id,
                         "run_id": started.run_id,
                         "plan_version": started.plan_version})  # fmt: skip
        else:
            click.echo(f"started {started.workflow_id} with plan version "
                       f"{(started.plan_version or '')[:12]}; "
                       f"watch it with: switchover migrate status {started.system_id}")  # fmt: skip
        return
    say = (lambda _: None) if as_json else click.echo
    result = _run(wait_for_run(settings, started, follow_cutover=until in ("cutover", "retire"),
                               say=say))  # fmt: skip
    if as_json:
        _print_json(result.model_dump(mode="json"))
    else:
        click.echo(f"{result.system_id}: {result.state.value} after {result.stage.value}")
        for table in result.tables.values():
            click.echo(f"  {table.table}: {table.state.value}, {table.rows_copied} rows copied")
    if result.state in (RunState.ABORTED, RunState.CANCELLED):
        why = f": {result.reason}" if result.reason else ""
        click.echo(f"switchover: the migration was {result.state.value}{why}", err=True)
        sys.exit(int(ExitCode.CHECK_FAILED))


@migrate.command("status")
@click.argument("system", required=False)
@click.option("--json", "as_json", is_flag=True)
def migrate_status(system: str | None, as_json: bool) -> None:
    """Stage, state (with why it waits, stopped or failed) and per-table progress (rows
    copied, rate, ETA) of SYSTEM's latest run, or of every migration Temporal knows."""
    from switchover.migrate import migration_views

    views = _run(migration_views(get_settings(), system))
    if as_json:
        _print_json([view.as_json() for view in views])
        return
    if not views:
        click.echo("no migrations")
    for view in views:
        stage = f"{view.stage.value}, " if view.stage else ""
        click.echo(f"{view.system_id}: {stage}{view.state.value.replace('_', ' ')}")
        if view.reason:
            click.echo(f"  why: {view.reason}")
        if view.change_stream:
            click.echo(f"  change stream: {view.change_stream.line()}")
        for t in view.tables:
            rate = f", {t['rows_per_second']:.0f} rows/s" if t["rows_per_second"] else ""
            eta = f", ETA {t['eta_seconds']:.0f} s" if t["eta_seconds"] is not None else ""
            click.echo(f"  {t['table']}: {t['state']}  {t['rows_copied']}/{t['rows_total']} "
                       f"rows{rate}{eta}")  # fmt: skip
        if view.waiting_tables:
            click.echo(f"  decide with: switchover migrate decide {view.system_id} "
                       "resync|accept|abort --reason TEXT --as USERNAME")  # fmt: skip


def _way_back_line(way_back: dict[str, Any]) -> str:
    if not way_back["open"]:
        return f"closed{': ' + way_back['reason'] if way_back['reason'] else ''}"
    oldest = way_back["oldest_waiting_s"]
    return (f"open: {way_back['rows_applied']} rows carried to legacy, "
            f"{way_back['rows_waiting']} waiting (oldest {oldest:.1f} s)")  # fmt: skip


_AS_HELP = (
    "Your username, as a check: it must be your personal token's user "
    "(SWITCHOVER_TOKEN). The workflow checks the role and records the decision."
)


def _as_option(command: Any) -> Any:
    return click.option("--as", "actor", metavar="USERNAME", help=_AS_HELP)(command)


def _record(settings: Settings, action: str, subject_type: str, subject_id: str,
            detail: dict[str, Any]) -> None:  # fmt: skip
    """An action taken from the command line, into the audit trail."""
    from switchover.audit import record_cli_action
    from switchover.identity import cli_actor

    record_cli_action(settings, actor=cli_actor(settings), action=action,
                      subject_type=subject_type, subject_id=subject_id, detail=detail)  # fmt: skip


def _acting_as(claimed: str | None, role: Any = None) -> str:
    """The username the personal token proves (``--as``, if given, must be it)."""
    from switchover.identity import prove

    return prove(get_settings(), claimed, role=role).username


@migrate.command("decide")
@click.argument("system")
@click.argument("action", type=click.Choice(["resync", "accept", "abort"]))
@click.option("--table", help="The table whose gate it is (default: the one waiting).")
@click.option("--reason", required=True, help="Why, for the audit trail.")
@_as_option
@click.option("--json", "as_json", is_flag=True)
def migrate_decide(
    system: str, action: str, table: str | None, reason: str, actor: str | None, as_json: bool
) -> None:
    """Answer SYSTEM's failed reconciliation gate: re-sync the differing keys and
    reconcile again, accept the differences, or abort the run."""
    from domain.migration import GateAction
    from switchover.migrate import decide

    actor = _acting_as(actor)
    answer = _run(decide(get_settings(), system, GateAction(action), actor=actor,
                         reason=reason, table=table))  # fmt: skip
    if as_json:
        _print_json({"system": system, "action": action, "actor": actor, "answer": answer})
    else:
        click.echo(answer)


def _control_command(action: str, summary: str) -> None:
    """A ``migrate ACTION SYSTEM --as USERNAME [--reason TEXT]`` command."""

    @click.argument("system")
    @click.option("--reason", help="Why, for the audit trail.")
    @_as_option
    @click.option("--json", "as_json", is_flag=True)
    def command(system: str, reason: str | None, actor: str | None, as_json: bool) -> None:
        from domain.migration import RunControlAction
        from switchover.migrate import control

        actor = _acting_as(actor)
        answer = _run(control(get_settings(), system, RunControlAction(action), actor=actor,
                              reason=reason))  # fmt: skip
        if as_json:
            _print_json({"system": system, "action": action, "actor": actor, "answer": answer})
        else:
            click.echo(answer)

    command.__doc__ = summary
    migrate.command(action)(command)


_control_command("pause", "Pause SYSTEM's copies after their current batch.")
_control_command("resume", "Resume SYSTEM's paused copies.")
_control_command("cancel", "Stop SYSTEM's migration after the step under way (what is "
                 "copied stays; a new run upserts over it).")  # fmt: skip


class _ListsByDefault(_Group):
    """A group whose first argument, when it names no command, goes to ``list``:
    ``migrate quarantine SYSTEM`` lists, ``migrate quarantine accept SYSTEM`` accepts."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@migrate.group(
    "quarantine",
    cls=_ListsByDefault,
    subcommand_metavar="SYSTEM [--table T] [--json] | COMMAND [ARGS]...",
)
def migrate_quarantine() -> None:
    """Legacy records a copy set aside because they did not decode: `quarantine SYSTEM`
    lists them; reconciliation does not pass while any is open."""


@migrate_quarantine.command("list")
@click.argument("system")
@click.option("--table", help="Only this source file or table.")
@click.option("--json", "as_json", is_flag=True)
def migrate_quarantine_list(system: str, table: str | None, as_json: bool) -> None:
    """SYSTEM's quarantined records: file or table, record number, byte offset, why, state."""
    from switchover.migrate import quarantine_rows

    rows = quarantine_rows(get_settings(), system, table=table)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo(f"no quarantined records for {system}")
    for r in rows:
        offset = "?" if r["byte_offset"] is None else r["byte_offset"]
        state = r["state"] + (f" by {r['decided_by']}: {r['decision_reason']}"
                              if r["decided_by"] else "")  # fmt: skip
        click.echo(f"{r['table']}  record {r['record']}  offset {offset}  {state}  {r['reason']}")


@migrate_quarantine.command("accept")
@click.argument("system")
@click.option("--table", required=True, help="The source file or table.")
@click.option("--record", "records", type=click.IntRange(min=1), multiple=True,
              help="A record number to accept (repeat for more).")  # fmt: skip
@click.option("--all", "every", is_flag=True, help="Every open record of the table.")
@click.option("--reason", required=True, help="Why, for the audit trail.")
@_as_option
@click.option("--json", "as_json", is_flag=True)
def migrate_quarantine_accept(
    system: str, table: str, records: tuple[int, ...], every: bool, reason: str,
    actor: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Accept SYSTEM's quarantined records of a table (engineers only; each goes into the
    audit trail), so that reconciliation no longer counts them against it."""
    from switchover.migrate import accept_quarantined

    if every == bool(records):
        raise click.UsageError("give --record N (one or more) or --all")
    actor = _acting_as(actor)
    accepted = accept_quarantined(get_settings(), system, table, actor=actor, reason=reason,
                                  records=None if every else list(records))  # fmt: skip
    if as_json:
        _print_json({"system": system, "table": table, "accepted": accepted, "actor": actor})
    else:
        click.echo(f"accepted {accepted} quarantined record{'s' if accepted != 1 else ''} "
                   f"of {table}")  # fmt: skip


# --- cutover and retirement ----------------------------------------------------------


@main.group(cls=_Group)
def cutover() -> None:
    """Watch and steer a system's staged cutover to the modern service."""


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def _figures_line(figures: dict[str, Any] | None) -> str:
    """Gate figures in one line: requests, error rate, p95, mismatches, reconciliation."""
    if not figures:
        return ""
    p95 = "-" if figures["p95_ms"] is None else f"{figures['p95_ms']:.0f} ms"
    recon = {True: "passed", False: "FAILED", None: "-"}[figures["reconciliation_passed"]]
    line = (f"{figures['requests']} requests, errors {_percent(figures['error_rate'])}, "
            f"p95 {p95}, mismatches {_percent(figures['mismatch_rate'])}, "
            f"reconciliation {recon}")  # fmt: skip
    if figures["failures"]:
        line += "; failed: " + "; ".join(figures["failures"])
    return line


@cutover.command("status")
@click.argument("system")
@click.option("--json", "as_json", is_flag=True)
def cutover_status(system: str, as_json: bool) -> None:
    """Phase, share on modern, system of record, what it waits for, the last gate figures
    and the stage history of SYSTEM's cutover.

    From the running workflow when there is one, else from the engine database.
    """
    from domain.migration import StreamLag
    from switchover.cutover import cutover_view

    view = _run(cutover_view(get_settings(), system)).as_json()
    if as_json:
        _print_json(view)
        return
    if view["note"]:
        click.echo(f"switchover: {view['note']}", err=True)
    held = " (held)" if view["held"] else ""
    click.echo(f"{system}: {view['phase'].replace('_', ' ')}{held}  [from the {view['source']}]")
    click.echo(f"  on modern:         {view['modern_percent']}%"
               + (" with shadow comparison" if view["shadow"] else ""))  # fmt: skip
    click.echo(f"  system of record:  {view['system_of_record']}")
    click.echo(f"  waiting for:       {view['waiting_for'] or 'nothing'}")
    if view["stages"]:
        click.echo(f"  stages:            {' -> '.join(f'{s}%' for s in view['stages'])}")
    if view["decommission_step"]:
        click.echo(f"  decommissioning:   {view['decommission_step']}")
    if view["change_stream"] and view["system_of_record"] == "legacy":
        click.echo(f"  change stream:     {StreamLag(**view['change_stream']).line()}")
    if view["way_back"]:
        click.echo(f"  way back:          {_way_back_line(view['way_back'])}")
    if view["last_figures"]:
        click.echo(f"  last gate figures: {_figures_line(view['last_figures'])}")
    click.echo("history:" if view["history"] else "history: none yet")
    for line in view["history"]:
        share = f" {line['modern_percent']}%" if line["modern_percent"] is not None else ""
        click.echo(f"  {line['occurred_at'][:16].replace('T', ' ')} UTC  "
                   f"{line['kind'].replace('_', ' ')}{share}  by {line['actor']}")  # fmt: skip
        if line["figures"]:
            click.echo(f"      {_figures_line(line['figures'])}")
        if line["note"]:
            click.echo(f"      {line['note']}")


def _cutover_action(kind: str) -> Any:
    """A ``cutover KIND SYSTEM --as USERNAME [--reason TEXT]`` command."""
    helps = {
        "approve": "Let the next stage of SYSTEM's cutover begin (the plan asks for approval).",
        "advance": "End the soak now and judge the gates; after a failed gate, try again.",
        "rollback": "Move SYSTEM's traffic back to the previous stage now.",
        "freeze": "Hold SYSTEM's cutover at this stage until an advance.",
    }

    @click.argument("system")
    @_as_option
    @click.option("--reason", help="Why, for the stage history.")
    @click.option("--json", "as_json", is_flag=True)
    def command(system: str, actor: str | None, reason: str | None, as_json: bool) -> None:
        from domain.cutover import EngineerAction, EngineerActionKind
        from switchover.cutover import act_from_cli

        actor = _acting_as(actor)
        action = EngineerAction(
            kind=EngineerActionKind(kind), actor=actor, reason=" ".join((reason or "").split())
            or None,
        )  # fmt: skip
        answer = _run(act_from_cli(get_settings(), system, action))
        if as_json:
            _print_json({"system": system, "action": kind, "actor": actor, "answer": answer})
        else:
            click.echo(answer)

    command.__doc__ = helps[kind]
    return cutover.command(kind)(command)


for _kind in ("approve", "advance", "rollback", "freeze"):
    _cutover_action(_kind)


@main.group(cls=_Group)
def retire() -> None:
    """A legacy system's retirement checklist."""


@retire.command("checklist")
@click.argument("system")
@click.option("--json", "as_json", is_flag=True)
def retire_checklist(system: str, as_json: bool) -> None:
    """SYSTEM's retirement checklist: each item, who closed it and with what evidence."""
    from switchover.cutover import checklist_of

    items = checklist_of(get_settings(), system)
    if as_json:
        _print_json(items)
        return
    if not items:
        click.echo(f"{system} has no retirement checklist yet")
    for item in items:
        mark = "x" if item["closed"] else " "
        click.echo(f"[{mark}] {item['number']}. {item['item']}")
        if item["closed"]:
            evidence = f"; evidence: {item['evidence_name']}" if item["evidence_name"] else ""
            click.echo(f"      closed by {item['closed_by']} on {item['closed_at'][:10]}: "
                       f"{item['note']}{evidence}")  # fmt: skip


@retire.command("close")
@click.argument("system")
@click.argument("item_number", type=click.IntRange(min=1))
@_as_option
@click.option("--note", required=True, help="What was done, for the record.")
@click.option("--evidence", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file that shows it (a letter, a screenshot).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def retire_close(
    system: str, item_number: int, actor: str | None, note: str, evidence: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Close item ITEM_NUMBER of SYSTEM's retirement checklist, with a note and evidence."""
    from switchover.cutover import Evidence, close_item, notify_checklist_changed

    settings = get_settings()
    actor = _acting_as(actor)
    attached = Evidence(evidence.name, evidence.read_bytes()) if evidence else None
    closed = close_item(settings, system, item_number, actor=actor, note=note, evidence=attached)
    unsent = _run(notify_checklist_changed(settings, system))
    if unsent:
        click.echo(f"switchover: item closed, but {unsent}", err=True)
    if as_json:
        _print_json({**closed, "workflow_told": unsent is None})
    else:
        click.echo(f"closed {item_number}. {closed['item']} (by {actor})")


# --- traffic router ------------------------------------------------------------------


@main.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False, exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def router(plan_file: str, host: str, port: int) -> None:
    """Run the built-in traffic router for PLAN's system: it splits requests between
    legacy and modern as the cutover's live setting says, and reports what it sees."""
    import importlib
    import inspect

    # Imported by name: the proxy pulls in its HTTP stack, which no other command needs.
    builtin = importlib.import_module("adapters.router.builtin")
    running = builtin.run_proxy(str(Path(plan_file).resolve()), get_settings(), host, port)
    if inspect.iscoroutine(running):
        _run(running)


# --- commands that live beside their area --------------------------------------------

from switchover import cli_audit, cli_corrections, cli_intake, cli_records  # noqa: E402

main.add_command(cli_audit.audit)
main.add_command(cli_records.records)
for _command in cli_intake.FORMS_COMMANDS:
    forms.add_command(_command)
for _command in cli_corrections.REVIEW_COMMANDS:
    review.add_command(_command)
