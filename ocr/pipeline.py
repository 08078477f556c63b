"""Documents end to end: words of every page, forms extracted one by one or in a pool.

Pages are read lazily and dropped once read, so memory stays bounded however long the
document. Anything a bad file makes go wrong comes out as a domain error whose
``where`` names the file (and page); nothing escapes as a crash.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from config.form_template import FormTemplate
from config.log import get_logger
from config.settings import get_settings
from domain.errors import (
    ERROR_TYPES,
    BlankPageError,
    OcrEngineError,
    SwitchoverError,
    UnknownFormError,
    UnreadableDocumentError,
)
from domain.forms import DocumentWords, ExtractedField, FormExtraction, ReviewReason
from ocr.acroform import PdfFormField, fields_from_form, read_form
from ocr.engines import engine_for
from ocr.fields import extract_fields, review_reasons
from ocr.identify import identify_form
from ocr.pages import Document, DocumentFormat, Source, open_document
from ocr.reading import OcrOptions, read_in_full, read_page, read_sparsely, read_twice

log = get_logger(__name__)


def read_words(
    source: Source, name: str | None = None, *, options: OcrOptions | None = None
) -> DocumentWords:
    """The words of every page, with boxes and confidences (``switchover ocr --json``).

    Pages with a usable PDF text layer give its words (confidence 1, source ``text``);
    the others are preprocessed and OCRed at 300 dpi, by Tesseract and, when
    ``options.second_engine`` is set, by that engine too, keeping the surer reading of
    each place (``ocr.word_vote``).

    Args:
        source: the file's bytes or its path.
        name: the file name for errors and the result; defaults to the path's name.
        options: engines and resolutions; from settings when None.

    Raises:
        BadInputError: (a subclass) naming the file and page: empty, truncated,
            encrypted, lying extension, too large, or blank throughout.
        OcrEngineError: an engine failed.
    """
    options = options or OcrOptions.from_settings()
    with open_document(source, name) as document:
        pages, blank = [], 0
        for page in document.pages():
            with _guard(f"{document.name} page {page.number}"):
                read = read_page(page, options)
                read_twice(read, options)
            if read.blank:
                blank += 1
                log.warning("blank page", file=document.name, page=read.number)
            pages.append(read.to_page_words())
        if blank == len(pages):
            raise BlankPageError("no page carries anything legible", where=document.name)
        return DocumentWords(file=document.name, pages=pages)


def extract_form(
    data: bytes,
    filename: str,
    templates: Mapping[str, FormTemplate],
    form_type: str | None = None,
    *,
    options: OcrOptions | None = None,
    on_page: Callable[[int], object] | None = None,
) -> FormExtraction:
    """Extract one form's fields from its bytes, in this process.

    Args:
        data: the file's content.
        filename: its name, for errors, the result, and the extension check.
        templates: templates by form type (``config.form_template.load_templates()``).
        form_type: the template to use; recognised from its ``match`` rules when None.
        options: engines and resolutions; from settings when None.
        on_page: called with each page number once the page is read (heartbeats).

    Returns:
        Every field of the template, normalised and validated, the reasons a person
        should review it, and the document's page count.

    Raises:
        UnknownFormError: no template matches, or ``form_type`` names none.
        BlankPageError: the pages read carry nothing legible.
        BadInputError: (other subclasses) the file cannot be read, naming file and page.
        OcrEngineError: Tesseract failed.
    """
    return _extract(data, filename, templates, form_type, options, on_page)


def extract_path(
    path: Path,
    templates: Mapping[str, FormTemplate],
    form_type: str | None = None,
    *,
    display_name: str | None = None,
    options: OcrOptions | None = None,
    on_page: Callable[[int], object] | None = None,
) -> FormExtraction:
    """``extract_form`` for a file on disk, read page by page rather than held whole.

    Args:
        path: the file.
        display_name: the name for errors and the result (the upload's name); the
            path's name when None. Its extension is checked against the content.

    See ``extract_form`` for the rest.
    """
    return _extract(path, display_name or path.name, templates, form_type, options, on_page)


def _extract(
    source: Source,
    name: str,
    templates: Mapping[str, FormTemplate],
    form_type: str | None,
    options: OcrOptions | None,
    on_page: Callable[[int], object] | None,
) -> FormExtraction:
    options = options or OcrOptions.from_settings()
    template = _named_template(templates, form_type)
    with open_document(source, name) as document:
        work = _FormWork(document.name, templates, template, document.page_count)
        while numbers := work.next_pages():
            for number in numbers:
                work.add(_extract_page(document, number, templates, work.template, options))
                if on_page is not None:
                    on_page(number)
        return work.result()


def extract_files(
    paths: Sequence[Path | str],
    templates: Mapping[str, FormTemplate],
    form_type: str | None = None,
    jobs: int | None = None,
    *,
    options: OcrOptions | None = None,
) -> list[FormExtraction | SwitchoverError]:
    """Extract many files at once, their pages spread over a pool of processes.

    Args:
        paths: the files.
        templates: templates by form type.
        form_type: the template for every file; recognised per file when None.
        jobs: processes in the pool; ``settings.ocr_workers`` (the core count) when None.
        options: engines and resolutions; from settings when None.

    Returns:
        One entry per path, in order: the extraction, or the domain error that file
        raised (its ``where`` names file and page). A bad file never stops the others.
    """
    options = options or OcrOptions.from_settings()
    try:
        template = _named_template(templates, form_type)
    except UnknownFormError as e:
        return [e for _ in paths]
    jobs = max(1, min(jobs or get_settings().ocr_workers, len(paths) * 4))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ocr.pipeline"])
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_start_worker,
        initargs=(dict(templates), options),
    ) as pool:
        works = [_FormWork(Path(p).name, templates, template) for p in paths]
        return _run_in_pool(pool, [str(p) for p in paths], works)


# --- the work of one form --------------------------------------------------------------


@dataclass
class _PageOutcome:
    """What reading one page for a form gives back (picklable, from a pool process)."""

    number: int
    page_count: int
    blank: bool = False
    form_type: str | None = None
    fields: dict[str, ExtractedField] = field(default_factory=dict)
    # A fillable PDF's own fields, read with page 1 (None on other pages).
    form: dict[str, PdfFormField] | None = None


@dataclass
class _FormWork:
    """One form's progress: which pages are asked for and read, which template, which
    fields found. The same bookkeeping serves one process and the pool."""

    name: str
    templates: Mapping[str, FormTemplate]
    template: FormTemplate | None
    page_count: int | None = None
    fields: dict[str, ExtractedField] = field(default_factory=dict)
    requested: set[int] = field(default_factory=set)
    blank: list[int] = field(default_factory=list)
    form: dict[str, PdfFormField] = field(default_factory=dict)

    def next_pages(self) -> list[int]:
        """Pages to read next, marked as asked for.

        Page 1 first (it tells the page count); while no template is known, the next
        page after a blank one (the first legible page identifies the form); then every
        page the template has fields on, but for fields a fillable PDF's own fields
        answer.
        """
        if self.page_count is None or self.template is None:
            last = max(self.requested, default=0)
            if self.requested and (
                self.page_count is None or len(self.blank) < len(self.requested)
            ):
                return []  # waiting for an answer, or identification failed
            numbers = [last + 1] if last < (self.page_count or 1) else []
        else:
            wanted = {
                s.page
                for s in self.template.fields
                if s.page <= self.page_count and s.pdf_field not in self.form
            }
            numbers = sorted(wanted - self.requested)
        self.requested.update(numbers)
        return numbers

    def add(self, outcome: _PageOutcome) -> None:
        self.page_count = outcome.page_count
        if outcome.blank:
            self.blank.append(outcome.number)
            log.warning("blank page", file=self.name, page=outcome.number)
        if outcome.form_type and self.template is None:
            self.template = self.templates[outcome.form_type]
        if outcome.form is not None:
            self.form = outcome.form
        self.fields.update(outcome.fields)

    def result(self) -> FormExtraction:
        """The extraction, once every page asked for is read.

        Raises:
            BlankPageError: every page read was blank.
        """
        if self.template is None or len(self.blank) == len(self.requested):
            raise BlankPageError("no page carries anything legible", where=self.name)
        assert self.page_count is not None
        fields = {}
        for spec in self.template.fields:
            missing_page = f"the document has no page {spec.page}"
            fields[spec.name] = self.fields.get(spec.name) or ExtractedField(error=missing_page)
        # A fillable PDF's own field is exact: it wins over whatever the page showed.
        from_pdf = fields_from_form(self.template, self.form)
        fields.update(from_pdf)
        reasons = review_reasons(self.template, fields)
        reasons += [
            ReviewReason(field=None, code="blank_page", detail=f"page {n} is blank")
            for n in sorted(self.blank)
        ]
        log.info(
            "form extracted",
            file=self.name,
            form_type=self.template.form_type,
            pages=self.page_count,
            from_pdf_fields=sorted(from_pdf),
            review=[f"{r.field}:{r.code}" for r in reasons],
        )
        return FormExtraction(
            file=self.name,
            form_type=self.template.form_type,
            fields=fields,
            needs_review=bool(reasons),
            reasons=reasons,
            pages=self.page_count,
        )


def _extract_page(
    document: Document,
    number: int,
    templates: Mapping[str, FormTemplate],
    template: FormTemplate | None,
    options: OcrOptions,
) -> _PageOutcome:
    where = f"{document.name} page {number}"
    with _guard(where):
        read = read_page(document.page(number), options, for_fields=True)
        outcome = _PageOutcome(number, document.page_count, blank=read.blank)
        if template is None and not read.blank:
            try:
                template = identify_form(read.words, templates, where=where)
            except UnknownFormError:
                # The quick low-resolution pass may have missed the very words that
                # identify the form; the full-resolution words are worth one more try.
                if not read_in_full(read, options):
                    raise
                template = identify_form(read.words, templates, where=where)
            outcome.form_type = template.form_type
        if template is not None and (number == 1 or outcome.form_type):
            # The first page read with the template known: before any other page is
            # asked for, so the fields a fillable PDF answers need no page read.
            outcome.form = _pdf_form(document, template)
        if read.blank or template is None:
            return outcome
        outcome.fields = extract_fields(
            template,
            read,
            engine_for(options.field_engine),
            read_again=lambda page: read_sparsely(page, options),
            second=engine_for(options.second_engine) if options.second_engine else None,
        )
        return outcome


def _pdf_form(document: Document, template: FormTemplate) -> dict[str, PdfFormField] | None:
    """A fillable PDF's own fields, when the template names any (for other templates a
    PDF's form, readable or not, is no concern)."""
    if document.format is not DocumentFormat.PDF or not any(s.pdf_field for s in template.fields):
        return None
    form = read_form(document.source, document.name)
    log.info("pdf form fields", file=document.name, fields=len(form))
    return form


def _named_template(
    templates: Mapping[str, FormTemplate], form_type: str | None
) -> FormTemplate | None:
    if form_type is None:
        return None
    if form_type not in templates:
        known = ", ".join(sorted(templates)) or "none loaded"
        raise UnknownFormError(f"no form template {form_type!r} (known: {known})")
    return templates[form_type]


@contextmanager
def _guard(where: str) -> Iterator[None]:
    """Errors we did not foresee, from a library deep down, as a domain error naming
    the page: bad input must never crash the caller."""
    try:
        yield
    except SwitchoverError as e:
        if e.where is None:
            e.where = where
            e.args = (f"{where}: {e.message}",)
        raise
    except MemoryError as e:
        raise UnreadableDocumentError("the page is too large to process", where=where) from e
    except Exception as e:
        raise UnreadableDocumentError(
            f"cannot process the page ({type(e).__name__}: {e})", where=where
        ) from e


# --- the pool --------------------------------------------------------------------------

_worker_templates: dict[str, FormTemplate] = {}
_worker_options = OcrOptions()


def _start_worker(templates: dict[str, FormTemplate], options: OcrOptions) -> None:
    global _worker_options
    # The pool has a process per core: threads of their own would only contend.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    cv2.setNumThreads(1)
    _worker_templates.update(templates)
    _worker_options = options


def _page_task(
    path: str, name: str, number: int, form_type: str | None
) -> _PageOutcome | tuple[str, str, str | None]:
    """Runs in a pool process. Errors come back as (type name, message, where): our
    errors' constructors take keyword arguments, which pickling would lose."""
    template = _worker_templates[form_type] if form_type else None
    try:
        with open_document(Path(path), name) as document:
            return _extract_page(document, number, _worker_templates, template, _worker_options)
    except SwitchoverError as e:
        return (e.type_name, e.message, e.where)


def _run_in_pool(
    pool: ProcessPoolExecutor, paths: list[str], works: list[_FormWork]
) -> list[FormExtraction | SwitchoverError]:
    """Feed pages to the pool as answers allow: page 1 of every file at once, then the
    pages each file's template needs."""
    results: list[FormExtraction | SwitchoverError | None] = [None] * len(works)
    pending: dict[Future[_PageOutcome | tuple[str, str, str | None]], int] = {}

    def submit_next(index: int) -> None:
        work = works[index]
        form_type = work.template.form_type if work.template else None
        for number in work.next_pages():
            future = pool.submit(_page_task, paths[index], work.name, number, form_type)
            pending[future] = index

    for index in range(len(works)):
        submit_next(index)
    while pending:
        finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in finished:
            index = pending.pop(future)
            if results[index] is not None:
                continue  # an earlier page of this file failed already
            try:
                outcome = future.result()
            except BrokenProcessPool:
                results[index] = OcrEngineError("an OCR process died", where=works[index].name)
                continue
            if isinstance(outcome, tuple):
                type_name, message, where = outcome
                results[index] = ERROR_TYPES.get(type_name, SwitchoverError)(message, where=where)
                continue
            works[index].add(outcome)
            submit_next(index)
            if not any(i == index for i in pending.values()):
                results[index] = _finish(works[index])
    return [r if r is not None else _finish(w) for r, w in zip(results, works, strict=True)]


def _finish(work: _FormWork) -> FormExtraction | SwitchoverError:
    try:
        return work.result()
    except SwitchoverError as e:
        return e
