"""Personal tokens, and the one-use grants that carry a proven identity to the worker.

A token is ``swo_<public id>_<secret>``. The database keeps its sha256 only, with an expiry
and, once revoked, who revoked it. ``verify_token`` turns a token into the person it
proves (active, holding a role that may act from the command line).

A grant is how that proof reaches the role check without the token travelling: the shell,
having verified who acts (a token here, a session in the web app), writes a grant for that
person and that workflow; the worker's role check consumes it (``consume_grant``) before it
accepts the name the workflow was sent. A name sent to Temporal by anyone who cannot write
the engine database finds no grant and is refused. Grants last minutes and serve once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.log import get_logger
from db import accounts
from db.audit import append_audit_event
from db.models import ActingGrant, PersonalToken, Role, User
from db.types import utcnow
from domain.errors import BadInputError, NotFoundError, NotPermittedError

log = get_logger(__name__)

PREFIX = "swo_"
TOKEN_ROLES = frozenset({Role.ENGINEER.value, Role.MANAGER.value})
"""Who may hold a personal token: engineers and programme managers act from the CLI."""
GRANT_LIFETIME = dt.timedelta(minutes=5)
"""Long enough for an update to reach a worker that is busy; short enough to be useless
to anyone who reads a grant's row later."""


def token_sha256(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, *, username: str, name: str, days: int, created_by: str
) -> tuple[PersonalToken, str]:
    """A new token for ``username``: its row, and the token itself (shown once, never kept).

    Raises:
        NotFoundError: no such active account.
        NotPermittedError: the account is neither an engineer nor a manager.
        BadInputError: no name, or a lifetime outside 1..366 days.
    """
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise BadInputError("a token needs a name of 1 to 100 characters saying what it is for")
    if not 1 <= days <= 366:
        raise BadInputError(f"a token lasts 1 to 366 days, not {days}")
    user = accounts.get_user_by_username(session, username)
    if user is None or not user.active:
        raise NotFoundError(f"no active account {username!r}")
    if not TOKEN_ROLES.intersection(user.roles):
        raise NotPermittedError(
            f"{username} may not hold a personal token: that needs the engineer or manager role"
        )
    public_id = secrets.token_hex(6)
    token = f"{PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    row = PersonalToken(public_id=public_id, user_id=user.id, name=name,
                        token_sha256=token_sha256(token), created_at=now,
                        expires_at=now + dt.timedelta(days=days))  # fmt: skip
    session.add(row)
    session.flush()
    append_audit_event(session, actor=created_by, action="token.created", subject_type="user",
                       subject_id=username, detail={"token": public_id, "days": days})  # fmt: skip
    log.info("token.created", token=public_id, days=days)
    return row, token


def list_tokens(session: Session, *, username: str | None = None) -> Sequence[PersonalToken]:
    """Tokens, newest first; one person's when ``username`` is given."""
    query = select(PersonalToken).join(User).order_by(PersonalToken.id.desc())
    if username is not None:
        query = query.where(User.username == username)
    return session.scalars(query).all()


def revoke_token(session: Session, public_id: str, *, revoked_by: str) -> PersonalToken:
    """Revoke a token at once: it proves nothing from now on.

    Raises:
        NotFoundError: no such token.
    """
    row = session.scalars(select(PersonalToken).where(PersonalToken.public_id == public_id)).first()
    if row is None:
        raise NotFoundError(f"no token {public_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = revoked_by
        append_audit_event(session, actor=revoked_by, action="token.revoked", subject_type="user",
                           subject_id=row.user.username, detail={"token": public_id})  # fmt: skip
        log.info("token.revoked", token=public_id)
    return row


def verify_token(session: Session, token: str, *, now: dt.datetime | None = None) -> PersonalToken:
    """The token's row, when it proves who someone is now.

    Raises:
        NotPermittedError: unknown, revoked or expired; or its account is no longer active
            or lost the roles that may hold one. The message never repeats the token.
    """
    now = now or utcnow()
    token = token.strip()
    row = None
    if token.startswith(PREFIX):
        row = session.scalars(
            select(PersonalToken).where(PersonalToken.token_sha256 == token_sha256(token))
        ).first()
    if row is None:
        raise NotPermittedError("the personal token is not known: create one with "
                                "`switchover users token create`")  # fmt: skip
    if row.revoked_at is not None:
        raise NotPermittedError(f"personal token {row.public_id} was revoked")
    if row.expires_at <= now:
        raise NotPermittedError(
            f"personal token {row.public_id} expired on {row.expires_at:%Y-%m-%d}"
        )
    user = row.user
    if not user.active or not TOKEN_ROLES.intersection(user.roles):
        raise NotPermittedError(
            f"personal token {row.public_id}: {user.username} is no longer an active engineer "
            "or manager"
        )
    row.last_used_at = now
    return row


def grant_action(
    session: Session, *, username: str, workflow_id: str, via: str, token_id: int | None = None
) -> ActingGrant:
    """Let the worker's role check accept ``username`` once on ``workflow_id``, for minutes."""
    now = utcnow()
    grant = ActingGrant(username=username, workflow_id=workflow_id, token_id=token_id, via=via,
                        created_at=now, expires_at=now + GRANT_LIFETIME)  # fmt: skip
    session.add(grant)
    session.flush()
    return grant


def consume_grant(
    session: Session,
    *,
    username: str,
    workflow_id: str,
    used_by: str,
    now: dt.datetime | None = None,
) -> bool:
    """Use one live grant of ``username`` on ``workflow_id``; whether there was one.

    ``used_by`` names the activity attempt's activity (workflow run and activity id): a
    retried attempt of the same check finds the grant it used, and uses no other.
    """
    now = now or utcnow()
    already = select(ActingGrant.id).where(
        ActingGrant.used_by == used_by, ActingGrant.username == username
    )
    again = session.scalars(already).first()
    if again is not None:
        return True
    candidates = session.scalars(
        select(ActingGrant.id)
        .where(
            ActingGrant.username == username,
            ActingGrant.workflow_id == workflow_id,
            ActingGrant.used_at.is_(None),
            ActingGrant.expires_at > now,
        )
        .order_by(ActingGrant.id)
    ).all()
    for grant_id in candidates:
        # Only one check may take a grant, however many race for it.
        taken = session.execute(
            update(ActingGrant)
            .where(ActingGrant.id == grant_id, ActingGrant.used_at.is_(None))
            .values(used_at=now, used_by=used_by)
        )
        if getattr(taken, "rowcount", 0) == 1:
            return True
    return False


__all__ = [
    "GRANT_LIFETIME",
    "PREFIX",
    "TOKEN_ROLES",
    "consume_grant",
    "create_token",
    "grant_action",
    "list_tokens",
    "revoke_token",
    "token_sha256",
    "verify_token",
]
