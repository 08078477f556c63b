"""Server-rendered pages: Jinja templates of our own, on the GOV.UK Frontend Jinja macros.

Every page gets the signed-in person, their CSRF token and the request's CSP nonce, so
templates never have to ask for them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader
from starlette.responses import HTMLResponse

from switchover.web.auth import set_sign_in_cookie, sign_in_csrf

TEMPLATES = Path(__file__).resolve().parent / "templates"
SERVICE_NAME = "Switchover"


def _when(value: dt.datetime | None) -> str:
    """A time as people in the UK read it: 26 November 2026 at 3:04pm (UTC)."""
    if value is None:
        return ""
    value = value.astimezone(dt.UTC)
    hour = value.strftime("%I").lstrip("0") or "12"
    return f"{value.day} {value:%B %Y} at {hour}:{value:%M}{value:%p}".replace("AM", "am").replace(
        "PM", "pm"
    )


def _ago(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How long ago, roughly: '3 hours', '2 days'."""
    if value is None:
        return ""
    seconds = ((now or dt.datetime.now(dt.UTC)) - value).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "under a minute"


def build_templates(extra_dirs: list[Path] | None = None) -> Jinja2Templates:
    """The app's template set: its own folder (and any extra folders an area adds), then
    the GOV.UK Frontend macros under ``govuk_frontend_jinja/``."""
    loader = ChoiceLoader(
        [
            FileSystemLoader([TEMPLATES, *(extra_dirs or [])]),
            PrefixLoader(
                {"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja", "templates")}
            ),
        ]
    )
    env = Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    # Jinja's capitalize lowers the rest ("not a UK postcode" -> "Not a uk postcode").
    env.filters["sentence"] = lambda text: str(text)[:1].upper() + str(text)[1:]
    return Jinja2Templates(env=env)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """A page, with what every page needs in its context.

    Args:
        request: the request (its app holds the templates).
        template: the template's name, e.g. ``review/queue.html``.
        context: the page's own values.
        status_code: the HTTP status (an error page re-rendered with messages: 400, 409...).
    """
    user = getattr(request.state, "user", None)
    templates: Jinja2Templates = request.app.state.templates
    base = {
        "user": user,
        "csrf_token": user.csrf_token if user is not None else sign_in_csrf(request),
        "cspNonce": getattr(request.state, "csp_nonce", None),
        "serviceName": SERVICE_NAME,
        "nav": request.app.state.navigation,
    }
    response = templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status_code
    )
    if user is None:
        set_sign_in_cookie(request, response)
    return response
