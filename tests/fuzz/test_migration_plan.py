"""The migration plan loader: the bundled plans damaged line by line and word by word,
their YAML trees with odd values, and stray text. Every problem must be a PlanError
naming the file.

Five kinds of input once came out as other exceptions (below, each with the input that
showed it); they are kept as examples.
"""

from __future__ import annotations

import pytest

from tests.fuzz.seeds import plan_seeds
from tests.fuzz.targets import TARGETS, check, escape_message, fuzz

_DBF_PLAN = """\
system: {id: parish-register, name: Parish register}
source: {kind: dbf, path: "%s"}
target: {url: "sqlite:///modern.db"}
tables: [{source: people, target: people}]
"""

ESCAPES = {
    # yaml.ReaderError is a YAMLError but not a MarkedYAMLError, which is all parse_plan
    # catches: a control character anywhere in the file.
    "control character": "system: \x01\n",
    # Path.resolve() raises ValueError on a NUL, which YAML writes as "\0".
    "NUL in a file path": _DBF_PLAN % "people\\0.dbf",
    # _build looks a key up in a dict before checking it can be one: TypeError.
    "list as a mapping key": "system:\n  [a, b]: 1\n",
    # The YAML reader's int() of a 5000-digit number: ValueError.
    "5000-digit number": "batch_rows: " + "9" * 5000 + "\n",
    # The YAML composer recurses once per level: RecursionError.
    "nesting 500 deep": "tables: " + "[" * 500 + "]" * 500 + "\n",
}


def test_plan_loader_takes_damaged_plans() -> None:
    assert plan_seeds()
    fuzz("plan", 100, [(text,) for text in ESCAPES.values()])


@pytest.mark.parametrize("text", [pytest.param(text, id=name) for name, text in ESCAPES.items()])
def test_plan_loader_reproducer(text: str) -> None:
    result = check(TARGETS["plan"], text)
    assert result.kind == "error", escape_message(result, text)
    assert result.label == "PlanError"
