"""Legacy matching against real legacy sources: an electoral register of a few hundred
made-up people in SQLite, in MariaDB and in a CSV export, each writing names, dates and
postcodes its own way (padded CHAR, DATE or ``19800131`` text, ``31/01/1980``, postcodes
with and without their space, upper and mixed case)."""

from __future__ import annotations

import csv
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from faker import Faker

from adapters.legacy_match import (
    LegacyMatcher,
    date_similarity,
    field_kinds,
    find_plan,
    name_similarity,
    open_plan_source,
    parse_date,
    plan_key_columns,
    postcode_similarity,
)
from config.form_template import LegacyMatch, load_templates
from domain.digitise import LegacyMatchOutcome
from domain.errors import PlanError
from legacy_connectors import LegacySource
from legacy_connectors.sql import SqlSource
from legacy_connectors.text_files import TextFileSource
from switchover.specimens._british import ni_number, place, postcode
from tests.legacy_connectors.conftest import mariadb_admin, throwaway_name

SPEC = LegacyMatch(
    source="legacy-electoral",
    table="ELECTOR",
    keys={"national_insurance_number": "NINO"},
    fuzzy={"surname": "SURNAME", "first_names": "FORENAME", "date_of_birth": "DOB",
           "postcode": "POSTCODE"},
)  # fmt: skip
KINDS = field_kinds(load_templates()["register-to-vote"])


@dataclass(frozen=True)
class Person:
    elector_id: str
    nino: str
    surname: str
    forename: str
    dob: date
    postcode: str
    status: str = "A"

    def form(self, **changes: Any) -> dict[str, Any]:
        """The person's values as a form gives them after extraction (normalised)."""
        values: dict[str, Any] = {
            "national_insurance_number": self.nino,
            "surname": self.surname.title(),
            "first_names": self.forename,
            "date_of_birth": self.dob.isoformat(),
            "postcode": self.postcode,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v is not None}


def make_people(count: int = 300, seed: int = 7) -> list[Person]:
    """Made-up electors, twins among them, and one deleted record."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    people: list[Person] = []
    ninos: set[str] = set()
    while len(people) < count:
        nino = ni_number(rng)
        if nino in ninos:
            continue
        ninos.add(nino)
        people.append(
            Person(
                elector_id=f"E{len(people) + 1:07d}", nino=nino, surname=fake.last_name(),
                forename=fake.first_name(), dob=fake.date_of_birth(minimum_age=18, maximum_age=95),
                postcode=postcode(place(rng), rng),
            )
        )  # fmt: skip
    twin = people[10]
    other_name = "Bartholomew" if twin.forename != "Bartholomew" else "Zed"
    people.append(replace(twin, elector_id=f"E{len(people) + 1:07d}", nino=ni_number(rng),
                          forename=other_name))  # fmt: skip
    people.append(replace(people[20], elector_id=f"E{len(people) + 1:07d}", status="X",
                          nino=ni_number(rng), surname="Quackenbush"))  # fmt: skip
    return people


PEOPLE = make_people()
ALICE = next(p for p in PEOPLE[30:] if p.dob.day <= 12 and p.dob.day != p.dob.month)
TWIN_A, TWIN_B = PEOPLE[10], PEOPLE[-2]
DELETED = PEOPLE[-1]


def misspelt(name: str) -> str:
    """One letter read wrong, as OCR does."""
    i = len(name) // 2
    return name[:i] + ("X" if name[i].upper() != "X" else "Y") + name[i + 1 :]


# --- the three legacy sources ------------------------------------------------------------


def sqlite_register(path: Path) -> str:
    """Padded CHAR columns, mixed-case names, dates as 19800131 text, spaced postcodes."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE ELECTOR (ELECTOR_ID CHAR(8) PRIMARY KEY, NINO CHAR(9), SURNAME CHAR(30),"
        " FORENAME VARCHAR(40), DOB CHAR(8), POSTCODE VARCHAR(8), STATUS CHAR(1))"
    )
    conn.executemany(
        "INSERT INTO ELECTOR VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(p.elector_id, p.nino, p.surname.ljust(30), p.forename, p.dob.strftime("%Y%m%d"),
          p.postcode, p.status) for p in PEOPLE],
    )  # fmt: skip
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def write_csv(folder: Path) -> Path:
    """Upper-case names, 31/01/1980 dates, lower-case postcodes without the space."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "ELECTOR.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["ELECTOR_ID", "NINO", "SURNAME", "FORENAME", "DOB", "POSTCODE", "STATUS"])
        for p in PEOPLE:
            out.writerow([p.elector_id, p.nino, p.surname.upper(), p.forename.upper(),
                          p.dob.strftime("%d/%m/%Y"), p.postcode.replace(" ", "").lower(),
                          p.status])  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def mariadb_url() -> Iterator[str]:
    """Upper-case CHAR names, DATE dates, NI numbers written in pairs, indexes as a real
    register would have them."""
    name = throwaway_name("match")
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{name}`")
        cur.execute(
            "CREATE TABLE ELECTOR (ELECTOR_ID CHAR(8) PRIMARY KEY, NINO CHAR(13),"
            " SURNAME CHAR(30), FORENAME VARCHAR(40), DOB DATE, POSTCODE CHAR(8), STATUS CHAR(1),"
            " INDEX (NINO), INDEX (SURNAME, DOB), INDEX (DOB), INDEX (POSTCODE))"
        )
        cur.executemany(
            "INSERT INTO ELECTOR VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(p.elector_id, f"{p.nino[:2]} {p.nino[2:4]} {p.nino[4:6]} {p.nino[6:8]} {p.nino[8]}",
              p.surname.upper(), p.forename, p.dob, p.postcode, p.status) for p in PEOPLE],
        )  # fmt: skip
    try:
        yield f"mysql+pymysql://root@127.0.0.1/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="module", params=["sqlite", "mariadb", "csv"])
def source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LegacySource]:
    folder = tmp_path_factory.mktemp(request.param)
    opened: LegacySource
    if request.param == "sqlite":
        opened = SqlSource(sqlite_register(folder / "electoral.db"))
    elif request.param == "mariadb":
        opened = SqlSource(request.getfixturevalue("mariadb_url"))
    else:
        opened = TextFileSource(write_csv(folder / "export"))
    opened.open()
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def matcher(source: LegacySource) -> LegacyMatcher:
    return LegacyMatcher(SPEC, source, kinds=KINDS, key_columns=["ELECTOR_ID"])


# --- matching ------------------------------------------------------------------------------


def test_exact_key_hit_scores_one(matcher: LegacyMatcher):
    result = matcher.match(ALICE.form())
    assert result.outcome is LegacyMatchOutcome.MATCHED
    assert result.score == 1.0
    best = result.best
    assert best is not None
    assert (best.key, best.via, best.system) == (ALICE.elector_id, "key", "legacy-electoral")
    # The legacy values come back written as the form writes them, for the side by side.
    assert best.fields["date_of_birth"] == ALICE.dob.isoformat()
    assert best.fields["postcode"] == ALICE.postcode
    assert best.fields["national_insurance_number"] == ALICE.nino
    assert best.fields["surname"] == ALICE.surname.title()  # OKAFOR is Okafor
    assert best.field_scores["surname"] == 1.0


def test_fuzzy_hit_with_ocr_typos(matcher: LegacyMatcher):
    swapped = date(ALICE.dob.year, ALICE.dob.day, ALICE.dob.month)
    form = ALICE.form(national_insurance_number=None, surname=misspelt(ALICE.surname),
                      date_of_birth=swapped.isoformat())  # fmt: skip
    result = matcher.match(form)
    assert result.outcome is LegacyMatchOutcome.MATCHED, result.detail
    best = result.best
    assert best is not None
    assert (best.key, best.via) == (ALICE.elector_id, "fuzzy")
    assert 0.85 <= best.score < 1.0
    assert best.field_scores["date_of_birth"] == 0.85
    assert best.field_scores["postcode"] == 1.0
    assert 0.6 < (best.field_scores["surname"] or 0) < 1.0


def test_fuzzy_hit_with_a_misread_postcode_and_no_forename(matcher: LegacyMatcher):
    wrong = ALICE.postcode[:-1] + ("X" if ALICE.postcode[-1] != "X" else "Y")
    form = ALICE.form(national_insurance_number=None, first_names=None, postcode=wrong)
    result = matcher.match(form)
    assert result.outcome is LegacyMatchOutcome.MATCHED, result.detail
    assert result.best is not None
    assert result.best.key == ALICE.elector_id
    assert result.best.field_scores["postcode"] == 0.8


def test_someone_elses_key_sends_the_form_to_a_person(matcher: LegacyMatcher):
    # The NI number is another elector's, every other detail Alice's: neither is trusted.
    other = PEOPLE[50]
    result = matcher.match(ALICE.form(national_insurance_number=other.nino))
    assert result.outcome is LegacyMatchOutcome.NONE, result.detail
    assert "disagree" in result.detail
    shown = {c.key: c for c in result.candidates}
    assert shown[other.elector_id].via == "key"
    assert shown[other.elector_id].score < 0.5
    assert 0.6 <= shown[ALICE.elector_id].score < 0.85


def test_a_misread_key_digit_still_matches_by_the_other_fields(matcher: LegacyMatcher):
    nino = ALICE.nino
    misread = nino[:4] + str((int(nino[4]) + 1) % 10) + nino[5:]
    assert misread not in {p.nino for p in PEOPLE}
    result = matcher.match(ALICE.form(national_insurance_number=misread))
    assert result.outcome is LegacyMatchOutcome.MATCHED, result.detail
    assert result.best is not None
    assert (result.best.key, result.best.via) == (ALICE.elector_id, "fuzzy")
    assert result.best.field_scores["national_insurance_number"] == 0.8


def test_twins_without_a_forename_are_ambiguous(matcher: LegacyMatcher):
    result = matcher.match(TWIN_A.form(national_insurance_number=None, first_names=None))
    assert result.outcome is LegacyMatchOutcome.AMBIGUOUS, result.detail
    assert {c.key for c in result.candidates} == {TWIN_A.elector_id, TWIN_B.elector_id}
    assert result.score == 1.0


def test_twins_told_apart_by_forename(matcher: LegacyMatcher):
    result = matcher.match(TWIN_B.form(national_insurance_number=None))
    assert result.outcome is LegacyMatchOutcome.MATCHED, result.detail
    assert result.best is not None
    assert result.best.key == TWIN_B.elector_id


def test_someone_not_on_the_register_has_no_match(matcher: LegacyMatcher):
    stranger = Person("E9999999", "JG103759A", "Featherstonehaugh", "Peregrine",
                      date(1931, 2, 28), "ZE2 9XY")  # fmt: skip
    result = matcher.match(stranger.form())
    assert result.outcome is LegacyMatchOutcome.NONE
    assert all(c.score < 0.85 for c in result.candidates)


def test_a_surname_alone_is_too_little(matcher: LegacyMatcher):
    result = matcher.match({"surname": ALICE.surname})
    assert result.outcome is LegacyMatchOutcome.NONE
    assert "too little" in result.detail


def test_result_is_the_review_pages_shape(matcher: LegacyMatcher):
    record = matcher.match(ALICE.form()).record()
    assert record is not None
    assert record["outcome"] == "matched"
    assert record["key"] == ALICE.elector_id
    (first, *_) = record["candidates"]
    assert {"key", "score", "system", "fields"} <= set(first)
    assert 0 <= first["score"] <= 1


# --- plans ---------------------------------------------------------------------------------


def write_plan(folder: Path, url: str, system: str = "legacy-electoral") -> Path:
    """A migration plan for the register at ``url``, leaving out deleted electors."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{system}.yaml").write_text(
        f"system: {{id: {system}, name: Electoral register}}\n"
        f"source: {{kind: sql, url: '{url}', connect_timeout_s: 2}}\n"
        "target: {url: 'postgresql+psycopg://postgres@127.0.0.1/modern'}\n"
        "tables:\n  - {source: ELECTOR, target: electors, key: [ELECTOR_ID],"
        " where: \"STATUS <> 'X'\"}\n"
    )
    return folder


def test_plan_found_by_system_id_and_its_where_filter_applies(tmp_path: Path):
    plans = write_plan(tmp_path / "plans", sqlite_register(tmp_path / "electoral.db"))
    (plans / "notes.yaml").write_text("just: [notes\n")  # not a plan: skipped
    plan = find_plan("legacy-electoral", plans)
    assert plan_key_columns(plan, "ELECTOR") == ["ELECTOR_ID"]
    opened = open_plan_source(plan)
    try:
        matcher = LegacyMatcher(SPEC, opened, kinds=KINDS, key_columns=["ELECTOR_ID"])
        assert matcher.match(DELETED.form()).outcome is LegacyMatchOutcome.NONE
        assert matcher.match(ALICE.form()).outcome is LegacyMatchOutcome.MATCHED
    finally:
        opened.close()


def test_no_plan_for_the_system_is_a_clear_error(tmp_path: Path):
    with pytest.raises(PlanError, match=r"no migration plan describes system 'legacy-nowhere'"):
        find_plan("legacy-nowhere", tmp_path)


def test_a_column_the_table_lacks_is_a_plan_error(tmp_path: Path):
    source = SqlSource(sqlite_register(tmp_path / "electoral.db"))
    spec = SPEC.model_copy(update={"fuzzy": {"surname": "LAST_NAME"}})
    with source, pytest.raises(PlanError, match="LAST_NAME"):
        LegacyMatcher(spec, source, kinds=KINDS).match(ALICE.form())


# --- the pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(1980, 1, 31), date(1980, 1, 31)),
        ("19800131", date(1980, 1, 31)),
        ("31011980", date(1980, 1, 31)),
        (19800131, date(1980, 1, 31)),
        ("1980-01-31 00:00:00", date(1980, 1, 31)),
        ("31/01/1980", date(1980, 1, 31)),
        ("31.1.80", date(1980, 1, 31)),
        ("not a date", None),
        ("31/02/1980", None),
    ],
)
def test_legacy_dates_parse(value: Any, expected: date | None):
    assert parse_date(value) == expected


def test_similarities():
    born = date(1980, 3, 7)
    assert date_similarity(born, date(1980, 7, 3)) == 0.85  # day and month swapped
    assert date_similarity(born, date(1986, 3, 7)) == 0.8  # one digit
    assert date_similarity(born, date(1908, 3, 7)) == 0.75  # adjacent digits transposed
    assert date_similarity(born, date(1975, 11, 22)) == 0.0
    assert name_similarity("Zoë O'Brien-Smith", "ZOE OBRIEN SMITH") == 1.0
    assert name_similarity("Mary", "Mary Anne") == 0.95
    assert (name_similarity("Okafor", "Okafur") or 0) > 0.8
    assert postcode_similarity("SW1A 1AA", "sw1a1aa") == 1.0
    assert postcode_similarity("SW1A 1AA", "SW1A 1AB") == 0.8
    assert postcode_similarity("SW1A 1AA", "SW1A 1ZZ") == 0.6
    assert postcode_similarity("SW1A 1AA", "SW1A 2ZZ") == 0.5
    assert postcode_similarity("SW1A 1AA", "LS6 2QD") == 0.0
