"""Template errors name the file, the YAML line and the field, so an engineer writing a
template for a new form finds the mistake without reading pydantic's locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.form_template import bundled_template_dir, load_template
from domain.errors import ExitCode, TemplateError

GOOD = """\
form_type: register
title: Register
fields:
  - name: reference
    position: zone
    zone: [0.6, 0.02, 0.9, 0.06]
  - name: surname
    label: "Surname"
    type: name
  - name: date_of_birth
    label: "Date of birth"
    type: date
review:
  min_confidence: 0.8
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "register.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(TemplateError) as caught:
        load_template(_write(tmp_path, text))
    assert caught.value.exit_code is ExitCode.BAD_INPUT
    return str(caught.value)


def test_a_good_template_loads(tmp_path: Path):
    template = load_template(_write(tmp_path, GOOD))
    assert [f.name for f in template.fields] == ["reference", "surname", "date_of_birth"]


def test_the_bundled_templates_load():
    for path in bundled_template_dir().glob("*.yaml"):
        load_template(path)


def test_a_rule_across_keys_names_the_field_and_its_line(tmp_path: Path):
    text = GOOD.replace('    label: "Surname"\n', "    position: below\n")
    message = _error(tmp_path, text)
    assert message == (
        f'{tmp_path / "register.yaml"} line 7, field "surname": position below needs a label'
    )


def test_a_bad_value_names_the_key_and_its_line(tmp_path: Path):
    message = _error(tmp_path, GOOD.replace("type: date", "type: datum"))
    assert message.startswith(f'{tmp_path / "register.yaml"} line 12, field "date_of_birth": type:')
    assert "'date'" in message


def test_a_zone_check_points_at_the_zone(tmp_path: Path):
    message = _error(tmp_path, GOOD.replace("[0.6, 0.02, 0.9, 0.06]", "[0.9, 0.02, 0.6, 0.06]"))
    assert 'line 6, field "reference": zone: zone must be x0 < x1' in message


def test_a_missing_key_points_at_its_field(tmp_path: Path):
    text = GOOD.replace("  - name: date_of_birth\n", "  - label2: x\n")
    message = _error(tmp_path, text.replace('    label: "Date of birth"\n', ""))
    assert "line 10, field 3: name: Field required" in message


def test_errors_outside_fields_name_their_key(tmp_path: Path):
    message = _error(tmp_path, GOOD.replace("min_confidence: 0.8", "min_confidence: 8"))
    assert "register.yaml line 14: review.min_confidence: Input should be" in message


def test_every_problem_is_reported_on_one_line(tmp_path: Path):
    text = GOOD.replace("type: name", "type: nom").replace("type: date", "type: datum")
    message = _error(tmp_path, text)
    assert "\n" not in message
    assert 'line 9, field "surname": type:' in message
    assert 'line 12, field "date_of_birth": type:' in message


def test_yaml_syntax_errors_give_the_line_and_field(tmp_path: Path):
    message = _error(tmp_path, GOOD.replace("    type: name\n", "    type: name: x\n"))
    assert message.startswith(f'{tmp_path / "register.yaml"} line 9, field "surname": not valid')


def test_a_syntax_error_outside_fields_names_no_field(tmp_path: Path):
    message = _error(tmp_path, "form_type: register\ntitle: : x\nfields: []\n")
    assert message.startswith(f"{tmp_path / 'register.yaml'} line 2: not valid YAML")


def test_a_missing_file_names_it(tmp_path: Path):
    with pytest.raises(TemplateError, match=r"nowhere\.yaml"):
        load_template(tmp_path / "nowhere.yaml")


def test_an_empty_file_is_reported_at_the_top(tmp_path: Path):
    assert "(top)" in _error(tmp_path, "")
