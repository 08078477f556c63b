"""The user docs say what the code accepts: docs/plans.md documents every key of the plan
model and its examples load; docs/operations.md lists every setting."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from config.migration_plan import MigrationPlan, TablePlan, load_plan
from config.settings import Settings
from legacy_connectors import SOURCE_OPENERS

DOCS = Path(__file__).resolve().parents[2] / "docs"
PLANS_MD = DOCS / "plans.md"
OPERATIONS_MD = DOCS / "operations.md"

_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_KEY_ROW = re.compile(r"^\| `([^`]+)` \|")
_FENCE = re.compile(r"^```(\w*)\s*$")


def _sections(text: str) -> Iterator[tuple[str, list[str]]]:
    """(heading, lines up to the next heading) for each heading outside code blocks."""
    heading, fenced = "", False
    lines: list[str] = []
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            yield heading, lines
            heading, lines = match.group(2), []
        else:
            lines.append(line)
    yield heading, lines


def _code_blocks(text: str, language: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each fenced block in ``language``."""
    inside: str | None = None  # the open block's language
    block: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        fence = _FENCE.match(line)
        if fence and inside is None:
            inside, block, start = fence.group(1), [], number
        elif fence:
            if inside == language:
                yield start, "\n".join(block)
            inside = None
        elif inside is not None:
            block.append(line)


def _nested(annotation: Any, suffix: str = "") -> Iterator[tuple[type[BaseModel], str]]:
    """The models an annotation holds, each with how its path continues (``[]`` for a list
    item; a dict's values keep the dict's path)."""
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, suffix
    elif origin is Annotated:
        yield from _nested(get_args(annotation)[0], suffix)
    elif origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            yield from _nested(arg, suffix)
    elif origin is list:
        yield from _nested(get_args(annotation)[0], suffix + "[]")
    elif origin is dict:
        yield from _nested(get_args(annotation)[1], suffix)


def _keys(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _models(model: type[BaseModel], path: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """Every model of the plan format with its dotted path (``cutover.gates``)."""
    yield path, model
    for name, field in model.model_fields.items():
        key = field.alias or name
        for sub, suffix in _nested(field.annotation):
            yield from _models(sub, f"{path}.{key}{suffix}" if path else f"{key}{suffix}")


def _heading_for(path: str, model: type[BaseModel]) -> str:
    """The token the model's section heading carries: `kind: csv` for a source kind,
    `cutover.gates` for the rest, "Top-level keys" for the plan itself."""
    if not path:
        return "Top-level keys"
    kind = model.model_fields.get("kind")
    if kind is not None and get_origin(kind.annotation) is Literal:
        return f"`kind: {get_args(kind.annotation)[0]}`"
    return f"`{path}`"


def _documented_keys(text: str) -> dict[str, set[str]]:
    """Heading -> the keys in its table's first column."""
    found: dict[str, set[str]] = {}
    for heading, lines in _sections(text):
        found[heading] = {m.group(1) for line in lines if (m := _KEY_ROW.match(line))}
    return found


PLAN_MODELS = list(_models(MigrationPlan))


@pytest.mark.parametrize(
    ("path", "model"), PLAN_MODELS, ids=lambda x: x if isinstance(x, str) else ""
)
def test_plans_md_documents_every_key_of_the_plan_model(path: str, model: type[BaseModel]) -> None:
    token = _heading_for(path, model)
    documented = _documented_keys(PLANS_MD.read_text(encoding="utf-8"))
    sections = [heading for heading in documented if token in heading]
    assert len(sections) == 1, f"docs/plans.md: one section headed {token} ({model.__name__})"
    keys = documented[sections[0]]
    missing, unknown = _keys(model) - keys, keys - _keys(model)
    assert not missing, f"docs/plans.md, section {sections[0]!r}: keys not documented: {missing}"
    assert not unknown, f"docs/plans.md, section {sections[0]!r}: keys the plan refuses: {unknown}"


def test_plans_md_has_a_section_per_source_kind() -> None:
    text = PLANS_MD.read_text(encoding="utf-8")
    for kind in SOURCE_OPENERS:
        assert f"(`kind: {kind}`)" in text, f"docs/plans.md has no section for kind {kind}"


_BASE = {
    "system": {"id": "docs-example", "name": "An example"},
    "source": {"kind": "csv", "path": "exports/"},
    "target": {"url": "postgresql+psycopg://switchover@127.0.0.1/modern"},
    "tables": [{"source": "people", "target": "people"}],
}


def _as_plan(snippet: Any) -> dict[str, Any]:
    """A whole plan from an example: as it is, or a part of one put into a small plan."""
    assert isinstance(snippet, dict), "an example is a mapping"
    if "system" in snippet:
        return snippet
    plan = yaml.safe_load(yaml.safe_dump(_BASE))
    if set(snippet) <= set(MigrationPlan.model_fields):
        plan.update(snippet)
    elif set(snippet) <= _keys(TablePlan):
        plan["tables"][0].update(snippet)
    else:
        raise AssertionError(f"an example whose keys {sorted(snippet)} belong nowhere")
    return plan


EXAMPLES = list(_code_blocks(PLANS_MD.read_text(encoding="utf-8"), "yaml"))


def test_plans_md_has_an_example_per_source_kind() -> None:
    kinds = set()
    for _, text in EXAMPLES:
        source = yaml.safe_load(text).get("source")
        if isinstance(source, dict):
            kinds.add(source.get("kind"))
    assert kinds >= set(SOURCE_OPENERS)


@pytest.mark.parametrize(("line", "text"), EXAMPLES, ids=[f"line {n}" for n, _ in EXAMPLES])
def test_plans_md_examples_load(line: int, text: str, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(_as_plan(yaml.safe_load(text))), encoding="utf-8")
    try:
        load_plan(plan_file)
    except Exception as e:
        raise AssertionError(f"docs/plans.md, the example at line {line}: {e}") from e


def test_operations_md_lists_every_setting() -> None:
    documented: set[str] = set()
    for heading, lines in _sections(OPERATIONS_MD.read_text(encoding="utf-8")):
        if heading.startswith("Settings"):
            documented |= {m.group(1) for line in lines if (m := _KEY_ROW.match(line))}
    prefix = Settings.model_config.get("env_prefix", "")
    settings = {f"{prefix}{name}".upper() for name in Settings.model_fields}
    assert not settings - documented, (
        f"docs/operations.md, Settings: not documented: {settings - documented}"
    )
    assert not documented - settings, (
        f"docs/operations.md, Settings: no such setting: {documented - settings}"
    )


_LINK = re.compile(r"\]\(([^)\s]+)\)|<(\w+://[^>]+)>")


def _anchor(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to -."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


@pytest.mark.parametrize(
    "page", [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name
)
def test_links_stay_inside_the_repository_and_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    repository = DOCS.parent.resolve()
    for match in _LINK.finditer(text):
        target = match.group(1) or match.group(2)
        assert "://" not in target, f"{page.name} links outside the repository: {target}"
        assert not target.startswith("mailto:"), f"{page.name} links to an address: {target}"
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_relative_to(repository), f"{page.name}: {target} leaves the repository"
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor and linked.suffix == ".md":
            anchors = {_anchor(h) for h, _ in _sections(linked.read_text(encoding="utf-8"))}
            assert anchor in anchors, f"{page.name}: no heading for #{anchor} in {linked.name}"
