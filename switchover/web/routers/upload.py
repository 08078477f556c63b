"""Upload of scanned forms by caseworkers: several files at once, size and type checked
before anything is stored.

Every file is checked first (not empty, under the size limit, a PDF or image by its first
bytes whatever its name says); when any fails, the page says which and why and nothing is
stored. Then each file is taken as any other route takes it (``switchover.intake``): the
same file uploaded twice, or already received by post or scanner, is one document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.datastructures import UploadFile

from adapters.intake import SNIFF_BYTES, Arrival, kinds_named, sniff
from config.form_template import FormTemplate
from config.log import get_logger
from config.settings import Settings
from db.models import IntakeState
from domain.errors import ServiceUnavailableError
from switchover.intake import Intake, IntakeResult
from switchover.web.auth import Caseworker, CheckedForm, CurrentUser
from switchover.web.rendering import render

log = get_logger(__name__)
router = APIRouter()

MAX_FILES = 20
TITLE = "Upload scanned forms"
FIELD = "documents"
ANY_FORM = "recognise"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _limit_mb(request: Request) -> int:
    return _settings(request).intake_max_mb


def refuse_oversized_requests(request: Request, user: Caseworker) -> CurrentUser:
    """Refuse a request larger than the most it may carry before its body is read, so a
    huge upload is neither parsed nor spooled to disk (413)."""
    length = request.headers.get("content-length")
    most = (_limit_mb(request) * MAX_FILES + 1) * 1024 * 1024
    if length is not None and length.isdigit() and int(length) > most:
        raise HTTPException(413, f"Upload at most {MAX_FILES} files of up to "
                                 f"{_limit_mb(request)} MB each.")  # fmt: skip
    return user


Uploader = Annotated[CurrentUser, Depends(refuse_oversized_requests)]


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A file that passed the checks, still only in memory."""

    name: str
    data: bytes


def _form_types(request: Request) -> list[dict[str, Any]]:
    templates: dict[str, FormTemplate] = request.app.state.form_templates
    return [{"value": key, "text": templates[key].title or key} for key in sorted(templates)]


def _page(
    request: Request,
    *,
    errors: list[dict[str, str]] | None = None,
    results: list[IntakeResult] | None = None,
    form_type: str = ANY_FORM,
    status_code: int = 200,
) -> Response:
    return render(request, "upload/upload.html", {
        "title": TITLE, "errors": errors or [], "results": results, "field": FIELD,
        "form_types": _form_types(request), "form_type": form_type, "any_form": ANY_FORM,
        "limit_mb": _limit_mb(request), "max_files": MAX_FILES, "kinds": kinds_named(),
        "state_names": {IntakeState.TAKEN: "Received", IntakeState.QUARANTINED: "Not taken"},
    }, status_code=status_code)  # fmt: skip


@router.get("/upload")
def upload_page(request: Request, user: Caseworker) -> Response:
    """The upload form."""
    return _page(request)


@router.post("/upload")
async def upload(request: Request, user: Uploader, form: CheckedForm) -> Response:
    """Check every file, then take them all; or say what is wrong and take none."""
    templates: dict[str, FormTemplate] = request.app.state.form_templates
    chosen = str(form.get("form_type") or ANY_FORM)
    form_type = chosen if chosen in templates else None
    files = [f for f in form.getlist(FIELD) if isinstance(f, UploadFile) and f.filename]
    checked, errors = await _check(files, _limit_mb(request))
    if not files:
        errors = [{"text": "Select one or more scanned forms", "href": f"#{FIELD}"}]
    elif len(files) > MAX_FILES:
        errors = [{"text": f"Select at most {MAX_FILES} files at a time", "href": f"#{FIELD}"}]
    if errors:
        return _page(request, errors=errors, form_type=chosen, status_code=400)
    try:
        intake = await Intake.connect(_settings(request))
        results = [await intake.take("upload", user.username, Arrival.of(f.name, f.name, f.data),
                                     form_type=form_type) for f in checked]  # fmt: skip
    except ServiceUnavailableError as e:
        log.warning("upload.unavailable", error=e.type_name)
        raise HTTPException(503, "Your files have not all been received. Try again later.") from e
    log.info("upload.received", files=len(results))
    return _page(request, results=results, form_type=chosen)


async def _check(
    files: list[UploadFile], limit_mb: int
) -> tuple[list[CheckedFile], list[dict[str, str]]]:
    """The files that pass, and an error for each one that does not (in the error
    summary's shape: the text and the field it links to)."""
    limit = limit_mb * 1024 * 1024
    checked: list[CheckedFile] = []
    errors: list[dict[str, str]] = []
    for upload in files:
        # Only the base name: some browsers send the whole path of the person's computer.
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1][:200]
        data = await upload.read(limit + 1)
        problem = None
        if not data:
            problem = f"{name} is empty"
        elif len(data) > limit:
            problem = f"{name} must be smaller than {limit_mb} MB"
        elif sniff(data[:SNIFF_BYTES]) is None:
            problem = f"{name} must be a {kinds_named()}"
        if problem:
            errors.append({"text": problem, "href": f"#{FIELD}"})
        else:
            checked.append(CheckedFile(name, data))
    return checked, errors
