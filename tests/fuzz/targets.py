"""What each fuzzer drives, as plain functions the tests and ``bench/fuzz.py`` share.

A target either returns (the input was read) or raises one of our errors, whose text
names the file it is about. Anything else that comes out is an *escape*: ``outcome``
tells the two apart so a test can fail on the first escape and the bench can count them.
"""

from __future__ import annotations

import tempfile
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import SwitchoverError
from legacy_connectors.base import RECORD_NUMBER, ReadStats

_DOCUMENT_RENDER_DPI = 36
"""Text-layer pages are rasterised too (tick boxes are read from pixels), at a low dpi:
the fuzzers look for crashes, not for pixels."""


@dataclass(frozen=True)
class Outcome:
    """How one input went: ``ok``, one of our errors (``error``), or an ``escape``."""

    kind: str
    label: str  # the error's type, or for an escape the type and the line it came from
    detail: str = ""


def outcome(run: Callable[[], object], *, names: str) -> Outcome:
    """Run a target and classify what came out.

    Args:
        run: the target, with its input bound.
        names: text every error of ours must contain (the file it is about); an error
            that does not name it is an escape too, since a person could not act on it.
    """
    try:
        run()
    except SwitchoverError as e:
        if names not in str(e):
            return Outcome("escape", f"{type(e).__name__} without {names!r}", str(e)[:300])
        return Outcome("error", type(e).__name__, str(e)[:300])
    except RecursionError as e:
        return Outcome("escape", "RecursionError", str(e)[:300])
    except Exception as e:
        frame = traceback.extract_tb(e.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return Outcome("escape", f"{type(e).__name__} at {where}", f"{e!s}"[:300])
    return Outcome("ok", "ok")


def escape_message(result: Outcome, what: object) -> str:
    shown = repr(what)
    if len(shown) > 2000:
        shown = shown[:2000] + "..."
    return f"{result.label}: {result.detail}\ninput: {shown}"


# --- copybooks -------------------------------------------------------------------------


def copybook_layout(text: str) -> None:
    """Parse a copybook and lay out every record, as a source does when it opens."""
    from legacy_connectors.copybook.layout import areas, flatten, lay_out
    from legacy_connectors.copybook.parser import parse_copybook

    for record in parse_copybook(text, path="fuzz.cpy"):
        node = lay_out(record, "fuzz.cpy")
        areas(node)
        flatten(node, {})


def copybook_read(
    copybook: str, data: bytes, options: Mapping[str, Any], *, by_key: bool = True
) -> None:
    """Open a copybook source over ``data`` and read every table in full: in record order,
    and (``by_key``) by its first column too, which takes the key pass and the sort."""
    from legacy_connectors.copybook import open_copybook_source

    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        cpy = Path(folder) / "fuzz.cpy"
        dat = Path(folder) / "fuzz.dat"
        cpy.write_text(copybook, encoding="utf-8", errors="surrogateescape")
        dat.write_bytes(data)
        source = open_copybook_source(copybook=cpy, data=dat, **options)
        try:
            for info in source.describe():
                source.count(info.name)
                stats = ReadStats()
                for _batch in source.read(info.name, [RECORD_NUMBER], batch_rows=64, stats=stats):
                    pass
                columns = [c.name for c in info.columns if c.name != RECORD_NUMBER]
                if by_key and columns:
                    key = [columns[0]]
                    for _batch in source.read(info.name, key, batch_rows=64, stats=ReadStats()):
                        pass
                    source.key_bounds(info.name, key)
        finally:
            source.close()


# --- templates and plans ---------------------------------------------------------------


def template_load(text: str) -> None:
    """``load_template`` on a file holding ``text``."""
    from config.form_template import load_template

    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        path = Path(folder) / "fuzz-template.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        load_template(path)


def plan_load(text: str) -> None:
    """``load_plan`` on a file holding ``text`` (relative paths resolved beside it)."""
    from config.migration_plan import load_plan

    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        path = Path(folder) / "fuzz-plan.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        load_plan(path)


# --- documents -------------------------------------------------------------------------


def document_pages(data: bytes, name: str) -> None:
    """Everything intake does to a document before OCR: open it (format sniffed and
    checked against the name), count its pages, load each one (decoded to grayscale, or
    its text layer read) and rasterise the text-layer pages."""
    from ocr.pages import TextPage, open_document

    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        path = Path(folder) / "document"
        path.write_bytes(data)
        with open_document(path, name) as document:
            for page in document.pages():
                if isinstance(page, TextPage):
                    page.render(_DOCUMENT_RENDER_DPI)


# --- the catalogue: each target's inputs and how it is run ----------------------------


@dataclass(frozen=True)
class Target:
    """A fuzz target: a strategy of inputs, the function that reads one, and the text
    every error of ours must name."""

    name: str
    inputs: Callable[[], Any]  # -> SearchStrategy of the argument tuple
    run: Callable[..., None]
    names: Callable[..., str]  # from the same arguments: the text errors must contain


def _copybook_text_inputs() -> Any:
    from hypothesis import strategies as st

    from tests.fuzz.seeds import copybook_seeds
    from tests.fuzz.strategies import copybook_text, mutated_copybook

    texts = [s.text for s in copybook_seeds()]
    mutants = st.sampled_from(texts).flatmap(mutated_copybook) if texts else st.nothing()
    return st.tuples(st.one_of(mutants, copybook_text()))


def _copybook_data_inputs() -> Any:
    from hypothesis import strategies as st

    from tests.fuzz.seeds import copybook_seeds
    from tests.fuzz.strategies import mutated

    seeds = copybook_seeds()
    pool = [s.head for s in seeds]

    def one(seed: Any) -> Any:
        options = st.fixed_dictionaries({"quarantine_bad_records": st.booleans()}).map(
            lambda extra: {**seed.options, **extra}
        )
        return st.tuples(st.just(seed.text), mutated(seed.head, pool), options)

    return st.sampled_from(seeds).flatmap(one) if seeds else st.nothing()


def _copybook_grammar_inputs() -> Any:
    from hypothesis import strategies as st

    from tests.fuzz.strategies import copybook_text, record_data

    options = st.fixed_dictionaries(
        {
            "record_format": st.sampled_from(["F", "V"]),
            "quarantine_bad_records": st.booleans(),
            "encoding": st.sampled_from(["cp037", "cp1047", "cp273", "cp1141", "latin-1"]),
        }
    )
    return st.tuples(copybook_text(), record_data, options)


def _yaml_inputs(kind: str) -> Any:
    from hypothesis import strategies as st

    from tests.fuzz.seeds import plan_seeds, template_seeds
    from tests.fuzz.strategies import mutated_text, schema_tree

    seeds = list((template_seeds() if kind == "template" else plan_seeds()).values())
    words = ["  ", "- ", ": ", "&a", "*a", "<<: *a", "!!python/object:os.system", "!!binary",
             "'", '"', "{", "[", "null", "~", ".nan", "-1", "1e999", "0x10", "zone", "fields",
             "stages", "tables", "source", "kind", "copybook", "\t", "---", "...",
             "%YAML 1.1"]  # fmt: skip
    mutants = st.sampled_from(seeds).flatmap(lambda s: mutated_text(s, words))
    return st.tuples(st.one_of(mutants, schema_tree(seeds), st.text(max_size=200)))


def _document_inputs() -> Any:
    from hypothesis import strategies as st

    from tests.fuzz.seeds import document_seeds
    from tests.fuzz.strategies import mutated

    seeds = document_seeds()
    pool = list(seeds.values())
    names = st.sampled_from(sorted(seeds))
    other_names = st.sampled_from(["x.pdf", "x.png", "x.jpg", "x.tiff", "x.heic", "x.bin", "x"])

    def one(name: str) -> Any:
        return st.tuples(
            mutated(seeds[name], pool, edits=3),
            st.one_of(st.just(name), st.just(name), other_names),
        )

    return names.flatmap(one)


def _read_copybook_text(text: str) -> None:
    copybook_layout(text)


def _read_copybook(text: str, data: bytes, options: Mapping[str, Any]) -> None:
    copybook_read(text, data, options)


def _read_document(data: bytes, name: str) -> None:
    document_pages(data, name)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("copybook-parse", _copybook_text_inputs, _read_copybook_text, lambda *_: "fuzz.cpy"),
        Target("copybook-decode", _copybook_data_inputs, _read_copybook, lambda *_: "fuzz"),
        Target("copybook-grammar", _copybook_grammar_inputs, _read_copybook, lambda *_: "fuzz"),
        Target(
            "template",
            lambda: _yaml_inputs("template"),
            template_load,
            lambda *_: "fuzz-template.yaml",
        ),
        Target("plan", lambda: _yaml_inputs("plan"), plan_load, lambda *_: "fuzz-plan.yaml"),
        Target("documents", _document_inputs, _read_document, lambda _data, name: name),
    ]
}
"""Every fuzz target by name (``bench/fuzz.py --target NAME``)."""


def check(target: Target, *args: Any) -> Outcome:
    """One input through a target, classified."""
    return outcome(lambda: target.run(*args), names=target.names(*args))


# --- CI runs ----------------------------------------------------------------------------


def fuzz(name: str, examples: int, regressions: Sequence[tuple[Any, ...]] = ()) -> None:
    """Run a target as CI does: ``examples`` inputs, derandomised (the same inputs on every
    run, so a failure is reproducible), no deadline (the machine is shared), the
    ``regressions`` first. Fails on the first escape, with the input shrunk."""
    from hypothesis import HealthCheck, example, given, settings

    target = TARGETS[name]

    def read_or_ours(args: tuple[Any, ...]) -> None:
        result = check(target, *args)
        assert result.kind != "escape", escape_message(result, args)

    test = given(target.inputs())(read_or_ours)
    for args in reversed(regressions):
        test = example(args)(test)
    run = settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )(test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged files make the readers warn, at length
        run()
