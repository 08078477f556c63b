"""Static files: our own CSS and JS, and the design systems' files straight from node_modules.

Nothing of GOV.UK Frontend or MOJ Frontend is copied into the repository: ``npm ci`` puts
them in node_modules, and they are served from there. The stylesheets ask for fonts and
images at ``/assets/...``; both packages' asset folders answer there.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.staticfiles import PathLike, StaticFiles

from config.settings import Settings
from domain.errors import LaunchError

OWN_STATIC = Path(__file__).resolve().parent / "static"
_REPOSITORY = Path(__file__).resolve().parents[2]


def node_modules(settings: Settings) -> Path:
    """The node_modules folder that holds govuk-frontend.

    Raises:
        LaunchError: it is not there (run ``npm ci`` in the repository).
    """
    folder = settings.web_assets_dir or _REPOSITORY / "node_modules"
    if not (folder / "govuk-frontend" / "dist" / "govuk").is_dir():
        raise LaunchError(
            f"govuk-frontend is not installed in {folder}: run `npm ci` in {_REPOSITORY} "
            "(or set SWITCHOVER_WEB_ASSETS_DIR)"
        )
    return folder


class LayeredStaticFiles(StaticFiles):
    """Static files looked up in several folders in turn (the first that has the file wins)."""

    def __init__(self, directories: list[Path]) -> None:
        self._layers = directories
        super().__init__(directory=directories[0])

    def get_directories(
        self,
        directory: PathLike | None = None,
        packages: list[str | tuple[str, str]] | None = None,
    ) -> list[PathLike]:
        return [os.fspath(d) for d in self._layers]


def mounts(settings: Settings) -> dict[str, StaticFiles]:
    """URL prefix -> static files of the app."""
    modules = node_modules(settings)
    govuk = modules / "govuk-frontend" / "dist" / "govuk"
    moj = modules / "@ministryofjustice" / "frontend" / "moj"
    return {
        "/assets": LayeredStaticFiles([govuk / "assets", moj / "assets"]),
        "/static/govuk": StaticFiles(directory=govuk),
        "/static/moj": StaticFiles(directory=moj),
        "/static/app": StaticFiles(directory=OWN_STATIC),
    }
