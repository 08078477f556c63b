"""The web app: an app factory, one router per area, and what every page shares.

An area (the review queue, accounts, the programme dashboard...) is a FastAPI router whose
routes take their role from ``switchover.web.auth`` dependencies, plus an optional entry in
the service navigation. ``create_app`` mounts the areas in ``AREAS``; another area is added
by appending an ``Area`` there (or passing ``areas=``).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.form_template import load_templates
from config.log import get_logger
from config.settings import Settings, get_settings
from db.models import Role
from switchover.web.assets import mounts
from switchover.web.auth import SignInRequired, web_secret
from switchover.web.rendering import build_templates, render

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the service navigation, shown to people holding one of ``roles``."""

    text: str
    href: str
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class Area:
    """One part of the service: its router, its navigation link, its own templates."""

    router_module: str
    nav: NavItem | None = None
    templates: Path | None = None


AREAS: list[Area] = [
    Area("switchover.web.routers.account"),
    Area(
        "switchover.web.routers.review",
        nav=NavItem("Review queue", "/review", frozenset({Role.CASEWORKER})),
    ),
    Area(
        "switchover.web.routers.dashboard",
        nav=NavItem("Programme", "/dashboard", frozenset({Role.MANAGER})),
    ),
    Area(
        "switchover.web.routers.cutover",
        nav=NavItem("Cutovers", "/cutover", frozenset({Role.ENGINEER})),
    ),
    Area("switchover.web.routers.migration"),  # drawn on the system page, with the cutover
    Area(
        "switchover.web.routers.admin",
        nav=NavItem("Users", "/admin/users", frozenset({Role.ADMIN})),
    ),
    Area("switchover.web.routers.codec"),  # the Temporal UI's payload codec endpoint
    Area(
        "switchover.web.routers.upload",
        nav=NavItem("Upload", "/upload", frozenset({Role.CASEWORKER})),
    ),
]


def create_app(settings: Settings | None = None, *, areas: Sequence[Area] | None = None) -> FastAPI:
    """Build the web app.

    Args:
        settings: default ``get_settings()``.
        areas: the areas to mount; default ``AREAS``.

    Raises:
        LaunchError: the front-end packages are not installed (``npm ci``).
    """
    import importlib

    settings = settings or get_settings()
    areas = list(AREAS if areas is None else areas)
    app = FastAPI(
        title="Switchover", docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False
    )
    app.state.settings = settings
    app.state.secret = web_secret(settings)
    app.state.form_templates = load_templates(settings.forms_dir)
    app.state.templates = build_templates([a.templates for a in areas if a.templates])
    app.state.navigation = [a.nav for a in areas if a.nav]

    for prefix, files in mounts(settings).items():
        app.mount(prefix, files, name=prefix.strip("/").replace("/", "-"))
    for area in areas:
        app.include_router(importlib.import_module(area.router_module).router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        """For load balancers: the process answers (no sign-in, no data)."""
        return Response("ok", media_type="text/plain")

    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(StarletteHTTPException, _error_page)
    app.middleware("http")(_security_headers)
    return app


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)


_TITLES = {
    403: "You do not have permission",
    404: "Page not found",
    405: "Page not found",
    409: "This form has changed",
    503: "Sorry, the service is unavailable",
}


async def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc, HTTPException | StarletteHTTPException) else None
    if status == 404 and detail == "Not Found":
        detail = "If you typed the web address, check it is correct."
    return render(
        request,
        "errors/error.html",
        {"title": _TITLES.get(status, "Sorry, there is a problem"), "detail": detail},
        status_code=status,
    )


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    # A nonce per response lets the design system's one inline script run and no other.
    nonce = secrets.token_urlsafe(16)
    request.state.csp_nonce = nonce
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
        "img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.url.path.startswith(("/assets", "/static")):
        # Pages, scans and exports hold personal data: never kept by shared caches or the
        # browser (so nothing is left to find after sign-out), whatever a route asked for.
        response.headers["Cache-Control"] = "no-store"
    return response
