"""Administration: the people who can sign in (accounts are added with ``switchover users``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from config.settings import Settings
from db import accounts
from db.session import session_scope
from switchover.web.auth import Admin
from switchover.web.rendering import render

router = APIRouter(prefix="/admin")


@router.get("/users")
def users(request: Request, user: Admin) -> Response:
    """Every account, its roles and how it signs in."""
    settings: Settings = request.app.state.settings
    with session_scope(settings.resolved_database_url) as session:
        people = list(accounts.list_users(session))
    return render(request, "admin/users.html", {"title": "Users", "people": people})
