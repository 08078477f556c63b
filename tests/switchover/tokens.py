"""Personal tokens for command-line tests: the token a ``--as NAME`` in the arguments needs."""

from __future__ import annotations

from collections.abc import Sequence

from db import accounts, tokens
from db.session import session_scope


def token_for(database_url: str, username: str) -> str | None:
    """A fresh token for ``username``, or None when the account cannot hold one."""
    with session_scope(database_url) as session:
        user = accounts.get_user_by_username(session, username)
        if user is None or not tokens.TOKEN_ROLES.intersection(user.roles):
            return None
        return tokens.create_token(session, username=username, name="test", days=1,
                                   created_by="test")[1]  # fmt: skip


def token_env(database_url: str, args: Sequence[str]) -> dict[str, str]:
    """``SWITCHOVER_TOKEN`` for the ``--as`` (or ``--by``) user of ``args``, when any; an
    empty one otherwise, so no token of the surrounding environment leaks in."""
    for flag in ("--as", "--by"):
        if flag in args[:-1]:
            token = token_for(database_url, args[list(args).index(flag) + 1])
            return {"SWITCHOVER_TOKEN": token or ""}
    return {"SWITCHOVER_TOKEN": ""}


def reviewer_env(program: str, env: dict[str, str], username: str, cwd: str) -> dict[str, str]:
    """``env`` with the personal token of a new account that reviews forms from the command
    line (a caseworker who is also an engineer), made with the installed command."""
    import json
    import subprocess

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([program, *args], env=env, cwd=cwd, input=stdin,
                              capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
        return done.stdout

    run("users", "add", username, "--role", "caseworker", "--role", "engineer",
        "--password-stdin", stdin="correct horse battery staple\n")  # fmt: skip
    made = json.loads(run("users", "token", "create", username, "--name", "review", "--json"))
    return {**env, "SWITCHOVER_TOKEN": made["token"]}
