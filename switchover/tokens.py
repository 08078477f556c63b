"""Personal tokens from the terminal: create, list, revoke (``switchover users token``).

Whoever runs these commands can write the engine database, as for ``users add``: the
audit trail names them (their own token's user, else their operating-system name).
"""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from db import tokens
from db.models import PersonalToken
from db.session import session_scope
from switchover.identity import cli_actor


def _row(row: PersonalToken) -> dict[str, Any]:
    return {
        "id": row.public_id,
        "username": row.user.username,
        "name": row.name,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "revoked_by": row.revoked_by,
    }


def create(settings: Settings, username: str, *, name: str, days: int | None) -> dict[str, Any]:
    """A new token for ``username``: its listing, and ``token`` itself (shown once).

    Raises:
        NotFoundError, NotPermittedError, BadInputError: see ``db.tokens.create_token``.
    """
    by = cli_actor(settings)
    with session_scope(settings.resolved_database_url) as session:
        row, token = tokens.create_token(
            session, username=username, name=name, days=days or settings.token_days,
            created_by=by,
        )  # fmt: skip
        return {**_row(row), "token": token}


def listed(settings: Settings, username: str | None = None) -> list[dict[str, Any]]:
    """Every token (one person's when ``username`` is given), newest first."""
    with session_scope(settings.resolved_database_url) as session:
        return [_row(r) for r in tokens.list_tokens(session, username=username)]


def revoke(settings: Settings, public_id: str) -> dict[str, Any]:
    """Revoke a token now.

    Raises:
        NotFoundError: no such token.
    """
    by = cli_actor(settings)
    with session_scope(settings.resolved_database_url) as session:
        return _row(tokens.revoke_token(session, public_id, revoked_by=by))


__all__ = ["create", "listed", "revoke"]
