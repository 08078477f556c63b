"""The form template loader: the bundled templates damaged line by line and word by
word, their YAML trees with odd values, and stray text. Every problem is a TemplateError
naming the file."""

from __future__ import annotations

from tests.fuzz.targets import fuzz

REGRESSIONS = [
    ("review:\n  sla_hours: " + "9" * 5000 + "\n",),  # ValueError out of the YAML reader
    ("fields: " + "[" * 500 + "]" * 500 + "\n",),  # RecursionError out of the YAML reader
]


def test_template_loader_takes_damaged_templates() -> None:
    fuzz("template", 60, REGRESSIONS)
