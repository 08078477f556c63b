"""Who is acting: proven by a personal token at the command line, by a session in the web
app, and carried to the worker's role check as a one-use grant, never as the token.

Where the proof is checked, and why there:

* The CLI reads the token (``SWITCHOVER_TOKEN`` or the file ``SWITCHOVER_TOKEN_FILE``
  names) and verifies it against the engine database (``db.tokens.verify_token``): only
  its sha256 is stored, and the token itself never leaves the process, so it is not in
  any workflow's history, encrypted or not.
* The identity it proves then reaches Temporal as a plain name (the update's ``actor``).
  A name alone would be trusted by the workflow's role check, so before sending an update
  the shell writes a grant (``grant``): this person may act once on this workflow, within
  minutes. The worker's ``GrantCheck`` interceptor runs before the role-check activities
  and consumes a grant for the name the workflow was sent; with none, the name is refused
  whoever sent it. Someone who can reach Temporal (its UI, its API) but cannot write the
  engine database cannot make a grant, so cannot act in another's name.
"""

from __future__ import annotations

import asyncio
import contextvars
import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities import names
from config.log import get_logger
from config.settings import Settings
from db import tokens
from db.audit import append_audit_event
from db.models import Role
from db.session import session_scope
from domain.errors import BadInputError, NotPermittedError

log = get_logger(__name__)

CHECKED_ACTIVITIES = frozenset(
    {names.CHECK_ACTOR_ROLE, names.AUTHORISE_DECISION, names.CHECK_DECISION}
)
"""The checks a person's update goes through (an engineer's role check, a caseworker's
review decision): each needs a grant for the name."""


def _actor_of(activity_type: str, args: Sequence[Any]) -> str:
    """The name an update was sent in: a review decision's ``decided_by``, else ``actor``."""
    if not args:
        return ""
    if activity_type == names.CHECK_DECISION:
        return str(getattr(getattr(args[0], "decision", None), "decided_by", "") or "")
    return str(getattr(args[0], "actor", "") or "")


@dataclass(frozen=True, slots=True)
class Acting:
    """The person a personal token proved, for this process."""

    username: str
    token_id: int
    token: str  # the token's public id, for messages and the audit trail


_acting: contextvars.ContextVar[Acting | None] = contextvars.ContextVar("acting", default=None)


def token_of(settings: Settings) -> str | None:
    """The personal token the settings give: ``SWITCHOVER_TOKEN``, else the file named.

    Raises:
        BadInputError: the token file cannot be read.
    """
    if settings.token is not None and settings.token.get_secret_value().strip():
        return settings.token.get_secret_value().strip()
    if settings.token_file is not None:
        try:
            return settings.token_file.read_text(encoding="utf-8").strip() or None
        except OSError as e:
            raise BadInputError(f"the token file {settings.token_file} cannot be read: "
                                f"{e.strerror}") from e  # fmt: skip
    return None


def prove(settings: Settings, claimed: str | None = None, *, role: Role | None = None) -> Acting:
    """Who the personal token proves; from now on this process acts as them.

    Args:
        settings: where the token and the engine database are.
        claimed: a name given with ``--as``: it must be the token's.
        role: a role the person must hold for what they are about to do.

    Raises:
        NotPermittedError: no token, a token that proves nothing (unknown, revoked,
            expired), a ``--as`` that is not the token's user, or a missing role.
    """
    token = token_of(settings)
    if token is None:
        raise NotPermittedError(
            "acting from the command line needs your personal token: set SWITCHOVER_TOKEN "
            "(or SWITCHOVER_TOKEN_FILE); `switchover users token create` makes one"
        )
    with session_scope(settings.resolved_database_url) as session:
        row = tokens.verify_token(session, token)
        acting = Acting(username=row.user.username, token_id=row.id, token=row.public_id)
        roles = set(row.user.roles)
    if claimed is not None and claimed != acting.username:
        raise NotPermittedError(
            f"--as {claimed}: your personal token is {acting.username}'s; "
            "leave out --as or give your own name"
        )
    if role is not None and role.value not in roles:
        raise NotPermittedError(f"{acting.username} is not a {role.value}")
    _acting.set(acting)
    log.info("identity.proved", token=acting.token)
    return acting


def acting() -> Acting | None:
    """The person this process proved with a token, if it did."""
    return _acting.get()


def cli_actor(settings: Settings) -> str:
    """The name the audit trail gives a command-line action that needs no role: the token's
    user when there is a token, else the operating system's user (``cli:alice``)."""
    proved = acting()
    if proved is not None:
        return proved.username
    if token_of(settings) is not None:
        return prove(settings).username
    return f"cli:{getpass.getuser()}"


def _grant(settings: Settings, username: str, workflow_id: str) -> None:
    proved = acting()
    if proved is not None and proved.username != username:
        raise NotPermittedError(f"this process acts as {proved.username}, not {username}")
    with session_scope(settings.resolved_database_url) as session:
        tokens.grant_action(
            session, username=username, workflow_id=workflow_id,
            via="cli" if proved else "web", token_id=proved.token_id if proved else None,
        )  # fmt: skip


async def grant(settings: Settings, username: str, workflow_id: str) -> None:
    """Let the worker's role check accept ``username`` once on ``workflow_id``.

    Call it after proving who acts: the CLI after ``prove``, the web app with the signed-in
    person's name (their session proved it).

    Raises:
        NotPermittedError: this process proved someone else with a token.
    """
    await asyncio.to_thread(_grant, settings, username, workflow_id)


# --- the worker's side ------------------------------------------------------------------


class GrantCheck(Interceptor):
    """Installed on the worker: a role check runs only for a name that holds a grant."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _GrantCheckInbound(next, self.database_url)


class _GrantCheckInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, database_url: str) -> None:
        super().__init__(next)
        self.database_url = database_url

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.activity_type in CHECKED_ACTIVITIES:
            actor = _actor_of(info.activity_type, input.args)
            used_by = f"{info.workflow_run_id}/{info.activity_id}"
            granted = await asyncio.to_thread(self._consume, actor, info.workflow_id or "", used_by)
            if not granted:
                raise ApplicationError(
                    f"{actor or 'the sender'} did not prove who they are: act from the command "
                    "line with your personal token, or from the web app",
                    type="NotPermittedError",
                    non_retryable=True,
                )
        return await self.next.execute_activity(input)

    def _consume(self, actor: str, workflow_id: str, used_by: str) -> bool:
        with session_scope(self.database_url) as session:
            if actor and tokens.consume_grant(
                session, username=actor, workflow_id=workflow_id, used_by=used_by
            ):
                return True
            append_audit_event(session, actor=actor or "unknown", action="identity.refused",
                               subject_type="workflow", subject_id=workflow_id,
                               detail={"reason": "no grant"})  # fmt: skip
        log.warning("identity.refused", workflow_id=workflow_id)
        return False


__all__ = ["Acting", "GrantCheck", "acting", "cli_actor", "grant", "prove", "token_of"]
