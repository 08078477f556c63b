"""Legacy matching: speed and accuracy against a large electoral register in MariaDB.

    .venv/bin/python bench/legacy_match.py [--rows 100000] [--forms 1000] [--no-indexes]
                                           [--with-forename] [--seed 2026]

Builds a throwaway MariaDB database (dropped at the end) holding ``--rows`` made-up electors
(Faker en_GB names and dates of birth, real-format NI numbers and postcodes; upper-case
padded CHAR names, DATE dates, NI numbers written in pairs), with the indexes a register
has (NI number, surname with date of birth, date of birth, postcode) unless
``--no-indexes``. Then it matches ``--forms`` forms one after another through
``LegacyMatcher`` with the bundled register-to-vote template's ``legacy_match`` (plus the
forename with ``--with-forename``):

* 30% clean forms whose NI number is right;
* 40% forms whose NI number could not be read, with one or two OCR-like errors among the
  surname (a letter wrong), the date of birth (day and month swapped, or a digit wrong)
  and the postcode (a character wrong);
* 15% forms whose NI number has one digit misread (it then belongs to nobody);
* 15% forms of people who are not on the register.

Prints matches per second, mean and 95th-percentile latency, the outcomes, and precision
(matched to the right person / all matched) and recall (matched to the right person /
forms whose person is on the register).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import pymysql
from faker import Faker

from adapters.legacy_match import LegacyMatcher, field_kinds
from config.form_template import load_templates
from domain.digitise import LegacyMatchOutcome
from legacy_connectors.sql import SqlSource
from switchover.specimens._british import ni_number, place, postcode

HOST = {"host": "127.0.0.1", "port": 3306, "user": "root"}


@dataclass(frozen=True)
class Elector:
    elector_id: str
    nino: str
    surname: str
    forename: str
    dob: date
    postcode: str


def people(count: int, seed: int, start: int = 1) -> list[Elector]:
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    out: list[Elector] = []
    seen: set[str] = set()
    while len(out) < count:
        nino = ni_number(rng)
        if nino in seen:
            continue
        seen.add(nino)
        out.append(
            Elector(f"E{start + len(out):07d}", nino, fake.last_name(), fake.first_name(),
                    fake.date_of_birth(minimum_age=18, maximum_age=95), postcode(place(rng), rng))
        )  # fmt: skip
    return out


def build(db: str, electors: list[Elector], *, indexes: bool) -> None:
    conn = pymysql.connect(**HOST, autocommit=True, charset="utf8mb4")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{db}`")
        extra = (
            ", INDEX (NINO), INDEX (SURNAME, DOB), INDEX (DOB), INDEX (POSTCODE)" if indexes else ""
        )
        cur.execute(
            "CREATE TABLE ELECTOR (ELECTOR_ID CHAR(8) PRIMARY KEY, NINO CHAR(13),"
            f" SURNAME CHAR(30), FORENAME VARCHAR(40), DOB DATE, POSTCODE CHAR(8){extra})"
        )
        rows = [
            (e.elector_id, f"{e.nino[:2]} {e.nino[2:4]} {e.nino[4:6]} {e.nino[6:8]} {e.nino[8]}",
             e.surname.upper(), e.forename, e.dob, e.postcode)
            for e in electors
        ]  # fmt: skip
        for i in range(0, len(rows), 5000):
            cur.executemany(
                "INSERT INTO ELECTOR VALUES (%s, %s, %s, %s, %s, %s)", rows[i : i + 5000]
            )
    conn.close()


def drop(db: str) -> None:
    conn = pymysql.connect(**HOST, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    conn.close()


# --- forms with OCR-like errors ------------------------------------------------------------


def wrong_letter(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text))
    letters = [c for c in "ABCDEFGHIJKLMNOPRSTUVWY" if c != text[i].upper()]
    replacement = rng.choice(letters)
    return text[:i] + (replacement if text[i].isupper() else replacement.lower()) + text[i + 1 :]


def wrong_date(born: date, rng: random.Random) -> date:
    if born.day <= 12 and born.day != born.month and rng.random() < 0.5:
        return date(born.year, born.day, born.month)
    for _ in range(20):
        text = born.strftime("%Y%m%d")
        i = rng.choice([3, 5, 7])  # a digit of the year, the month or the day
        digits = text[:i] + str((int(text[i]) + rng.randint(1, 9)) % 10) + text[i + 1 :]
        try:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            continue
    return born


def wrong_postcode(code: str, rng: random.Random) -> str:
    outward, inward = code.split()
    if rng.random() < 0.5:
        inward = inward[0] + wrong_letter(inward[1:], rng)
    else:
        inward = str((int(inward[0]) + 1) % 10) + inward[1:]
    return f"{outward} {inward}"


def form_of(e: Elector, nino: str | None, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "national_insurance_number": nino,
        "surname": e.surname.title(),
        "first_names": e.forename,
        "date_of_birth": e.dob.isoformat(),
        "postcode": e.postcode,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def forms(
    electors: list[Elector], strangers: list[Elector], count: int, rng: random.Random
) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(kind, expected elector id or None, form values)."""
    out: list[tuple[str, str | None, dict[str, Any]]] = []
    known = {e.nino for e in electors}
    for n in range(count):
        roll = n % 20
        e = rng.choice(electors)
        if roll < 6:
            out.append(("clean key", e.elector_id, form_of(e, e.nino)))
        elif roll < 14:
            changes: dict[str, Any] = {}
            for what in rng.sample(["surname", "date_of_birth", "postcode"], rng.randint(1, 2)):
                if what == "surname":
                    changes["surname"] = wrong_letter(e.surname.title(), rng)
                elif what == "date_of_birth":
                    changes["date_of_birth"] = wrong_date(e.dob, rng).isoformat()
                else:
                    changes["postcode"] = wrong_postcode(e.postcode, rng)
            out.append(("typos, no key", e.elector_id, form_of(e, None, **changes)))
        elif roll < 17:
            nino = e.nino
            for _ in range(20):
                i = rng.randrange(2, 8)
                nino = e.nino[:i] + str((int(e.nino[i]) + rng.randint(1, 9)) % 10) + e.nino[i + 1 :]
                if nino not in known:
                    break
            out.append(("misread key", e.elector_id, form_of(e, nino)))
        else:
            s = strangers[n % len(strangers)]
            out.append(("not registered", None, form_of(s, s.nino)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--forms", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-indexes", action="store_true")
    parser.add_argument("--with-forename", action="store_true")
    args = parser.parse_args()

    template = load_templates()["register-to-vote"]
    spec = template.legacy_match
    assert spec is not None
    if args.with_forename:
        spec = spec.model_copy(update={"fuzzy": {**spec.fuzzy, "first_names": "FORENAME"}})
    rng = random.Random(args.seed)
    started = time.perf_counter()
    electors = people(args.rows, args.seed)
    strangers = [
        s for s in people(args.forms, args.seed + 1, start=args.rows + 1)
        if s.nino not in {e.nino for e in electors}
    ]  # fmt: skip
    db = f"so_bench_match_{uuid.uuid4().hex[:8]}"
    build(db, electors, indexes=not args.no_indexes)
    print(f"built {args.rows:,} electors in {time.perf_counter() - started:.1f} s "
          f"(indexes: {'no' if args.no_indexes else 'yes'})")  # fmt: skip
    cases = forms(electors, strangers, args.forms, rng)
    try:
        with SqlSource(f"mysql+pymysql://root@127.0.0.1/{db}") as source:
            matcher = LegacyMatcher(spec, source, kinds=field_kinds(template),
                                    key_columns=["ELECTOR_ID"])  # fmt: skip
            matcher.match(cases[0][2])  # learns the table's layout once, as a worker does
            latencies: list[float] = []
            outcomes: Counter[tuple[str, str]] = Counter()
            right = wrong = present = 0
            begin = time.perf_counter()
            for kind, expected, values in cases:
                t0 = time.perf_counter()
                result = matcher.match(values)
                latencies.append(time.perf_counter() - t0)
                outcomes[(kind, result.outcome.value)] += 1
                present += expected is not None
                if result.outcome is LegacyMatchOutcome.MATCHED:
                    assert result.best is not None
                    if result.best.key == expected:
                        right += 1
                    else:
                        wrong += 1
            elapsed = time.perf_counter() - begin
    finally:
        drop(db)

    latencies.sort()
    rate = len(cases) / elapsed
    p95 = 1000 * latencies[int(0.95 * len(latencies))]
    print(f"\n{len(cases)} forms in {elapsed:.2f} s: **{rate:,.0f} matches/s**, "
          f"mean {1000 * statistics.mean(latencies):.1f} ms, p95 {p95:.1f} ms "
          "(one connection)\n")  # fmt: skip
    print("| forms | matched | ambiguous | none |")
    print("|---|---|---|---|")
    for kind in ("clean key", "typos, no key", "misread key", "not registered"):
        counts = [outcomes[(kind, o)] for o in ("matched", "ambiguous", "none")]
        print(f"| {kind} | {counts[0]} | {counts[1]} | {counts[2]} |")
    matched = right + wrong
    print(f"\nprecision {right}/{matched} = {right / max(matched, 1):.4f}; "
          f"recall {right}/{present} = {right / max(present, 1):.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
